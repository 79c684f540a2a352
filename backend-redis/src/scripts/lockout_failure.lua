-- Counts one failure, by the rule on LockoutStore: a live counter adds 1, none (or an
-- expired one) starts at 1; at max_failures or more the account is locked until
-- now + lockout_duration (below it, a running lock is kept); the counter expires at the
-- later of now + failure_window and the lock's end.
-- KEYS: record
-- ARGV: now, grace, max_failures, failure_window, lockout_duration
-- Returns {failures, locked_until (0: none)}, or {-1} when the record is malformed.
local now, grace = tonumber(ARGV[1]), tonumber(ARGV[2])
local max, window, duration = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local r = redis.call('HMGET', KEYS[1], 'f', 'l', 'e')
local f, l = 0, 0
if r[3] then
  local e = tonumber(r[3])
  if not e then return {-1} end
  if e > now then
    f, l = tonumber(r[1]), tonumber(r[2])
    if not (f and l) then return {-1} end
  end
end
f = math.min(f + 1, 4294967295)
if f >= max then l = now + duration end
local e = math.max(now + window, l)
redis.call('HSET', KEYS[1], 'f', fmt(f), 'l', fmt(l), 'e', fmt(e))
expire_in(KEYS[1], e - now + grace)
return {f, l}

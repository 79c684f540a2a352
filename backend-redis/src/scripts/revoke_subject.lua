-- Revokes every session of a subject issued before `before`, until `until`: one record
-- per subject, keeping the later cutoff and the later end of a live one, and appends
-- the change to the feed in the same step.
-- KEYS: record, feed, sequence counter, purge index
-- ARGV: now, grace, hash (as in the key), before, until
-- Returns the change's sequence number, or -1 when the record is malformed.
local now, grace = tonumber(ARGV[1]), tonumber(ARGV[2])
local b, u = tonumber(ARGV[4]), tonumber(ARGV[5])
local seqs = ''
local current = redis.call('GET', KEYS[1])
if current then
  local old_b, old_u, rest = string.match(current, '^(-?%d+) (-?%d+)(.*)$')
  if not old_b then return -1 end
  old_b, old_u = tonumber(old_b), tonumber(old_u)
  if old_u > now then
    b = math.max(b, old_b)
    u = math.max(u, old_u)
  end
  seqs = rest
end
local seq = redis.call('INCR', KEYS[3])
redis.call('ZADD', KEYS[2], seq, seq .. ' u ' .. ARGV[3] .. ' ' .. fmt(b) .. ' ' .. fmt(u))
keep_for(KEYS[2], u - now + grace)
redis.call('SET', KEYS[1], fmt(b) .. ' ' .. fmt(u) .. seqs .. ' ' .. seq)
expire_in(KEYS[1], u - now + grace)
index_add(KEYS[4], u, 'u' .. ARGV[3], now, grace)
return seq

-- One purge batch of sessions: deletes those dead by the cutoffs, drops index entries
-- whose record is gone, and puts back in step any entry of a record still live.
-- KEYS: per member: record, purge index (expiry), purge index (activity)
-- ARGV: expiry cutoff, idle cutoff ('' for none), then the members
-- Returns {examined, deleted}.
local cutoff = tonumber(ARGV[1])
local idle = tonumber(ARGV[2])
local examined, deleted = 0, 0
for j = 3, #ARGV do
  local base = 1 + (j - 3) * 3
  local member = ARGV[j]
  local s = redis.call('GET', KEYS[base])
  local e, i, a
  if s then e, i, a = session_fields(s) end
  if not s then
    redis.call('ZREM', KEYS[base + 1], member)
    redis.call('ZREM', KEYS[base + 2], member)
  elseif e then
    examined = examined + 1
    local x = session_end(e, i, a)
    if x <= cutoff or (idle and a <= idle) then
      redis.call('DEL', KEYS[base])
      redis.call('ZREM', KEYS[base + 1], member)
      redis.call('ZREM', KEYS[base + 2], member)
      deleted = deleted + 1
    else
      redis.call('ZADD', KEYS[base + 1], fmt(x), member)
      redis.call('ZADD', KEYS[base + 2], fmt(a), member)
    end
  else
    -- Malformed (edited by hand): left for its TTL, out of the index so that purge
    -- does not meet it again.
    redis.call('ZREM', KEYS[base + 1], member)
    redis.call('ZREM', KEYS[base + 2], member)
  end
end
return {examined, deleted}

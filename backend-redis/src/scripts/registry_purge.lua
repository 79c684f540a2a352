-- One purge batch of registry participants: removes those whose expiry is at or before
-- the cutoff, drops index entries whose participant is gone, and puts back in step any
-- entry of a participant still live (registered again with a later expiry).
-- KEYS: per member: the subject's registry, purge index
-- ARGV: expiry cutoff, then the members (subject hash ‖ participant hash, raw)
-- Returns {examined, deleted}.
local cutoff = tonumber(ARGV[1])
local examined, deleted = 0, 0
for j = 2, #ARGV do
  local base = 1 + (j - 2) * 2
  local member = ARGV[j]
  local field = string.sub(member, 33)
  local raw = redis.call('HGET', KEYS[base], field)
  if not raw then
    redis.call('ZREM', KEYS[base + 1], member)
  else
    local e = tonumber(string.match(raw, '^(-?%d+) '))
    if e then
      examined = examined + 1
      if e <= cutoff then
        redis.call('HDEL', KEYS[base], field)
        redis.call('ZREM', KEYS[base + 1], member)
        deleted = deleted + 1
      else
        redis.call('ZADD', KEYS[base + 1], fmt(e), member)
      end
    else
      -- Malformed (edited by hand): left for its TTL, out of the index.
      redis.call('ZREM', KEYS[base + 1], member)
    end
  end
end
return {examined, deleted}

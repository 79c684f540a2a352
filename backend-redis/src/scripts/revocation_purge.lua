-- One purge batch of revocations: deletes those whose `until` is at or before the
-- cutoff, with their feed entries; drops index entries whose record is gone; puts back
-- in step any entry of a revocation still live.
-- KEYS: purge index, feed, then one record per member
-- ARGV: expiry cutoff, then the members ('s' or 'u' followed by the hash)
-- Returns {examined, deleted}.
local cutoff = tonumber(ARGV[1])
local examined, deleted = 0, 0
for j = 2, #ARGV do
  local key, member = KEYS[j + 1], ARGV[j]
  local current = redis.call('GET', key)
  if not current then
    redis.call('ZREM', KEYS[1], member)
  else
    local u, rest
    if string.sub(member, 1, 1) == 's' then
      u, rest = string.match(current, '^(-?%d+)(.*)$')
    else
      u, rest = string.match(current, '^-?%d+ (-?%d+)(.*)$')
    end
    u = tonumber(u)
    if u then
      examined = examined + 1
      if u <= cutoff then
        for seq in string.gmatch(rest, '%d+') do
          redis.call('ZREMRANGEBYSCORE', KEYS[2], seq, seq)
        end
        redis.call('DEL', key)
        redis.call('ZREM', KEYS[1], member)
        deleted = deleted + 1
      else
        redis.call('ZADD', KEYS[1], fmt(u), member)
      end
    else
      -- Malformed (edited by hand): left for its TTL, out of the index.
      redis.call('ZREM', KEYS[1], member)
    end
  end
end
return {examined, deleted}

-- Revokes a session reference until `until`, never shortening a live revocation, and
-- appends the change to the feed in the same step. The record keeps the sequence
-- numbers of its feed entries, so purge removes them with it.
-- KEYS: record, feed, sequence counter, purge index
-- ARGV: now, grace, hash (as in the key), until
-- Returns the change's sequence number, or -1 when the record is malformed.
local now, grace, u = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[4])
local seqs = ''
local current = redis.call('GET', KEYS[1])
if current then
  local old, rest = string.match(current, '^(-?%d+)(.*)$')
  if not old then return -1 end
  old = tonumber(old)
  if old > now and old > u then u = old end
  seqs = rest
end
local seq = redis.call('INCR', KEYS[3])
redis.call('ZADD', KEYS[2], seq, seq .. ' s ' .. ARGV[3] .. ' ' .. fmt(u))
keep_for(KEYS[2], u - now + grace)
redis.call('SET', KEYS[1], fmt(u) .. seqs .. ' ' .. seq)
expire_in(KEYS[1], u - now + grace)
index_add(KEYS[4], u, 's' .. ARGV[3], now, grace)
return seq

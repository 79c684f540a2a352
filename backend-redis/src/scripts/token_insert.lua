-- Stores a token unless a live one has that value, and lists it in its owner indexes.
-- KEYS: record[, subject index, subject+client index[, grant index]]
--       (on Redis Cluster the owner indexes are in other slots: the caller lists the
--       token in them first, with token_owner_add, and names none here)
-- ARGV: now, grace, member, e (expiry), d (sealed record), s, c, g (raw owner hashes;
--       g is '' without a grant)
-- Returns 1 when stored, 0 when a live token holds the value, -1 when malformed.
local now, grace, e = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[4])
local raw = redis.call('HGET', KEYS[1], 'e')
if raw then
  local until_ = tonumber(raw)
  if not until_ then return -1 end
  if until_ > now then return 0 end
  redis.call('DEL', KEYS[1])
end
redis.call('HSET', KEYS[1], 'e', ARGV[4], 'd', ARGV[5], 's', ARGV[6], 'c', ARGV[7],
  'g', ARGV[8])
expire_in(KEYS[1], e - now + grace)
for j = 2, #KEYS do owner_add(KEYS[j], e, ARGV[3], now, grace) end
return 1

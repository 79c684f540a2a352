-- Stores an artifact unless its handle is held: by a live artifact, or by the tombstone
-- of one taken before its expiry.
-- KEYS: record, purge index
-- ARGV: now, grace, member, e (expiry), p (sealed payload)
-- Returns 1 when stored, 0 when the handle is held, -1 when the record is malformed.
local now, grace, e = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[4])
local raw = redis.call('HGET', KEYS[1], 'e')
if raw then
  local held_until = tonumber(raw)
  if not held_until then return -1 end
  if held_until > now then return 0 end
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'e', ARGV[4], 'p', ARGV[5])
expire_in(KEYS[1], e - now + grace)
purge_index_trim(KEYS[2], false, now, grace, ARGV[3])
index_add(KEYS[2], e, ARGV[3], now, grace)
return 1

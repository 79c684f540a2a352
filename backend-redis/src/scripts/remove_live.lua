-- Deletes a record kept as a hash with its expiry in field `e` (a state value, a token)
-- and says whether it was live.
-- KEYS: record, purge index
-- ARGV: now, member
-- Returns 1 if a live record was deleted, else 0.
local now = tonumber(ARGV[1])
local raw = redis.call('HGET', KEYS[1], 'e')
redis.call('ZREM', KEYS[2], ARGV[2])
if not raw then return 0 end
redis.call('DEL', KEYS[1])
local e = tonumber(raw)
if e and e > now then return 1 end
return 0

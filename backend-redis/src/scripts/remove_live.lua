-- Deletes a record kept as a hash with its expiry in field `e` (a state value, a token)
-- and says whether it was live.
-- KEYS: record
-- ARGV: now
-- Returns 1 if a live record was deleted, else 0.
local now = tonumber(ARGV[1])
local raw = redis.call('HGET', KEYS[1], 'e')
if not raw then return 0 end
redis.call('DEL', KEYS[1])
local e = tonumber(raw)
if e and e > now then return 1 end
return 0

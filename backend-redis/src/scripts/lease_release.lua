-- Gives a lease up if `holder` holds it.
-- KEYS: lease
-- ARGV: holder
-- Returns 1 when released, 0 otherwise.
if redis.call('HGET', KEYS[1], 'h') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1

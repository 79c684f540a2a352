-- Replaces a session's sealed meta with the same meta sealed under the current key,
-- if it has not changed since it was read (a keyring migration rewrites what it reads).
-- KEYS: record
-- ARGV: the meta as read, the meta sealed again
-- Returns 1 when replaced, 0 when the record moved on (nothing to do).
if redis.call('HGET', KEYS[1], 'm') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'm', ARGV[2])
return 1

-- Stores the first key set under a name: the first node to start wins.
-- KEYS: record
-- ARGV: d (sealed key set, version 1 inside)
-- Returns 1 when stored, 0 when a key set exists.
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'v', 1, 'd', ARGV[1])
return 1

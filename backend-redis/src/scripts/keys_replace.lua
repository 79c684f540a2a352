-- Replaces a key set if its version is still the expected one: one rotator wins.
-- KEYS: record
-- ARGV: expected version, d (sealed key set, version expected + 1 inside)
-- Returns {0} not found, {1, version} conflict, {2} replaced.
local v = redis.call('HGET', KEYS[1], 'v')
if not v then return {0} end
if tonumber(v) ~= tonumber(ARGV[1]) then return {1, v} end
redis.call('HSET', KEYS[1], 'v', fmt(tonumber(v) + 1), 'd', ARGV[2])
return {2}

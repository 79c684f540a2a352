-- Replaces a live session's data if its version is still the expected one.
-- KEYS: record
-- ARGV: now, expected version, d (the new data, sealed for version expected + 1)
-- Returns {0} not found (or not live), {1, version} conflict,
-- {2, m, e, i, a, v} updated, {-1} malformed.
local now = tonumber(ARGV[1])
local r = redis.call('HMGET', KEYS[1], 'e', 'i', 'a', 'v', 'm')
if not r[1] then return {0} end
local e, i, a, v = tonumber(r[1]), tonumber(r[2]), tonumber(r[3]), tonumber(r[4])
if not (e and i and a and v) then return {-1} end
if session_end(e, i, a) <= now then return {0} end
if v ~= tonumber(ARGV[2]) then return {1, r[4]} end
local next_version = fmt(v + 1)
redis.call('HSET', KEYS[1], 'd', ARGV[3], 'v', next_version)
return {2, r[5], r[1], r[2], r[3], next_version}

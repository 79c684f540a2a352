-- Replaces a live session's data if its version is still the expected one.
-- KEYS: record
-- ARGV: now, expected version, d (the new data, sealed for version expected + 1)
-- Returns {0} not found (or not live), {1, version} conflict,
-- {2, header and meta of the updated record} updated, {-1} malformed.
local now = tonumber(ARGV[1])
local s = redis.call('GET', KEYS[1])
if not s then return {0} end
local e, i, a, v, mlen = session_fields(s)
if not e then return {-1} end
if session_end(e, i, a) <= now then return {0} end
if v ~= tonumber(ARGV[2]) then return {1, v} end
local head = session_header(e, i, a, v + 1, mlen)
  .. string.sub(s, SESSION_HEADER + 1, SESSION_HEADER + mlen)
redis.call('SET', KEYS[1], head .. ARGV[3], 'KEEPTTL')
return {2, head}

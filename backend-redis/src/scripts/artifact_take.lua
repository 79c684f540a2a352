-- Takes an artifact: the first take gets the payload and leaves a tombstone (the time of
-- the take) that keeps the handle until the artifact's original expiry.
-- KEYS: record
-- ARGV: now
-- Returns {0} unknown (never put, or expired), {1, taken at} replayed,
-- {2, sealed payload} fresh, {-1} malformed.
local now = tonumber(ARGV[1])
local s = redis.pcall('GET', KEYS[1])
if type(s) == 'table' and s.err then
  -- Not a string: an artifact written by an earlier version as a hash (`e` expiry,
  -- `p` payload, `t` taken at once taken).
  local r = redis.call('HMGET', KEYS[1], 'e', 'p', 't')
  if not r[1] then return {-1} end
  local e = tonumber(r[1])
  if not e then return {-1} end
  if e <= now then return {0} end
  if r[3] then return {1, r[3]} end
  if not r[2] then return {-1} end
  redis.call('HDEL', KEYS[1], 'p')
  redis.call('HSET', KEYS[1], 't', ARGV[1])
  return {2, r[2]}
end
if not s then return {0} end
local e = artifact_expiry(s)
if not e then return {-1} end
if e <= now then return {0} end
if string.byte(s, 1) == ARTIFACT_TAKEN then
  if #s < ARTIFACT_HEADER + 8 then return {-1} end
  local _, _, at = struct.unpack('>Bi8i8', s)
  return {1, fmt(at)}
end
redis.call('SET', KEYS[1], struct.pack('>Bi8i8', ARTIFACT_TAKEN, e, now), 'KEEPTTL')
return {2, string.sub(s, ARTIFACT_HEADER + 1)}

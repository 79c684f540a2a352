-- Stores an artifact unless its handle is held: by a live artifact, or by the tombstone
-- of one taken before its expiry. (The client first tries `SET … NX GET PX`; it runs
-- this script only when that met a record expired by the store's clock and kept by the
-- grace, or one written by an earlier version as a hash.)
-- KEYS: record
-- ARGV: now, grace, e (expiry), the record (packed by the caller)
-- Returns 1 when stored, 0 when the handle is held, -1 when the record is malformed.
local now, grace, e = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local t = redis.call('TYPE', KEYS[1]).ok
local held
if t == 'string' then
  held = artifact_expiry(redis.call('GET', KEYS[1]))
  if not held then return -1 end
elseif t == 'hash' then
  -- Written by an earlier version: `e` expiry, `p` payload or `t` taken at.
  local raw = redis.call('HGET', KEYS[1], 'e')
  if raw then
    held = tonumber(raw)
    if not held then return -1 end
  end
elseif t ~= 'none' then
  return -1
end
if held and held > now then return 0 end
redis.call('SET', KEYS[1], ARGV[4], 'PX', fmt(math.max(e - now + grace, 1)))
return 1

-- Moves a live session to a new id hash, atomically: the old id stops working in the
-- same step the new one starts. The caller read the record, and sealed its meta and
-- data again for the new id (sealed records are bound to their id hash).
-- KEYS: old record, new record, subject index
-- ARGV: now, grace, old member, new member, version read, the new record (packed by the
--       caller from what it read)
-- Returns {0} not found (or not live), {1} the version moved since the read (read again),
-- {2} the new id hash is taken (draw another id), {3, last activity} moved, {-1} malformed.
local now, grace = tonumber(ARGV[1]), tonumber(ARGV[2])
local s = redis.call('GET', KEYS[1])
if not s then return {0} end
local e, i, a, v = session_fields(s)
if not e then return {-1} end
local x = session_end(e, i, a)
if x <= now then return {0} end
if v ~= tonumber(ARGV[5]) then return {1} end
-- The last activity is copied as it is now: a touch since the read is kept.
if not redis.call('SET', KEYS[2], session_with_activity(ARGV[6], a), 'NX', 'PX',
    fmt(math.max(x - now + grace, 1))) then
  return {2}
end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[3], ARGV[3])
owner_add(KEYS[3], e, ARGV[4], now, grace)
return {3, a}

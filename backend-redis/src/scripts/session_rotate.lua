-- Moves a live session to a new id hash, atomically: the old id stops working in the
-- same step the new one starts. The caller read the record, and sealed its meta and
-- data again for the new id (sealed records are bound to their id hash).
-- KEYS: old record, old purge index (expiry), old purge index (activity),
--       new record, new purge index (expiry), new purge index (activity), subject index
-- ARGV: now, grace, old member, new member, version read, m (sealed for the new id),
--       d (sealed for the new id)
-- Returns {0} not found (or not live), {1} the version moved since the read (read again),
-- {2} the new id hash is taken (draw another id), {3, last activity} moved, {-1} malformed.
local now, grace = tonumber(ARGV[1]), tonumber(ARGV[2])
local r = redis.call('HMGET', KEYS[1], 'e', 'i', 'a', 'v')
if not r[1] then return {0} end
local e, i, a, v = tonumber(r[1]), tonumber(r[2]), tonumber(r[3]), tonumber(r[4])
if not (e and i and a and v) then return {-1} end
if session_end(e, i, a) <= now then return {0} end
if v ~= tonumber(ARGV[5]) then return {1} end
if redis.call('EXISTS', KEYS[4]) == 1 then return {2} end
-- Plaintext fields are copied as they are now: a touch since the read is kept.
redis.call('HSET', KEYS[4], 'm', ARGV[6], 'd', ARGV[7], 'e', r[1], 'i', r[2], 'a', r[3],
  'v', r[4])
local x = session_end(e, i, a)
expire_in(KEYS[4], x - now + grace)
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[3])
redis.call('ZREM', KEYS[3], ARGV[3])
purge_index_trim(KEYS[5], KEYS[6], now, grace)
local keep = index_add(KEYS[5], x, ARGV[4], now, grace)
redis.call('ZADD', KEYS[6], r[3], ARGV[4])
keep_for(KEYS[6], keep)
redis.call('ZREM', KEYS[7], ARGV[3])
owner_add(KEYS[7], e, ARGV[4], now, grace)
return {3, r[3]}

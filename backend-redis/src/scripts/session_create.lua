-- Creates a session unless its id hash is taken (a collision: the caller draws a new id).
-- KEYS: record, purge index (expiry), purge index (last activity), subject index
-- ARGV: now, grace, member (raw id hash), m (sealed meta), d (sealed data),
--       e (absolute expiry), i (idle timeout, 0 for none)
-- Returns 1 when created, 0 on a collision.
local now, grace = tonumber(ARGV[1]), tonumber(ARGV[2])
local member, e, i = ARGV[3], tonumber(ARGV[6]), tonumber(ARGV[7])
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'm', ARGV[4], 'd', ARGV[5], 'e', ARGV[6], 'i', ARGV[7],
  'a', ARGV[1], 'v', 1)
local x = session_end(e, i, now)
expire_in(KEYS[1], x - now + grace)
purge_index_trim(KEYS[2], KEYS[3], now, grace)
local keep = index_add(KEYS[2], x, member, now, grace)
redis.call('ZADD', KEYS[3], ARGV[1], member)
keep_for(KEYS[3], keep)
owner_add(KEYS[4], e, member, now, grace)
return 1

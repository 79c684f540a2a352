-- Sets a live session's last activity to now (sliding its idle end, never past its
-- absolute end).
-- KEYS: record, purge index (expiry), purge index (last activity)
-- ARGV: now, grace, member
-- Returns the record's fields {m, d, e, i, a, v}, nil when not live, -1 when malformed.
local now, grace = tonumber(ARGV[1]), tonumber(ARGV[2])
local r = redis.call('HMGET', KEYS[1], 'e', 'i', 'a')
if not r[1] then return false end
local e, i, a = tonumber(r[1]), tonumber(r[2]), tonumber(r[3])
if not (e and i and a) then return -1 end
if session_end(e, i, a) <= now then return false end
redis.call('HSET', KEYS[1], 'a', ARGV[1])
local x = session_end(e, i, now)
expire_in(KEYS[1], x - now + grace)
local keep = index_add(KEYS[2], x, ARGV[3], now, grace)
redis.call('ZADD', KEYS[3], ARGV[1], ARGV[3])
keep_for(KEYS[3], keep)
return redis.call('HMGET', KEYS[1], 'm', 'd', 'e', 'i', 'a', 'v')

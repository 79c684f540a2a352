-- Sets a live session's last activity to now (sliding its idle end, never past its
-- absolute end).
-- KEYS: record, purge index (expiry), purge index (last activity)
-- ARGV: now, grace, member
-- Returns the record as it is now, nil when not live, -1 when malformed.
local now, grace = tonumber(ARGV[1]), tonumber(ARGV[2])
local s = redis.call('GET', KEYS[1])
if not s then return false end
local e, i, a = session_fields(s)
if not e then return -1 end
if session_end(e, i, a) <= now then return false end
redis.call('SETRANGE', KEYS[1], SESSION_A_OFFSET, struct.pack('>i8', now))
local x = session_end(e, i, now)
expire_in(KEYS[1], x - now + grace)
local keep = index_add(KEYS[2], x, ARGV[3], now, grace)
redis.call('ZADD', KEYS[3], ARGV[1], ARGV[3])
keep_for(KEYS[3], keep)
return session_with_activity(s, now)

-- Sets a live session's last activity to now (sliding its idle end, never past its
-- absolute end), and its server TTL with it: one SET of the record as it is now.
-- KEYS: record
-- ARGV: now, grace
-- Returns the record as it is now, nil when not live, -1 when malformed.
local now, grace = tonumber(ARGV[1]), tonumber(ARGV[2])
local s = redis.call('GET', KEYS[1])
if not s then return false end
local e, i, a = session_fields(s)
if not e then return -1 end
if session_end(e, i, a) <= now then return false end
local touched = session_with_activity(s, now)
redis.call('SET', KEYS[1], touched, 'PX', fmt(math.max(session_end(e, i, now) - now + grace, 1)))
return touched

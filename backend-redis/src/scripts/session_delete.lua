-- Deletes a session, live or not. Its subject index entry stays (the caller does not
-- know the subject); reads through the index skip it, and it expires by its score.
-- KEYS: record
-- ARGV: now
-- Returns 1 if the session was live, else 0.
local now = tonumber(ARGV[1])
local s = redis.call('GET', KEYS[1])
if not s then return 0 end
redis.call('DEL', KEYS[1])
local e, i, a = session_fields(s)
if e and session_end(e, i, a) > now then return 1 end
return 0

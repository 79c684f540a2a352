-- Replaces a session's sealed meta with the same meta sealed under the current key,
-- if it has not changed since it was read (a keyring migration rewrites what it reads).
-- KEYS: record
-- ARGV: the meta as read, the meta sealed again
-- Returns 1 when replaced, 0 when the record moved on (nothing to do), -1 malformed.
local s = redis.call('GET', KEYS[1])
if not s then return 0 end
local e, i, a, v, mlen = session_fields(s)
if not e then return -1 end
if string.sub(s, SESSION_HEADER + 1, SESSION_HEADER + mlen) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], session_header(e, i, a, v, #ARGV[2]) .. ARGV[2]
  .. string.sub(s, SESSION_HEADER + mlen + 1), 'KEEPTTL')
return 1

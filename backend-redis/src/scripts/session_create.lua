-- Creates a session unless its id hash is taken (a collision: the caller draws a new id),
-- and lists it in its subject's index.
-- KEYS: record, subject index
-- ARGV: now, grace, member (raw id hash), record (as the caller packed it: last
--       activity now, version 1), e (absolute end), i (idle timeout, 0 for none)
-- Returns 1 when created, 0 on a collision.
local now, grace = tonumber(ARGV[1]), tonumber(ARGV[2])
local e, i = tonumber(ARGV[5]), tonumber(ARGV[6])
local x = session_end(e, i, now)
if not redis.call('SET', KEYS[1], ARGV[4], 'NX', 'PX', fmt(math.max(x - now + grace, 1))) then
  return 0
end
owner_add(KEYS[2], e, ARGV[3], now, grace)
return 1

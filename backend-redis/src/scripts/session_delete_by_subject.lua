-- Deletes every session of a subject. The caller names every member of the subject index
-- (with each record); if the index holds a member it did not name (a session created or
-- rotated since it looked), the script answers with the current members and changes
-- nothing, and the caller asks again.
-- KEYS: subject index, then one record per member
-- ARGV: now, then the members, in the order of their records
-- Returns {0, members} to ask again, or {1, live sessions ended}.
local now = tonumber(ARGV[1])
local listed = redis.call('ZRANGE', KEYS[1], 0, -1)
if not all_declared(listed, 2) then return {0, listed} end
local ended = 0
for j = 2, #KEYS do
  local s = redis.call('GET', KEYS[j])
  if s then
    local e, i, a = session_fields(s)
    if e and session_end(e, i, a) > now then ended = ended + 1 end
    redis.call('DEL', KEYS[j])
  end
end
redis.call('DEL', KEYS[1])
return {1, ended}

-- Deletes every session of a subject. The caller names every member of the subject index
-- (with each record and its bucket's purge indexes); if the index holds a member it did
-- not name (a session created or rotated since it looked), the script answers with the
-- current members and changes nothing, and the caller asks again.
-- KEYS: subject index, then per member: record, purge index (expiry), purge index (activity)
-- ARGV: now, then the members, in the order of their keys
-- Returns {0, members} to ask again, or {1, live sessions ended}.
local now = tonumber(ARGV[1])
local listed = redis.call('ZRANGE', KEYS[1], 0, -1)
if not all_declared(listed, 2) then return {0, listed} end
local ended = 0
for j = 2, #ARGV do
  local base = 2 + (j - 2) * 3
  local member = ARGV[j]
  local s = redis.call('GET', KEYS[base])
  if s then
    local e, i, a = session_fields(s)
    if e and session_end(e, i, a) > now then ended = ended + 1 end
    redis.call('DEL', KEYS[base])
  end
  redis.call('ZREM', KEYS[base + 1], member)
  redis.call('ZREM', KEYS[base + 2], member)
end
redis.call('DEL', KEYS[1])
return {1, ended}

-- Revokes every token of one owner (a subject, a grant, a subject with a client). The
-- caller names every member of the owner index (with each record); if the index holds a
-- member it did not name, the script answers with the current members and changes
-- nothing, and the caller asks again. A record whose owner field differs (the index
-- entry outlived its token and the value was reused) is left alone.
-- KEYS: owner index, then one record per member
-- ARGV: now, owner field ('s', 'g' or 'c'), owner hash (raw), then the members
-- Returns {0, members} to ask again, or {1, live tokens revoked}.
local now, field, owner = tonumber(ARGV[1]), ARGV[2], ARGV[3]
local listed = redis.call('ZRANGE', KEYS[1], 0, -1)
if not all_declared(listed, 4) then return {0, listed} end
local revoked = 0
for j = 2, #KEYS do
  local r = redis.call('HMGET', KEYS[j], 'e', field)
  if r[1] and r[2] == owner then
    local e = tonumber(r[1])
    if e and e > now then revoked = revoked + 1 end
    redis.call('DEL', KEYS[j])
  end
end
redis.call('DEL', KEYS[1])
return {1, revoked}

-- Reads a subject's sessions (read-only). The caller names, in KEYS and ARGV, the records
-- of the index members it knows; if the index lists a live member it did not name, the
-- script answers with the current members instead, and the caller asks again.
-- KEYS: subject index, then one record per member
-- ARGV: now, then the members (raw id hashes), in the order of their records
-- Returns {0, members} to ask again, or {1, record, record, …} (nil for a record that
-- is gone).
local listed = redis.call('ZRANGE', KEYS[1], '(' .. ARGV[1], '+inf', 'BYSCORE')
if not all_declared(listed, 2) then return {0, listed} end
local out = {1}
for j = 2, #KEYS do
  out[j] = redis.call('GET', KEYS[j])
end
return out

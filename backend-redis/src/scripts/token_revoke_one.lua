-- Revokes one token listed in an owner index, if it still belongs to that owner (Redis
-- Cluster: a by-owner revocation visits the listed tokens one slot at a time). An entry
-- that outlived its token, whose value was then reused by another owner, revokes
-- nothing.
-- KEYS: record
-- ARGV: now, owner field ('s', 'g' or 'c'), owner hash (raw)
-- Returns 1 when a live token was revoked, else 0.
local now, field, owner = tonumber(ARGV[1]), ARGV[2], ARGV[3]
local r = redis.call('HMGET', KEYS[1], 'e', field)
if not (r[1] and r[2] == owner) then return 0 end
redis.call('DEL', KEYS[1])
local e = tonumber(r[1])
if e and e > now then return 1 end
return 0

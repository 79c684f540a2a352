-- Adds (or replaces) a participant in a subject's registry.
-- KEYS: the subject's registry, purge index
-- ARGV: now, grace, participant hash (raw, the field), purge member (subject hash ‖
--       participant hash, raw), expiry, sealed participant
-- Returns 1.
local now, grace, e = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[5])
redis.call('HSET', KEYS[1], ARGV[3], ARGV[5] .. ' ' .. ARGV[6])
keep_for(KEYS[1], e - now + grace)
purge_index_trim(KEYS[2], false, now, grace, ARGV[4])
index_add(KEYS[2], e, ARGV[4], now, grace)
return 1

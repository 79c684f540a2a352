-- Adds (or replaces) a participant in a subject's registry.
-- KEYS: the subject's registry
-- ARGV: now, grace, participant hash (raw, the field), expiry, sealed participant
-- Returns 1.
local now, grace, e = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[4])
redis.call('HSET', KEYS[1], ARGV[3], ARGV[4] .. ' ' .. ARGV[5])
keep_for(KEYS[1], e - now + grace)
return 1

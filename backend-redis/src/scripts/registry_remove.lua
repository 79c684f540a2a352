-- Removes one participant and says whether it was live.
-- KEYS: the subject's registry
-- ARGV: now, participant hash (raw)
-- Returns 1 if a live participant was removed, else 0.
local now = tonumber(ARGV[1])
local raw = redis.call('HGET', KEYS[1], ARGV[2])
if not raw then return 0 end
redis.call('HDEL', KEYS[1], ARGV[2])
local e = tonumber(string.match(raw, '^(-?%d+) '))
if e and e > now then return 1 end
return 0

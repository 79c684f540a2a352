-- Removes a subject's whole registry if it is exactly what the caller read (and opened):
-- of concurrent callers only one gets each participant, and a registry that changed
-- since it was read is read again.
-- KEYS: the subject's registry
-- ARGV: field, value pairs as read
-- Returns 1 when removed, 0 when the registry changed (read again).
local current = redis.call('HGETALL', KEYS[1])
if #current ~= #ARGV then return 0 end
local seen = {}
for j = 1, #current, 2 do seen[current[j]] = current[j + 1] end
for j = 1, #ARGV, 2 do
  if seen[ARGV[j]] ~= ARGV[j + 1] then return 0 end
end
redis.call('DEL', KEYS[1])
return 1

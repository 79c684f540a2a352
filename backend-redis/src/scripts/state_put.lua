-- Stores a state value (replacing any), or with only_if_absent only when no live value
-- is there.
-- KEYS: record
-- ARGV: now, grace, e (expiry), v (sealed value), only_if_absent ('1' or '0')
-- Returns 1 when stored, 0 when a live value was kept, -1 when the record is malformed.
local now, grace, e = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if ARGV[5] == '1' then
  local raw = redis.call('HGET', KEYS[1], 'e')
  if raw then
    local until_ = tonumber(raw)
    if not until_ then return -1 end
    if until_ > now then return 0 end
  end
end
-- A state hash holds only `e` and `v`: HSET replaces both.
redis.call('HSET', KEYS[1], 'e', ARGV[3], 'v', ARGV[4])
expire_in(KEYS[1], e - now + grace)
return 1

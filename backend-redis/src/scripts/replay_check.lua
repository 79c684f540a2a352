-- Records a replay id until not_after, unless a live entry holds it. A replayed answer
-- never changes the entry.
-- KEYS: record, purge index
-- ARGV: now, grace, member, not_after
-- Returns 1 fresh (recorded), 0 replayed, -1 malformed entry.
local now, grace, not_after = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[4])
local raw = redis.call('GET', KEYS[1])
if raw then
  local until_ = tonumber(raw)
  if not until_ then return -1 end
  if until_ > now then return 0 end
end
redis.call('SET', KEYS[1], ARGV[4], 'PX', fmt(math.max(not_after - now + grace, 1)))
purge_index_trim(KEYS[2], false, now, grace, ARGV[3])
index_add(KEYS[2], not_after, ARGV[3], now, grace)
return 1

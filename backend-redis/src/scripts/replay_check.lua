-- Records a replay id until not_after, unless a live entry holds it. A replayed answer
-- never changes the entry. (The client first tries `SET … NX GET PX`; it runs this
-- script only when that met an entry expired by the store's clock and kept by the
-- grace.)
-- KEYS: record
-- ARGV: now, grace, not_after
-- Returns 1 fresh (recorded), 0 replayed, -1 malformed entry.
local now, grace, not_after = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local raw = redis.call('GET', KEYS[1])
if raw then
  local until_ = tonumber(raw)
  if not until_ then return -1 end
  if until_ > now then return 0 end
end
redis.call('SET', KEYS[1], ARGV[3], 'PX', fmt(math.max(not_after - now + grace, 1)))
return 1

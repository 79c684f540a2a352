-- Takes or renews a sweep lease: refused while another holder's lease is live.
-- KEYS: lease
-- ARGV: now, grace, holder, ttl
-- Returns 1 when taken or renewed, 0 when another holder has it.
local now, grace, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[4])
local r = redis.call('HMGET', KEYS[1], 'h', 'e')
if r[1] and r[1] ~= ARGV[3] then
  local e = tonumber(r[2])
  if e and e > now then return 0 end
end
redis.call('HSET', KEYS[1], 'h', ARGV[3], 'e', fmt(now + ttl))
expire_in(KEYS[1], ttl + grace)
return 1

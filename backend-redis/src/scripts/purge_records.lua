-- One purge batch of records with one purge index each: artifacts, state values,
-- lockout counters and tokens (hashes with their expiry in field `e`) or replay entries
-- (strings holding their expiry). Deletes the dead ones, drops index entries whose record
-- is gone, and puts back in step any entry of a record still live.
-- KEYS: per member: record, purge index
-- ARGV: kind ('h' hash or 's' string), expiry cutoff, then the members
-- Returns {examined, deleted}.
local kind, cutoff = ARGV[1], tonumber(ARGV[2])
local examined, deleted = 0, 0
for j = 3, #ARGV do
  local base = 1 + (j - 3) * 2
  local member = ARGV[j]
  local raw
  if kind == 'h' then
    raw = redis.call('HGET', KEYS[base], 'e')
  else
    raw = redis.call('GET', KEYS[base])
  end
  local e = tonumber(raw)
  if not raw then
    redis.call('ZREM', KEYS[base + 1], member)
  elseif e then
    examined = examined + 1
    if e <= cutoff then
      redis.call('DEL', KEYS[base])
      redis.call('ZREM', KEYS[base + 1], member)
      deleted = deleted + 1
    else
      redis.call('ZADD', KEYS[base + 1], fmt(e), member)
    end
  else
    -- Malformed (edited by hand): left for its TTL, out of the index so that purge
    -- does not meet it again.
    redis.call('ZREM', KEYS[base + 1], member)
  end
end
return {examined, deleted}

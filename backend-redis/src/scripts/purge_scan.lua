-- One purge batch over records that SCAN found: deletes each record (or, in a
-- registry, each participant) dead by the cutoffs, and stops once it has deleted
-- `limit`. A key that is gone (evicted, deleted since the SCAN), of another type or
-- malformed (edited by hand) is left alone: the server drops it by its TTL.
-- KEYS: the records (on Redis Cluster, all in one slot)
-- ARGV: kind ('s' session, 'a' artifact, 'n' string holding its expiry, 'h' hash with
--       its expiry in `e`, 'g' registry), expiry cutoff, idle cutoff ('' for none; sessions), limit
-- Returns {examined, deleted, done}: done is how many KEYS, from the first, it
-- finished (the rest were not reached, or, for a registry, not all deleted).
local kind, cutoff, idle, limit = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local examined, deleted, done = 0, 0, 0
for j = 1, #KEYS do
  if deleted >= limit then break end
  local key = KEYS[j]
  local t = redis.call('TYPE', key).ok
  if kind == 'g' then
    if t == 'hash' then
      local all = redis.call('HGETALL', key)
      local dead = {}
      for f = 1, #all, 2 do
        local e = tonumber(string.match(all[f + 1], '^(-?%d+) '))
        if e then
          examined = examined + 1
          if e <= cutoff then dead[#dead + 1] = all[f] end
        end
      end
      local room = limit - deleted
      if #dead > room then
        -- Only part fits this batch: the key is not done.
        for k = #dead, room + 1, -1 do dead[k] = nil end
        if room > 0 then
          redis.call('HDEL', key, unpack(dead))
          deleted = deleted + room
        end
        break
      end
      if #dead > 0 then
        redis.call('HDEL', key, unpack(dead))
        deleted = deleted + #dead
      end
    end
  else
    local e
    if kind == 's' and t == 'string' then
      local x, i, a = session_fields(redis.call('GET', key))
      if x then
        e = session_end(x, i, a)
        if idle and a <= idle then e = cutoff end
      end
    elseif kind == 'a' and t == 'string' then
      e = artifact_expiry(redis.call('GET', key))
    elseif kind == 'a' and t == 'hash' then
      -- Written by an earlier version.
      e = tonumber(redis.call('HGET', key, 'e'))
    elseif kind == 'n' and t == 'string' then
      e = tonumber(redis.call('GET', key))
    elseif kind == 'h' and t == 'hash' then
      e = tonumber(redis.call('HGET', key, 'e'))
    end
    if e then
      examined = examined + 1
      if e <= cutoff then
        redis.call('DEL', key)
        deleted = deleted + 1
      end
    end
  end
  done = j
end
return {examined, deleted, done}

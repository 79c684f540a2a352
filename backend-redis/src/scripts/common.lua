-- authstate: the helpers the scripts share. Each script is sent with the blocks of this
-- file that it uses (a block: the lines between two blank lines; see the crate's
-- `scripts` module), so keep every helper, with its comment, in one block: no blank
-- line inside a function.
--
-- Times are integer milliseconds from the store's clock, passed in ARGV: a script never
-- asks the server for the time, so every node decides expiry with the same clock as its
-- reads. Server TTLs are set relative (PEXPIRE) to the record's remaining life by that
-- clock, plus a grace, so a node whose clock differs from the server's never makes the
-- server drop a record that is still live. Every key a script touches is in KEYS.

-- A number as Redis wants it in a command: plain digits (Lua 5.1 would print large
-- numbers in exponent form).
local function fmt(n)
  return string.format('%.0f', n)
end

-- Sets `key` to expire `ttl` ms from now, exactly: a rewritten record gets its new life.
local function expire_in(key, ttl)
  if ttl < 1 then ttl = 1 end
  redis.call('PEXPIRE', key, fmt(ttl))
end

-- Keeps `key` for at least `ttl` ms more; never shortens its TTL (indexes, hashes of
-- many entries). When it must extend, it extends a quarter further, so that the next
-- writes (whose expiries are a little later) need not extend again.
local function keep_for(key, ttl)
  if ttl < 1 then ttl = 1 end
  local current = redis.call('PTTL', key)
  if current == -1 or (current >= 0 and current < ttl) then
    redis.call('PEXPIRE', key, fmt(ttl + math.floor(ttl / 4)))
  end
end

-- The effective end of a session: its absolute end, or its idle end when earlier.
local function session_end(e, i, a)
  if i > 0 and a + i < e then return a + i end
  return e
end

-- A session record is one string: a format byte (1); big-endian 8-byte integers e
-- (absolute end), i (idle timeout, 0 for none), a (last activity), v (version); the
-- 4-byte length of the sealed meta; the sealed meta; the sealed data. (One string and
-- not a hash: a hash with a 200-byte field loses the compact encoding.)
local SESSION_HEADER = 37
-- Where `a` starts: its 0-based offset (its Lua position is one more).
local SESSION_A_OFFSET = 17

-- e, i, a, v and the meta's length of a session record, or nil if it is malformed.
local function session_fields(s)
  if #s < SESSION_HEADER then return nil end
  local format, e, i, a, v, mlen = struct.unpack('>Bi8i8i8i8I4', s)
  if format ~= 1 or #s < SESSION_HEADER + mlen then return nil end
  return e, i, a, v, mlen
end

-- The header of a session record.
local function session_header(e, i, a, v, mlen)
  return struct.pack('>Bi8i8i8i8I4', 1, e, i, a, v, mlen)
end

-- `s` with its last activity set to `a`.
local function session_with_activity(s, a)
  return string.sub(s, 1, SESSION_A_OFFSET) .. struct.pack('>i8', a)
    .. string.sub(s, SESSION_A_OFFSET + 9)
end

-- An artifact record is one string: a format byte, then its expiry as a big-endian
-- 8-byte integer, then the sealed payload (format 2, live) or the time of the take as
-- an 8-byte integer (format 3, the tombstone of a taken artifact).
local ARTIFACT_HEADER = 9
local ARTIFACT_LIVE, ARTIFACT_TAKEN = 2, 3

-- The expiry of an artifact record, or nil if it is malformed.
local function artifact_expiry(s)
  if #s < ARTIFACT_HEADER then return nil end
  local format, e = struct.unpack('>Bi8', s)
  if format ~= ARTIFACT_LIVE and format ~= ARTIFACT_TAKEN then return nil end
  return e
end

-- Adds `member` to the sorted set `zset` with `score` (an expiry) and keeps the set at
-- least as long as that member plus the grace: since a set's TTL is only ever extended,
-- it lasts as long as its latest member plus the grace. Returns that keep time, for sets
-- that follow this one.
local function index_add(zset, score, member, now, grace)
  redis.call('ZADD', zset, fmt(score), member)
  local keep = score - now + grace
  keep_for(zset, keep)
  return keep
end

-- Adds to an owner index (a subject's sessions, a grant's tokens): entries whose record
-- has expired are dropped first, since no read can return those records again.
local function owner_add(zset, score, member, now, grace)
  redis.call('ZREMRANGEBYSCORE', zset, '-inf', fmt(now))
  return index_add(zset, score, member, now, grace)
end

-- Whether every member of `listed` is among ARGV[first..]: the caller named (in KEYS) the
-- records of every member of an index it is about to act on.
local function all_declared(listed, first)
  local declared = {}
  for j = first, #ARGV do declared[ARGV[j]] = true end
  for _, m in ipairs(listed) do
    if not declared[m] then return false end
  end
  return true
end


-- Lists a token in one owner index (Redis Cluster, where the owner indexes and the
-- record are in different slots: each index is written before the record, so an index
-- never misses a stored token; an entry whose insert then failed is skipped by every
-- read through the index and expires by its score).
-- The score only ever rises (`GT`): an insert that fails because a live token holds the
-- value must not lower that token's entry, or the entry would be trimmed as expired
-- while the token still lives.
-- KEYS: owner index
-- ARGV: now, grace, member (raw token hash), e (expiry)
-- Returns 1.
local now, grace, e = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', fmt(now))
redis.call('ZADD', KEYS[1], 'GT', fmt(e), ARGV[3])
keep_for(KEYS[1], e - now + grace)
return 1

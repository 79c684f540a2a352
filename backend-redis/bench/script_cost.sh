#!/usr/bin/env bash
# The server-side cost of script shapes, measured with redis-benchmark against a
# redis-server of its own (no persistence) on a free loopback port: 8 clients, one
# request in flight each (-P 1, as the crate's multiplexed connection mostly is), then 16
# pipelined per client (-P 16: the server alone is the limit). Prints requests per second
# and the ratio to a plain SET of the same 200-byte value.
#
#   backend-redis/bench/script_cost.sh            # 300 000 requests per row
#   N=1000000 backend-redis/bench/script_cost.sh  # more
#
# Needs redis-server, redis-cli and redis-benchmark (Debian: redis-server, redis-tools).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
scripts="$here/../src/scripts"
n="${N:-300000}"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
dir="$(mktemp -d)"
trap 'redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$dir" \
  --daemonize yes --logfile "$dir/redis.log"
for _ in $(seq 1 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done

load() { redis-cli -p "$port" -x script load; }
value="$(head -c 200 /dev/zero | tr '\0' x)"
now="$(date +%s%3N)"
# A block of common.lua by the name it defines (blocks are separated by blank lines).
helper() { awk -v RS= -v ORS='\n\n' -v name="$1" '$0 ~ ("local function " name "\\(")' "$scripts/common.lua"; }

floor="$(printf '%s' "redis.call('SET', KEYS[1], ARGV[1]) return 1" | load)"
lockout_all="$(cat "$scripts/common.lua" "$scripts/lockout_failure.lua" | load)"
lockout_used="$( { helper fmt; helper expire_in; cat "$scripts/lockout_failure.lua"; } | load)"
create_shape="$(printf '%s' "
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', 3600000) then return 0 end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '1000')
redis.call('ZADD', KEYS[2], '3600000', ARGV[2])
if redis.call('PTTL', KEYS[2]) < 3000000 then redis.call('PEXPIRE', KEYS[2], 4000000) end
return 1" | load)"

rate() { # pipeline, then the command; KEYSPACE: how many distinct keys (-r)
  local p="$1"; shift
  redis-benchmark -p "$port" -c 8 -n "$n" -P "$p" -r "${KEYSPACE:-1000000}" --csv "$@" 2>/dev/null \
    | awk -F'","' 'NR == 2 { print $2 + 0 }'
}
printf '| shape | redis.calls | -P 1 req/s | ratio | -P 16 req/s | ratio |\n|---|---:|---:|---:|---:|---:|\n'
row() { # name, calls, command…
  local name="$1" calls="$2"; shift 2
  local one sixteen
  one="$(rate 1 "$@")"; sixteen="$(rate 16 "$@")"
  [ -z "${set1:-}" ] && { set1="$one"; set16="$sixteen"; }
  awk -v name="$name" -v c="$calls" -v a="$one" -v b="$sixteen" -v s1="$set1" -v s16="$set16" \
    'BEGIN { printf "| %s | %s | %.0f | %.2f | %.0f | %.2f |\n", name, c, a, a / s1, b, b / s16 }'
}
row "plain SET (200 B)" "—" SET "k:__rand_int__" "$value"
row "script floor: one SET" 1 EVALSHA "$floor" 1 "f:__rand_int__" "$value"
# Lockout counters over 400 keys, as in the crate's benchmark: most calls count on an
# existing counter.
KEYSPACE=400 row "lockout_failure, with all of common.lua" 3 \
  EVALSHA "$lockout_all" 1 "la:__rand_int__" "$now" 60000 5 900000 900000
KEYSPACE=400 row "lockout_failure, with the helpers it uses" 3 \
  EVALSHA "$lockout_used" 1 "lu:__rand_int__" "$now" 60000 5 900000 900000
row "session-create shape: SET NX PX, ZREMRANGEBYSCORE, ZADD, PTTL (+PEXPIRE)" "4-5" \
  EVALSHA "$create_shape" 2 "s:__rand_int__" "i:__rand_int__" "$value" "m__rand_int__"

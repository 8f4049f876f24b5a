#!/usr/bin/env bash
# The intake benchmark with Postfix's smtp-source as the load generator (the client the issue
# names; Debian package "postfix"): the same load against a bare smtp-server sink and against
# `mailgate serve --role smtp` (no workers: acceptance only), alternating, with a private Redis.
#
#   npm run build && bash bench/smtp-intake-smtp-source.sh [ROUNDS] [MESSAGES] [SESSIONS] [BYTES]
#   defaults: 3 rounds of 10000 messages, 300 sessions, 12288-byte bodies
#   Per round: msg/s of each, CPU per message of each server process (all its threads) and of Redis.
#   AOF=1 bash bench/…  runs Redis with appendonly yes / appendfsync everysec
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}; N=${2:-10000}; S=${3:-300}; L=${4:-12288}
command -v smtp-source >/dev/null || { echo "needs smtp-source: apt-get install postfix (then 'postfix stop')" >&2; exit 2; }
[ -f dist/src/cli.js ] || { echo "run 'npm run build' first" >&2; exit 2; }

free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }
TMP=$(mktemp -d); RPORT=$(free_port); BPORT=$(free_port); GPORT=$(free_port); HPORT=$(free_port)
AOF_ARGS=(--appendonly no); [ "${AOF:-0}" = 1 ] && AOF_ARGS=(--appendonly yes --appendfsync everysec)
redis-server --port "$RPORT" --bind 127.0.0.1 --save '' "${AOF_ARGS[@]}" --dir "$TMP" --daemonize yes --logfile "$TMP/redis.log" --pidfile "$TMP/redis.pid"
node bench/support/bare-sink.mjs "$BPORT" >/dev/null & BARE=$!
PREFIX=ssb$RANDOM
cat > "$TMP/gw.yaml" <<Y
redis: { prefix: $PREFIX }
smtp: { maxClients: 1000, connectionRateLimit: { max: 1000000, windowSeconds: 60 }, limits: { maxConnectionsPerAddress: 1000000 } }
policy: { loopRateLimitMax: 100000000 }   # one sender, one ticket: the loop guard would drop them
log: { level: warn }
Y
MAILGATE_CONFIG="$TMP/gw.yaml" REDIS_URL="redis://127.0.0.1:$RPORT" SMTP_HOST=127.0.0.1 SMTP_PORT=$GPORT \
  HTTP_HOST=127.0.0.1 HTTP_PORT=$HPORT node dist/src/cli.js serve --role smtp >"$TMP/gw.log" 2>&1 & GW=$!
cleanup() { kill "$BARE" "$GW" 2>/dev/null || true; redis-cli -p "$RPORT" shutdown nosave >/dev/null 2>&1 || true; rm -rf "$TMP"; }
trap cleanup EXIT
for _ in $(seq 50); do curl -sf "127.0.0.1:$HPORT/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
for _ in $(seq 50); do [ -s "$TMP/redis.pid" ] && break; sleep 0.1; done

echo "node $(node --version), $(nproc) cores; $S sessions, $N messages of $L body bytes per run; redis appendonly=${AOF:-0}"
RPID=$(cat "$TMP/redis.pid" 2>/dev/null || pgrep -f "redis-server 127.0.0.1:$RPORT")
TICK=$(getconf CLK_TCK)
cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }   # user+system clock ticks of a process, all threads
run() {  # run PORT PID -> prints "msg/s server-ms-per-msg redis-ms-per-msg"
  local t0 t1 c0 c1 r0 r1
  c0=$(cpu "$2"); r0=$(cpu "$RPID"); t0=$(date +%s.%N)
  smtp-source -s "$S" -m "$N" -l "$L" -S "Re: [GJ-060309] bench" -f customer@example.net -t support@example.com "127.0.0.1:$1"
  t1=$(date +%s.%N); c1=$(cpu "$2"); r1=$(cpu "$RPID")
  echo "$(echo "$N / ($t1 - $t0)" | bc -l) $(echo "($c1 - $c0) * 1000 / $TICK / $N" | bc -l) $(echo "($r1 - $r0) * 1000 / $TICK / $N" | bc -l)"
}
declare -a B G R
stored=0
for r in $(seq "$ROUNDS"); do
  # Alternate which goes first: the machine's state drifts, and neither should always get the fresh start.
  if [ $((r % 2)) = 1 ]; then read -r b bc _ < <(run "$BPORT" "$BARE"); read -r g gc rc < <(run "$GPORT" "$GW")
  else read -r g gc rc < <(run "$GPORT" "$GW"); read -r b bc _ < <(run "$BPORT" "$BARE"); fi
  # Every 250 must have left a stored message; then Redis is emptied, so each round starts alike
  # (no workers here: 10,000 messages a round would pile up 120 MB a round otherwise).
  stored=$((stored + $(redis-cli -p "$RPORT" --scan --pattern "$PREFIX:raw:*" | wc -l)))
  redis-cli -p "$RPORT" flushall >/dev/null
  B+=("$b"); G+=("$g"); R+=("$(echo "$g / $b" | bc -l)")
  printf 'round %d: bare %5.0f msg/s (%.2f ms CPU/msg)   gateway %5.0f msg/s (%.2f ms CPU/msg, redis %.2f)   ratio %.2f\n' \
    "$r" "$b" "$bc" "$g" "$gc" "$rc" "${R[-1]}"
done
median=$(printf '%s\n' "${R[@]}" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}')
sb=$(printf '%s\n' "${B[@]}" | paste -sd+ | bc -l); sg=$(printf '%s\n' "${G[@]}" | paste -sd+ | bc -l)
ratio=$(echo "$sg / $sb" | bc -l)
printf 'total: bare %.0f msg/s, gateway %.0f msg/s (mean); ratio of means %.2f, median of round ratios %.2f (target >= 0.90: %s)\n' \
  "$(echo "$sb / $ROUNDS" | bc -l)" "$(echo "$sg / $ROUNDS" | bc -l)" "$ratio" "$median" "$( [ "$(echo "$ratio >= 0.9" | bc)" = 1 ] && echo met || echo 'not met')"
echo "gateway stored $stored raw messages for $((ROUNDS * N)) sent (every 250 must be stored)"

#!/usr/bin/env bash
# The intake benchmark with Postfix's smtp-source as the load generator (the client the issue
# names; Debian package "postfix"): the same load against a bare smtp-server sink and against
# `mailgate serve --role smtp` (no workers: acceptance only), alternating, with a private Redis.
#
#   npm run build && bash bench/smtp-intake-smtp-source.sh [ROUNDS] [MESSAGES] [SESSIONS] [BYTES]
#   defaults: 3 rounds of 10000 messages, 300 sessions, 12288-byte bodies
#   AOF=1 bash bench/…  runs Redis with appendonly yes / appendfsync everysec
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}; N=${2:-10000}; S=${3:-300}; L=${4:-12288}
command -v smtp-source >/dev/null || { echo "needs smtp-source: apt-get install postfix (then 'postfix stop')" >&2; exit 2; }
[ -f dist/src/cli.js ] || { echo "run 'npm run build' first" >&2; exit 2; }

free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }
TMP=$(mktemp -d); RPORT=$(free_port); BPORT=$(free_port); GPORT=$(free_port); HPORT=$(free_port)
AOF_ARGS=(--appendonly no); [ "${AOF:-0}" = 1 ] && AOF_ARGS=(--appendonly yes --appendfsync everysec)
redis-server --port "$RPORT" --bind 127.0.0.1 --save '' "${AOF_ARGS[@]}" --dir "$TMP" --daemonize yes --logfile "$TMP/redis.log"
node bench/support/bare-sink.mjs "$BPORT" >/dev/null & BARE=$!
PREFIX=ssb$RANDOM
cat > "$TMP/gw.yaml" <<Y
redis: { prefix: $PREFIX }
smtp: { maxClients: 1000, connectionRateLimit: { max: 1000000, windowSeconds: 60 } }
policy: { loopRateLimitMax: 100000000 }   # one sender, one ticket: the loop guard would drop them
log: { level: warn }
Y
MAILGATE_CONFIG="$TMP/gw.yaml" REDIS_URL="redis://127.0.0.1:$RPORT" SMTP_HOST=127.0.0.1 SMTP_PORT=$GPORT \
  HTTP_HOST=127.0.0.1 HTTP_PORT=$HPORT node dist/src/cli.js serve --role smtp >"$TMP/gw.log" 2>&1 & GW=$!
cleanup() { kill "$BARE" "$GW" 2>/dev/null || true; redis-cli -p "$RPORT" shutdown nosave >/dev/null 2>&1 || true; rm -rf "$TMP"; }
trap cleanup EXIT
for _ in $(seq 50); do curl -sf "127.0.0.1:$HPORT/readyz" >/dev/null 2>&1 && break; sleep 0.2; done

echo "node $(node --version), $(nproc) cores; $S sessions, $N messages of $L body bytes per run; redis appendonly=${AOF:-0}"
run() {  # run NAME PORT -> prints msg/s
  local t0 t1; t0=$(date +%s.%N)
  smtp-source -s "$S" -m "$N" -l "$L" -S "Re: [GJ-060309] bench" -f customer@example.net -t support@example.com "127.0.0.1:$2"
  t1=$(date +%s.%N); echo "$N / ($t1 - $t0)" | bc -l
}
declare -a B G
for r in $(seq "$ROUNDS"); do
  b=$(run bare "$BPORT"); g=$(run gateway "$GPORT")
  B+=("$b"); G+=("$g")
  printf 'round %d: bare %7.0f msg/s   gateway %7.0f msg/s   ratio %.2f\n' "$r" "$b" "$g" "$(echo "$g / $b" | bc -l)"
done
stored=$(redis-cli -p "$RPORT" --scan --pattern "$PREFIX:raw:*" | wc -l)
sb=$(printf '%s\n' "${B[@]}" | paste -sd+ | bc -l); sg=$(printf '%s\n' "${G[@]}" | paste -sd+ | bc -l)
ratio=$(echo "$sg / $sb" | bc -l)
printf 'total: bare %.0f msg/s, gateway %.0f msg/s (mean); ratio %.2f (target >= 0.90: %s)\n' \
  "$(echo "$sb / $ROUNDS" | bc -l)" "$(echo "$sg / $ROUNDS" | bc -l)" "$ratio" "$( [ "$(echo "$ratio >= 0.9" | bc)" = 1 ] && echo met || echo 'not met')"
echo "gateway stored $stored raw messages for $((ROUNDS * N)) sent (every 250 must be stored)"

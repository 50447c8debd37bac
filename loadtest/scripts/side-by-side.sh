#!/usr/bin/env bash
# Side-by-side run: the real Node gateway (../shared/peer/start.sh), openclaw-rs and, where it
# makes sense (rpc, fanout), the harness's protocol-only limit-server as a floor; same client
# (openclaw-loadtest compare), same machine, runs interleaved (node, rs[, limit]) x REPEAT.
# Loopback only; every scenario is bounded in count and time.
# Results: $OUT/<scenario>.json (every run + medians + ratios), $OUT/<scenario>.svg, summary.txt.
#   usage: loadtest/scripts/side-by-side.sh [OUT_DIR]
#   env:   NODE_PORT (18950), RS_PORT (18951), LIMIT_PORT (18952), TOKEN (bench-token),
#          REPEAT (3), QUICK=1 for a short run, ONLY="rpc fanout-10k …" to run a subset,
#          FAN_BIG (10000 subscribers, one repeat; 0 to skip), FAN_BIG_ROUNDS (3), HOLD_CONNS (1000,5000),
#          HOLD_WORKERS (1: hold via compare; N > 1: one `hold --workers N` run per gateway),
#          A_SIDE=io_uring: side a is openclaw-rs on the io_uring writer (`--io-uring`) instead
#          of Node, so tokio (rs) vs io_uring vs limit run in one go
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
OUT="${1:-$(mktemp -d /tmp/side-by-side.XXXXXX)}"; mkdir -p "$OUT"
T="${CARGO_TARGET_DIR:-$ROOT/target}/release"
LT="$T/openclaw-loadtest"; GW="$T/openclaw"
NODE_PORT="${NODE_PORT:-18950}"; RS_PORT="${RS_PORT:-18951}"; LIMIT_PORT="${LIMIT_PORT:-18952}"
TOKEN="${TOKEN:-bench-token}"; REPEAT="${REPEAT:-3}"
HS=2000; RPC=20000; RATE=2000; CONNS="${HOLD_CONNS:-1000,5000}"; FAN=500; FAN_BIG="${FAN_BIG:-10000}"; ROUNDS=5; SLOW=200; HTTP_S=10
[ "${QUICK:-0}" = 1 ] && { HS=200; RPC=2000; RATE=1000; CONNS=200; FAN=100; FAN_BIG=0; ROUNDS=3; SLOW=60; HTTP_S=2; REPEAT=1; }
[ -x "$LT" ] && [ -x "$GW" ] || { echo "build first: cargo build --release --bin openclaw && cargo build --release -p openclaw-loadtest"; exit 1; }

A_SIDE="${A_SIDE:-node}"
if [ "$A_SIDE" = io_uring ]; then
  A_NAME=io_uring
  echo "== starting openclaw-rs --io-uring on $NODE_PORT"
  UD=$(mktemp -d /tmp/side-by-side-uring.XXXXXX)
  echo "{ \"gateway\": { \"mode\": \"local\" }, \"logging\": { \"file\": \"$UD/openclaw.log\" } }" >"$UD/openclaw.json"
  OPENCLAW_STATE_DIR="$UD/state" OPENCLAW_CONFIG_PATH="$UD/openclaw.json" OPENCLAW_GATEWAY_TOKEN="$TOKEN" \
    "$GW" gateway run --port "$NODE_PORT" --io-uring >"$UD/stdout.log" 2>&1 &
  NODE_PID=$!
  for _ in $(seq 1 400); do curl -fs "http://127.0.0.1:$NODE_PORT/readyz" >/dev/null 2>&1 && break; sleep 0.01; done
  grep -q "runtime: io_uring" "$UD/stdout.log" || { echo "side a did not start on io_uring"; cat "$UD/stdout.log"; exit 1; }
else
  A_NAME=node
  echo "== starting Node gateway on $NODE_PORT"
  NODE_LINE=$(PEER_RESET=1 PEER_TOKEN="$TOKEN" bash ../shared/peer/start.sh "$NODE_PORT")
  echo "$NODE_LINE"
  NODE_PID=$(echo "$NODE_LINE" | sed -n 's/.*PID=\([0-9]*\).*/\1/p')
  for _ in $(seq 1 240); do curl -fs "http://127.0.0.1:$NODE_PORT/readyz" >/dev/null 2>&1 && break; sleep 0.25; done
fi

echo "== starting openclaw-rs on $RS_PORT"
RSD=$(mktemp -d /tmp/side-by-side-rs.XXXXXX)
echo "{ \"gateway\": { \"mode\": \"local\" }, \"logging\": { \"file\": \"$RSD/openclaw.log\" } }" >"$RSD/openclaw.json"
T0=$(date +%s.%N)
OPENCLAW_STATE_DIR="$RSD/state" OPENCLAW_CONFIG_PATH="$RSD/openclaw.json" OPENCLAW_GATEWAY_TOKEN="$TOKEN" \
  "$GW" gateway run --port "$RS_PORT" >"$RSD/stdout.log" 2>&1 &
RS_PID=$!
for _ in $(seq 1 400); do curl -fs "http://127.0.0.1:$RS_PORT/readyz" >/dev/null 2>&1 && break; sleep 0.01; done
echo "openclaw-rs PID=$RS_PID READY_S=$(python3 -c "print(round($(date +%s.%N)-$T0,3))")"
"$LT" limit-server --port "$LIMIT_PORT" 2>"$RSD/limit.log" &
LIMIT_PID=$!
trap 'kill -TERM $NODE_PID $RS_PID $LIMIT_PID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do grep -q listening "$RSD/limit.log" 2>/dev/null && break; sleep 0.05; done
echo "limit-server PID=$LIMIT_PID"

want() { [ -z "${ONLY:-}" ] || [[ " $ONLY " == *" $1 "* ]]; }
cmp() { # NAME THIRD(0|1) REPEAT SCENARIO ARGS...
  local name=$1 third=$2 rep=$3; shift 3
  want "$name" || return 0
  local extra=()
  [ "$third" = 1 ] && extra=(--c "$LIMIT_PORT" --c-name limit --c-pid "$LIMIT_PID")
  echo "== $name" | tee -a "$OUT/summary.txt"
  "$LT" compare --a "$NODE_PORT" --a-name "$A_NAME" --a-pid "$NODE_PID" \
    --b "$RS_PORT" --b-name rs --b-pid "$RS_PID" "${extra[@]}" --token "$TOKEN" --repeat "$rep" \
    --json "$OUT/$name.json" --svg "$OUT/$name.svg" "$@" 2>&1 | tee -a "$OUT/summary.txt" \
    || echo "!! $name: some runs failed (see above)" | tee -a "$OUT/summary.txt"
}
cmp connect-storm 0 "$REPEAT" connect-storm -n $HS --concurrency 16
cmp rpc 1 "$REPEAT" rpc -n $RPC
cmp rpc-open 1 "$REPEAT" rpc -n $RPC --rate $RATE
cmp fanout 1 "$REPEAT" fanout --clients $FAN --rounds $ROUNDS
[ "$FAN_BIG" -gt 0 ] && cmp fanout-10k 1 1 fanout --clients "$FAN_BIG" --rounds "${FAN_BIG_ROUNDS:-3}" --concurrency 16 \
  --timeout-ms 60000 --max-secs 240
cmp slow-consumer 0 "$REPEAT" slow-consumer --clients $SLOW --slow $((SLOW / 10)) --rounds 20
cmp http 0 "$REPEAT" http --path /readyz --conc 32 --secs $HTTP_S
# Memory last (the held sockets make the others noisier); once per side.
HOLD_WORKERS="${HOLD_WORKERS:-1}"
if [ "$HOLD_WORKERS" -le 1 ]; then
  cmp hold 0 1 hold --conns "$CONNS"
elif want hold; then
  for side in "$A_NAME" rs; do # one single run per gateway (compare runs in one process)
    [ $side = "$A_NAME" ] && { port=$NODE_PORT; pid=$NODE_PID; } || { port=$RS_PORT; pid=$RS_PID; }
    echo "== hold-$side: hold --workers $HOLD_WORKERS --conns $CONNS" | tee -a "$OUT/summary.txt"
    "$LT" hold --workers "$HOLD_WORKERS" --port "$port" --pid "$pid" --token "$TOKEN" --conns "$CONNS" \
      --concurrency 16 --max-secs 300 --json "$OUT/hold-$side.json" 2>&1 | grep -v '^progress:' \
      | tee -a "$OUT/summary.txt" || echo "!! hold-$side failed" | tee -a "$OUT/summary.txt"
  done
fi
echo "results in $OUT (per-scenario ratio tables in summary.txt)"

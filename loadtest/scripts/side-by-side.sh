#!/usr/bin/env bash
# Side-by-side run: the real Node gateway (../shared/peer/start.sh) and openclaw-rs, same
# client (openclaw-loadtest), same machine, same run, scenarios interleaved. Loopback only;
# every scenario is bounded in count and time. Results: $OUT/*.json and $OUT/summary.txt.
#   usage: loadtest/scripts/side-by-side.sh [OUT_DIR]
#   env:   NODE_PORT (18950), RS_PORT (18951), TOKEN (bench-token), QUICK=1 for a short run
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
OUT="${1:-$(mktemp -d /tmp/side-by-side.XXXXXX)}"; mkdir -p "$OUT"
T="${CARGO_TARGET_DIR:-$ROOT/target}/release"
LT="$T/openclaw-loadtest"; GW="$T/openclaw"
NODE_PORT="${NODE_PORT:-18950}"; RS_PORT="${RS_PORT:-18951}"; TOKEN="${TOKEN:-bench-token}"
HS=2000; RPC=20000; CONNS=1000,5000; FAN=500; ROUNDS=5
[ "${QUICK:-0}" = 1 ] && { HS=200; RPC=2000; CONNS=200; FAN=100; ROUNDS=3; }
[ -x "$LT" ] && [ -x "$GW" ] || { echo "build first: cargo build --release --bin openclaw -p openclaw-loadtest"; exit 1; }

echo "== starting Node gateway on $NODE_PORT"
NODE_LINE=$(PEER_RESET=1 PEER_TOKEN="$TOKEN" bash ../shared/peer/start.sh "$NODE_PORT")
echo "$NODE_LINE"
NODE_PID=$(echo "$NODE_LINE" | sed -n 's/.*PID=\([0-9]*\).*/\1/p')
for _ in $(seq 1 240); do curl -fs "http://127.0.0.1:$NODE_PORT/readyz" >/dev/null 2>&1 && break; sleep 0.25; done

echo "== starting openclaw-rs on $RS_PORT"
RSD=$(mktemp -d /tmp/side-by-side-rs.XXXXXX)
echo "{ \"gateway\": { \"mode\": \"local\" }, \"logging\": { \"file\": \"$RSD/openclaw.log\" } }" >"$RSD/openclaw.json"
T0=$(date +%s.%N)
OPENCLAW_STATE_DIR="$RSD/state" OPENCLAW_CONFIG_PATH="$RSD/openclaw.json" OPENCLAW_GATEWAY_TOKEN="$TOKEN" \
  "$GW" gateway run --port "$RS_PORT" >"$RSD/stdout.log" 2>&1 &
RS_PID=$!
for _ in $(seq 1 400); do curl -fs "http://127.0.0.1:$RS_PORT/readyz" >/dev/null 2>&1 && break; sleep 0.01; done
echo "openclaw-rs PID=$RS_PID READY_S=$(python3 -c "print(round($(date +%s.%N)-$T0,3))")"
trap 'kill -TERM $NODE_PID $RS_PID 2>/dev/null || true' EXIT

run() { # NAME PORT PID ARGS...
  local name=$1 port=$2 pid=$3; shift 3
  echo "-- $name"
  "$LT" "$@" --port "$port" --token "$TOKEN" --json "$OUT/$name.json" 2>&1 | tee -a "$OUT/summary.txt"
}
for side in node rs; do :; done
for sc in handshake rpc fanout; do
  for side in node rs; do
    if [ $side = node ]; then P=$NODE_PORT; PID=$NODE_PID; else P=$RS_PORT; PID=$RS_PID; fi
    case $sc in
      handshake) run "$side-handshake" $P $PID handshake -n $HS --concurrency 16 ;;
      rpc)       run "$side-rpc" $P $PID rpc -n $RPC ;;
      fanout)    run "$side-fanout" $P $PID fanout --clients $FAN --rounds $ROUNDS ;;
    esac
  done
done
# Memory last (the held sockets make the others noisier).
run node-hold $NODE_PORT $NODE_PID hold --conns $CONNS --pid $NODE_PID
run rs-hold $RS_PORT $RS_PID hold --conns $CONNS --pid $RS_PID
echo "results in $OUT"

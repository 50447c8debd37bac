#!/usr/bin/env bash
# Agent streaming measurements (BENCHMARKS.md "Agent streams"): openclaw-rs and the real Node
# gateway, each with a model provider pointing at the harness's in-process synthetic upstream (one
# port for both: runs are sequential, every `agent-streams` / `http --chat-stream` run starts and
# stops the upstream itself). Loopback only; every run bounded by --max-secs. Release builds.
#   1. ours, fresh gateway per run: 1000 concurrent runs x REPEAT, 10k concurrent runs
#   2. the floor: harness -> upstream directly (no gateway), 4 and 1000 concurrent streams
#   3. Node vs ours, same run, interleaved (`compare`): 20 and 100 runs, streamed HTTP chat
#      completions, GET /v1/models
# Before each measurement it waits (bounded) until no rustc is running: the machine is shared.
#   usage: loadtest/scripts/agent-streams.sh OUT_DIR
#   env:   RS_PORT (18961), NODE_PORT (18960), UP_PORT (18962), TOKEN (bench-token), REPEAT (3),
#          TOKENS (50), TPS (20), BIG_RUNS (10000), BIG_TPS (2), NODE_RUNS ("20 100"), NODE=0 to
#          skip the Node gateway, QUICK=1 for a short run
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
OUT="${1:?usage: $0 OUT_DIR}"; mkdir -p "$OUT"
T="${CARGO_TARGET_DIR:-$ROOT/target}/release"
LT="$T/openclaw-loadtest"; GW="$T/openclaw"
RS_PORT="${RS_PORT:-18961}"; NODE_PORT="${NODE_PORT:-18960}"; UP_PORT="${UP_PORT:-18962}"
TOKEN="${TOKEN:-bench-token}"; TOKENS="${TOKENS:-50}"; TPS="${TPS:-20}"; REPEAT="${REPEAT:-3}"
RUNS=1000; BIG_RUNS="${BIG_RUNS:-10000}"; BIG_TPS="${BIG_TPS:-2}"; NODE_RUNS="${NODE_RUNS:-20 100}"
HTTP_S=10
[ "${QUICK:-0}" = 1 ] && { RUNS=50; BIG_RUNS=200; REPEAT=1; NODE_RUNS=5; HTTP_S=2; }
[ -x "$LT" ] && [ -x "$GW" ] || { echo "build first: cargo build --release --bin openclaw && cargo build --release -p openclaw-loadtest"; exit 1; }
SUM="$OUT/summary.txt"
PIDS=()
trap 'kill -TERM "${PIDS[@]}" 2>/dev/null || true' EXIT
log() { echo "$*" | tee -a "$SUM"; }

quiet() { # wait (at most 15 min) until no compiler has run for 5 s; log the load
  local t0=$SECONDS calm=0
  while [ $((SECONDS - t0)) -lt 900 ] && [ $calm -lt 5 ]; do
    if pgrep -x rustc >/dev/null 2>&1; then calm=0; else calm=$((calm + 1)); fi
    sleep 1
  done
  log "-- quiet after $((SECONDS - t0)) s; load: $(cut -d' ' -f1-3 /proc/loadavg)"
}

provider() { # the models.providers entry for the synthetic upstream
  echo "\"models\": { \"providers\": { \"lt\": { \"baseUrl\": \"http://127.0.0.1:$UP_PORT/v1\", \"apiKey\": \"x\",
    \"api\": \"openai-completions\", \"models\": [ { \"id\": \"echo-1\", \"name\": \"echo-1\", \"contextWindow\": 128000, \"maxTokens\": 4096, \"input\": [\"text\"] } ] } } }"
}

RS_PID=""
start_rs() { # a fresh gateway of ours (empty state) on RS_PORT
  local d; d=$(mktemp -d /tmp/agent-streams-rs.XXXXXX)
  cat >"$d/openclaw.json" <<JSON
{ "gateway": { "mode": "local", "http": { "endpoints": { "chatCompletions": { "enabled": true } } } },
  "logging": { "file": "$d/openclaw.log" },
  $(provider),
  "agents": { "defaults": { "model": "lt/echo-1" } } }
JSON
  OPENCLAW_STATE_DIR="$d/state" OPENCLAW_CONFIG_PATH="$d/openclaw.json" OPENCLAW_GATEWAY_TOKEN="$TOKEN" \
    "$GW" gateway run --port "$RS_PORT" --allow-unconfigured >"$d/stdout.log" 2>&1 &
  RS_PID=$!; PIDS+=("$RS_PID")
  for _ in $(seq 1 400); do curl -fs "http://127.0.0.1:$RS_PORT/readyz" >/dev/null 2>&1 && break; sleep 0.025; done
  log "openclaw-rs PID=$RS_PID state=$d"
}
stop_rs() { kill -TERM "$RS_PID" 2>/dev/null || true; wait "$RS_PID" 2>/dev/null || true; }

lt() { # NAME ARGS...: one harness run, output in OUT/NAME.txt (+ .json) and summary.txt
  local name=$1; shift
  log "== $name: openclaw-loadtest $*"
  "$LT" "$@" --json "$OUT/$name.json" 2>&1 | grep -v '^progress:' | tee "$OUT/$name.txt" >>"$SUM" \
    || log "!! $name failed"
  tail -n +2 "$OUT/$name.txt" | grep -E 'added|after all|TTFT|chunk|runs over|gateway during|harness|responses' || true
}

agent() { # NAME RUNS TPS [extra args]: agent-streams against a fresh gateway of ours
  local name=$1 n=$2 tps=$3; shift 3
  start_rs; quiet
  lt "$name" agent-streams --port "$RS_PORT" --token "$TOKEN" --pid "$RS_PID" --upstream-port "$UP_PORT" \
    --runs "$n" --tokens "$TOKENS" --tokens-per-sec "$tps" --max-secs 300 --svg "$OUT/$name.svg" "$@"
  stop_rs
}

for rep in $(seq 1 "$REPEAT"); do agent "rs-agent-$RUNS-r$rep" "$RUNS" "$TPS"; done
agent "rs-agent-$BIG_RUNS" "$BIG_RUNS" "$BIG_TPS"

quiet
for c in 4 "$RUNS"; do
  lt "floor-stream-$c" http --chat-stream --port "$UP_PORT" --upstream-port "$UP_PORT" --conc "$c" \
    --secs 5 --tokens "$TOKENS" --tokens-per-sec "$TPS" --max-secs 60
done

[ "${NODE:-1}" = 0 ] && { log "results in $OUT"; exit 0; }

# The Node gateway, started like ../shared/peer/start.sh but with the provider in its config.
PEER_DIR="${PEER_DIR:-/tmp/peer}"
NODE_BIN="$PEER_DIR/node26/package/bin/node"; OC="$PEER_DIR/oc/node_modules/openclaw/openclaw.mjs"
[ -x "$NODE_BIN" ] && [ -f "$OC" ] || { echo "Node gateway missing: bash ../shared/peer/setup.sh"; exit 1; }
RUN="$PEER_DIR/gw-agent-$NODE_PORT"; rm -rf "$RUN"; mkdir -p "$RUN/state" "$RUN/home" "$RUN/tmp"
cat >"$RUN/openclaw.json" <<JSON
{ "gateway": { "mode": "local", "http": { "endpoints": { "chatCompletions": { "enabled": true } } } },
  "logging": { "file": "$RUN/openclaw.log" },
  $(provider),
  "agents": { "defaults": { "model": { "primary": "lt/echo-1" } } } }
JSON
log "== starting Node gateway on $NODE_PORT"
(
  export PATH="$PEER_DIR/node26/package/bin:$PATH" HOME="$RUN/home" TMPDIR="$RUN/tmp"
  export OPENCLAW_STATE_DIR="$RUN/state" OPENCLAW_CONFIG_PATH="$RUN/openclaw.json" OPENCLAW_GATEWAY_TOKEN="$TOKEN"
  export NO_COLOR=1 FORCE_COLOR=0
  exec "$NODE_BIN" "$OC" gateway run --port "$NODE_PORT" --bind loopback --auth token --allow-unconfigured \
    >"$RUN/stdout.log" 2>&1 </dev/null
) &
NODE_PID=$!; PIDS+=("$NODE_PID")
T0=$SECONDS
for _ in $(seq 1 480); do
  kill -0 "$NODE_PID" 2>/dev/null || { echo "Node gateway exited; see $RUN/stdout.log"; tail -5 "$RUN/stdout.log"; exit 1; }
  curl -fs "http://127.0.0.1:$NODE_PORT/readyz" >/dev/null 2>&1 && break; sleep 0.25
done
sleep 3   # it answers "gateway starting; retry shortly" for a few s after /readyz
log "Node PID=$NODE_PID ready after $((SECONDS - T0)) s, state=$RUN"
start_rs

cmp() { # NAME SCENARIO ARGS...: Node (a) vs ours (b), interleaved, one repeat
  local name=$1; shift
  quiet
  log "== $name: openclaw-loadtest compare … $*"
  "$LT" compare --a "$NODE_PORT" --a-name node --a-pid "$NODE_PID" --b "$RS_PORT" --b-name rs --b-pid "$RS_PID" \
    --token "$TOKEN" --repeat 1 --json "$OUT/$name.json" --svg "$OUT/$name.svg" "$@" 2>&1 \
    | grep -v '^progress:' | tee "$OUT/$name.txt" >>"$SUM" || log "!! $name: some runs failed"
  sed -n '/^== compare/,$p' "$OUT/$name.txt"
}
for n in $NODE_RUNS; do
  cmp "cmp-agent-$n" agent-streams --runs "$n" --concurrency 8 --upstream-port "$UP_PORT" \
    --tokens "$TOKENS" --tokens-per-sec "$TPS" --max-secs 300
done
cmp cmp-chat-stream http --chat-stream --upstream-port "$UP_PORT" --conc 4 --secs "$HTTP_S" \
  --tokens "$TOKENS" --tokens-per-sec "$TPS" --max-secs 120
cmp cmp-models http --path /v1/models --conc 32 --secs "$HTTP_S"
log "results in $OUT"

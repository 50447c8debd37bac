#!/usr/bin/env bash
# Smoke test: every openclaw-loadtest scenario, briefly (seconds, small counts, --strict), against
# a running gateway; then `compare` between that gateway and a limit-server started here; then the
# agent scenarios (agent-streams, http --chat-stream) against a second gateway of ours started here
# with its model provider pointing at the harness's synthetic upstream on a free port.
# Exits non-zero if any run fails. Loopback only.
#   usage: loadtest/scripts/smoke.sh PORT TOKEN PID
#   env:   LT=path/to/openclaw-loadtest (default: the newer of target/release and target/debug)
#          GW=path/to/openclaw for the agent gateway (default: the newer of release and debug)
#          OUT=dir for JSON/SVG (default: a fresh /tmp dir)
set -uo pipefail
[ $# -eq 3 ] || { echo "usage: $0 PORT TOKEN PID" >&2; exit 64; }
PORT=$1 TOKEN=$2 PID=$3
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
T="${CARGO_TARGET_DIR:-$ROOT/target}"
if [ -z "${LT:-}" ]; then
  LT="$T/release/openclaw-loadtest"
  [ "$T/debug/openclaw-loadtest" -nt "$LT" ] && LT="$T/debug/openclaw-loadtest"
fi
[ -x "$LT" ] || { echo "no openclaw-loadtest binary (cargo build -p openclaw-loadtest)" >&2; exit 1; }
if [ -z "${GW:-}" ]; then
  GW="$T/release/openclaw"
  [ "$T/debug/openclaw" -nt "$GW" ] && GW="$T/debug/openclaw"
fi
kill -0 "$PID" 2>/dev/null || { echo "no process $PID" >&2; exit 1; }
OUT="${OUT:-$(mktemp -d /tmp/lt-smoke.XXXXXX)}"; mkdir -p "$OUT"
FAILED=()

run() { # NAME ARGS...
  local name=$1; shift
  echo "== $name"
  if "$LT" "$@" --port "$PORT" --token "$TOKEN" --pid "$PID" --strict --max-secs 60 \
      --json "$OUT/$name.json"; then
    echo "ok: $name"
  else
    echo "FAIL: $name"; FAILED+=("$name")
  fi
}

run connect-storm connect-storm -n 200 --concurrency 8 --svg "$OUT/connect-storm.svg"
run handshake-alias handshake -n 20 --concurrency 4
run rpc-closed rpc -n 2000 --warmup 50 --pipeline 4
run rpc-open rpc -n 1000 --rate 1000 --warmup 50 --svg "$OUT/rpc-open.svg"
run fanout fanout --clients 50 --rounds 3 --gap-ms 100
run hold hold --conns 50,100 --idle-secs 1 --settle-ms 200 --source-ips 127.0.0.1-127.0.0.4
run hold-workers hold --workers 2 --conns 40,100 --idle-secs 1 --settle-ms 200 \
  --source-ips 127.0.0.2-127.0.0.3
run connect-storm-workers connect-storm --workers 2 -n 100 --concurrency 4
run slow-consumer slow-consumer --clients 60 --slow 10 --rounds 5 --warmup-rounds 1 --gap-ms 50
run http http --path /healthz --conc 4 --secs 2
run cron-burst cron-burst --jobs 200 --lead-ms 4000 --health-rate 50 --sessions 10
run nodes nodes --nodes 20 -n 400 --rate 200
run hostile hostile --good 4 --health-rate 50 --subscribers 10 --phase-secs 1 --ramp-secs 1 \
  --sockets 20 --flood 200 --subscriptions 50

echo "== limit-server + compare"
"$LT" limit-server --port 0 --max-secs 120 2>"$OUT/limit.log" &
LPID=$!
APID=""; UPID=""
trap 'kill -TERM $LPID $APID $UPID 2>/dev/null || true' EXIT
LPORT=""
for _ in $(seq 1 100); do
  LPORT=$(sed -n 's/.*listening on ws:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$OUT/limit.log")
  [ -n "$LPORT" ] && break; sleep 0.05
done
if [ -z "$LPORT" ]; then
  echo "FAIL: limit-server did not start"; FAILED+=(limit-server)
elif "$LT" compare --a "$LPORT" --a-name limit --a-pid "$LPID" --b "$PORT" --b-name target \
    --b-pid "$PID" --token "$TOKEN" --repeat 1 --json "$OUT/compare-rpc.json" \
    --svg "$OUT/compare-rpc.svg" rpc -n 500 --warmup 10 --strict --max-secs 60; then
  echo "ok: compare"
else
  echo "FAIL: compare"; FAILED+=(compare)
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

echo "== upstream (standalone synthetic model server)"
"$LT" upstream --port 0 --tokens 3 --tokens-per-sec 0 --max-secs 30 >"$OUT/upstream.log" 2>&1 &
UPID=$!
UPORT=""
for _ in $(seq 1 100); do
  UPORT=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$OUT/upstream.log")
  [ -n "$UPORT" ] && break; sleep 0.05
done
if [ -n "$UPORT" ] && curl -fs "http://127.0.0.1:$UPORT/v1/models" | grep -q echo-1 \
    && curl -fsN -X POST "http://127.0.0.1:$UPORT/v1/chat/completions" -H 'content-type: application/json' \
      -d '{"stream":true,"messages":[{"role":"user","content":"hi"}]}' | grep -q '\[DONE\]'; then
  echo "ok: upstream"
else
  echo "FAIL: upstream"; FAILED+=(upstream)
fi
kill -TERM $UPID 2>/dev/null || true

echo "== agent gateway (ours, provider → synthetic upstream)"
if [ ! -x "$GW" ]; then
  echo "FAIL: no openclaw binary for the agent scenarios (cargo build --bin openclaw)"; FAILED+=(agent-gateway)
else
  AUP=$(free_port); APORT=$(free_port); AD=$(mktemp -d /tmp/lt-smoke-agent.XXXXXX)
  cat >"$AD/openclaw.json" <<JSON
{ "gateway": { "mode": "local", "http": { "endpoints": { "chatCompletions": { "enabled": true } } } },
  "logging": { "file": "$AD/openclaw.log" },
  "models": { "providers": { "lt": { "baseUrl": "http://127.0.0.1:$AUP/v1", "apiKey": "x",
    "api": "openai-completions", "models": [ { "id": "echo-1" } ] } } },
  "agents": { "defaults": { "model": "lt/echo-1" } } }
JSON
  OPENCLAW_STATE_DIR="$AD/state" OPENCLAW_CONFIG_PATH="$AD/openclaw.json" OPENCLAW_GATEWAY_TOKEN="$TOKEN" \
    "$GW" gateway run --port "$APORT" --allow-unconfigured >"$AD/stdout.log" 2>&1 &
  APID=$!
  for _ in $(seq 1 200); do curl -fs "http://127.0.0.1:$APORT/healthz" >/dev/null 2>&1 && break; sleep 0.05; done
  arun() { # NAME ARGS...
    local name=$1; shift
    echo "== $name"
    if "$LT" "$@" --port "$APORT" --token "$TOKEN" --pid "$APID" --upstream-port "$AUP" --strict \
        --max-secs 60 --json "$OUT/$name.json"; then
      echo "ok: $name"
    else
      echo "FAIL: $name"; FAILED+=("$name"); tail -5 "$AD/stdout.log"
    fi
  }
  arun agent-streams agent-streams --runs 40 --conns 8 --tokens 10 --tokens-per-sec 50 --jitter-ms 2 \
    --svg "$OUT/agent-streams.svg"
  arun http-chat-stream http --chat-stream --conc 2 --secs 2 --tokens 5 --tokens-per-sec 100
  arun chat-rate chat-rate --rate 100 --secs 1 --warmup-secs 0 --conns 8 --tokens 5 --tokens-per-sec 0
  arun chat-rate-stream chat-rate --stream --rate 100 --secs 1 --warmup-secs 0 --conns 8 --tokens 5 \
    --tokens-per-sec 0
  kill -TERM $APID 2>/dev/null || true
fi

echo "results in $OUT"
if [ ${#FAILED[@]} -gt 0 ]; then
  echo "smoke FAILED: ${FAILED[*]}"; exit 1
fi
echo "smoke ok"

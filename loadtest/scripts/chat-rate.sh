#!/usr/bin/env bash
# One `chat-rate` run (POST /v1/chat/completions open loop at RATE/s, direct to the synthetic
# upstream, then through the gateway) against a fresh gateway whose model provider is that
# upstream: ours (release build) or the Node gateway 2026.9.6 (../shared/peer/setup.sh).
#   usage: chat-rate.sh ours|node RATE [chat-rate args, e.g. --secs 5 --stream]
#   env:   T (target dir, default target/release), PEER_DIR (/tmp/peer), OUT (a temp dir)
# Prints the scenario's table; its JSON is $OUT/chat-rate.json.
set -euo pipefail
KIND=$1; RATE=$2; shift 2
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
T="${T:-$ROOT/target/release}"
PEER_DIR="${PEER_DIR:-/tmp/peer}"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
AUP=$(free_port); AP=$(free_port)
OUT="${OUT:-$(mktemp -d /tmp/chat-rate.XXXXXX)}"; mkdir -p "$OUT/home" "$OUT/state" "$OUT/tmp"
# Node wants a name on every model; ours takes it too.
cat >"$OUT/openclaw.json" <<JSON
{ "gateway": { "mode": "local", "http": { "endpoints": { "chatCompletions": { "enabled": true } } } },
  "logging": { "file": "$OUT/openclaw.log" },
  "models": { "providers": { "lt": { "baseUrl": "http://127.0.0.1:$AUP/v1", "apiKey": "x",
    "api": "openai-completions", "models": [ { "id": "echo-1", "name": "echo-1" } ] } } },
  "agents": { "defaults": { "model": "lt/echo-1" } } }
JSON
export OPENCLAW_STATE_DIR="$OUT/state" OPENCLAW_CONFIG_PATH="$OUT/openclaw.json" OPENCLAW_GATEWAY_TOKEN=chat-rate-token
if [ "$KIND" = node ]; then
  NODE="$PEER_DIR/node26/package/bin/node"; OC="$PEER_DIR/oc/node_modules/openclaw/openclaw.mjs"
  [ -x "$NODE" ] || bash "$ROOT/../shared/peer/setup.sh" >/dev/null
  env PATH="$(dirname "$NODE"):$PATH" HOME="$OUT/home" TMPDIR="$OUT/tmp" NO_COLOR=1 \
    "$NODE" "$OC" gateway run --port "$AP" --bind loopback --auth token --allow-unconfigured \
    >"$OUT/stdout.log" 2>&1 &
else
  "$T/openclaw" gateway run --port "$AP" --allow-unconfigured >"$OUT/stdout.log" 2>&1 &
fi
GPID=$!
trap 'kill -TERM $GPID 2>/dev/null || true' EXIT
for _ in $(seq 1 480); do curl -fs "http://127.0.0.1:$AP/healthz" >/dev/null 2>&1 && break; sleep 0.25; done
"$T/openclaw-loadtest" chat-rate --port "$AP" --token chat-rate-token --pid "$GPID" --upstream-port "$AUP" \
  --rate "$RATE" --tokens 5 --tokens-per-sec 0 --max-secs 300 --json "$OUT/chat-rate.json" "$@"

#!/usr/bin/env bash
# Our `openclaw` CLI against the Node gateway (../shared/peer/start.sh, openclaw@2026.9.6): the
# verdicts the stock CLI gives, i.e. exit codes plus key lines / JSON keys of `health`,
# `health --json`, `status --json`, `gateway status --require-rpc`, `gateway probe`,
# `gateway health`, `logs --limit 5 --json` with `--url ws://127.0.0.1:PORT --token …`, then
# the same with a wrong token (refused; `status` reports the refusal and exits 0, as the
# stock CLI does). Loopback only, every step bounded; the Node gateway is always stopped.
#   usage: loadtest/scripts/cli-vs-node.sh
#   env:   PEER_DIR (/tmp/peer; installed with ../shared/peer/setup.sh when missing),
#          OC_BIN (our binary; default $CARGO_TARGET_DIR/debug/openclaw),
#          CVN_TIMEOUT (per command, default 30 s), CVN_OUT (raw outputs; default a fresh /tmp dir)
# Last line: `cli-vs-node: N/M passed`; exit 0 iff all pass.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SHARED=$(cd "$ROOT/../shared/peer" && pwd)
export PEER_DIR="${PEER_DIR:-/tmp/peer}"
TOKEN="cvn-token-$$"
TMO="${CVN_TIMEOUT:-30}"
OC="${OC_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/debug/openclaw}"
OUT="${CVN_OUT:-$(mktemp -d /tmp/cli-vs-node.XXXXXX)}"
mkdir -p "$OUT"
[ -x "$OC" ] || { echo "no $OC (cargo build --bin openclaw)" >&2; echo "cli-vs-node: 0/0 passed"; exit 2; }

if [ ! -x "$PEER_DIR/node26/package/bin/node" ] || [ ! -f "$PEER_DIR/oc/node_modules/openclaw/openclaw.mjs" ]; then
  echo "installing the Node gateway under $PEER_DIR (setup.sh)"
  timeout 900 bash "$SHARED/setup.sh" >"$OUT/setup.log" 2>&1 || {
    tail -20 "$OUT/setup.log" >&2; echo "cli-vs-node: 0/0 passed"; exit 2; }
fi

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
RUN="$PEER_DIR/gw-$PORT"
PID=""
stop_node() {
  [ -n "$PID" ] || PID=$(cat "$RUN/pid" 2>/dev/null || true)
  if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
    kill -TERM "$PID" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$PID" 2>/dev/null || true
  fi
  [ "${CVN_KEEP:-0}" = 1 ] || rm -rf "$RUN"
}
trap stop_node EXIT
trap 'exit 130' INT TERM

echo "starting the Node gateway on 127.0.0.1:$PORT"
START=$(PEER_TOKEN="$TOKEN" timeout 120 bash "$SHARED/start.sh" "$PORT" 2>&1) || {
  echo "$START" >&2; echo "cli-vs-node: 0/0 passed"; exit 1; }
echo "$START" | tail -1
PID=$(sed -n 's/.*PID=\([0-9][0-9]*\).*/\1/p' <<<"$START" | tail -1)
# Connects succeed only once /readyz says so (../shared/peer/README.md).
READY=0
for _ in $(seq 1 300); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/readyz" || true)" = 200 ] && { READY=1; break; }
  sleep 0.2
done
[ "$READY" = 1 ] || { echo "Node gateway never became ready" >&2; echo "cli-vs-node: 0/0 passed"; exit 1; }

# Our CLI in an isolated HOME whose config names the port (so local lines match too).
ISO="$OUT/iso"; mkdir -p "$ISO/home" "$ISO/state"
printf '{ "gateway": { "mode": "local", "port": %s, "bind": "loopback", "auth": { "mode": "token" } } }\n' "$PORT" >"$ISO/openclaw.json"
export HOME="$ISO/home" NO_COLOR=1 OPENCLAW_STATE_DIR="$ISO/state" OPENCLAW_CONFIG_PATH="$ISO/openclaw.json" OPENCLAW_GATEWAY_PORT="$PORT"
unset OPENCLAW_GATEWAY_URL OPENCLAW_GATEWAY_TOKEN OPENCLAW_GATEWAY_PASSWORD 2>/dev/null || true
URL="ws://127.0.0.1:$PORT"

PASS=0; TOTAL=0
run() { # NAME TOKEN ARGS... ; sets RC, FILE (stdout), ERRF (stderr)
  local name=$1 tok=$2; shift 2
  FILE="$OUT/$name.out"; ERRF="$OUT/$name.err"
  timeout -k 3 "$TMO" "$OC" "$@" --url "$URL" --token "$tok" >"$FILE" 2>"$ERRF" </dev/null
  RC=$?
}
report() { # NAME OK(0/1) DETAIL
  TOTAL=$((TOTAL+1))
  if [ "$2" = 0 ]; then PASS=$((PASS+1)); echo "PASS $1: $3"; else echo "FAIL $1: $3 (output: $FILE, $ERRF)"; fi
}
lines() { # NAME WANT_RC regex... : exit code and every regex in stdout
  local name=$1 want=$2; shift 2
  local miss=() re
  for re in "$@"; do grep -qE -- "$re" "$FILE" || miss+=("$re"); done
  if [ "$want" = 0 ] && [ "$RC" != 0 ]; then report "$name" 1 "exit $RC (want 0)"
  elif [ "$want" != 0 ] && [ "$RC" = 0 ]; then report "$name" 1 "exit 0 (want non-zero)"
  elif [ ${#miss[@]} -gt 0 ]; then report "$name" 1 "missing: ${miss[*]}"
  else report "$name" 0 "exit $RC, $# key line(s)"; fi
}
pycheck() { # NAME WANT_RC PYTHON (d = parsed stdout, or lines for logs)
  local name=$1 want=$2 code=$3
  if [ "$want" = 0 ] && [ "$RC" != 0 ]; then report "$name" 1 "exit $RC (want 0)"; return; fi
  if python3 -c "import json,sys
text=open(sys.argv[1]).read()
$code" "$FILE" 2>"$OUT/$name.py.err"; then report "$name" 0 "exit $RC, JSON as expected"
  else report "$name" 1 "JSON check failed: $(tail -1 "$OUT/$name.py.err")"; fi
}
refused() { # NAME : non-zero exit and an auth complaint on stderr (or stdout)
  if [ "$RC" = 0 ]; then report "$1" 1 "exit 0 with a wrong token"
  elif grep -qiE 'unauthori|token mismatch|timeout|Reachable: no|failed' "$FILE" "$ERRF"; then report "$1" 0 "refused (exit $RC)"
  else report "$1" 1 "exit $RC without a reason"; fi
}

# --- the right token
run health "$TOKEN" health
lines "health" 0 '^Gateway event loop: ' '^Gateway probe duration: [0-9]+ms' '^Agents: main \(default\)' \
  '^Heartbeat interval: ' '^Session store \(main\): '
run health-json "$TOKEN" health --json
pycheck "health --json" 0 'd=json.loads(text); assert d["ok"] is True; assert isinstance(d["agents"], list) and d["agents"]; assert "durationMs" in d'
run status-json "$TOKEN" status --json
pycheck "status --json" 0 "d=json.loads(text); g=d['gateway']; assert g['reachable'] is True, g; assert g['error'] is None, g
assert g['url']=='$URL', g; assert g['auth']['scopes']==['operator.read'], g
for k in ('os','dashboard','gatewayService','agents','heartbeat','sessions'): assert k in d, k"
run gateway-status-rpc "$TOKEN" gateway status --require-rpc
lines "gateway status --require-rpc" 0 '^Runtime: running' '^Read probe: ok' '^Capability: read-only' \
  '^Gateway version: [^ ]+' "^Dashboard: http://127\.0\.0\.1:$PORT/" "^Listening: 127\.0\.0\.1:$PORT"
run gateway-probe "$TOKEN" gateway probe
lines "gateway probe" 0 '^Reachable: yes' '^  Connect: ok '
run gateway-health "$TOKEN" gateway health
lines "gateway health" 0 '^Gateway event loop: ' '^Gateway probe duration: [0-9]+ms' '^Agents: main \(default\)'
run logs-json "$TOKEN" logs --limit 5 --json
pycheck "logs --limit 5 --json" 0 'rows=[json.loads(l) for l in text.splitlines() if l.strip()]
assert 1 <= len(rows) <= 5, len(rows); assert all(isinstance(r, dict) and "time" in r for r in rows)'

# --- a wrong token
BAD="wrong-$TOKEN"
run bad-health "$BAD" health;                         refused "health (wrong token)"
run bad-health-json "$BAD" health --json;             refused "health --json (wrong token)"
run bad-status-rpc "$BAD" gateway status --require-rpc
lines "gateway status --require-rpc (wrong token)" 1 '^Connectivity probe: failed'
run bad-probe "$BAD" gateway probe
lines "gateway probe (wrong token)" 1 '^Reachable: no'
run bad-gateway-health "$BAD" gateway health;         refused "gateway health (wrong token)"
run bad-logs "$BAD" logs --limit 5 --json;            refused "logs --limit 5 --json (wrong token)"
run bad-status "$BAD" status --json
pycheck "status --json (wrong token; exit 0 as stock)" 0 "d=json.loads(text); g=d['gateway']
assert 'auth' not in g, g; assert 'token' in (g.get('error') or ''), g"

echo "raw outputs: $OUT"
echo "cli-vs-node: $PASS/$TOTAL passed"
[ "$PASS" = "$TOTAL" ]

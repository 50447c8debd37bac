#!/usr/bin/env bash
# The stock OpenClaw 2026.9.6 CLI against a gateway on 127.0.0.1:PORT, for the method registry:
# `models list --json` (needs the published-model-catalog capability), `status --json` (asks
# for includeCliProjection: agents / memoryPlugin / updateChannel must be there), and
# `gateway call M --json` for EVERY method the gateway advertises in hello-ok (read with a
# small WebSocket client from ../shared/peer's venv): none may answer "unknown method".
#   usage: loadtest/scripts/registry-cli.sh PORT TOKEN
#   env:   PEER_DIR (/tmp/peer: the stock CLI and venv from ../shared/peer/setup.sh)
# Prints PASS/FAIL per check and, last, `registry-cli: N passed, M failed`. Exit 0 iff all pass.
set -u
PORT="${1:?usage: registry-cli.sh PORT TOKEN}"
TOKEN="${2:?usage: registry-cli.sh PORT TOKEN}"
PEER_DIR="${PEER_DIR:-/tmp/peer}"
NODE_BIN="$PEER_DIR/node26/package/bin/node"
OC="$PEER_DIR/oc/node_modules/openclaw/openclaw.mjs"
PY="$PEER_DIR/venv/bin/python"
for f in "$NODE_BIN" "$OC" "$PY"; do
  [ -e "$f" ] || { echo "missing $f (run ../shared/peer/setup.sh)"; echo "registry-cli: 0 passed, 1 failed"; exit 2; }
done
ISO=$(mktemp -d /tmp/registry-cli.XXXXXX)
mkdir -p "$ISO/home" "$ISO/state" "$ISO/tmp"
printf '{ "gateway": { "mode": "local", "port": %s, "auth": { "mode": "token" } } }\n' "$PORT" >"$ISO/openclaw.json"
export PATH="$PEER_DIR/node26/package/bin:$PATH" HOME="$ISO/home" TMPDIR="$ISO/tmp" NO_COLOR=1 FORCE_COLOR=0
export OPENCLAW_STATE_DIR="$ISO/state" OPENCLAW_CONFIG_PATH="$ISO/openclaw.json"
export OPENCLAW_GATEWAY_PORT="$PORT" OPENCLAW_GATEWAY_TOKEN="$TOKEN"
PASS=0; FAIL=0
ok() { PASS=$((PASS+1)); echo "PASS $1"; }
bad() { FAIL=$((FAIL+1)); echo "FAIL $1: $2"; }
cli() { timeout 60 "$NODE_BIN" "$OC" "$@"; }

out=$(cli models list --json 2>&1); code=$?
if [ $code = 0 ] && echo "$out" | "$PY" -c 'import json,sys; d=json.load(sys.stdin); assert "models" in d' 2>/dev/null; then
  ok "models list --json"; else bad "models list --json" "exit $code: ${out:0:300}"; fi

out=$(cli status --json 2>&1); code=$?
if [ $code = 0 ] && echo "$out" | "$PY" -c '
import json,sys
d=json.load(sys.stdin)
for k in ("agents","memoryPlugin","updateChannel","sessions","heartbeat"):
    assert k in d, k' 2>/dev/null; then
  ok "status --json (cliProjection merged)"; else bad "status --json" "exit $code: ${out:0:300}"; fi

methods=$("$PY" - "$PORT" "$TOKEN" <<'PYEOF'
import asyncio, json, sys, websockets
async def main(port, token):
    async with websockets.connect(f"ws://127.0.0.1:{port}/", open_timeout=20) as ws:
        await asyncio.wait_for(ws.recv(), 20)
        await ws.send(json.dumps({"type": "req", "id": "1", "method": "connect", "params": {
            "minProtocol": 4, "maxProtocol": 4,
            "client": {"id": "gateway-client", "version": "ci", "platform": "linux", "mode": "backend"},
            "role": "operator", "scopes": ["operator.read"], "caps": [], "auth": {"token": token}}}))
        while True:
            m = json.loads(await asyncio.wait_for(ws.recv(), 20))
            if m.get("type") == "res":
                print("\n".join(m["payload"]["features"]["methods"]))
                return
asyncio.run(main(sys.argv[1], sys.argv[2]))
PYEOF
)
n=$(echo "$methods" | grep -c . || true)
[ "$n" -gt 10 ] && ok "hello-ok advertises $n methods" || bad "hello-ok features" "got: $methods"
# Params that make each call cheap and side-effect free where a method needs some.
params_for() {
  case "$1" in
    agent.wait) echo '{"runId":"registry-cli","timeoutMs":0}' ;;
    *) echo '{}' ;;
  esac
}
for m in $methods; do
  out=$(cli gateway call "$m" --params "$(params_for "$m")" --json 2>&1)
  if echo "$out" | grep -q "unknown method"; then bad "gateway call $m" "${out:0:200}"; else ok "gateway call $m"; fi
done
rm -rf "$ISO"
echo "registry-cli: $PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]

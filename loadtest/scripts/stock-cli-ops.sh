#!/usr/bin/env bash
# The STOCK OpenClaw 2026.9.6 CLI against the Node gateway (../shared/peer/start.sh) and against
# ours, side by side, for the operator commands below: the verdict must be the same on both, i.e.
# equal exit codes AND the same meaning (a per-command check written from the Node gateway's real
# output: JSON commands parse and carry the top-level keys Node has, text commands show the same
# key lines / table rows, commands that fail on Node fail the same way on ours). Values that
# legitimately differ (timestamps, pids, ports, paths, durations, versions, hashes, host IP, the
# Node gateway's built-in cron jobs heartbeat / memory-dreaming / skill-review) are not compared.
# Any "unknown method" from ours where Node has none is a FAIL.
#   commands: status --json | status --deep | status --all | health | gateway status | gateway probe |
#     gateway health | gateway stability | gateway usage-cost | logs --limit 5 | channels status --json |
#     channels status --probe | models list | cron list | cron status | cron get <unknown id> |
#     skills list | skills check | hooks list | system event --text hello --mode now |
#     system presence | system heartbeat last | secrets reload | approvals pending |
#     approvals get --gateway | users list | message send to unconfigured telegram (a chat id, which
#     reaches the gateway's message.action, and an E.164 number, which the CLI itself rejects)
# Each CLI run gets a fresh isolated HOME / state dir / config (gateway.port = that gateway's port,
# token via OPENCLAW_GATEWAY_TOKEN), is bounded by a timeout, and talks to 127.0.0.1 only.
#   usage: loadtest/scripts/stock-cli-ops.sh
#   env:   PEER_DIR (/tmp/peer; installed with ../shared/peer/setup.sh when missing),
#          OC_BIN (our binary; default $CARGO_TARGET_DIR/debug/openclaw; never built here),
#          SCO_OUT (raw outputs; default a fresh /tmp dir, kept), SCO_TIMEOUT (per CLI run, default 45 s),
#          SCO_ONLY (regex over the command names below, e.g. '^cron-' to run a subset),
#          SCO_CAPTURE=1 (also run each command once more against Node through ../shared/peer/wsproxy.py
#            and list every request the CLI sends, with its params, in $SCO_OUT/methods.txt;
#            verdicts use the direct runs only)
# Outputs in SCO_OUT: node/ and ours/ NAME.{out,err,rc,gwlog} (gwlog = the gateway's log lines
# written during that run), summary.tsv (one row per command), methods.txt (the methods each command
# made the gateway answer, from both gateways' logs: "→ res ✓/✗ METHOD"), node-gateway.log,
# ours-gateway/stdout.log. The Node gateway and ours are always stopped.
# Last line: `stock-cli-ops: N/M passed`; exit 0 iff all pass.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SHARED=$(cd "$ROOT/../shared/peer" && pwd)
export PEER_DIR="${PEER_DIR:-/tmp/peer}"
TOKEN="sco-token-$$-$RANDOM"
TMO="${SCO_TIMEOUT:-45}"
OC="${OC_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/debug/openclaw}"
OUT="${SCO_OUT:-$(mktemp -d /tmp/stock-cli-ops.XXXXXX)}"
ONLY="${SCO_ONLY:-.}"
CAPTURE="${SCO_CAPTURE:-0}"
NODE_BIN="$PEER_DIR/node26/package/bin/node"
OCJS="$PEER_DIR/oc/node_modules/openclaw/openclaw.mjs"
PY="$PEER_DIR/venv/bin/python"
T_START=$(date +%s)
mkdir -p "$OUT/node" "$OUT/ours" "$OUT/iso"
[ -x "$OC" ] || { echo "no $OC (cargo build --bin openclaw)" >&2; echo "stock-cli-ops: 0/0 passed"; exit 2; }

if [ ! -x "$NODE_BIN" ] || [ ! -f "$OCJS" ] || [ ! -x "$PY" ]; then
  echo "installing the Node gateway and stock CLI under $PEER_DIR (setup.sh)"
  timeout 900 bash "$SHARED/setup.sh" >"$OUT/setup.log" 2>&1 || {
    tail -20 "$OUT/setup.log" >&2; echo "stock-cli-ops: 0/0 passed"; exit 2; }
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
NPORT=$(free_port); OPORT=$(free_port); CPORT=$(free_port)
while [ "$OPORT" = "$NPORT" ]; do OPORT=$(free_port); done
RUN="$PEER_DIR/gw-$NPORT"
GW="$OUT/ours-gateway"
NPID=""; OPID=""; XPID=""
stop_pid() { # PID: TERM, wait up to 10 s, then KILL
  [ -n "$1" ] && kill -0 "$1" 2>/dev/null || return 0
  kill -TERM "$1" 2>/dev/null
  for _ in $(seq 1 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null || true
}
cleanup() {
  [ -n "$NPID" ] || NPID=$(cat "$RUN/pid" 2>/dev/null || true)
  stop_pid "$NPID"; stop_pid "$OPID"; stop_pid "$XPID"
  [ -f "$RUN/stdout.log" ] && cp "$RUN/stdout.log" "$OUT/node-gateway.log" 2>/dev/null
  rm -rf "$RUN"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ready() { # PORT: /readyz 200 within 60 s (the Node gateway answers UNAVAILABLE before that)
  for _ in $(seq 1 300); do
    [ "$(curl -s -m 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/readyz" || true)" = 200 ] && return 0
    sleep 0.2
  done
  return 1
}

echo "starting the Node gateway on 127.0.0.1:$NPORT and ours ($OC) on 127.0.0.1:$OPORT"
START=$(PEER_TOKEN="$TOKEN" PEER_VERBOSE=1 PEER_RESET=1 timeout 120 bash "$SHARED/start.sh" "$NPORT" 2>&1) || {
  echo "$START" >&2; echo "stock-cli-ops: 0/0 passed"; exit 1; }
NPID=$(sed -n 's/.*PID=\([0-9][0-9]*\).*/\1/p' <<<"$START" | tail -1)
# Ours: the same config start.sh writes (OpenAI HTTP surface on, file log in its own dir), isolated state,
# plus one workspace skill and one webhook mapping: skills/hooks lists must show the gateway's own
# (the Node gateway lists the skills and hooks bundled in its package instead; we ship none).
mkdir -p "$GW/state/workspace/skills/sco-probe" "$GW/home" "$GW/tmp"
printf -- '---\nname: sco-probe\ndescription: stock-cli-ops probe skill\n---\nNothing to do.\n' \
  >"$GW/state/workspace/skills/sco-probe/SKILL.md"
printf '{ "gateway": { "mode": "local", "http": { "endpoints": { "chatCompletions": { "enabled": true } } } },\n  "hooks": { "enabled": true, "token": "sco-hook-token-0123456789", "mappings": [ { "id": "sco-hook", "match": { "path": "sco" }, "action": "wake", "textTemplate": "probe" } ] },\n  "logging": { "file": "%s/openclaw.log" } }\n' "$GW" >"$GW/openclaw.json"
( export HOME="$GW/home" TMPDIR="$GW/tmp" NO_COLOR=1 OPENCLAW_STATE_DIR="$GW/state" OPENCLAW_CONFIG_PATH="$GW/openclaw.json"
  unset OPENCLAW_GATEWAY_TOKEN OPENCLAW_GATEWAY_PASSWORD OPENCLAW_GATEWAY_URL OPENCLAW_GATEWAY_PORT
  exec "$OC" gateway run --port "$OPORT" --bind loopback --auth token --token "$TOKEN" --allow-unconfigured \
    --verbose --ws-log full ) >"$GW/stdout.log" 2>&1 </dev/null &
OPID=$!
ready "$NPORT" || { echo "Node gateway never became ready" >&2; tail -5 "$RUN/stdout.log" >&2; echo "stock-cli-ops: 0/0 passed"; exit 1; }
ready "$OPORT" || { echo "our gateway never became ready" >&2; tail -5 "$GW/stdout.log" >&2; echo "stock-cli-ops: 0/0 passed"; exit 1; }
echo "$START" | tail -1
echo "ours: PID=$OPID PORT=$OPORT LOG=$GW/stdout.log"
if [ "$CAPTURE" = 1 ]; then
  mkdir -p "$OUT/capture"; : >"$OUT/capture/frames.jsonl"
  "$PY" "$SHARED/wsproxy.py" "$CPORT" "$NPORT" "$OUT/capture/frames.jsonl" 3600 >"$OUT/capture/proxy.log" 2>&1 </dev/null &
  XPID=$!
  for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$CPORT") 2>/dev/null && break; sleep 0.1; done
  echo "capture: wsproxy 127.0.0.1:$CPORT -> $NPORT (PID=$XPID)"
fi

gwlog_of() { case $1 in node) echo "$RUN/stdout.log" ;; ours) echo "$GW/stdout.log" ;; capture) echo "$OUT/capture/frames.jsonl" ;; esac; }
nlines() { [ -f "$1" ] && wc -l <"$1" || echo 0; }
run_cli() { # SIDE NAME PORT ARGS... -> $OUT/SIDE/NAME.{out,err,rc,gwlog}; fresh isolated HOME per run
  local side=$1 name=$2 port=$3; shift 3
  local iso="$OUT/iso/$side-$name" d="$OUT/$side" log; log=$(gwlog_of "$side")
  rm -rf "$iso"; mkdir -p "$iso/home" "$iso/state" "$iso/tmp" "$d"
  printf '{ "gateway": { "mode": "local", "port": %s, "bind": "loopback", "auth": { "mode": "token" } } }\n' "$port" >"$iso/openclaw.json"
  local before; before=$(nlines "$log")
  ( export PATH="$PEER_DIR/node26/package/bin:$PATH" HOME="$iso/home" TMPDIR="$iso/tmp" NO_COLOR=1 FORCE_COLOR=0
    export OPENCLAW_STATE_DIR="$iso/state" OPENCLAW_CONFIG_PATH="$iso/openclaw.json"
    export OPENCLAW_GATEWAY_PORT="$port" OPENCLAW_GATEWAY_TOKEN="$TOKEN"
    unset OPENCLAW_GATEWAY_URL OPENCLAW_GATEWAY_PASSWORD TELEGRAM_BOT_TOKEN
    exec timeout -k 3 "$TMO" "$NODE_BIN" "$OCJS" "$@" ) >"$d/$name.out" 2>"$d/$name.err" </dev/null
  echo $? >"$d/$name.rc"
  sleep 0.3   # let the gateway log the close of the CLI's last connection
  tail -n +"$((before + 1))" "$log" >"$d/$name.gwlog" 2>/dev/null
}

# The per-command meaning checks. argv: OUT NAME NODE_CLI_PORT NODE_GW_PORT OUR_PORT
# stdout: VERDICT<TAB>REASON<TAB>NODE_KEY_LINE<TAB>OURS_KEY_LINE
cat >"$OUT/check.py" <<'PYEOF'
import json, os, re, sys
OUT, NAME, NCLI, NGW, OPORT = sys.argv[1:6]

def load(side, ports):
    d = {}
    for ext in ("out", "err", "rc"):
        p = os.path.join(OUT, side, f"{NAME}.{ext}")
        d[ext] = open(p, errors="replace").read() if os.path.exists(p) else ""
    d["rc"] = int(d["rc"].strip() or -1)
    d["ports"] = ports
    d["all"] = d["out"] + "\n" + d["err"]
    return d

def norm(s, ports):
    for p in ports:
        s = re.sub(rf"(?<!\d){p}(?!\d)", "PORT", s)
    s = re.sub(r"\d{4}-\d\d-\d\dT[\d:.]+(?:Z|[+-]\d\d:\d\d)?", "TS", s)
    s = re.sub(r"\b\d{4}-\d\d-\d\d\b", "DATE", s)
    s = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "UUID", s)
    s = re.sub(r"/(?:tmp|root|home|work|var|run)/[^\s│\"'),]*", "PATH", s)
    s = re.sub(r"\b\d+(?:\.\d+)?\s?(?:ms|s)\b", "DUR", s)
    s = re.sub(r"\b[0-9a-f]{32,}\b", "HEX", s)
    return s

def squash(s):
    return re.sub(r"\s+", "", s)

def first_line(s):
    for l in s.splitlines():
        if l.strip():
            return l.strip()
    return ""

KEY_RE = {  # the most telling output line per command, for summary.tsv
    "status-deep": r"^│ Gateway\s+│.*", "status-all": r"^│ Gateway\s+│.*", "health": r"^Agents: .*",
    "gateway-status": r"^Connectivity probe: .*", "gateway-probe": r"^Reachable: .*",
    "gateway-health": r"^(OK|FAIL|Error).*", "gateway-stability": r"^Events: .*", "gateway-usage-cost": r"^Total: .*",
    "logs": r"^\d{4}-.*", "channels-status-probe": r"^Gateway .*", "skills-check": r"^.*Eligible: .*",
    "approvals-get": r"^│ State .*",
}
def key_line(d):
    if d["rc"] != 0 and first_line(d["err"]):
        return first_line(d["err"])[:110]
    try:
        j = jparse(d["out"])
        if j is None:
            return "null"
        if isinstance(j, list):
            return f"JSON list of {len(j)}"
        if isinstance(j.get("error"), dict):
            return f"JSON error: {j['error'].get('message')}"[:110]
        return (f"JSON {len(j)} keys: " + ",".join(list(j)[:8]))[:110]
    except Exception:
        pass
    m = KEY_RE.get(NAME) and re.search(KEY_RE[NAME], d["out"], re.M)
    line = re.sub(r"\s+", " ", m.group(0).strip("│ ")) if m else first_line(d["out"])
    return (line or first_line(d["err"]) or "(no output)")[:110]

def jparse(s):
    s = s.strip()
    try:
        return json.loads(s)
    except Exception:
        i = min([x for x in (s.find("{"), s.find("[")) if x >= 0], default=-1)
        return json.loads(s[i:]) if i >= 0 else json.loads(s)

def tables(s):
    """Box tables as lists of rows (lists of cells); wrapped continuation rows (empty first cell) are
    appended to the row above, cell by cell, without separator (compare squashed)."""
    out, cur = [], None
    for line in s.splitlines():
        t = line.strip()
        if t.startswith("┌"):
            cur = []; out.append(cur); continue
        if cur is None or not t.startswith("│"):
            if t.startswith("└"):
                cur = None
            continue
        cells = [c.strip() for c in t.strip("│").split("│")]
        if cur and cells[0] == "" and any(cells):
            cur[-1] = [a + b for a, b in zip(cur[-1], cells)]
        else:
            cur.append(cells)
    return out

def table_map(s, idx=0):
    t = tables(s)
    if len(t) <= idx or not t[idx]:
        return {}
    return {r[0]: (r[1] if len(r) > 1 else "") for r in t[idx][1:]}

KV = re.compile(r"^\s*(?:[✓✗!△⚠]\s+)?([A-Z][A-Za-z0-9 ()/._-]{0,40}?):\s+(.*\S)\s*$")
def kv(s):
    d = {}
    for l in s.splitlines():
        m = KV.match(l)
        if m and m.group(1) not in d:
            d[m.group(1)] = m.group(2)
    return d

def diag(s, ports):
    out = set()
    for l in norm(s, ports).splitlines():
        m = re.match(r"^([✓✗!⚠])\s+(.*)$", l)
        if m:
            out.add((m.group(1), re.split(r"[:(]", m.group(2))[0].strip()))
    return out

def cmp_map(n, o, nports, oports, skip=(), only=None):
    """Every key Node shows (minus skip) must be there on ours with the same normalized value."""
    bad = []
    for k, v in n.items():
        if k in skip or (only is not None and k not in only):
            continue
        if k not in o:
            bad.append(f"{k}: missing")
        elif squash(norm(v, nports)) != squash(norm(o[k], oports)):
            bad.append(f"{k}: {norm(o[k], oports)[:60]!r} vs node {norm(v, nports)[:60]!r}")
    return bad

n = load("node", [NCLI, NGW])
o = load("ours", [OPORT])
NP, OP = n["ports"], o["ports"]

def same_text(stream="out"):
    a, b = squash(norm(n[stream], NP)), squash(norm(o[stream], OP))
    if a != b:
        return False, f"{stream} differs: ours {first_line(norm(o[stream], OP))[:70]!r} vs node {first_line(norm(n[stream], NP))[:70]!r}"
    return True, f"same {stream} ({first_line(o[stream])[:50]!r})"

def need(d, *res):
    return [r for r in res if not re.search(r, d["out"], re.M)]

def c_status_json():
    a, b = jparse(n["out"]), jparse(o["out"])
    skip = {"workerPools"}  # the Node process's worker-thread pools
    miss = sorted(k for k in a if k not in b and k not in skip)
    if miss:
        return False, f"top-level keys missing on ours: {', '.join(miss)}"
    for d, who in ((a, "node"), (b, "ours")):
        g = d.get("gateway") or {}
        if g.get("reachable") is not True or g.get("error"):
            return False, f"{who}: gateway.reachable={g.get('reachable')} error={g.get('error')!r}"
    gm = sorted(k for k in a["gateway"] if k not in b["gateway"])
    if gm:
        return False, f"gateway.* keys missing on ours: {', '.join(gm)}"
    return True, f"JSON, all {len(set(a) - skip)} Node top-level keys present, gateway reachable on both"

def c_status_text(title, table_skip):
    def f():
        for d, who in ((n, "node"), (o, "ours")):
            if not re.search(rf"^{re.escape(title)}$", d["out"], re.M):
                return False, f"{who}: no '{title}' header"
            if not re.search(r"^│ Gateway\s+│ local · ws://127\.0\.0\.1:\d+ .*reachable", d["out"], re.M):
                return False, f"{who}: Gateway row not 'reachable'"
        bad = cmp_map(table_map(n["out"]), table_map(o["out"]), NP, OP, skip=table_skip)
        if bad:
            return False, "Overview rows differ: " + "; ".join(bad)[:300]
        dn, do = diag(n["out"], NP), diag(o["out"], OP)
        if dn != do:
            return False, f"check lines differ: ours-only {sorted(do - dn)}, node-only {sorted(dn - do)}"
        return True, f"Overview rows equal, {len(dn)} check lines equal, gateway reachable"
    return f

def c_health():
    keys = ["Gateway event loop", "Gateway probe duration", "Agents", "Heartbeat interval", "Session store (main)"]
    a, b = kv(n["out"]), kv(o["out"])
    m = [k for k in keys if k not in a or k not in b]
    if m:
        return False, f"missing lines: {m}"
    bad = cmp_map(a, b, NP, OP, only={"Agents", "Heartbeat interval"})
    if bad:
        return False, "; ".join(bad)
    return True, "5 key lines, same agents and heartbeat interval"

def c_gateway_status():
    a, b = kv(n["out"]), kv(o["out"])
    bad = cmp_map(a, b, NP, OP, skip={"Gateway version", "CLI version"})
    if not b.get("Gateway version"):
        bad.append("Gateway version: missing")
    if bad:
        return False, "; ".join(bad)[:300]
    return True, f"{len(a)} key lines equal (Connectivity probe: {b.get('Connectivity probe')}, Capability: {b.get('Capability')})"

def c_gateway_probe():
    a, b = kv(n["out"]), kv(o["out"])
    bad = cmp_map(a, b, NP, OP, only={"Reachable", "Capability", "Probe budget"})
    tn = re.search(r"^\s+Connect: (\w+).*?Capability: ([\w-]+).*?Read probe: (.*)$", n["out"], re.M)
    to = re.search(r"^\s+Connect: (\w+).*?Capability: ([\w-]+).*?Read probe: (.*)$", o["out"], re.M)
    if not to:
        bad.append("no target 'Connect: … Read probe: …' line")
    elif tn and tn.groups() != to.groups():
        bad.append(f"target line {to.groups()} vs node {tn.groups()}")
    if bad:
        return False, "; ".join(bad)
    return True, f"Reachable: {b.get('Reachable')}, target Connect: {to.group(1)}, Read probe: {to.group(3)}"

def c_stability():
    for d, who in ((n, "node"), (o, "ours")):
        m = need(d, r"^Gateway Stability$", r"^Events: \d+/\d+$")
        if m:
            return False, f"{who}: missing {m}"
    return True, "'Gateway Stability' + 'Events: n/cap' on both"

def c_usage_cost():
    for d, who in ((n, "node"), (o, "ours")):
        m = need(d, r"^Usage cost \(30 days\)$", r"^Total: \$[0-9.]+ · [0-9,]+ tokens$")
        if m:
            return False, f"{who}: missing {m}"
    if set(kv(n["out"])) != set(kv(o["out"])):
        return False, f"lines {sorted(kv(o['out']))} vs node {sorted(kv(n['out']))}"
    return True, "same summary lines (title, Total, Latest day)"

def c_logs():
    for d, who in ((n, "node"), (o, "ours")):
        if not re.search(r"^Log file: \S+", d["out"], re.M):
            return False, f"{who}: no 'Log file:' line"
        k = len(re.findall(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\S* (trace|debug|info|warn|error|fatal) ", d["out"], re.M))
        if not 1 <= k <= 5:
            return False, f"{who}: {k} formatted log lines (want 1..5)"
    return True, "'Log file:' + 1..5 formatted log lines on both"

def c_channels_json():
    a, b = jparse(n["out"]), jparse(o["out"])
    if b.get("gatewayReachable") is False or b.get("error"):
        return False, f"ours: gatewayReachable={b.get('gatewayReachable')} error={b.get('error')!r}"
    miss = sorted(k for k in a if k not in b)
    if miss:
        return False, f"keys missing on ours: {', '.join(miss)}"
    return True, f"JSON with all {len(a)} Node keys"

def c_channels_probe():
    for d, who in ((n, "node"), (o, "ours")):
        if "Gateway not reachable" in d["all"]:
            return False, f"{who}: 'Gateway not reachable' ({first_line(d['err'])[:80]})"
    return same_text()

def c_cron_list():
    hn, ho = first_line(n["out"]), first_line(o["out"])
    if ho == "No automations.":
        rows = [l for l in n["out"].splitlines()[1:] if l.strip()]
        builtin = re.compile(r"^\S+\s+(heartbeat:|memory-core:|skill-collection-rev)")
        if hn == "No automations." or all(builtin.match(r) for r in rows):
            return True, f"ours empty; Node's {len(rows)} rows are its built-in jobs"
        return False, "ours empty but Node lists non-built-in jobs"
    if re.split(r"\s{2,}", hn) != re.split(r"\s{2,}", ho):
        return False, f"header {ho[:80]!r} vs node {hn[:80]!r}"
    return True, "same column header"

def c_cron_status():
    a, b = jparse(n["out"]), jparse(o["out"])
    miss = sorted(k for k in a if k not in b)
    if miss:
        return False, f"keys missing on ours: {', '.join(miss)}"
    if a.get("enabled") != b.get("enabled"):
        return False, f"enabled={b.get('enabled')} vs node {a.get('enabled')}"
    return True, f"JSON with Node's keys, enabled={b.get('enabled')}"

def c_cron_get():
    a, b = jparse(n["out"]), jparse(o["out"])
    ea, eb = a.get("error") or {}, b.get("error") or {}
    if (a.get("ok"), ea.get("type")) != (b.get("ok"), eb.get("type")):
        return False, f"ok/type {b.get('ok')}/{eb.get('type')} vs node {a.get('ok')}/{ea.get('type')}"
    na, nb = bool(re.search(r"not found", str(ea.get("message")), re.I)), bool(re.search(r"not found", str(eb.get("message")), re.I))
    if na != nb:
        return False, f"ours: {eb.get('message')!r} (node says not found)"
    return True, f"same error: {str(eb.get('message'))[:60]!r}"

def names_table(d):
    t = tables(d["out"])
    return {squash(r[1]) for r in t[0][1:]} if t and t[0] else set()

def c_catalog(title_re, probe):
    # Node lists what its package bundles; ours what the gateway has (the probe skill / hook
    # set up above). Same verdict: a gateway-sourced table under the same title format.
    def f():
        hn, ho = first_line(n["out"]), first_line(o["out"])
        if not re.match(title_re, hn) or not re.match(title_re, ho):
            return False, f"title {ho!r} vs node {hn!r}"
        b = names_table(o)
        if not any(probe in r for r in b):
            return False, f"ours does not list the gateway's {probe!r}: {sorted(b)[:5]}"
        return True, f"{ho!r} (node {hn!r}), ours lists {probe!r}"
    return f

def c_skills_check():
    a, b = kv(n["out"]), kv(o["out"])
    # Ours may add the "hidden from model prompt" lines: skills are listed, not put in prompts.
    if not set(a) <= set(b):
        return False, f"fields missing on ours: {sorted(set(a) - set(b))}"
    if not re.match(r"^\s*1\b", str(b.get("Total", ""))):
        return False, f"ours Total {b.get('Total')!r}, want the gateway's 1 workspace skill"
    return True, f"same fields; ours Total {b.get('Total')} (node {a.get('Total')})"

def c_presence():
    a, b = jparse(n["out"]), jparse(o["out"])
    if not isinstance(b, list) or not b:
        return False, f"ours: not a non-empty list: {str(b)[:80]}"
    sa = next((e for e in a if e.get("reason") == "self" and e.get("mode") == "gateway"), None)
    sb = next((e for e in b if e.get("reason") == "self" and e.get("mode") == "gateway"), None)
    if sa and not sb:
        return False, "ours: no gateway self entry (mode=gateway reason=self)"
    miss = sorted(k for k in (sa or {}) if k not in (sb or {}) and k != "ip")
    if miss:
        return False, f"self entry keys missing on ours: {', '.join(miss)}"
    note = " (no 'ip' on ours: host-dependent)" if sa and "ip" in sa and "ip" not in sb else ""
    return True, f"{len(b)} entries, gateway self entry with Node's keys{note}"

def c_heartbeat_last():
    a, b = jparse(n["out"]), jparse(o["out"])
    if (a is None) != (b is None):
        return False, f"ours {json.dumps(b)[:60]} vs node {json.dumps(a)[:60]}"
    if a is not None and (a.get("status") != b.get("status") or "ts" not in b):
        return False, f"status {b.get('status')!r} vs node {a.get('status')!r}"
    return True, "both null" if a is None else f"both have a last heartbeat, status={b.get('status')!r}"

def c_approvals_get():
    a, b = table_map(n["out"]), table_map(o["out"])
    # Ours may add the "hidden from model prompt" lines: skills are listed, not put in prompts.
    if not set(a) <= set(b):
        return False, f"fields missing on ours: {sorted(set(a) - set(b))}"
    bad = cmp_map(a, b, NP, OP, skip={"Path", "Socket", "Hash"})
    if bad:
        return False, "; ".join(bad)[:300]
    rest = lambda d, p: squash(norm(d["out"].split("└", 1)[-1].split("┘", 1)[-1], p))
    if rest(n, NP) != rest(o, OP):
        return False, "text after the Approvals table differs (allowlist / Effective Policy)"
    return True, "same fields and values (Path/Socket/Hash not compared), same policy tables"

def c_message_chat():
    for d, who in ((n, "node"), (o, "ours")):
        if not re.search(r"telegram", d["all"], re.I) or not re.search(r"token missing|not configured", d["all"], re.I):
            return False, f"{who}: {first_line(d['err'])[:90]!r} (want: Telegram not configured / bot token missing)"
    return True, f"same refusal: {first_line(o['err'])[:70]!r}"

CHECKS = {
    "status-json": c_status_json,
    "status-deep": c_status_text("OpenClaw status", {"Update"}),  # Update: npm registry lookup
    "status-all": c_status_text("OpenClaw status --all", {"Update", "Version"}),
    "health": c_health,
    "gateway-status": c_gateway_status,
    "gateway-probe": c_gateway_probe,
    "gateway-health": lambda: same_text(),
    "gateway-stability": c_stability,
    "gateway-usage-cost": c_usage_cost,
    "logs": c_logs,
    "channels-status-json": c_channels_json,
    "channels-status-probe": c_channels_probe,
    "models-list": lambda: same_text(),
    "cron-list": c_cron_list,
    "cron-status": c_cron_status,
    "cron-get": c_cron_get,
    "skills-list": c_catalog(r"^Skills \(\d+/\d+ ready\)$", "sco-probe"),
    "skills-check": c_skills_check,
    "hooks-list": c_catalog(r"^Hooks \(\d+/\d+ ready\)$", "sco-hook"),
    "system-event": lambda: same_text(),
    "system-presence": c_presence,
    "system-heartbeat-last": c_heartbeat_last,
    "secrets-reload": lambda: same_text(),
    "approvals-pending": lambda: same_text(),
    "approvals-get": c_approvals_get,
    "users-list": lambda: same_text(),
    "message-send-chat": c_message_chat,
    "message-send-e164": lambda: same_text("err"),
}

def verdict():
    if n["rc"] == 124:
        return False, "Node run timed out (rc 124): no reference"
    um_o = re.search(r"unknown method:? ?[\w.:-]*", o["all"])
    if n["rc"] != o["rc"]:
        why = um_o.group(0) if um_o else first_line(o["err"]) or first_line(o["out"])
        return False, f"exit {o['rc']} vs node {n['rc']}: {why[:100]}"
    if um_o and "unknown method" not in n["all"]:
        return False, f"ours: {um_o.group(0)} (exit code equal)"
    try:
        return CHECKS[NAME]()
    except Exception as e:
        return False, f"check error: {type(e).__name__}: {str(e)[:120]}"

ok, reason = verdict()
clean = lambda s: s.replace("\t", " ").replace("\n", " ")
print("\t".join(["PASS" if ok else "FAIL", clean(reason), f"{n['rc']} {clean(key_line(n))}", f"{o['rc']} {clean(key_line(o))}"]))
PYEOF

# The methods a run made the gateway answer ("→ res ✓/✗ METHOD … code"), from a gateway log slice.
methods_of() {
  python3 - "$1" <<'PYEOF'
import re, sys
seen = []
for l in open(sys.argv[1], errors="replace"):
    m = re.search(r"→ res ([✓✗]) ([\w.:-]+)", l)
    if not m: continue
    c = re.search(r"\b(?:errorCode|code)=([A-Z_]+)", l)
    seen.append(f"{m.group(2)} {m.group(1)}" + (f" {c.group(1)}" if c and m.group(1) == "✗" else ""))
print(", ".join(seen) or "(no requests)")
PYEOF
}
# The requests (and connect flavours) a capture slice holds, one per line.
frames_of() {
  python3 - "$1" <<'PYEOF'
import json, sys
for line in open(sys.argv[1]):
    try: r = json.loads(line)
    except Exception: continue
    f = r.get("frame") or {}
    if r.get("dir") != ">" or f.get("type") != "req": continue
    p = f.get("params")
    if f.get("method") == "connect":
        c = p.get("client", {})
        print(f"    connect client={c.get('id')}/{c.get('mode')} display={c.get('displayName')} scopes={p.get('scopes')} protocol={p.get('minProtocol')}..{p.get('maxProtocol')}")
    else:
        print(f"    {f.get('method')} {json.dumps(p, separators=(',', ':'))[:400]}")
PYEOF
}

# Order matters: `system event --mode now` wakes a heartbeat (on Node it runs and fails: no model
# credentials), which `system heartbeat last` then reports; run alone, both gateways answer null.
CMDS=(
  "status-json|status --json"
  "status-deep|status --deep"
  "status-all|status --all"
  "health|health"
  "gateway-status|gateway status"
  "gateway-probe|gateway probe"
  "gateway-health|gateway health"
  "gateway-stability|gateway stability"
  "gateway-usage-cost|gateway usage-cost"
  "logs|logs --limit 5"
  "channels-status-json|channels status --json"
  "channels-status-probe|channels status --probe"
  "models-list|models list"
  "cron-list|cron list"
  "cron-status|cron status"
  "cron-get|cron get sco-no-such-job"
  "skills-list|skills list"
  "skills-check|skills check"
  "hooks-list|hooks list"
  "system-event|system event --text hello --mode now"
  "system-presence|system presence"
  "system-heartbeat-last|system heartbeat last"
  "secrets-reload|secrets reload"
  "approvals-pending|approvals pending"
  "approvals-get|approvals get --gateway"
  "users-list|users list"
  "message-send-chat|message send --channel telegram --target 123456789 --message hi"
  "message-send-e164|message send --channel telegram --target +15550001 --message hi"
)

PASS=0; TOTAL=0
printf 'command\tnode\tours\tverdict\treason\n' >"$OUT/summary.tsv"
: >"$OUT/methods.txt"
for entry in "${CMDS[@]}"; do
  name=${entry%%|*}; cmd=${entry#*|}
  [[ "$name" =~ $ONLY ]] || continue
  read -ra ARGS <<<"$cmd"
  run_cli node "$name" "$NPORT" "${ARGS[@]}"
  run_cli ours "$name" "$OPORT" "${ARGS[@]}"
  [ "$CAPTURE" = 1 ] && run_cli capture "$name" "$CPORT" "${ARGS[@]}"
  IFS=$'\t' read -r V REASON NKEY OKEY < <(timeout 30 python3 "$OUT/check.py" "$OUT" "$name" "$NPORT" "$NPORT" "$OPORT")
  V=${V:-FAIL}; REASON=${REASON:-checker produced no verdict}
  TOTAL=$((TOTAL + 1))
  if [ "$V" = PASS ]; then PASS=$((PASS + 1)); echo "PASS $cmd: $REASON"
  else echo "FAIL $cmd: $REASON (node: $OUT/node/$name.*, ours: $OUT/ours/$name.*)"; fi
  printf '%s\t%s\t%s\t%s\t%s\n' "$cmd" "$NKEY" "$OKEY" "$V" "$REASON" >>"$OUT/summary.tsv"
  { echo "$cmd"
    echo "  node: $(methods_of "$OUT/node/$name.gwlog")"
    echo "  ours: $(methods_of "$OUT/ours/$name.gwlog")"
    if [ "$CAPTURE" = 1 ]; then echo "  sent (capture):"; frames_of "$OUT/capture/$name.gwlog"; fi
  } >>"$OUT/methods.txt"
done

echo "raw outputs: $OUT (summary.tsv, methods.txt); took $(( $(date +%s) - T_START ))s"
echo "stock-cli-ops: $PASS/$TOTAL passed"
[ "$PASS" = "$TOTAL" ]

#!/usr/bin/env python3
"""The stock headless node host (`openclaw node run`, openclaw@2026.9.6) against the Node gateway
and against ours, driven by the stock CLI as an operator would, with the same verdict required on
both:

  1. the node host connects; `nodes pending --json` lists its pairing request (on loopback its
     device is approved silently, its command surface waits for an operator);
  2. `nodes approve <requestId>` admits it; `nodes status --json` shows it connected, approved,
     with `system.which` among its commands;
  3. `nodes invoke --command system.which --params {"bins":["uname"]}` returns the path of uname;
  4. `nodes describe` lists its commands; `devices list --json` shows its device paired as a node;
     `approvals get --gateway` and `approvals pending` answer;
  5. the node host is stopped: `nodes status --json` shows it disconnected; an invoke to it
     fails with "node not connected".

Each gateway and node host gets its own temp state; every wait has a deadline; loopback only.
  usage: stock-node-host.py [--gw BIN] [--only ours|node] [--out DIR]
  env:   PEER_DIR (/tmp/peer: the Node gateway and the stock CLI from ../shared/peer/setup.sh)
Last line: `stock-node-host: N/M passed`; exit 0 iff all pass on both gateways.
"""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PEER = os.environ.get("PEER_DIR", "/tmp/peer")
SHARED = os.path.abspath(os.path.join(ROOT, "..", "shared", "peer"))
NODE = os.path.join(PEER, "node26", "package", "bin", "node")
OCJS = os.path.join(PEER, "oc", "node_modules", "openclaw", "openclaw.mjs")
TOKEN = f"snh-token-{os.getpid()}"
CLI_TIMEOUT = 60


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_healthz(port, deadline_s=60):
    end = time.time() + deadline_s
    while time.time() < end:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                if r.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def iso_env(base, port):
    """A fresh HOME / state / config for one stock-CLI or node-host process."""
    for d in ("home", "state", "tmp"):
        os.makedirs(os.path.join(base, d), exist_ok=True)
    env = dict(os.environ)
    env.update({
        "PATH": os.path.dirname(NODE) + ":" + env.get("PATH", ""),
        "HOME": os.path.join(base, "home"), "TMPDIR": os.path.join(base, "tmp"),
        "OPENCLAW_STATE_DIR": os.path.join(base, "state"),
        "OPENCLAW_CONFIG_PATH": os.path.join(base, "openclaw.json"),
        "OPENCLAW_GATEWAY_TOKEN": TOKEN, "OPENCLAW_GATEWAY_PORT": str(port),
        "NO_COLOR": "1", "FORCE_COLOR": "0",
    })
    return env


class Gateway:
    def __init__(self, kind, out, gw_bin):
        self.kind, self.out, self.port, self.proc = kind, out, free_port(), None
        self.gw_bin = gw_bin

    def start(self):
        log = open(os.path.join(self.out, "gateway.log"), "w")
        if self.kind == "node":
            env = dict(os.environ, PEER_RESET="1", PEER_TOKEN=TOKEN, PEER_DIR=PEER)
            self.proc = subprocess.Popen(["bash", os.path.join(SHARED, "start.sh"), str(self.port)],
                                         stdout=log, stderr=subprocess.STDOUT, env=env,
                                         start_new_session=True)
        else:
            st = os.path.join(self.out, "gw-state")
            os.makedirs(st, exist_ok=True)
            cfg = os.path.join(st, "openclaw.json")
            with open(cfg, "w") as f:
                json.dump({"gateway": {"mode": "local", "port": self.port,
                                       "auth": {"mode": "token", "token": TOKEN}}}, f)
            env = dict(os.environ, OPENCLAW_STATE_DIR=st, OPENCLAW_CONFIG_PATH=cfg)
            self.proc = subprocess.Popen([self.gw_bin, "gateway", "run", "--verbose"], stdout=log,
                                         stderr=subprocess.STDOUT, env=env, start_new_session=True)
        if not wait_healthz(self.port, 120 if self.kind == "node" else 30):
            raise RuntimeError(f"{self.kind} gateway did not become healthy on :{self.port}")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


def cli(gw, name, *args):
    """Run the stock CLI once in a fresh isolated home; (rc, stdout, stderr), kept in out/."""
    base = tempfile.mkdtemp(prefix="cli-", dir=gw.out)
    env = iso_env(base, gw.port)
    try:
        p = subprocess.run([NODE, OCJS, *args], env=env, capture_output=True, text=True,
                           timeout=CLI_TIMEOUT)
        rc, so, se = p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired:
        rc, so, se = 124, "", "timeout"
    with open(os.path.join(gw.out, f"{name}.txt"), "w") as f:
        f.write(f"$ openclaw {' '.join(args)}\nrc={rc}\n---- stdout\n{so}\n---- stderr\n{se}\n")
    shutil.rmtree(base, ignore_errors=True)
    return rc, so, se


def as_json(s):
    try:
        return json.loads(s)
    except ValueError:
        i = min((k for k in (s.find("{"), s.find("[")) if k >= 0), default=-1)
        try:
            return json.loads(s[i:]) if i >= 0 else None
        except ValueError:
            return None


def until(what, fn, deadline_s=45, every=0.5):
    end = time.time() + deadline_s
    last = None
    while time.time() < end:
        last = fn()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"{what}: not within {deadline_s}s (last: {last!r})")


def scenario(gw, check):
    """Run the node-host story against `gw`; `check(name, ok, detail)` records each verdict."""
    nh_base = os.path.join(gw.out, "node-host")
    env = iso_env(nh_base, gw.port)
    nh_log = open(os.path.join(gw.out, "node-host.log"), "w")
    nh = subprocess.Popen([NODE, OCJS, "node", "run", "--host", "127.0.0.1", "--port", str(gw.port)],
                          env=env, stdout=nh_log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        def pending():
            rc, so, _ = cli(gw, "nodes-pending", "nodes", "pending", "--json")
            j = as_json(so) if rc == 0 else None
            reqs = j if isinstance(j, list) else (j or {}).get("pending") or []
            return reqs[0] if reqs else None
        req = until("nodes pending lists the node host", pending)
        check("nodes pending", bool(req.get("requestId")) and req.get("clientId") == "node-host",
              f"request {req.get('requestId')} for {req.get('displayName')}")
        rc, so, _ = cli(gw, "nodes-approve", "nodes", "approve", req["requestId"])
        node = (as_json(so) or {}).get("node") or {}
        node_id = node.get("nodeId", "")
        check("nodes approve", rc == 0 and "system.which" in node.get("commands", []),
              f"rc={rc}, node {node_id[:12]}…, {len(node.get('commands', []))} commands")

        def status_row(connected):
            rc, so, _ = cli(gw, "nodes-status", "nodes", "status", "--json")
            rows = (as_json(so) or {}).get("nodes") or [] if rc == 0 else []
            row = next((r for r in rows if r.get("nodeId") == node_id), None)
            return row if row and row.get("connected") is connected else None
        row = until("nodes status shows it connected", lambda: status_row(True))
        check("nodes status", row.get("approvalState") == "approved"
              and "system.which" in row.get("commands", []),
              f"connected, {row.get('approvalState')}, {len(row.get('commands', []))} commands")
        rc, so, se = cli(gw, "nodes-invoke", "nodes", "invoke", "--node", node_id, "--command",
                         "system.which", "--params", '{"bins":["uname"]}')
        path = (((as_json(so) or {}).get("payload") or {}).get("bins") or {}).get("uname", "")
        check("nodes invoke system.which", rc == 0 and path.endswith("/uname"), f"rc={rc}, uname at {path!r}")
        rc, so, _ = cli(gw, "nodes-describe", "nodes", "describe", "--node", node_id)
        check("nodes describe", rc == 0 and "system.which" in so and "approved" in so,
              f"rc={rc}, lists system.which: {'system.which' in so}")
        rc, so, _ = cli(gw, "devices-list", "devices", "list", "--json")
        paired = (as_json(so) or {}).get("paired") or []
        dev = next((d for d in paired if d.get("deviceId") == node_id), {})
        check("devices list", rc == 0 and "node" in (dev.get("roles") or [dev.get("role")]),
              f"rc={rc}, node device roles {dev.get('roles')}")
        rc, so, _ = cli(gw, "approvals-get", "approvals", "get", "--gateway")
        check("approvals get --gateway", rc == 0 and "Target" in so and "Effective Policy" in so,
              f"rc={rc}")
        rc, so, _ = cli(gw, "approvals-pending", "approvals", "pending")
        check("approvals pending", rc == 0 and "No pending approvals." in so, f"rc={rc}: {so.strip()[:60]}")
    finally:
        if nh.poll() is None:
            os.killpg(nh.pid, signal.SIGTERM)
            try:
                nh.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(nh.pid, signal.SIGKILL)
    row = until("nodes status shows it disconnected", lambda: status_row(False))
    check("nodes status after stop", row.get("connected") is False, "disconnected")
    rc, so, se = cli(gw, "nodes-invoke-stopped", "nodes", "invoke", "--node", node_id, "--command",
                     "system.which", "--params", '{"bins":["uname"]}')
    check("nodes invoke after stop", rc != 0 and "node not connected" in so + se, f"rc={rc}")


def run(kind, out, gw_bin):
    os.makedirs(out, exist_ok=True)
    results = []

    def check(name, ok, detail):
        results.append((name, bool(ok), detail))
        print(f"{'PASS' if ok else 'FAIL'}  [{kind}] {name}: {detail}", flush=True)
    gw = Gateway(kind, out, gw_bin)
    try:
        gw.start()
        scenario(gw, check)
    except (AssertionError, RuntimeError, OSError) as e:
        check("scenario", False, str(e))
    finally:
        gw.stop()
    return results


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gw", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")),
                                                 "debug", "openclaw"))
    ap.add_argument("--only", choices=["ours", "node"])
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    if not (os.path.exists(NODE) and os.path.exists(OCJS)):
        subprocess.run(["bash", os.path.join(SHARED, "setup.sh")], check=True, timeout=900)
    out = a.out or tempfile.mkdtemp(prefix="stock-node-host.")
    kinds = [a.only] if a.only else ["node", "ours"]
    res = {k: run(k, os.path.join(out, k), a.gw) for k in kinds}
    passed = total = 0
    for k in kinds:
        for name, ok, _ in res[k]:
            total += 1
            passed += ok
    if len(kinds) == 2:
        n = {name: ok for name, ok, _ in res["node"]}
        for name, ok, _ in res["ours"]:
            if name in n and n[name] != ok:
                print(f"DIFF  {name}: node {'PASS' if n[name] else 'FAIL'}, ours {'PASS' if ok else 'FAIL'}")
    print(f"outputs in {out}")
    print(f"stock-node-host: {passed}/{total} passed")
    sys.exit(0 if passed == total and total > 0 else 1)


if __name__ == "__main__":
    main()

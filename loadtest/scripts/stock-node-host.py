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

With --remote the node host is not local: the script re-runs itself in a network namespace it
creates (`unshare -rn`: a user + network namespace holding only its own loopback device, with
10.77.0.1 added to it), both gateways listen on all addresses, the operator CLI connects to
127.0.0.1 and the node host to 10.77.0.1, so its connect is not local-direct:

  1. `devices list --json` shows the node host's device pairing request (role node, remoteIp
     10.77.0.1) and `nodes pending` nothing yet; the node host pauses, waiting for an operator;
  2. `devices approve <requestId>` pairs the device; the node host is restarted (it does not
     resume by itself on either gateway) and connects;
  3. `nodes pending` lists its command surface (remoteIp 10.77.0.1), `nodes approve` admits it,
     `nodes status` shows it connected from 10.77.0.1, `nodes invoke system.which` works, and
     `devices list` shows the paired device with its remoteIp.

Each gateway and node host gets its own temp state; every wait has a deadline; traffic stays on
loopback (or inside the namespace).
  usage: stock-node-host.py [--gw BIN] [--only ours|node] [--out DIR] [--remote]
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
REMOTE_IP = "10.77.0.1"


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
    def __init__(self, kind, out, gw_bin, remote=False):
        self.kind, self.out, self.port, self.proc = kind, out, free_port(), None
        self.gw_bin, self.remote = gw_bin, remote

    def start_node_lan(self, log):
        """The Node gateway as ../shared/peer/start.sh runs it, but listening on all addresses."""
        run = os.path.join(self.out, "node-gw")
        env = iso_env(run, self.port)
        with open(env["OPENCLAW_CONFIG_PATH"], "w") as f:
            json.dump({"gateway": {"mode": "local"},
                       "logging": {"file": os.path.join(run, "openclaw.log")}}, f)
        self.proc = subprocess.Popen([NODE, OCJS, "gateway", "run", "--port", str(self.port), "--bind", "lan",
                                      "--auth", "token", "--allow-unconfigured"],
                                     stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)

    def start(self):
        log = open(os.path.join(self.out, "gateway.log"), "w")
        if self.kind == "node" and self.remote:
            self.start_node_lan(log)
        elif self.kind == "node":
            env = dict(os.environ, PEER_RESET="1", PEER_TOKEN=TOKEN, PEER_DIR=PEER)
            self.proc = subprocess.Popen(["bash", os.path.join(SHARED, "start.sh"), str(self.port)],
                                         stdout=log, stderr=subprocess.STDOUT, env=env,
                                         start_new_session=True)
        else:
            st = os.path.join(self.out, "gw-state")
            os.makedirs(st, exist_ok=True)
            cfg = os.path.join(st, "openclaw.json")
            with open(cfg, "w") as f:
                gw = {"mode": "local", "port": self.port, "auth": {"mode": "token", "token": TOKEN}}
                if self.remote:
                    gw["bind"] = "lan"
                json.dump({"gateway": gw}, f)
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
    nh = node_host(gw, "127.0.0.1", "node-host.log")
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
        stop(nh)
    row = until("nodes status shows it disconnected", lambda: status_row(False))
    check("nodes status after stop", row.get("connected") is False, "disconnected")
    rc, so, se = cli(gw, "nodes-invoke-stopped", "nodes", "invoke", "--node", node_id, "--command",
                     "system.which", "--params", '{"bins":["uname"]}')
    check("nodes invoke after stop", rc != 0 and "node not connected" in so + se, f"rc={rc}")


def node_host(gw, host, log_name):
    """Start the stock node host against `host`:gw.port with its own (kept) state."""
    env = iso_env(os.path.join(gw.out, "node-host"), gw.port)
    log = open(os.path.join(gw.out, log_name), "w")
    return subprocess.Popen([NODE, OCJS, "node", "run", "--host", host, "--port", str(gw.port)],
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def stop(proc):
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def remote_scenario(gw, check):
    """The node host connecting from 10.77.0.1 (not local-direct) against `gw`."""
    nh = node_host(gw, REMOTE_IP, "node-host.log")
    try:
        def device_request():
            rc, so, _ = cli(gw, "devices-list-pending", "devices", "list", "--json")
            pend = ((as_json(so) or {}).get("pending") or []) if rc == 0 else []
            return next((p for p in pend if p.get("clientId") == "node-host"), None)
        req = until("devices list shows the node host's pairing request", device_request)
        check("devices list: remote pairing request",
              req.get("role") == "node" and req.get("remoteIp") == REMOTE_IP and not req.get("silent"),
              f"role {req.get('role')}, remoteIp {req.get('remoteIp')}, silent {req.get('silent')}")
        rc, so, _ = cli(gw, "nodes-pending-before", "nodes", "pending", "--json")
        check("nodes pending before the device is paired", rc == 0 and (as_json(so) == []),
              f"rc={rc}: {so.strip()[:40]}")
        rc, so, se = cli(gw, "devices-approve", "devices", "approve", req["requestId"])
        check("devices approve", rc == 0 and "Approved" in so, f"rc={rc}: {(so + se).strip()[:80]}")
        stop(nh)  # it pauses "waiting for operator action" on both gateways: restart it
        nh = node_host(gw, REMOTE_IP, "node-host-2.log")

        def surface():
            rc, so, _ = cli(gw, "nodes-pending", "nodes", "pending", "--json")
            j = as_json(so) if rc == 0 else None
            return (j or [None])[0] if isinstance(j, list) else None
        sreq = until("nodes pending lists the node's surface", surface)
        check("nodes pending: remote surface",
              sreq.get("remoteIp") == REMOTE_IP and "system.which" in sreq.get("commands", [])
              and "silent" not in sreq, f"remoteIp {sreq.get('remoteIp')}, silent {sreq.get('silent')}")
        rc, so, _ = cli(gw, "nodes-approve", "nodes", "approve", sreq["requestId"])
        node = (as_json(so) or {}).get("node") or {}
        node_id = node.get("nodeId", "")
        check("nodes approve", rc == 0 and node.get("remoteIp") == REMOTE_IP,
              f"rc={rc}, remoteIp {node.get('remoteIp')}")

        def connected():
            rc, so, _ = cli(gw, "nodes-status", "nodes", "status", "--json")
            rows = ((as_json(so) or {}).get("nodes") or []) if rc == 0 else []
            row = next((r for r in rows if r.get("nodeId") == node_id), None)
            return row if row and row.get("connected") and row.get("approvalState") == "approved" else None
        row = until("nodes status shows it connected and approved", connected)
        check("nodes status: remote node", row.get("remoteIp") == REMOTE_IP,
              f"connected from {row.get('remoteIp')}")
        rc, so, _ = cli(gw, "nodes-invoke", "nodes", "invoke", "--node", node_id, "--command",
                        "system.which", "--params", '{"bins":["uname"]}')
        path = (((as_json(so) or {}).get("payload") or {}).get("bins") or {}).get("uname", "")
        check("nodes invoke system.which (remote)", rc == 0 and path.endswith("/uname"), f"uname at {path!r}")
        rc, so, _ = cli(gw, "devices-list", "devices", "list", "--json")
        paired = ((as_json(so) or {}).get("paired") or []) if rc == 0 else []
        dev = next((d for d in paired if d.get("deviceId") == node_id), {})
        check("devices list: paired remote device", dev.get("remoteIp") == REMOTE_IP
              and dev.get("role") == "node" and dev.get("clientMode") == "node",
              f"role {dev.get('role')}, remoteIp {dev.get('remoteIp')}")
    finally:
        stop(nh)


def enter_netns():
    """Re-run this script in a new user + network namespace with REMOTE_IP on its loopback."""
    if os.environ.get("SNH_NETNS") == "1":
        for cmd in (["ip", "link", "set", "lo", "up"], ["ip", "addr", "add", f"{REMOTE_IP}/32", "dev", "lo"]):
            subprocess.run(cmd, check=True)
        return
    env = dict(os.environ, SNH_NETNS="1")
    p = subprocess.run(["unshare", "--user", "--map-root-user", "--net", sys.executable, *sys.argv], env=env)
    sys.exit(p.returncode)


def run(kind, out, gw_bin, remote=False):
    os.makedirs(out, exist_ok=True)
    results = []

    def check(name, ok, detail):
        results.append((name, bool(ok), detail))
        print(f"{'PASS' if ok else 'FAIL'}  [{kind}] {name}: {detail}", flush=True)
    gw = Gateway(kind, out, gw_bin, remote)
    try:
        gw.start()
        (remote_scenario if remote else scenario)(gw, check)
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
    ap.add_argument("--remote", action="store_true", help="the node host connects from 10.77.0.1")
    a = ap.parse_args()
    if not (os.path.exists(NODE) and os.path.exists(OCJS)):
        subprocess.run(["bash", os.path.join(SHARED, "setup.sh")], check=True, timeout=900)
    if a.remote:
        enter_netns()
    out = a.out or tempfile.mkdtemp(prefix="stock-node-host.")
    kinds = [a.only] if a.only else ["node", "ours"]
    res = {k: run(k, os.path.join(out, k), a.gw, a.remote) for k in kinds}
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

#!/usr/bin/env python3
"""`/metrics` checked by a real Prometheus text parser (prometheus_client's, from PyPI):
our gateway runs with `gateway.metrics.enabled`, gets some traffic (our CLI's `health` and
`status` over the WebSocket, HTTP probes, a 404), and its page must parse, hold every family
the operator dashboards need, and show that traffic.

  usage: metrics-check.py --gw target/debug/openclaw
Last line: `metrics-check: N/M passed`; exit 0 iff all pass. Every wait has a deadline;
loopback only.
"""
import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

TOKEN = f"metrics-token-{os.getpid()}"
REQUIRED = {
    "openclaw_connections": "gauge",
    "openclaw_connections_accepted": "counter",
    "openclaw_handshakes": "counter",
    "openclaw_handshake_duration_seconds": "histogram",
    "openclaw_slow_consumers_closed": "counter",
    "openclaw_rpc_requests": "counter",
    "openclaw_rpc_errors": "counter",
    "openclaw_rpc_duration_seconds": "histogram",
    "openclaw_events_published": "counter",
    "openclaw_events_delivered": "counter",
    "openclaw_events_dropped": "counter",
    "openclaw_outbound_queued_bytes": "gauge",
    "openclaw_agent_runs": "counter",
    "openclaw_provider_duration_seconds": "histogram",
    "openclaw_provider_ttft_seconds": "histogram",
    "openclaw_http_requests": "counter",
    "openclaw_http_duration_seconds": "histogram",
    "process_resident_memory_bytes": "gauge",
    "process_cpu_seconds": "counter",
}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def get(url, token=None, timeout=10):
    req = urllib.request.Request(url)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers.get("content-type", ""), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("content-type", ""), e.read().decode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gw", required=True)
    a = ap.parse_args()
    d = tempfile.mkdtemp(prefix="oc-metrics-")
    port = free_port()
    cfg = os.path.join(d, "openclaw.json")
    with open(cfg, "w") as f:
        f.write('{ "gateway": { "mode": "local", "metrics": { "enabled": true } }, '
                f'"logging": {{ "file": "{d}/openclaw.log" }} }}\n')
    env = dict(os.environ, HOME=d, OPENCLAW_STATE_DIR=f"{d}/state", OPENCLAW_CONFIG_PATH=cfg,
               OPENCLAW_GATEWAY_TOKEN=TOKEN)
    gw = subprocess.Popen([a.gw, "gateway", "run", "--port", str(port)], env=env,
                          stdout=open(f"{d}/stdout.log", "w"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    checks = []

    def check(name, ok, detail=""):
        checks.append(ok)
        print(f"{'ok  ' if ok else 'FAIL'} {name}" + (f": {detail}" if detail and not ok else ""))

    try:
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                if get(f"{base}/readyz", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        else:
            raise SystemExit("gateway did not become ready")
        conn = ["--url", f"ws://127.0.0.1:{port}", "--token", TOKEN]
        for cmd in (["health"], ["status"], ["health"]):
            r = subprocess.run([a.gw] + cmd + conn, env=env, capture_output=True, timeout=60)
            check(f"openclaw {' '.join(cmd)} exits 0", r.returncode == 0, r.stderr.decode()[-300:])
        get(f"{base}/healthz")
        get(f"{base}/v1/models", token=TOKEN)
        status, _, _ = get(f"{base}/metrics")
        check("/metrics without a token is refused", status == 401, str(status))
        status, ctype, body = get(f"{base}/metrics", token=TOKEN)
        check("/metrics answers 200 text/plain 0.0.4", status == 200 and ctype.startswith(
            "text/plain; version=0.0.4"), f"{status} {ctype}")
        fams = {}
        try:
            for fam in text_string_to_metric_families(body):
                fams[fam.name] = fam
            check("the page parses (prometheus_client)", True)
        except Exception as e:  # noqa: BLE001 - the parser's verdict is the check
            check("the page parses (prometheus_client)", False, repr(e))
        for name, kind in REQUIRED.items():
            f = fams.get(name)
            check(f"{name} is a {kind}", f is not None and f.type == kind,
                  f and f.type or "missing")

        def value(fam, sample, **labels):
            f = fams.get(fam)
            for s in (f.samples if f else []):
                if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
                    return s.value
            return None

        h = value("openclaw_rpc_requests", "openclaw_rpc_requests_total", method="health",
                  result="ok")
        check("the health calls counted", h is not None and h >= 2, h)
        n = value("openclaw_handshakes", "openclaw_handshakes_total", result="ok")
        check("the three CLI handshakes counted", n is not None and n >= 3, n)
        p = value("openclaw_http_requests", "openclaw_http_requests_total", route="probe",
                  status="200")
        check("the probes counted by route and status", p and p >= 2, p)
        r = value("process_resident_memory_bytes", "process_resident_memory_bytes")
        check("process RSS reported", r and r > 1e6, r)
    finally:
        gw.send_signal(signal.SIGTERM)
        try:
            gw.wait(timeout=30)
        except subprocess.TimeoutExpired:
            gw.kill()
        shutil.rmtree(d, ignore_errors=True)
    print(f"metrics-check: {sum(checks)}/{len(checks)} passed")
    sys.exit(0 if all(checks) else 1)


if __name__ == "__main__":
    main()

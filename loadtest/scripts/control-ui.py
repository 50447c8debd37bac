#!/usr/bin/env python3
"""Real-browser check of the stock OpenClaw Control UI (openclaw@2026.9.6) served by OUR gateway.

Starts `openclaw-loadtest upstream` (synthetic OpenAI-compatible model) and our gateway (token auth, --verbose,
gateway.controlUi.root = the stock UI build, provider fake/echo-1 -> the upstream) in a temp dir on free loopback
ports, then drives Debian's chromium through Python playwright, as a user's browser (no CSP bypass, no rewriting):
  1. opens http://127.0.0.1:PORT/#token=TOKEN (the UI takes `token` from the hash and strips it; `?token=` warns);
  2. "UI loaded": document 200, <openclaw-app-shell> + <openclaw-app-sidebar> visible; "connected": hello-ok on
     the WS and the sidebar's live region ([role=status]) reads "Connected";
  3. types "hello from the browser" in textarea[aria-label="Chat composer"], presses Enter, waits for the
     upstream's fixed reply "t0 t1 t2 t3 t4" in the page ("chat reply shown");
  4. visits every main route in-app (history.pushState + popstate; the WS stays up), 1.5-7.5 s each, noting the
     error banners each page shows ([role=alert], .callout.danger, elements with an "error" class, and text such
     as "unknown method" / "Schema unavailable"), with a screenshot per page under --shots;
  5. reloads the deep link /settings/about: 200, the page drawn, a new hello-ok ("deep link reload");
  6. "no unknown method": no request answered `unknown method`; with --node-json (the --json of a --peer run of
     this script, same pages): "no error banner the Node gateway does not show" on the same page (numbers and
     ids masked);
  7. prints PASS/FAIL per check, each method answered ok:false (code, message, count, routes that sent it),
     unanswered requests, methods the UI calls on the Node gateway but not here, console errors, page errors,
     failed / >=400 HTTP requests, the banners, and error text shown in the pages.
Exit 0 only if every check passes. ~70 s against ours on 2 cores (~120 s with --peer). Stops what it started.
  setup: apt-get install -y chromium; pip install playwright; /work/shared/peer/setup.sh (the UI build)
  run:   python3 loadtest/scripts/control-ui.py [--gw BIN] [--lt BIN] [--ui-root DIR] [--pages agents,logs]
             [--json OUT] [--keep] [--peer] [--node-json NODE.json] [--shots DIR]
         (--peer: the Node reference gateway instead; CI runs it first and passes its --json as --node-json)
  The temp dir (gateway.log = the gateway's --verbose WS log; *.png on failure) is kept on FAIL or with --keep.
"""
import argparse, collections, json, os, re, secrets, signal, socket, subprocess, sys, tempfile, time
import urllib.request
from playwright.sync_api import sync_playwright

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PEER = os.environ.get("PEER_DIR", "/tmp/peer")
REPLY = re.compile(r"t0\s+t1\s+t2\s+t3\s+t4")  # what `openclaw-loadtest upstream --tokens 5` streams
MESSAGE = "hello from the browser"
PAGES = ["new", "agents", "dashboards", "systems", "sessions", "activity", "tasks", "automations", "plugins",
         "worktrees", "usage", "skills", "logs", "debug"] + ["settings/" + s for s in (
         "profile appearance connection devices channels talk model-setup model-providers skills plugins "
         "memory search secrets approvals updates about cloud-workers infrastructure").split()]
FEATURE_HINT = re.compile(r"unknown method|schema unavailable|not supported|unsupported|requires a newer", re.I)
# What this same run (all PAGES) makes the UI call on the Node gateway 2026.9.6 (--peer, 2026-12-05).
NODE_CALLS = set("""agent.identity.get agents.list approval.history artifacts.list board.get channels.pairing.list
channels.status chat.history chat.metadata chat.send chat.startup config.get config.schema config.schema.lookup
connect controlUi.sessionPullRequests.subscribe cron.list cron.runs cron.status device.pair.list diagnostics.lanes
doctor.memory.status environments.list exec.approval.grants.list exec.approval.list exec.approvals.get health
last-heartbeat logs.tail mentions.list models.authStatus models.list node.list openclaw.approval.list
plugin.approval.list plugin.surface.refresh plugins.catalog.browse plugins.controlUi.list plugins.list
progressCard.get projects.list question.list secrets.store.list session.discussion.info session.members.listEvidence
sessions.branches.list sessions.catalog.list sessions.companion.state sessions.describe sessions.github.options
sessions.groups.defaults sessions.groups.list sessions.list sessions.messages.subscribe sessions.observer.visibility
sessions.subscribe sessions.usage sessions.viewers.set skills.library.list skills.search skills.status status
system-presence system.info talk.catalog taskSuggestions.list tasks.list themes.list tools.github.status
update.status usage.status users.github.status users.listModelAccounts users.prefs.get users.prefs.set users.self
voicewake.get webSearch.status worktrees.list""".split())

def newest(name):
    t = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    c = [p for p in (os.path.join(t, d, name) for d in ("release", "debug")) if os.path.exists(p)]
    return max(c, key=os.path.getmtime) if c else os.path.join(t, "debug", name)

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

def ready(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status == 200
    except Exception:
        return False

def spawn(cmd, log, env=None):
    with open(log, "w") as f:
        return subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                start_new_session=True)

def stop(p):  # p leads its own process group (start_new_session), so Node's helper children go with it
    for sig, secs in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        if p is None or p.poll() is not None:
            return
        try:
            os.killpg(p.pid, sig)
            p.wait(timeout=secs)
        except Exception:
            pass

def wait_for(pred, secs, pg=None):  # with a page, sleep via playwright so it keeps delivering WS frames
    end = time.monotonic() + secs
    while not pred() and time.monotonic() < end:
        pg.wait_for_timeout(200) if pg else time.sleep(0.2)
    return pred()

class Recorder:
    """Every WS frame, each request attributed to the route that was current when the UI sent it."""
    def __init__(self):
        self.page, self.hello, self.hellos = "boot", None, 0
        self.reqs, self.answered = {}, {}       # id -> (method, page); id -> True | "CODE: message"
        self.fails = {}                         # (method, code, message) -> [count, pages]
        self.calls = collections.Counter()
        self.console, self.pageerrors, self.badreqs = (collections.Counter() for _ in range(3))
        self.visible, self.aborted = {}, 0      # error text in the page -> pages; requests cut by navigation
        self.banners = {}                       # page -> error banners shown ([role=alert], .callout.danger)

    def on_ws(self, ws):
        ws.on("framesent", self.sent)
        ws.on("framereceived", self.recv)
        ws.on("close", lambda _: self.console.update([f"[ws closed] {ws.url} (on {self.page})"]))

    def on_console(self, m):
        if m.type == "error" or FEATURE_HINT.search(m.text):
            url = (m.location.get("url") or "").split("?")[0] if "Failed to load resource" in m.text else None
            self.console.update([f"[{m.type}] {m.text[:300]}" + (f" ({url})" if url else "")])

    def on_failed(self, r):
        if "ERR_ABORTED" in (r.failure or ""):
            self.aborted += 1
        else:
            self.badreqs.update([f"{r.method} {r.url.split('?')[0]} failed: {r.failure}"])

    @staticmethod
    def jload(f):
        try:
            m = json.loads(f)
        except Exception:
            return {}
        return m if isinstance(m, dict) else {}

    def sent(self, f):
        m = self.jload(f)
        if m.get("type") == "req":
            self.reqs[m.get("id")] = (m.get("method"), self.page)
            self.calls[m.get("method")] += 1

    def recv(self, f):
        m = self.jload(f)
        if m.get("type") != "res":
            return
        e = m.get("error") or {}
        self.answered[m.get("id")] = True if m.get("ok") else f"{e.get('code')}: {str(e.get('message'))[:300]}"
        method, page = self.reqs.get(m.get("id"), ("?", self.page))
        if m.get("ok") and isinstance(m.get("payload"), dict) and m["payload"].get("type") == "hello-ok":
            self.hello = m["payload"]
            self.hellos += 1
        if not m.get("ok"):
            v = self.fails.setdefault((method, e.get("code"), str(e.get("message"))[:300]), [0, []])
            v[0] += 1
            v[1] += [] if page in v[1] else [page]

    def res_for(self, method):  # True, "CODE: message" or None for the latest answered request of `method`
        ids = [i for i, (mt, _) in self.reqs.items() if mt == method and i in self.answered]
        return self.answered[ids[-1]] if ids else None

    def pending(self):
        return [i for i in self.reqs if i not in self.answered]

def run_browser(br, base, token, rec, checks, notes, pages, d, shots):
    ctx = br.new_context(viewport={"width": 1400, "height": 900}, service_workers="block")
    pg = ctx.new_page()
    pg.set_default_timeout(15000)
    pg.on("websocket", rec.on_ws)
    pg.on("console", rec.on_console)
    pg.on("pageerror", lambda e: rec.pageerrors.update([str(e)[:300]]))
    pg.on("requestfailed", rec.on_failed)
    pg.on("response", lambda r: r.status >= 400 and rec.badreqs.update(
        [f"{r.request.method} {r.url.split('?')[0]} -> {r.status}"]))
    try:
        # 2. load + connect
        resp = pg.goto(f"{base}/#token={token}", wait_until="domcontentloaded", timeout=30000)
        try:
            assert resp and resp.status == 200, "not 200"
            pg.locator("openclaw-app-shell openclaw-app-sidebar").first.wait_for(state="visible", timeout=30000)
            checks["UI loaded"] = (True, f"document {resp.status}, <openclaw-app-shell> + sidebar visible")
        except Exception as e:
            why = str(e).splitlines()[0][:80]
            checks["UI loaded"] = (False, f"document {resp and resp.status}; no shell/sidebar ({why})")
            return pg.screenshot(path=f"{d}/load.png")
        status = pg.locator("openclaw-app-sidebar [role=status]", has_text=re.compile(r"^\s*Connected\s*$"))
        try:
            status.first.wait_for(state="attached", timeout=30000)
            wait_for(lambda: rec.hello, 5, pg)
            n = len((rec.hello or {}).get("features", {}).get("methods", []))
            checks["connected"] = (bool(rec.hello), "sidebar [role=status] reads 'Connected'; " +
                                   (f"hello-ok, {n} methods advertised" if rec.hello else "NO hello-ok on the WS"))
        except Exception:
            txt = pg.locator("openclaw-app-sidebar [role=status]").all_inner_texts()
            checks["connected"] = (False, f"no 'Connected' in 30 s (status {txt}; hello-ok {bool(rec.hello)})")
            return pg.screenshot(path=f"{d}/connect.png")

        # 3. chat
        rec.page = "chat"
        if not re.search(r"/chat(/|$)", pg.url):
            goto(pg, "/chat/main")
        box = pg.locator('textarea[aria-label="Chat composer"]').first
        box.wait_for(state="visible", timeout=20000)
        loaded = wait_for(lambda: rec.res_for("chat.startup") or rec.res_for("chat.history"), 20, pg)
        if loaded is not True:
            notes.append(f"chat history load (chat.startup/chat.history): {loaded or 'no answer in 20 s'}")
        rec.page = "chat-send"
        box.click()
        box.fill(MESSAGE)
        box.press("Enter")
        if not wait_for(lambda: "chat.send" in rec.calls, 15, pg):
            queued = " (the message sits queued above the composer)" if pg.get_by_text(MESSAGE).count() else ""
            checks["chat reply shown"] = (False, "the UI never sent chat.send within 15 s" + queued)
            pg.screenshot(path=f"{d}/chat.png")
        else:
            try:
                pg.get_by_text(REPLY).first.wait_for(state="visible", timeout=60000)
                checks["chat reply shown"] = (True, "chat.send " + ("ok" if rec.res_for("chat.send") is True else
                                              str(rec.res_for("chat.send"))) + "; 't0 t1 t2 t3 t4' visible")
            except Exception:
                checks["chat reply shown"] = (False, f"chat.send -> {rec.res_for('chat.send')}; no reply in 60 s")
                pg.screenshot(path=f"{d}/chat.png")
        settle(pg, rec, 1.0)
        scan(pg, rec, shots)

        # 4. every main route, in-app
        for p in pages:
            rec.page = p
            goto(pg, "/" + p)
            settle(pg, rec, 1.5)
            scan(pg, rec, shots)

        # 5. a reload on a deep link: the shell and its assets come back, the UI reconnects
        rec.page = "reload"
        before = rec.hellos
        resp = pg.goto(f"{base}/settings/about", wait_until="domcontentloaded", timeout=30000)
        try:
            assert resp and resp.status == 200, f"document {resp and resp.status}"
            pg.get_by_text("Connected Gateway version").first.wait_for(state="visible", timeout=30000)
            again = wait_for(lambda: rec.hellos > before, 30, pg)
            checks["deep link reload"] = (again, "/settings/about reloaded: 200, its page drawn, "
                                          + ("reconnected (hello-ok)" if again else "NO new hello-ok in 30 s"))
        except Exception as e:
            checks["deep link reload"] = (False, f"/settings/about reload: {str(e).splitlines()[0][:120]}")
        settle(pg, rec, 1.0)
        scan(pg, rec, shots)
        rec.page = "end"
    except Exception as e:
        notes.append(f"browser step aborted on {rec.page}: {str(e)[:300]}")
        pg.screenshot(path=f"{d}/aborted.png")
    finally:
        ctx.close()

def goto(pg, path):  # what the UI's own router does on back/forward
    pg.evaluate("p => { history.pushState({}, '', p); dispatchEvent(new PopStateEvent('popstate')); }", path)

def settle(pg, rec, minimum):  # at least `minimum` s, then until this route's requests are answered (<= 6 s)
    pg.wait_for_timeout(int(minimum * 1000))
    wait_for(lambda: not any(rec.reqs[i][1] == rec.page for i in rec.pending()), 6, pg)

# What the UI's pages use for error banners and inline errors (read from its build).
BANNERS = ", ".join(f"openclaw-app-shell {sel}" for sel in ('[role=alert]', '.callout.danger', '[class*="error"]'))

def norm(text):  # a banner's words without numbers, ports and ids, to compare across gateways
    return re.sub(r"\s+", " ", re.sub(r"[0-9a-f]{8,}|\d+", "#", text)).strip()[:200]

def scan(pg, rec, shots=None):  # error banners and error text the page shows; a screenshot
    if shots:
        try:
            pg.screenshot(path=os.path.join(shots, rec.page.replace("/", "_") + ".png"))
        except Exception:
            pass
    try:
        loc = pg.locator(BANNERS)
        for i in range(min(loc.count(), 50)):
            el = loc.nth(i)
            t = el.inner_text(timeout=1000).strip() if el.is_visible() else ""
            if t:
                rec.banners.setdefault(rec.page, set()).add(norm(t))
    except Exception:
        pass
    try:
        txt = pg.locator("openclaw-app-shell").first.inner_text(timeout=5000)
    except Exception:
        return
    for line in (s.strip() for s in txt.splitlines()):
        if line and len(line) < 300 and FEATURE_HINT.search(line):
            pgs = rec.visible.setdefault(line, [])
            pgs += [] if rec.page in pgs else [rec.page]
            rec.banners.setdefault(rec.page, set()).add(norm(line))

def judge(rec, checks, a):  # the checks that read the whole run
    unknown = sorted({m for (m, _c, msg) in rec.fails if str(msg).startswith("unknown method")})
    checks["no unknown method"] = (not unknown, "every request answered by a served method" if not unknown
                                   else f"unknown method: {', '.join(unknown)}")
    if a.node_json:
        with open(a.node_json) as f:
            node = {p: set(v) for p, v in json.load(f).get("banners", {}).items()}
        extra = {p: sorted(b - node.get(p, set())) for p, b in rec.banners.items()}
        extra = {p: v for p, v in extra.items() if v}
        checks["no error banner the Node gateway does not show"] = (
            not extra, f"{sum(map(len, rec.banners.values()))} banners, all also shown by Node on the same page"
            if not extra else "; ".join(f"[{p}] {' | '.join(v)}" for p, v in extra.items())[:600])

def report(rec, checks, notes, d, secs, a):
    if rec.hello:
        judge(rec, checks, a)
    print(f"\n== checks ({secs:.0f} s)")
    for k, (ok, why) in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}  {k}: {why}")
    for n in notes:
        print(f"note  {n}")
    fails = sorted(rec.fails.items(), key=lambda kv: -kv[1][0])
    advertised = set((rec.hello or {}).get("features", {}).get("methods", []))
    print(f"\n== methods answered ok:false: {len({k[0] for k in rec.fails})} methods, "
          f"{sum(v[0] for v in rec.fails.values())} responses (of {sum(rec.calls.values())} requests, "
          f"{len(rec.calls)} methods; * = advertised in hello-ok features.methods)")
    for (m, code, msg), (n, pgs) in fails:
        print(f"  {n:3d}x {m + ('*' if m in advertised else ''):31s} {code}: {msg}   [{','.join(pgs)}]")
    pend = collections.Counter(f"{rec.reqs[i][0]} [{rec.reqs[i][1]}]" for i in rec.pending())
    skipped = sorted(NODE_CALLS - set(rec.calls)) if rec.hello and not a.peer else []
    sections = [("requests never answered", pend),
                ("called on the Node gateway, not called here (not advertised in hello-ok unless marked)",
                 {m + (" (advertised)" if m in advertised else ""): 1 for m in skipped}),
                ("console errors (and feature warnings)", rec.console), ("page errors", rec.pageerrors),
                (f"failed / HTTP >= 400 requests ({rec.aborted} more aborted by navigation, ignored)", rec.badreqs)]
    for title, c in sections:
        print(f"\n== {title}: {len(c)}")
        for k, n in sorted(c.items(), key=lambda kv: -kv[1]):
            print(f"  {n:3d}x {k}")
    print(f"\n== error banners shown ([role=alert], .callout.danger): {sum(map(len, rec.banners.values()))}")
    for p, texts in rec.banners.items():
        for t in sorted(texts):
            print(f"  [{p}] {t}")
    print(f"\n== error text shown in pages: {len(rec.visible)}")
    for k, pgs in rec.visible.items():
        print(f"  {k}   [{','.join(pgs)}]")
    try:
        with open(f"{d}/gateway.log", errors="replace") as f:
            print(f"\ngateway log: {f.read().count('res ✗')} '✗' responses ({d}/gateway.log)")
    except OSError:
        pass
    ok = all(v[0] for v in checks.values())
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"checks": {k: {"pass": v[0], "detail": v[1]} for k, v in checks.items()}, "notes": notes,
                       "seconds": round(secs, 1), "calls": rec.calls, "skipped": skipped,
                       "advertised": sorted(advertised), "console": rec.console,
                       "failures": [{"method": m, "code": c, "message": g, "count": n, "pages": p}
                                    for (m, c, g), (n, p) in fails], "pageErrors": rec.pageerrors,
                       "badRequests": rec.badreqs, "visible": rec.visible,
                       "banners": {p: sorted(v) for p, v in rec.banners.items()}}, f, indent=1)
    print(f"\n{'PASS' if ok else 'FAIL'}: control-ui ({'kept ' + d if a.keep or not ok else 'temp dir removed'})")
    return ok

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gw", default=os.environ.get("GW") or newest("openclaw"))
    ap.add_argument("--lt", default=os.environ.get("LT") or newest("openclaw-loadtest"))
    ap.add_argument("--ui-root", default=f"{PEER}/oc/node_modules/openclaw/dist/control-ui")
    ap.add_argument("--pages", help="comma-separated subset of routes to visit (default: all)")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    ap.add_argument("--peer", action="store_true", help="run the Node reference gateway instead of ours")
    ap.add_argument("--node-json", help="a --peer run's --json: fail on an error banner Node did not show there")
    ap.add_argument("--shots", help="keep a screenshot of every page in this directory (CI artifacts)")
    a = ap.parse_args()
    d, t0 = tempfile.mkdtemp(prefix="control-ui."), time.monotonic()
    token, port = secrets.token_hex(12), free_port()
    rec, notes, up, gw = Recorder(), [], None, None
    checks = {k: (False, "not reached") for k in ("UI loaded", "connected", "chat reply shown", "deep link reload")}
    try:
        # 1. synthetic upstream + gateway
        up = spawn([a.lt, "upstream", "--port", "0", "--tokens", "5", "--tokens-per-sec", "0", "--max-secs", "600"],
                   f"{d}/upstream.log")
        uport = wait_for(lambda: (re.findall(r"listening on http://127\.0\.0\.1:(\d+)",
                                             open(f"{d}/upstream.log").read()) or [None])[0], 15)
        if not uport:
            raise RuntimeError(f"upstream did not start; see {d}/upstream.log")
        cfg = {"gateway": {"mode": "local", "controlUi": {"root": a.ui_root}},
               "models": {"providers": {"fake": {"baseUrl": f"http://127.0.0.1:{uport}/v1", "apiKey": "sk-x",
                          "api": "openai-completions", "models": [{"id": "echo-1", "name": "echo-1"}]}}},
               "agents": {"defaults": {"model": "fake/echo-1"}}}
        env = dict(os.environ, OPENCLAW_STATE_DIR=f"{d}/state", OPENCLAW_CONFIG_PATH=f"{d}/openclaw.json",
                   HOME=d, NO_COLOR="1")
        cmd = [a.gw, "gateway", "run", "--port", str(port), "--auth", "token", "--token", token, "--verbose"]
        if a.peer:  # Node serves its bundled UI (no controlUi.root in its schema); keep its file log local
            del cfg["gateway"]["controlUi"]
            cfg["logging"] = {"file": f"{d}/gateway-file.log"}
            os.makedirs(f"{d}/tmp")
            env.update(TMPDIR=f"{d}/tmp", PATH=f"{PEER}/node26/package/bin:" + env.get("PATH", ""))
            cmd = [f"{PEER}/node26/package/bin/node", f"{PEER}/oc/node_modules/openclaw/openclaw.mjs"] + cmd[1:] \
                + ["--bind", "loopback"]
        os.makedirs(f"{d}/state")
        with open(f"{d}/openclaw.json", "w") as f:
            json.dump(cfg, f)
        gw = spawn(cmd, f"{d}/gateway.log", env)
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: gw.poll() is not None or ready(base + "/readyz"), 90)
        if gw.poll() is not None or not ready(base + "/readyz"):
            raise RuntimeError(f"gateway not ready (/readyz) in 90 s, exit {gw.poll()}; see {d}/gateway.log")
        print(f"gateway {'node' if a.peer else a.gw} ready on :{port} after {time.monotonic() - t0:.1f} s; dir {d}",
              flush=True)
        with sync_playwright() as pw:
            br = pw.chromium.launch(executable_path="/usr/bin/chromium",
                                    args=["--no-sandbox", "--disable-dev-shm-usage"])
            try:
                if a.shots:
                    os.makedirs(a.shots, exist_ok=True)
                run_browser(br, base, token, rec, checks, notes, a.pages.split(",") if a.pages else PAGES, d,
                            a.shots)
            finally:
                br.close()
    except Exception as e:
        notes.append(f"aborted: {e}")
    finally:
        stop(gw)
        stop(up)
    ok = report(rec, checks, notes, d, time.monotonic() - t0, a)
    if ok and not a.keep:
        subprocess.run(["rm", "-rf", d])
    return 0 if ok else 1

if __name__ == "__main__":
    sys.exit(main())

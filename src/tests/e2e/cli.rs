//! The operator commands of the real `openclaw` binary against an in-process gateway: the key
//! lines and `--json` keys of `health`, `status`, `gateway status|probe|call` and `logs`, the
//! exit codes against a dead port, `logs --follow` across a gateway restart, and the seven
//! checks of ../shared/peer/stock-cli.sh (same patterns, our binary instead of the Node CLI).
//! Every wait is bounded; synchronisation is by output lines, never by sleeping.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use openclaw::config::{self, Env, LoadArgs};
use openclaw::serve::{self as server, Running};
use openclaw::server::Gateway;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStderr, ChildStdout, Command};

use crate::util::*;

const BIN: &str = env!("CARGO_BIN_EXE_openclaw");
/// Upper bound for one CLI run and for each whole test.
const CMD_LIMIT: Duration = Duration::from_secs(30);
const TEST_LIMIT: Duration = Duration::from_secs(90);

/// `openclaw args…` with an isolated HOME/state/config under `dir` (config names `port`,
/// the log file is `<dir>/openclaw.log`), the port and token in env, as stock-cli.sh does.
fn cli(dir: &Path, port: u16, args: &[&str]) -> Command {
    let iso = dir.join("cli");
    std::fs::create_dir_all(iso.join("home")).unwrap();
    let cfg = iso.join("openclaw.json");
    let body = format!(
        r#"{{ "gateway": {{ "mode": "local", "port": {port}, "bind": "loopback", "auth": {{ "mode": "token" }} }}, "logging": {{ "file": "{}" }} }}"#,
        dir.join("openclaw.log").display()
    );
    std::fs::write(&cfg, body).unwrap();
    let mut c = Command::new(BIN);
    c.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", iso.join("home"))
        .env("NO_COLOR", "1")
        .env("OPENCLAW_STATE_DIR", iso.join("state"))
        .env("OPENCLAW_CONFIG_PATH", &cfg)
        .env("OPENCLAW_GATEWAY_PORT", port.to_string())
        .env("OPENCLAW_GATEWAY_TOKEN", TOKEN)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    c
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Out {
    fn has_line(&self, prefix: &str) -> bool {
        self.stdout.lines().any(|l| l.starts_with(prefix))
    }
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", self.stdout, self.stderr))
    }
    fn expect_lines(&self, what: &str, prefixes: &[&str]) {
        for p in prefixes {
            assert!(
                self.has_line(p),
                "{what}: no line starting {p:?}\nstdout:\n{}\nstderr:\n{}",
                self.stdout,
                self.stderr
            );
        }
    }
}

async fn run(dir: &Path, port: u16, args: &[&str]) -> Out {
    let o = tokio::time::timeout(CMD_LIMIT, cli(dir, port, args).output())
        .await
        .unwrap_or_else(|_| panic!("openclaw {args:?} did not finish in {CMD_LIMIT:?}"))
        .expect("run openclaw");
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

fn keys(v: &Value) -> Vec<&str> {
    v.as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

fn assert_keys(v: &Value, want: &[&str], what: &str) {
    let have = keys(v);
    for k in want {
        assert!(have.contains(k), "{what}: missing key {k:?} in {v}");
    }
}

/// Append JSON log records (the in-process gateway does not write its file).
async fn append_log(dir: &Path, messages: &[&str]) {
    let mut f = tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("openclaw.log"))
        .await
        .unwrap();
    for m in messages {
        let rec = serde_json::json!({
            "time": "2026-01-02T03:04:05.678+00:00", "level": "info", "subsystem": "e2e",
            "message": m, "_meta": { "logLevelName": "INFO", "name": "{\"subsystem\":\"e2e\"}" },
        });
        f.write_all(format!("{rec}\n").as_bytes()).await.unwrap();
    }
    f.flush().await.unwrap();
}

/// A running `logs --follow` with its output streams.
struct Follow {
    child: Child,
    out: Lines<BufReader<ChildStdout>>,
    err: Lines<BufReader<ChildStderr>>,
    seen: Vec<String>,
}

impl Follow {
    fn spawn(dir: &Path, port: u16, extra: &[&str]) -> Follow {
        let mut args = vec!["logs", "--follow"];
        args.extend_from_slice(extra);
        let mut child = cli(dir, port, &args).spawn().expect("spawn logs --follow");
        Follow {
            out: BufReader::new(child.stdout.take().unwrap()).lines(),
            err: BufReader::new(child.stderr.take().unwrap()).lines(),
            child,
            seen: Vec::new(),
        }
    }

    async fn stdout_line(&mut self, needle: &str) -> String {
        let what = format!("a stdout line with {needle:?}");
        while let Some(l) = bounded(&what, self.out.next_line()).await.unwrap() {
            self.seen.push(l.clone());
            if l.contains(needle) {
                return l;
            }
        }
        panic!("stdout ended without {needle:?}; saw {:#?}", self.seen);
    }

    async fn stderr_line(&mut self, needle: &str) -> String {
        let what = format!("a stderr line with {needle:?}");
        while let Some(l) = bounded(&what, self.err.next_line()).await.unwrap() {
            self.seen.push(l.clone());
            if l.contains(needle) {
                return l;
            }
        }
        panic!("stderr ended without {needle:?}; saw {:#?}", self.seen);
    }
}

/// A gateway on a given port (the restart half of the follow test), state in `dir`.
async fn start_on(dir: &Path, port: u16) -> Running {
    let env = Env::from_pairs([
        ("HOME".to_string(), dir.display().to_string()),
        (
            "OPENCLAW_STATE_DIR".to_string(),
            dir.join("state").display().to_string(),
        ),
        (
            "OPENCLAW_CONFIG_PATH".to_string(),
            dir.join("openclaw.json").display().to_string(),
        ),
        ("OPENCLAW_GATEWAY_TOKEN".to_string(), TOKEN.to_string()),
    ]);
    let mut cfg = config::load(&LoadArgs::default(), &env).expect("config loads");
    cfg.logging.file = dir.join("openclaw.log");
    let gw = tokio::task::spawn_blocking(move || Gateway::new(cfg))
        .await
        .unwrap()
        .expect("gateway state");
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    // The old listener is closed by `stop()`; retry briefly in case the kernel lags.
    let mut tries = 0;
    let listener = loop {
        match openclaw_net::bind(addr) {
            Ok(l) => break l,
            Err(e) if tries < 100 => {
                tries += 1;
                let _ = e;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("rebind {addr}: {e}"),
        }
    };
    server::start(gw, listener)
}

/// stock-cli.sh's `Gateway .*ws://127\.0\.0\.1:PORT .*· reachable ` without a regex crate.
fn gateway_reachable_line(stdout: &str, port: u16) -> bool {
    let url = format!("ws://127.0.0.1:{port} ");
    stdout.lines().any(|l| {
        l.find("Gateway ")
            .and_then(|i| l[i..].find(&url).map(|j| i + j + url.len()))
            .is_some_and(|k| l[k..].contains("· reachable "))
    })
}

#[tokio::test]
async fn stock_cli_checks_pass_against_our_binary() {
    tokio::time::timeout(TEST_LIMIT, async {
        let g = start().await;
        let (d, p) = (g.dir.clone(), g.addr.port());

        let o = run(&d, p, &["gateway", "status"]).await;
        assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
        o.expect_lines(
            "gateway status",
            &[
                "Connectivity probe: ok",
                "Capability: connected-no-operator-scope",
                "Gateway version: 2",
                &format!("Dashboard: http://127.0.0.1:{p}/"),
                &format!("Gateway: bind=loopback (127.0.0.1), port={p}"),
                &format!("Probe target: ws://127.0.0.1:{p}"),
                "Runtime: running",
                &format!("Listening: 127.0.0.1:{p}"),
            ],
        );

        let o = run(&d, p, &["gateway", "status", "--require-rpc"]).await;
        assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
        o.expect_lines(
            "gateway status --require-rpc",
            &[
                "Read probe: ok",
                "Capability: read-only",
                "Gateway version: 2",
            ],
        );

        let o = run(&d, p, &["health"]).await;
        assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
        o.expect_lines(
            "health",
            &[
                "Gateway event loop: ",
                "Gateway probe duration: ",
                "Agents: main (default)",
                "Heartbeat interval: ",
                "Session store (main): ",
            ],
        );
        let dur = o
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("Gateway probe duration: "))
            .unwrap();
        let digits = dur.strip_suffix("ms").unwrap();
        assert!(
            !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()),
            "{dur}"
        );

        let o = run(&d, p, &["health", "--json"]).await;
        assert_eq!(o.code, 0);
        let h = o.json();
        assert_eq!(h["ok"], true);
        assert!(h["agents"].is_array());

        let o = run(&d, p, &["status"]).await;
        assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
        o.expect_lines("status", &["OpenClaw status", "Sessions"]);
        assert!(gateway_reachable_line(&o.stdout, p), "{}", o.stdout);

        let o = run(&d, p, &["gateway", "probe"]).await;
        assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
        o.expect_lines("gateway probe", &["Reachable: yes", "  Connect: ok "]);
        assert!(o
            .stdout
            .contains("Read probe: limited - missing scope: operator.read"));

        // logs --follow: "Log file:" then ≥ 1 line (one is there before it starts).
        append_log(&d, &["before-start"]).await;
        let mut f = Follow::spawn(&d, p, &[]);
        let head = f.stdout_line("Log file: ").await;
        assert_eq!(
            head,
            format!("Log file: {}", d.join("openclaw.log").display())
        );
        let l = f.stdout_line("before-start").await;
        assert_eq!(l, "2026-01-02T03:04:05.678+00:00 info e2e before-start");
        f.child.kill().await.unwrap();
        g.stop().await;
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn json_outputs_have_the_stock_keys() {
    tokio::time::timeout(TEST_LIMIT, async {
        let g = start().await;
        let (d, p) = (g.dir.clone(), g.addr.port());

        let v = run(&d, p, &["gateway", "status", "--json"]).await.json();
        assert_keys(
            &v,
            &[
                "cli",
                "logFile",
                "service",
                "config",
                "gateway",
                "hostDesktop",
                "port",
                "rpc",
                "extraServices",
                "pluginVersionDrift",
            ],
            "gateway status --json",
        );
        assert_keys(
            &v["gateway"],
            &[
                "bindMode",
                "bindHost",
                "port",
                "portSource",
                "probeUrl",
                "controlUiLinks",
                "version",
            ],
            "gateway",
        );
        assert_eq!(v["gateway"]["port"], p);
        assert_eq!(v["gateway"]["portSource"], "env/config");
        assert_eq!(v["rpc"]["ok"], true);
        assert_eq!(v["rpc"]["kind"], "connect");
        assert_eq!(v["rpc"]["capability"], "connected_no_operator_scope");
        assert_eq!(v["rpc"]["auth"]["scopes"], serde_json::json!([]));
        assert_keys(
            &v["rpc"]["server"],
            &["version", "buildId", "connId"],
            "rpc.server",
        );
        assert_eq!(v["port"]["status"], "busy");
        assert_eq!(v["logFile"], d.join("openclaw.log").display().to_string());

        let o = run(&d, p, &["gateway", "status", "--deep"]).await;
        assert_eq!(o.code, 0, "{}", o.stderr);
        o.expect_lines(
            "gateway status --deep",
            &["Other gateway-like services detected (best effort)"],
        );

        let v = run(&d, p, &["gateway", "probe", "--json"]).await.json();
        assert_keys(
            &v,
            &[
                "ok",
                "degraded",
                "capability",
                "primaryTargetId",
                "warnings",
                "targets",
            ],
            "probe",
        );
        assert_eq!(v["ok"], true);
        assert_eq!(v["degraded"], true);
        assert_eq!(v["primaryTargetId"], "localLoopback");
        assert_keys(
            &v["warnings"][0],
            &["code", "message", "targetIds"],
            "warning",
        );
        let c = &v["targets"][0]["connect"];
        assert_eq!(
            (
                c["ok"].clone(),
                c["rpcOk"].clone(),
                c["scopeLimited"].clone()
            ),
            (Value::Bool(true), Value::Bool(false), Value::Bool(true))
        );

        let v = run(&d, p, &["status", "--json"]).await.json();
        assert_keys(
            &v,
            &["gateway", "agents", "sessions", "health", "status"],
            "status --json",
        );
        assert_eq!(v["gateway"]["reachable"], true);
        assert_eq!(v["gateway"]["url"], format!("ws://127.0.0.1:{p}"));

        let v = run(&d, p, &["gateway", "health", "--json"]).await.json();
        assert_eq!(v["ok"], true);

        let o = run(
            &d,
            p,
            &[
                "gateway",
                "call",
                "status",
                "--params",
                r#"{"includeChannelSummary":false}"#,
            ],
        )
        .await;
        assert_eq!(o.code, 0, "{}", o.stderr);
        assert_keys(
            &o.json(),
            &["runtimeVersion", "heartbeat", "sessions"],
            "call status",
        );
        let o = run(&d, p, &["gateway", "call", "no.such.method"]).await;
        assert_eq!(o.code, 1);
        assert!(
            o.stderr.contains("no.such.method failed: INVALID_REQUEST"),
            "{}",
            o.stderr
        );
        let o = run(&d, p, &["gateway", "call", "health", "--params", "[1]"]).await;
        assert_ne!(o.code, 0);

        // Plain `logs` (no follow): header + formatted records, raw with --json.
        append_log(&d, &["one", "two"]).await;
        let o = run(&d, p, &["logs", "--limit", "1"]).await;
        assert_eq!(o.code, 0, "{}", o.stderr);
        let lines: Vec<&str> = o.stdout.lines().collect();
        assert_eq!(lines.len(), 2, "{}", o.stdout);
        assert!(lines[0].starts_with("Log file: "));
        assert_eq!(lines[1], "2026-01-02T03:04:05.678+00:00 info e2e two");
        let o = run(&d, p, &["logs", "--json", "--limit", "2"]).await;
        let raw: Vec<Value> = o
            .stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(raw.len(), 2, "{}", o.stdout);
        assert_eq!(raw[1]["message"], "two");
        g.stop().await;
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn exit_codes_against_a_dead_port() {
    tokio::time::timeout(TEST_LIMIT, async {
        let d: PathBuf = temp_dir("cli-dead");
        let (_held, dead) = refusing_addr();
        let p = dead.port();
        let o = run(&d, p, &["health"]).await;
        assert_eq!(o.code, 1);
        assert!(o.stderr.contains("not reachable"), "{}", o.stderr);
        let o = run(&d, p, &["gateway", "status"]).await;
        assert_eq!(o.code, 1, "{}", o.stdout);
        o.expect_lines(
            "dead gateway status",
            &["Runtime: stopped", "Connectivity probe: failed"],
        );
        assert_eq!(
            run(&d, p, &["gateway", "status", "--require-rpc"])
                .await
                .code,
            1
        );
        assert_eq!(
            run(&d, p, &["gateway", "status", "--no-probe"]).await.code,
            0
        );
        let o = run(&d, p, &["gateway", "probe"]).await;
        assert_eq!(o.code, 1);
        o.expect_lines("dead probe", &["Reachable: no", "  Connect: failed"]);
        let v = run(&d, p, &["gateway", "probe", "--json"]).await.json();
        assert_eq!(v["ok"], false);
        assert_eq!(v["targets"][0]["connect"]["ok"], false);
        let o = run(&d, p, &["status"]).await;
        assert_eq!(o.code, 0, "status reports, it does not fail");
        assert!(o.stdout.contains("· unreachable ("), "{}", o.stdout);
        assert_eq!(run(&d, p, &["logs"]).await.code, 1);
        assert_eq!(run(&d, p, &["gateway", "call", "health"]).await.code, 1);
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn wrong_token_is_a_clear_failure() {
    tokio::time::timeout(TEST_LIMIT, async {
        let g = start().await;
        let (d, p) = (g.dir.clone(), g.addr.port());
        let o = run(&d, p, &["health", "--token", "wrong-token"]).await;
        assert_eq!(o.code, 1);
        assert!(o.stderr.contains("connect failed"), "{}", o.stderr);
        g.stop().await;
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn logs_follow_prints_new_lines_and_survives_a_restart() {
    tokio::time::timeout(TEST_LIMIT, async {
        let g = start().await;
        let (d, p) = (g.dir.clone(), g.addr.port());
        let mut f = Follow::spawn(&d, p, &["--interval", "100"]);
        f.stdout_line("Log file: ").await;
        append_log(&d, &["after-start"]).await;
        f.stdout_line("after-start").await;

        // Restart the gateway on the same port: the follower reconnects and keeps its cursor.
        g.stop().await;
        f.stderr_line("reconnecting").await;
        let running = start_on(&d, p).await;
        f.stderr_line("[logs] gateway reconnected").await;
        append_log(&d, &["after-restart"]).await;
        f.stdout_line("after-restart").await;
        assert_eq!(
            f.seen.iter().filter(|l| l.contains("after-start")).count(),
            1,
            "the cursor survived the reconnect (no replay): {:#?}",
            f.seen
        );
        f.child.kill().await.unwrap();
        running.stop().await;
    })
    .await
    .expect("test timed out");
}

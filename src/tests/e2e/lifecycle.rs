//! Lifecycle of the real `openclaw` binary: SIGTERM (shutdown event → close 1012 → exit 0),
//! invalid config (exit 78), startup guards, a taken port, and accept back-off at EMFILE.

use std::net::SocketAddr;
use std::process::Stdio;

use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::util::*;

/// A gateway process with its own state dir.
pub(crate) struct Proc {
    pub(crate) child: Child,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStderr>>,
    seen: Vec<String>,
}

const BIN: &str = env!("CARGO_BIN_EXE_openclaw");

pub(crate) fn command(dir: &std::path::Path, config: Option<&str>, args: &[&str]) -> Command {
    program(BIN, dir, config, args)
}

/// `program args…` with an isolated environment pointing at `dir`.
fn program(prog: &str, dir: &std::path::Path, config: Option<&str>, args: &[&str]) -> Command {
    let cfg = dir.join("openclaw.json");
    if let Some(body) = config {
        std::fs::write(&cfg, body).unwrap();
    }
    let mut c = Command::new(prog);
    c.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("NO_COLOR", "1")
        .env("OPENCLAW_STATE_DIR", dir.join("state"))
        .env("OPENCLAW_CONFIG_PATH", &cfg)
        .env("OPENCLAW_GATEWAY_TOKEN", TOKEN)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    c
}

pub(crate) fn config_with_log(dir: &std::path::Path) -> String {
    format!(
        r#"{{ gateway: {{ mode: "local" }}, logging: {{ file: "{}" }} }}"#,
        dir.join("openclaw.log").display()
    )
}

impl Proc {
    pub(crate) fn spawn(mut cmd: Command) -> Proc {
        let mut child = cmd.spawn().expect("spawn openclaw");
        let lines = BufReader::new(child.stderr.take().unwrap()).lines();
        Proc {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// `gateway run --port 0` on `dir` with `config`, once it listens.
    pub(crate) async fn start(dir: &std::path::Path, config: &str) -> (Proc, SocketAddr) {
        let mut p = Proc::spawn(command(
            dir,
            Some(config),
            &["gateway", "run", "--port", "0"],
        ));
        let addr = p.listening().await;
        (p, addr)
    }

    /// Read stderr until a line contains `needle`; the line.
    pub(crate) async fn line_with(&mut self, needle: &str) -> String {
        let what = format!("a stderr line with {needle:?}");
        while let Some(l) = bounded(&what, self.lines.next_line()).await.unwrap() {
            self.seen.push(l.clone());
            if l.contains(needle) {
                return l;
            }
        }
        panic!("stderr ended without {needle:?}; saw: {:#?}", self.seen);
    }

    /// The address from `listening on ws://ADDR (PID n)`.
    pub(crate) async fn listening(&mut self) -> SocketAddr {
        let l = self.line_with("listening on ws://").await;
        let rest = l.split("ws://").nth(1).unwrap();
        rest.split_whitespace().next().unwrap().parse().unwrap()
    }

    /// Exit code and the rest of stderr.
    pub(crate) async fn finish(mut self) -> (i32, String) {
        let what = "the gateway's stderr to end";
        while let Some(l) = bounded(what, self.lines.next_line()).await.unwrap() {
            self.seen.push(l);
        }
        let st = bounded("the gateway to exit", self.child.wait())
            .await
            .unwrap();
        (st.code().unwrap_or(-1), self.seen.join("\n"))
    }

    pub(crate) fn signal(&self, sig: i32) {
        let pid = self.child.id().expect("running") as i32;
        // SAFETY: plain kill(2) on our own child.
        assert_eq!(unsafe { libc::kill(pid, sig) }, 0);
    }
}

#[tokio::test]
async fn sigterm_sends_shutdown_then_close_1012_and_exits_0() {
    let dir = temp_dir("sigterm");
    let (p, addr) = Proc::start(&dir, &config_with_log(&dir)).await;
    sigterm_is_graceful(p, addr).await;
}

/// An operator is served; SIGTERM sends it `shutdown`, then close 1012; the exit code is 0.
pub(crate) async fn sigterm_is_graceful(p: Proc, addr: SocketAddr) {
    let (mut c, _) = operator(addr, ALL_SCOPES).await;
    let _ = c.ok("health", json!({})).await;
    p.signal(libc::SIGTERM);
    let ev = c.event("shutdown").await;
    assert_eq!(ev["payload"], json!({ "reason": "gateway stopping" }));
    match c.closed().await {
        Closed::Frame(code, _) => assert_eq!(code, 1012),
        other => panic!("expected close 1012, got {other:?}"),
    }
    let (code, log) = p.finish().await;
    assert_eq!(code, 0, "exit code; stderr:\n{log}");
}

#[tokio::test]
async fn sigint_is_graceful_too() {
    let dir = temp_dir("sigint");
    let mut p = Proc::spawn(command(
        &dir,
        Some(&config_with_log(&dir)),
        &["gateway", "--port", "0"],
    ));
    let _ = p.listening().await;
    p.signal(libc::SIGINT);
    let (code, log) = p.finish().await;
    assert_eq!(code, 0, "{log}");
}

#[tokio::test]
async fn invalid_config_exits_78() {
    let dir = temp_dir("badcfg");
    let p = Proc::spawn(command(
        &dir,
        Some(r#"{ gateway: { mode: "local", port: "not-a-port" } }"#),
        &["gateway", "run"],
    ));
    let (code, err) = p.finish().await;
    assert_eq!(code, 78, "{err}");
    assert!(err.contains("Invalid config at"), "{err}");
    let p = Proc::spawn(command(
        &dir,
        Some("{ gateway: { mode: "),
        &["gateway", "run"],
    ));
    let (code, err) = p.finish().await;
    assert_eq!(code, 78, "syntax error: {err}");
}

#[tokio::test]
async fn start_blocked_unless_mode_local_or_allow_unconfigured() {
    let dir = temp_dir("blocked");
    let p = Proc::spawn(command(
        &dir,
        Some(r#"{ gateway: { mode: "remote" } }"#),
        &["gateway", "run", "--port", "0"],
    ));
    let (code, err) = p.finish().await;
    assert_ne!(code, 0);
    assert!(
        err.contains("Gateway start blocked: set gateway.mode=local"),
        "{err}"
    );

    let p = Proc::spawn(command(
        &dir,
        Some(r#"{ logging: { level: "info" } }"#),
        &["gateway", "run", "--port", "0"],
    ));
    let (code, err) = p.finish().await;
    assert_ne!(code, 0);
    assert!(
        err.contains("existing config is missing gateway.mode"),
        "{err}"
    );

    let log = dir.join("x.log").display().to_string();
    let body = format!(r#"{{ logging: {{ file: "{log}" }} }}"#);
    let mut p = Proc::spawn(command(
        &dir,
        Some(&body),
        &["gateway", "run", "--port", "0", "--allow-unconfigured"],
    ));
    let addr = p.listening().await;
    let (mut c, _) = operator(addr, &["operator.read"]).await;
    let _ = c.ok("health", json!({})).await;
    p.signal(libc::SIGTERM);
    assert_eq!(p.finish().await.0, 0);
}

#[tokio::test]
async fn refuses_non_loopback_bind_without_auth() {
    let dir = temp_dir("lan");
    let p = Proc::spawn(command(
        &dir,
        Some(&config_with_log(&dir)),
        &[
            "gateway", "run", "--port", "0", "--bind", "lan", "--auth", "none",
        ],
    ));
    let (code, err) = p.finish().await;
    assert_ne!(code, 0);
    assert!(
        err.contains("refusing to bind gateway") && err.contains("without auth"),
        "{err}"
    );
}

#[tokio::test]
async fn a_taken_port_is_reported_after_retries() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let dir = temp_dir("inuse");
    let p = Proc::spawn(command(
        &dir,
        Some(&config_with_log(&dir)),
        &["gateway", "run", "--port", &port],
    ));
    let (code, err) = p.finish().await;
    assert_ne!(code, 0);
    assert!(
        err.contains(&format!(
            "another gateway instance is already listening on ws://127.0.0.1:{port}"
        )),
        "{err}"
    );
    drop(taken);
}

#[tokio::test]
async fn accept_backs_off_at_emfile_and_recovers() {
    let dir = temp_dir("emfile");
    // Run the gateway with a tiny descriptor limit so accept(2) hits EMFILE.
    let script = "ulimit -n 64 && exec \"$0\" gateway run --port 0";
    let sh = program(
        "/bin/sh",
        &dir,
        Some(&config_with_log(&dir)),
        &["-c", script, BIN],
    );
    let mut p = Proc::spawn(sh);
    let addr = p.listening().await;
    // Hold far more sockets than the gateway has descriptors for.
    let mut held = Vec::new();
    for _ in 0..120 {
        held.push(
            tokio::net::TcpStream::connect(addr)
                .await
                .expect("connect queues in the backlog"),
        );
    }
    p.line_with("accept failed").await;
    drop(held);
    // Once the sockets are gone the gateway serves again.
    let (mut c, _) = operator(addr, &["operator.read"]).await;
    assert_eq!(c.ok("health", json!({})).await["ok"], true);
    p.signal(libc::SIGTERM);
    assert_eq!(p.finish().await.0, 0);
}

#[tokio::test]
async fn force_frees_the_port_of_a_non_gateway_listener() {
    // A plain process (not a gateway) squatting on a port.
    let mut squatter = Command::new("python3")
        .args(["-c", "import socket,sys,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1',0)); s.listen(); print(s.getsockname()[1], flush=True); time.sleep(120)"])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python3");
    let mut out = BufReader::new(squatter.stdout.take().unwrap()).lines();
    let port = bounded("the squatter's port", out.next_line())
        .await
        .unwrap()
        .unwrap();
    let dir = temp_dir("force");
    let mut p = Proc::spawn(command(
        &dir,
        Some(&config_with_log(&dir)),
        &["gateway", "run", "--port", &port, "--force"],
    ));
    let addr = p.listening().await;
    assert_eq!(addr.port().to_string(), port);
    let status = bounded("the squatter to exit", squatter.wait())
        .await
        .unwrap();
    assert!(!status.success(), "the squatter was stopped by a signal");

    // A second gateway with --force, not on a terminal, refuses to stop a verified gateway.
    let dir2 = temp_dir("force2");
    let q = Proc::spawn(command(
        &dir2,
        Some(&config_with_log(&dir2)),
        &["gateway", "run", "--port", &port, "--force"],
    ));
    let (code, err) = q.finish().await;
    assert_ne!(code, 0);
    assert!(
        err.contains("refusing to stop the gateway already listening"),
        "{err}"
    );
    p.signal(libc::SIGTERM);
    assert_eq!(p.finish().await.0, 0, "the first gateway was left alone");
}

#[tokio::test]
async fn one_gateway_per_state_dir_and_exit_78_under_a_supervisor() {
    let dir = temp_dir("lock");
    let cfg = config_with_log(&dir);
    let (a, _) = Proc::start(&dir, &cfg).await;
    let a_pid = a.child.id().unwrap();

    // A second instance on the same state dir (another port) waits, then refuses.
    let b = Proc::spawn(command(&dir, None, &["gateway", "run", "--port", "0"]));
    let (code, err) = b.finish().await;
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!(
            "gateway already running (pid {a_pid}); lock timeout after"
        )),
        "{err}"
    );

    // Under a supervisor (systemd sets INVOCATION_ID) a healthy incumbent means exit 78.
    let mut sup = command(&dir, None, &["gateway", "run", "--port", "0"]);
    sup.env("INVOCATION_ID", "test-invocation");
    let (code, err) = Proc::spawn(sup).finish().await;
    assert_eq!(code, 78, "{err}");
    assert!(err.contains("leaving it in charge"), "{err}");

    // An owner that dies without cleaning up does not block the next start.
    a.signal(libc::SIGKILL);
    let _ = a.finish().await;
    let mut c = Proc::spawn(command(&dir, None, &["gateway", "run", "--port", "0"]));
    let _ = c.listening().await;
    c.signal(libc::SIGTERM);
    assert_eq!(c.finish().await.0, 0);
}

/// `bind: auto` logs the address it chose and why, and listens there (0.0.0.0 in a
/// container, else 127.0.0.1, per `config::bind`).
#[tokio::test]
async fn bind_auto_logs_its_choice_and_listens_there() {
    let dir = temp_dir("bind-auto");
    let cfg = format!(
        r#"{{ gateway: {{ mode: "local", bind: "auto" }}, logging: {{ file: "{}" }} }}"#,
        dir.join("openclaw.log").display()
    );
    let mut p = Proc::spawn(command(
        &dir,
        Some(&cfg),
        &["gateway", "run", "--port", "0"],
    ));
    let line = p.line_with("bind=auto: ").await;
    let in_container = openclaw::config::bind::container_marker(
        std::path::Path::new("/"),
        std::env::var("container").ok(),
    )
    .is_some();
    let want = if in_container { "0.0.0.0" } else { "127.0.0.1" };
    assert!(line.ends_with(&format!("→ {want}")), "{line}");
    let addr = p.listening().await;
    assert_eq!(addr.ip().to_string(), want, "{line}");
    p.signal(libc::SIGTERM);
    assert_eq!(p.finish().await.0, 0);
}

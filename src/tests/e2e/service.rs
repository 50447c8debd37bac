//! Operator commands of the real binary that manage local state: `setup` (fresh and existing
//! config) and `gateway install|uninstall|start|stop` (the systemd user unit), each with an
//! isolated HOME / XDG_CONFIG_HOME / OPENCLAW_STATE_DIR / OPENCLAW_CONFIG_PATH. The suite
//! never touches a real service manager: installs that would enable the unit run with
//! `OPENCLAW_SERVICE_REPAIR_POLICY=external`, and the cleared environment carries no
//! user-bus address.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::util::{bounded, temp_dir, WAIT};

const BIN: &str = env!("CARGO_BIN_EXE_openclaw");

/// `prog` run under coreutils `timeout`: killed (exit 124) if it outlives [`WAIT`].
fn bounded_command(prog: &str) -> Command {
    let mut c = Command::new("timeout");
    c.arg(WAIT.as_secs().to_string()).arg(prog);
    c
}

/// One isolated home.
struct Iso {
    dir: PathBuf,
}

impl Iso {
    fn new(tag: &str) -> Iso {
        Iso { dir: temp_dir(tag) }
    }
    fn config(&self) -> PathBuf {
        self.dir.join("state").join("openclaw.json")
    }
    fn unit(&self) -> PathBuf {
        self.dir.join("xdg/systemd/user/openclaw-gateway.service")
    }
    fn env(&self, c: &mut Command) {
        c.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", &self.dir)
            .env("XDG_CONFIG_HOME", self.dir.join("xdg"))
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
    }
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = bounded_command(BIN);
        c.args(args);
        self.env(&mut c);
        c.env("OPENCLAW_STATE_DIR", self.dir.join("state"))
            .env("OPENCLAW_CONFIG_PATH", self.config());
        c
    }
    /// Exit code, stdout, stderr.
    fn run_cmd(&self, mut c: Command) -> (i32, String, String) {
        let o = c.output().expect("run openclaw");
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        self.run_cmd(self.cmd(args))
    }
    fn run_external(&self, args: &[&str]) -> (i32, String, String) {
        let mut c = self.cmd(args);
        c.env("OPENCLAW_SERVICE_REPAIR_POLICY", "external");
        self.run_cmd(c)
    }
    /// The binary's own test: `systemctl --user is-system-running` answers a live state.
    fn systemd_usable(&self) -> bool {
        let mut c = bounded_command("systemctl");
        c.args(["--user", "is-system-running"]);
        self.env(&mut c);
        match c.output() {
            Ok(o) => {
                let s = String::from_utf8_lossy(&o.stdout).trim().to_string();
                !s.is_empty() && s != "offline" && s != "unknown"
            }
            Err(_) => false,
        }
    }
    fn read_config(&self) -> Value {
        serde_json::from_str(&std::fs::read_to_string(self.config()).unwrap()).unwrap()
    }
}

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// `(section, key, value)` for every assignment of a unit file.
fn parse_unit(text: &str) -> Vec<(String, String, String)> {
    let mut section = String::new();
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = s.to_string();
            continue;
        }
        let (k, v) = line.split_once('=').expect("key=value");
        out.push((section.clone(), k.to_string(), v.to_string()));
    }
    out
}

fn expected_unit(iso: &Iso, port: u16) -> Vec<(String, String, String)> {
    let exe = std::fs::canonicalize(BIN).unwrap();
    let exec = format!("{} gateway --port {port}", exe.display());
    let state = iso.dir.join("state");
    let rows: Vec<(&str, &str, String)> = vec![
        ("Unit", "Description", "OpenClaw Gateway".into()),
        ("Unit", "After", "network-online.target".into()),
        ("Unit", "Wants", "network-online.target".into()),
        ("Unit", "StartLimitBurst", "5".into()),
        ("Unit", "StartLimitIntervalSec", "60".into()),
        ("Service", "ExecStart", exec),
        ("Service", "Restart", "always".into()),
        ("Service", "RestartSec", "5".into()),
        ("Service", "RestartPreventExitStatus", "78".into()),
        ("Service", "TimeoutStopSec", "30".into()),
        ("Service", "TimeoutStartSec", "30".into()),
        ("Service", "SuccessExitStatus", "0 143".into()),
        ("Service", "OOMPolicy", "continue".into()),
        ("Service", "KillMode", "control-group".into()),
        (
            "Service",
            "Environment",
            format!("OPENCLAW_STATE_DIR={}", state.display()),
        ),
        (
            "Service",
            "Environment",
            format!("OPENCLAW_CONFIG_PATH={}", iso.config().display()),
        ),
        (
            "Service",
            "Environment",
            "OPENCLAW_SERVICE_MARKER=openclaw-rs".into(),
        ),
        ("Install", "WantedBy", "default.target".into()),
    ];
    rows.into_iter()
        .map(|(s, k, v)| (s.to_string(), k.to_string(), v))
        .collect()
}

fn has_program(name: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
        .unwrap_or(false)
}

#[tokio::test]
async fn setup_writes_a_config_the_gateway_starts_with() {
    let iso = Iso::new("setup-fresh");
    let (code, out, err) = iso.run(&["setup"]);
    assert_eq!(code, 0, "stderr: {err}");
    assert!(
        out.contains(&format!("Wrote {}", iso.config().display())),
        "{out}"
    );
    let cfg = iso.read_config();
    assert_eq!(cfg["gateway"]["mode"], "local");
    assert_eq!(cfg["gateway"]["auth"]["mode"], "token");
    let token = cfg["gateway"]["auth"]["token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(token.len(), 43, "32 bytes base64url: {token}");
    assert_eq!(mode(&iso.dir.join("state")), 0o700);
    assert_eq!(mode(&iso.config()), 0o600);

    // Second run: nothing to do, token untouched.
    let (code, out, _) = iso.run(&["setup", "--baseline"]);
    assert_eq!(code, 0);
    assert!(out.contains("Config already set up"), "{out}");
    assert_eq!(
        iso.read_config()["gateway"]["auth"]["token"],
        token.as_str()
    );

    // The gateway starts with it and stops cleanly on SIGTERM.
    let std_cmd = iso.cmd(&["gateway", "run", "--port", "0"]);
    let mut cmd = tokio::process::Command::from(std_cmd);
    cmd.stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    loop {
        match bounded("the gateway to listen", lines.next_line())
            .await
            .unwrap()
        {
            Some(l) if l.contains("listening on ws://") => break,
            Some(l) => seen.push(l),
            None => panic!("gateway exited before listening: {seen:#?}"),
        }
    }
    let pid = child.id().unwrap() as i32;
    // SAFETY: kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    while bounded("stderr to end", lines.next_line())
        .await
        .unwrap()
        .is_some()
    {}
    let st = bounded("the gateway to exit", child.wait()).await;
    assert_eq!(st.unwrap().code(), Some(0));
}

#[test]
fn setup_on_existing_config_keeps_keys_and_sets_mode() {
    let iso = Iso::new("setup-existing");
    std::fs::create_dir_all(iso.dir.join("state")).unwrap();
    let body = r#"{
      // JSON5 comment
      gateway: { port: 19999, auth: { mode: "token", token: "keep-me-0123456789" } },
      logging: { level: "debug" },
      custom: { nested: [1, 2, 3] },
    }"#;
    std::fs::write(iso.config(), body).unwrap();
    let (code, out, err) = iso.run(&["setup"]);
    assert_eq!(code, 0, "stderr: {err}");
    assert!(
        out.contains(&format!(
            "Updated {}: set gateway.mode=local",
            iso.config().display()
        )),
        "{out}"
    );
    let cfg = iso.read_config();
    assert_eq!(
        cfg,
        json!({
            "gateway": { "mode": "local", "port": 19999,
                         "auth": { "mode": "token", "token": "keep-me-0123456789" } },
            "logging": { "level": "debug" },
            "custom": { "nested": [1, 2, 3] },
        })
    );
    let bak = iso.dir.join("state/openclaw.json.bak");
    assert_eq!(std::fs::read_to_string(bak).unwrap(), body);
    let (code, out, _) = iso.run(&["setup"]);
    assert_eq!(code, 0);
    assert!(out.contains("Config already set up"), "{out}");
}

#[test]
fn install_writes_the_exact_unit_refuses_overwrite_and_uninstall_removes_it() {
    let iso = Iso::new("install");
    assert_eq!(iso.run(&["setup"]).0, 0);
    let (code, out, err) = iso.run_external(&["gateway", "install"]);
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    assert!(out.contains("external supervisor"), "{out}");
    let text = std::fs::read_to_string(iso.unit()).unwrap();
    assert_eq!(parse_unit(&text), expected_unit(&iso, 18789), "{text}");
    assert!(!text.contains(
        iso.read_config()["gateway"]["auth"]["token"]
            .as_str()
            .unwrap()
    ));

    if !has_program("systemd-analyze") {
        assert!(
            std::env::var_os("CI").is_none(),
            "systemd-analyze is required in CI (apt-get install systemd)"
        );
        eprintln!("SKIPPED: systemd-analyze verify (systemd-analyze not installed)");
    } else {
        let mut c = bounded_command("systemd-analyze");
        c.arg("verify").arg(iso.unit());
        iso.env(&mut c);
        let o = c.output().unwrap();
        assert!(
            o.status.success(),
            "systemd-analyze verify: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }

    // No overwrite without --force.
    let (code, _, err) = iso.run_external(&["gateway", "install", "--port", "1234"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("already installed") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(iso.unit()).unwrap(), text);

    let (code, _, err) = iso.run_external(&["gateway", "install", "--port", "1234", "--force"]);
    assert_eq!(code, 0, "{err}");
    let text = std::fs::read_to_string(iso.unit()).unwrap();
    assert_eq!(parse_unit(&text), expected_unit(&iso, 1234), "{text}");

    let (code, out, _) = iso.run_external(&["gateway", "uninstall"]);
    assert_eq!(code, 0);
    assert!(out.contains("Removed"), "{out}");
    assert!(!iso.unit().exists());
    let (code, out, _) = iso.run_external(&["gateway", "uninstall"]);
    assert_eq!(code, 0, "uninstall is idempotent");
    assert!(out.contains("not installed"), "{out}");
}

#[test]
fn install_token_goes_to_the_config_never_the_unit() {
    let iso = Iso::new("install-token");
    std::fs::create_dir_all(iso.dir.join("state")).unwrap();
    std::fs::write(iso.config(), r#"{ gateway: { mode: "local" } }"#).unwrap();
    let secret = "install-token-abcdef0123456789";
    let (code, _, err) = iso.run_external(&["gateway", "install", "--token", secret]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(iso.read_config()["gateway"]["auth"]["token"], secret);
    assert!(!std::fs::read_to_string(iso.unit())
        .unwrap()
        .contains(secret));
    // A different token is never replaced.
    let (code, _, err) = iso.run_external(&["gateway", "install", "--force", "--token", "other"]);
    assert_eq!(code, 1);
    assert!(err.contains("refusing to replace"), "{err}");
    assert_eq!(iso.read_config()["gateway"]["auth"]["token"], secret);
}

#[test]
fn install_without_systemd_says_so_and_exits_non_zero() {
    let iso = Iso::new("install-nosystemd");
    assert_eq!(iso.run(&["setup"]).0, 0);
    if iso.systemd_usable() {
        // A live user manager is reachable from the isolated env: don't enable anything on
        // this machine; the unit-writing path is covered by the external-policy tests.
        eprintln!("SKIPPED: a systemd user manager runs here, so its absence cannot be tested");
        return;
    }
    let (code, _, err) = iso.run(&["gateway", "install"]);
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!(
            "systemd user services are not available on this machine; the unit was written to {} — start the gateway with: openclaw gateway run",
            iso.unit().display()
        )),
        "{err}"
    );
    assert!(iso.unit().exists(), "the unit is left for inspection");
    for args in [
        &["gateway", "start"][..],
        &["gateway", "stop", "--force"],
        &["gateway", "restart"],
    ] {
        let (code, _, err) = iso.run(args);
        assert_eq!(code, 1, "{args:?}");
        assert!(
            err.contains("systemd user services are not available"),
            "{args:?}: {err}"
        );
    }
    let (code, _, _) = iso.run(&["gateway", "uninstall"]);
    assert_eq!(code, 0);
    assert!(!iso.unit().exists());
}

#[test]
fn start_without_unit_hints_and_stop_needs_force() {
    let iso = Iso::new("start-none");
    let (code, _, err) = iso.run(&["gateway", "start"]);
    assert_eq!(code, 1);
    assert!(err.contains("Gateway service not installed"), "{err}");
    assert!(err.contains("openclaw gateway install"), "{err}");
    let (code, _, err) = iso.run(&["gateway", "stop"]);
    assert_eq!(code, 1);
    assert!(err.contains("--force"), "{err}");
}

//! `openclaw doctor` on the real binary with an isolated HOME / state dir / config: verdict
//! lines and exit codes per check, `--fix` repairs (state dir mode, retired reload mode,
//! generated token, drifted unit) and `--json` keys. Also `Out`/`run_bin`, shared with the
//! other suites that run one-shot commands.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::process::Command;

use crate::lifecycle::Proc;
use crate::util::*;

const BIN: &str = env!("CARGO_BIN_EXE_openclaw");
/// Upper bound of one command run.
const CMD_LIMIT: Duration = Duration::from_secs(30);

/// A finished command.
#[derive(Debug)]
pub(crate) struct Out {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Out {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", self.stdout, self.stderr))
    }
    /// The doctor line of check `id`: `(verdict, message)`.
    fn check(&self, id: &str) -> (String, String) {
        for l in self.stdout.lines() {
            let mut w = l.split_whitespace();
            let (Some(v), Some(i)) = (w.next(), w.next()) else {
                continue;
            };
            if i == id && matches!(v, "ok" | "warn" | "error") {
                let rest = l.split_once(id).map(|x| x.1.trim()).unwrap_or("");
                return (v.to_string(), rest.to_string());
            }
        }
        panic!(
            "no {id} line in:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
    }
}

/// `openclaw args…` with only PATH, NO_COLOR and `envs` set; bounded.
pub(crate) async fn run_bin(envs: &[(&str, String)], args: &[&str]) -> Out {
    let mut c = Command::new(BIN);
    c.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("NO_COLOR", "1")
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let o = tokio::time::timeout(CMD_LIMIT, c.output())
        .await
        .unwrap_or_else(|_| panic!("openclaw {args:?} did not finish in {CMD_LIMIT:?}"))
        .expect("run openclaw");
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// An isolated set-up: HOME = dir, state `dir/state` (0700), config `dir/openclaw.json`.
struct Iso {
    dir: PathBuf,
}

impl Iso {
    fn new(tag: &str, config: &str) -> Iso {
        let dir = temp_dir(tag);
        let state = dir.join("state");
        std::fs::create_dir_all(&state).unwrap();
        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::write(dir.join("openclaw.json"), config).unwrap();
        Iso { dir }
    }
    fn state(&self) -> PathBuf {
        self.dir.join("state")
    }
    fn cfg(&self) -> PathBuf {
        self.dir.join("openclaw.json")
    }
    fn envs(&self) -> Vec<(&'static str, String)> {
        vec![
            ("HOME", self.dir.display().to_string()),
            ("OPENCLAW_STATE_DIR", self.state().display().to_string()),
            ("OPENCLAW_CONFIG_PATH", self.cfg().display().to_string()),
        ]
    }
    async fn doctor(&self, args: &[&str]) -> Out {
        let mut a = vec!["doctor"];
        a.extend_from_slice(args);
        run_bin(&self.envs(), &a).await
    }
    fn parsed_config(&self) -> Value {
        openclaw::config::parse_json5(&std::fs::read_to_string(self.cfg()).unwrap()).unwrap()
    }
}

/// A port nothing listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn clean_config(port: u16) -> String {
    format!(
        r#"{{ gateway: {{ mode: "local", port: {port}, auth: {{ mode: "token", token: "{TOKEN}" }} }} }}"#
    )
}

fn mode_of(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

const CHECK_IDS: &[&str] = &["config", "state-dir", "reload", "auth", "port", "service"];

#[tokio::test]
async fn clean_config_is_all_ok_and_json_has_the_keys() {
    let iso = Iso::new("doctor-clean", &clean_config(free_port()));
    let o = iso.doctor(&[]).await;
    assert_eq!(o.code, 0, "{o:?}");
    for id in CHECK_IDS {
        assert_eq!(o.check(id).0, "ok", "{id}: {o:?}");
    }
    assert!(
        o.stdout.contains("Doctor: 6 checks: 6 ok, 0 warn, 0 error"),
        "{o:?}"
    );

    let o = iso.doctor(&["--json"]).await;
    assert_eq!(o.code, 0, "{o:?}");
    let v = o.json();
    for k in [
        "ok",
        "configPath",
        "stateDir",
        "checksRun",
        "checksSkipped",
        "errors",
        "warnings",
        "checks",
        "findings",
        "repairs",
    ] {
        assert!(v.get(k).is_some(), "missing {k}: {v}");
    }
    assert_eq!(v["ok"], true);
    assert_eq!(v["checksRun"], 6);
    assert_eq!(v["findings"], serde_json::json!([]));
    let checks = v["checks"].as_array().unwrap();
    let ids: Vec<&str> = checks.iter().filter_map(|c| c["id"].as_str()).collect();
    assert_eq!(ids.len(), CHECK_IDS.len());
    for c in checks {
        assert_eq!(c["verdict"], "ok", "{c}");
        assert!(c["message"].as_str().is_some_and(|m| !m.is_empty()), "{c}");
        assert!(CHECK_IDS.contains(&c["id"].as_str().unwrap()), "{c}");
    }
}

#[tokio::test]
async fn writable_state_dir_is_an_error_and_fix_sets_0700() {
    let iso = Iso::new("doctor-perms", &clean_config(free_port()));
    std::fs::set_permissions(iso.state(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let o = iso.doctor(&[]).await;
    assert_eq!(o.code, 1, "{o:?}");
    let (v, msg) = o.check("state-dir");
    assert_eq!(v, "error");
    assert!(msg.contains("0777"), "{msg}");
    assert_eq!(
        mode_of(&iso.state()),
        0o777,
        "doctor without --fix changes nothing"
    );

    let o = iso.doctor(&["--fix"]).await;
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.stdout.contains("Fixed: chmod 0700"), "{o:?}");
    assert_eq!(o.check("state-dir").0, "ok");
    assert_eq!(mode_of(&iso.state()), 0o700);

    // A missing state dir: a warning; --fix creates it private.
    std::fs::remove_dir_all(iso.state()).unwrap();
    let o = iso.doctor(&["--json"]).await;
    let v = o.json();
    let f = &v["findings"][0];
    assert_eq!(f["checkId"], "core/doctor/state-dir", "{v}");
    assert_eq!(f["severity"], "warning");
    let o = iso.doctor(&["--fix", "--json"]).await;
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(o.json()["repairs"][0]["ok"], true, "{o:?}");
    assert_eq!(mode_of(&iso.state()), 0o700);
}

#[tokio::test]
async fn invalid_config_is_an_error() {
    let iso = Iso::new("doctor-badjson", "{ gateway: { mode: ");
    let o = iso.doctor(&[]).await;
    assert_eq!(o.code, 1, "{o:?}");
    let (v, msg) = o.check("config");
    assert_eq!(v, "error");
    assert!(msg.contains("invalid config"), "{msg}");
    let o = iso.doctor(&["--json"]).await;
    assert_eq!(o.code, 1);
    let v = o.json();
    assert_eq!(v["ok"], false);
    assert_eq!(
        v["checksSkipped"], 3,
        "port/auth/service need a valid config: {v}"
    );
    assert_eq!(v["findings"][0]["checkId"], "core/doctor/config");
    assert_eq!(v["findings"][0]["severity"], "error");

    // Valid JSON, wrong type: the validator's issue is reported.
    std::fs::write(iso.cfg(), r#"{ gateway: { mode: "local", port: "x" } }"#).unwrap();
    let o = iso.doctor(&[]).await;
    assert_eq!(o.code, 1);
    assert!(o.check("config").1.contains("gateway.port"), "{o:?}");
}

#[tokio::test]
async fn lan_bind_without_auth_is_an_error_and_fix_writes_a_token() {
    let port = free_port();
    let body = format!(r#"{{ gateway: {{ mode: "local", bind: "lan", port: {port} }} }}"#);
    let iso = Iso::new("doctor-lan", &body);
    let o = iso.doctor(&[]).await;
    assert_eq!(o.code, 1, "{o:?}");
    let (v, msg) = o.check("auth");
    assert_eq!(v, "error");
    assert!(msg.contains("bind=lan"), "{msg}");

    let o = iso.doctor(&["--fix"]).await;
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.stdout.contains("generated gateway.auth.token"), "{o:?}");
    assert_eq!(o.check("auth").0, "ok");
    let cfg = iso.parsed_config();
    assert_eq!(cfg["gateway"]["auth"]["mode"], "token");
    let token = cfg["gateway"]["auth"]["token"].as_str().unwrap();
    assert!(token.len() >= 32, "{token}");
    assert!(!o.stdout.contains(token), "the token is never printed");
    assert!(iso.dir.join("openclaw.json.bak").exists());
}

#[tokio::test]
async fn port_held_by_a_non_gateway_is_an_error_a_gateway_is_fine() {
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = held.local_addr().unwrap().port();
    let iso = Iso::new("doctor-port", &clean_config(port));
    let o = iso.doctor(&[]).await;
    assert_eq!(o.code, 1, "{o:?}");
    let (v, msg) = o.check("port");
    assert_eq!(v, "error");
    assert!(
        msg.contains(&format!("pid {}", std::process::id())),
        "names the holder: {msg}"
    );
    drop(held);

    // The port of a running gateway: ok.
    let gw_dir = temp_dir("doctor-port-gw");
    let (p, addr) = Proc::start(&gw_dir, &crate::lifecycle::config_with_log(&gw_dir)).await;
    std::fs::write(iso.cfg(), clean_config(addr.port())).unwrap();
    let o = iso.doctor(&[]).await;
    assert_eq!(o.code, 0, "{o:?}");
    let (v, msg) = o.check("port");
    assert_eq!(v, "ok");
    assert!(msg.contains("a gateway is running"), "{msg}");
    p.signal(libc::SIGTERM);
    assert_eq!(p.finish().await.0, 0);
}

#[tokio::test]
async fn retired_reload_mode_is_mapped_to_hybrid() {
    let body = format!(
        r#"{{ gateway: {{ mode: "local", port: {}, reload: {{ mode: "restart" }}, auth: {{ mode: "token", token: "{TOKEN}" }} }} }}"#,
        free_port()
    );
    let iso = Iso::new("doctor-reload", &body);
    let o = iso.doctor(&[]).await;
    assert_eq!(o.code, 0, "a warning is not an error: {o:?}");
    assert_eq!(o.check("reload").0, "warn");
    // --lint: any finding fails, and nothing is repaired even with --fix.
    let o = iso.doctor(&["--lint", "--fix"]).await;
    assert_eq!(o.code, 1, "{o:?}");
    assert_eq!(iso.parsed_config()["gateway"]["reload"]["mode"], "restart");
    let o = iso.doctor(&["--fix"]).await;
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(o.check("reload").0, "ok");
    assert_eq!(iso.parsed_config()["gateway"]["reload"]["mode"], "hybrid");
    assert_eq!(iso.parsed_config()["gateway"]["auth"]["token"], TOKEN);
    let bak = std::fs::read_to_string(iso.dir.join("openclaw.json.bak")).unwrap();
    assert!(bak.contains(r#"mode: "restart""#), "{bak}");
}

#[tokio::test]
async fn drifted_unit_is_reported_and_rewritten() {
    let iso = Iso::new("doctor-unit", &clean_config(free_port()));
    let mut envs = iso.envs();
    envs.push(("OPENCLAW_SERVICE_REPAIR_POLICY", "external".into()));
    let o = run_bin(&envs, &["gateway", "install"]).await;
    assert_eq!(o.code, 0, "{o:?}");
    let unit = iso
        .dir
        .join(".config/systemd/user/openclaw-gateway.service");
    let written = std::fs::read_to_string(&unit).unwrap();
    assert_eq!(iso.doctor(&[]).await.check("service").0, "ok");

    std::fs::write(&unit, written.replace("RestartSec=5", "RestartSec=60")).unwrap();
    let o = iso.doctor(&[]).await;
    assert_eq!(o.code, 0, "drift is a warning: {o:?}");
    let (v, msg) = o.check("service");
    assert_eq!(v, "warn");
    assert!(msg.contains("RestartSec=5"), "{msg}");

    let o = iso.doctor(&["--fix"]).await;
    assert!(o.stdout.contains("Fixed: rewrote"), "{o:?}");
    assert_eq!(o.check("service").0, "ok");
    assert_eq!(std::fs::read_to_string(&unit).unwrap(), written);
}

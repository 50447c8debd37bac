//! The checks of `openclaw doctor`, each a verdict (ok / warn / error) with a message and,
//! when it can be repaired safely, the [`Repair`] that `--fix` applies. Checks only read.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use super::service;
use crate::config::{self, AuthMode, ConfigError, Env, GatewayConfig, LoadArgs, ResolvedPaths};

/// Mode the state dir should have (owner only).
pub const STATE_DIR_MODE: u32 = 0o700;
/// Bound of the plain TCP connect that tells whether anything listens on the port.
const PORT_CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// Reload modes upstream retired (doctor maps them to hybrid).
pub const RETIRED_RELOAD_MODES: &[&str] = &["hot", "restart"];
/// Keys under `gateway.reload` upstream retired.
pub const RETIRED_RELOAD_KEYS: &[&str] = &["debounceMs", "deferralTimeoutMs"];

/// A check's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    Warn,
    Error,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Warn => "warn",
            Verdict::Error => "error",
        }
    }
    /// Upstream finding severity.
    pub fn severity(self) -> &'static str {
        match self {
            Verdict::Ok => "info",
            Verdict::Warn => "warning",
            Verdict::Error => "error",
        }
    }
}

/// What `--fix` may do about a finding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Repair {
    CreateStateDir(PathBuf),
    ChmodStateDir(PathBuf),
    /// Map `gateway.reload.mode` to `hybrid` and drop retired reload keys.
    MapReloadMode,
    /// Write a generated `gateway.auth.token` (mode token).
    GenerateToken,
    /// Rewrite the unit at `path` with `body`.
    RewriteUnit {
        path: PathBuf,
        body: String,
    },
}

/// One check's result.
#[derive(Clone, Debug)]
pub struct Check {
    pub id: &'static str,
    pub verdict: Verdict,
    pub message: String,
    pub path: Option<String>,
    pub fix_hint: Option<String>,
    pub repair: Option<Repair>,
}

impl Check {
    fn new(id: &'static str, verdict: Verdict, message: impl Into<String>) -> Check {
        Check {
            id,
            verdict,
            message: message.into(),
            path: None,
            fix_hint: None,
            repair: None,
        }
    }
    fn at(mut self, path: impl Into<String>) -> Check {
        self.path = Some(path.into());
        self
    }
    fn hint(mut self, hint: impl Into<String>) -> Check {
        self.fix_hint = Some(hint.into());
        self
    }
    fn repair(mut self, r: Repair) -> Check {
        self.repair = Some(r);
        self
    }
}

/// All checks, plus how many were skipped (they need a valid config).
pub struct Inspection {
    pub checks: Vec<Check>,
    pub skipped: usize,
}

/// Run every check.
pub fn inspect(args: &LoadArgs, env: &Env, paths: &ResolvedPaths) -> Inspection {
    let loaded = config::load(args, env);
    let mut checks = vec![
        check_config(paths, &loaded),
        check_state_dir(&paths.state_dir),
    ];
    let raw = raw_config(&paths.config_path);
    checks.push(check_reload(&paths.config_path, raw.as_ref()));
    let cfg = loaded.ok();
    let mut skipped = 0;
    match &cfg {
        Some(cfg) => {
            checks.push(check_auth(cfg));
            checks.push(check_port(cfg));
            checks.push(check_unit(cfg, env, paths));
        }
        None => skipped = 3,
    }
    Inspection { checks, skipped }
}

/// The config file parsed as JSON5 (no `${VAR}` substitution), if it exists and parses.
pub fn raw_config(path: &Path) -> Option<Value> {
    let text = std::fs::read_to_string(path).ok()?;
    config::parse_json5(&text).ok().filter(Value::is_object)
}

fn check_config(paths: &ResolvedPaths, loaded: &Result<GatewayConfig, ConfigError>) -> Check {
    let p = paths.config_path.display().to_string();
    match loaded {
        Err(ConfigError::Invalid { issues, .. }) => Check::new(
            "config",
            Verdict::Error,
            format!("invalid config: {}", issues.join("; ")),
        )
        .at(&p)
        .hint("edit the file (the gateway refuses to start with exit 78 until it is valid)"),
        Err(e) => Check::new("config", Verdict::Error, e.to_string())
            .at(&p)
            .hint("fix the config or the environment it refers to"),
        Ok(cfg) if !cfg.exists => Check::new(
            "config",
            Verdict::Warn,
            format!("no config file at {p}; defaults apply"),
        )
        .at(&p)
        .hint("run `openclaw setup` to write one with gateway.mode=local"),
        Ok(cfg) if cfg.mode.as_deref() != Some("local") => {
            let what = match &cfg.mode {
                Some(m) => format!("gateway.mode is {m:?}"),
                None => "gateway.mode is unset".into(),
            };
            Check::new(
                "config",
                Verdict::Warn,
                format!("{what}; `openclaw gateway run` will refuse to start"),
            )
            .at(&p)
            .hint("run `openclaw setup` (sets gateway.mode=local)")
        }
        Ok(_) => Check::new("config", Verdict::Ok, format!("valid: {p}")).at(&p),
    }
}

fn check_state_dir(dir: &Path) -> Check {
    let p = dir.display().to_string();
    let meta = match std::fs::metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Check::new("state-dir", Verdict::Warn, format!("{p} does not exist"))
                .at(&p)
                .hint("openclaw doctor --fix creates it (mode 0700)")
                .repair(Repair::CreateStateDir(dir.to_path_buf()));
        }
        Err(e) => {
            return Check::new("state-dir", Verdict::Error, format!("cannot read {p}: {e}")).at(&p)
        }
        Ok(m) => m,
    };
    if !meta.is_dir() {
        return Check::new(
            "state-dir",
            Verdict::Error,
            format!("{p} is not a directory"),
        )
        .at(&p)
        .hint("move the file away; the gateway keeps its state in this directory");
    }
    // SAFETY: geteuid(2) has no preconditions.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        return Check::new(
            "state-dir",
            Verdict::Error,
            format!("{p} is owned by uid {}, not by you (uid {me})", meta.uid()),
        )
        .at(&p)
        .hint(format!("chown it to uid {me}"));
    }
    let mode = meta.permissions().mode() & 0o777;
    let fix = Repair::ChmodStateDir(dir.to_path_buf());
    if mode & 0o022 != 0 {
        Check::new(
            "state-dir",
            Verdict::Error,
            format!("{p} is group/world-writable (mode {mode:04o}; want {STATE_DIR_MODE:04o})"),
        )
        .at(&p)
        .hint("openclaw doctor --fix sets mode 0700")
        .repair(fix)
    } else if mode != STATE_DIR_MODE {
        Check::new(
            "state-dir",
            Verdict::Warn,
            format!("{p} is readable by others (mode {mode:04o}; want {STATE_DIR_MODE:04o})"),
        )
        .at(&p)
        .hint("openclaw doctor --fix sets mode 0700")
        .repair(fix)
    } else {
        Check::new("state-dir", Verdict::Ok, format!("{p} (mode 0700)")).at(&p)
    }
}

fn check_reload(path: &Path, raw: Option<&Value>) -> Check {
    let p = path.display().to_string();
    let reload = raw.and_then(|v| v.pointer("/gateway/reload"));
    let mode = reload
        .and_then(|r| r.get("mode"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let retired_keys: Vec<&str> = RETIRED_RELOAD_KEYS
        .iter()
        .copied()
        .filter(|k| reload.and_then(|r| r.get(*k)).is_some())
        .collect();
    let mut notes = Vec::new();
    if let Some(m) = mode.as_deref().filter(|m| RETIRED_RELOAD_MODES.contains(m)) {
        notes.push(format!("gateway.reload.mode={m:?} is retired (use hybrid)"));
    }
    if !retired_keys.is_empty() {
        let keys = retired_keys
            .iter()
            .map(|k| format!("gateway.reload.{k}"))
            .collect::<Vec<_>>()
            .join(", ");
        notes.push(format!("{keys} retired (ignored)"));
    }
    if notes.is_empty() {
        let m = mode.unwrap_or_else(|| "hybrid (default)".into());
        return Check::new("reload", Verdict::Ok, format!("gateway.reload.mode={m}")).at(&p);
    }
    Check::new("reload", Verdict::Warn, notes.join("; "))
        .at(&p)
        .hint("openclaw doctor --fix maps it to hybrid")
        .repair(Repair::MapReloadMode)
}

fn check_auth(cfg: &GatewayConfig) -> Check {
    let bind = format!("bind={} ({})", cfg.bind.as_str(), cfg.bind_host);
    let mode = cfg.auth.mode.as_str();
    if cfg.bind_host.is_loopback() {
        return Check::new("auth", Verdict::Ok, format!("{bind}, auth {mode}"));
    }
    if cfg.auth.mode == AuthMode::TrustedProxy {
        return Check::new("auth", Verdict::Ok, format!("{bind}, auth trusted-proxy"));
    }
    if cfg.auth.has_shared_secret() && !cfg.auth.token_is_ephemeral {
        return Check::new("auth", Verdict::Ok, format!("{bind}, auth {mode}"));
    }
    Check::new(
        "auth",
        Verdict::Error,
        format!("{bind} without a gateway token or password: the gateway refuses to start or nobody can connect"),
    )
    .at("gateway.auth")
    .hint("set gateway.auth.token (openclaw doctor --fix generates one) or bind loopback")
    .repair(Repair::GenerateToken)
}

/// Where to look for a listener on the configured port.
fn probe_addr(cfg: &GatewayConfig) -> SocketAddr {
    let host = if cfg.bind_host.is_unspecified() {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        cfg.bind_host
    };
    SocketAddr::new(host, cfg.port)
}

fn check_port(cfg: &GatewayConfig) -> Check {
    let port = cfg.port;
    if port == 0 {
        return Check::new("port", Verdict::Ok, "port 0 (the OS picks one at start)");
    }
    let addr = probe_addr(cfg);
    let holders = crate::procnet::listeners(port);
    let answers = TcpStream::connect_timeout(&addr, PORT_CONNECT_TIMEOUT).is_ok();
    if holders.is_empty() && !answers {
        return Check::new("port", Verdict::Ok, format!("port {port} is free"));
    }
    let who = holders
        .iter()
        .map(|l| match (l.pid, l.command.as_deref()) {
            (Some(pid), Some(cmd)) => format!("pid {pid} ({cmd})"),
            (Some(pid), None) => format!("pid {pid}"),
            _ => format!("an unknown process on {}", l.address),
        })
        .collect::<Vec<_>>();
    let who = if who.is_empty() {
        "an unknown process".to_string()
    } else {
        who.join(", ")
    };
    if crate::force::is_gateway(addr) {
        return Check::new(
            "port",
            Verdict::Ok,
            format!("port {port}: a gateway is running ({who})"),
        );
    }
    Check::new(
        "port",
        Verdict::Error,
        format!("port {port} is held by {who}, which is not an OpenClaw gateway"),
    )
    .hint("stop that process, change gateway.port, or start with `openclaw gateway run --force`")
}

/// `(wrapper, allow_unconfigured)` as recorded in an installed unit's `ExecStart`.
fn installed_flags(unit: &str, exe: &Path) -> (Option<PathBuf>, bool) {
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .unwrap_or("");
    let words: Vec<&str> = exec.split_whitespace().collect();
    let exe = exe.display().to_string();
    let wrapper = match words.as_slice() {
        [w, e, ..] if *w != exe && *e == exe => Some(PathBuf::from(w)),
        _ => None,
    };
    (wrapper, words.contains(&"--allow-unconfigured"))
}

fn check_unit(cfg: &GatewayConfig, env: &Env, paths: &ResolvedPaths) -> Check {
    let name = service::unit_name(paths.profile.as_deref());
    let Some(dir) = service::unit_dir(env) else {
        return Check::new("service", Verdict::Ok, "no systemd user unit directory");
    };
    let path = dir.join(&name);
    let p = path.display().to_string();
    let Ok(installed) = std::fs::read_to_string(&path) else {
        return Check::new("service", Verdict::Ok, format!("{name} not installed")).at(&p);
    };
    let exe = match std::env::current_exe().and_then(std::fs::canonicalize) {
        Ok(e) => e,
        Err(e) => {
            return Check::new(
                "service",
                Verdict::Warn,
                format!("cannot locate this executable to compare {name}: {e}"),
            )
            .at(&p)
        }
    };
    let (wrapper, allow) = installed_flags(&installed, &exe);
    let (_, body) = service::expected_unit(cfg, env, &exe, wrapper.as_deref(), allow);
    if body == installed {
        return Check::new("service", Verdict::Ok, format!("{name} matches the config")).at(&p);
    }
    let want: Vec<&str> = body.lines().collect();
    let have: Vec<&str> = installed.lines().collect();
    let diff = want
        .iter()
        .find(|l| !have.contains(l))
        .map(|l| format!("expected `{l}`"))
        .or_else(|| {
            have.iter()
                .find(|l| !want.contains(l))
                .map(|l| format!("unexpected `{l}`"))
        })
        .unwrap_or_else(|| "line order differs".into());
    Check::new(
        "service",
        Verdict::Warn,
        format!("{name} differs from what `openclaw gateway install` writes now: {diff}"),
    )
    .at(&p)
    .hint("openclaw doctor --fix rewrites it (or run `openclaw gateway install --force`)")
    .repair(Repair::RewriteUnit { path, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_wrapper_and_flags_from_exec_start() {
        let exe = Path::new("/usr/bin/openclaw");
        let unit = "[Service]\nExecStart=/opt/wrap /usr/bin/openclaw gateway --port 1 --allow-unconfigured\n";
        assert_eq!(
            installed_flags(unit, exe),
            (Some(PathBuf::from("/opt/wrap")), true)
        );
        let unit = "ExecStart=/usr/bin/openclaw gateway --port 1\n";
        assert_eq!(installed_flags(unit, exe), (None, false));
    }

    #[test]
    fn retired_reload_modes_are_flagged() {
        let p = Path::new("/x/openclaw.json");
        let v = serde_json::json!({ "gateway": { "reload": { "mode": "hot" } } });
        let c = check_reload(p, Some(&v));
        assert_eq!(c.verdict, Verdict::Warn);
        assert_eq!(c.repair, Some(Repair::MapReloadMode));
        let v = serde_json::json!({ "gateway": { "reload": { "mode": "off" } } });
        assert_eq!(check_reload(p, Some(&v)).verdict, Verdict::Ok);
        let v = serde_json::json!({ "gateway": { "reload": { "debounceMs": 5 } } });
        assert_eq!(check_reload(p, Some(&v)).verdict, Verdict::Warn);
        assert_eq!(check_reload(p, None).verdict, Verdict::Ok);
    }
}

//! `openclaw gateway install|uninstall|start|stop|restart`: the systemd USER unit
//! `openclaw-gateway[-<profile>].service` under `$XDG_CONFIG_HOME/systemd/user` (else
//! `~/.config/systemd/user`), driven through `systemctl --user` with a deadline.
//!
//! The unit never contains a secret: `install --token T` stores the token in the config
//! (`gateway.auth.token`) instead, and refuses if the config already holds a different one.
//! Without usable systemd user services every command says so and exits 1 (`install` still
//! leaves the unit file on disk for inspection). `OPENCLAW_SERVICE_REPAIR_POLICY=external`
//! makes `install` write the unit only; an external supervisor owns enabling/starting it.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{json, Value};

use super::setup;
use crate::cli::{GatewayInstallArgs, GatewayRestartArgs, GatewayStopArgs, GlobalArgs, JsonFlag};
use crate::config::{self, Env};

/// `systemctl` calls are bounded by this.
const SYSTEMCTL_LIMIT: Duration = Duration::from_secs(30);
/// Marker env line identifying units written by this implementation.
pub const SERVICE_MARKER: &str = "openclaw-rs";

/// `openclaw-gateway[-<profile>].service`.
pub fn unit_name(profile: Option<&str>) -> String {
    match profile.filter(|p| !p.is_empty() && !p.eq_ignore_ascii_case("default")) {
        Some(p) => format!("openclaw-gateway-{p}.service"),
        None => "openclaw-gateway.service".to_string(),
    }
}

/// `$XDG_CONFIG_HOME/systemd/user` (absolute only), else `$HOME/.config/systemd/user`.
pub fn unit_dir(env: &Env) -> Option<PathBuf> {
    let xdg = env
        .get_trimmed("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute());
    let base = xdg.or_else(|| env.home().map(|h| h.join(".config")))?;
    Some(base.join("systemd").join("user"))
}

/// Quote one word for a unit file (`%` → `%%`; whitespace/quotes/backslashes ⇒ C-quoted).
fn quote(word: &str) -> String {
    let w = word.replace('%', "%%");
    if w.is_empty()
        || w.chars()
            .any(|c| c.is_whitespace() || c == '"' || c == '\\')
    {
        format!("\"{}\"", w.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        w
    }
}

/// The unit body (spec §9) plus `Environment=` lines (`KEY=value` pairs, already resolved).
pub fn render_unit(exec_start: &[String], env_lines: &[(String, String)]) -> String {
    let exec = exec_start
        .iter()
        .map(|w| quote(w))
        .collect::<Vec<_>>()
        .join(" ");
    let mut s = String::from(
        "[Unit]\nDescription=OpenClaw Gateway\nAfter=network-online.target\n\
         Wants=network-online.target\nStartLimitBurst=5\nStartLimitIntervalSec=60\n[Service]\n",
    );
    s.push_str(&format!("ExecStart={exec}\n"));
    s.push_str(
        "Restart=always\nRestartSec=5\nRestartPreventExitStatus=78\nTimeoutStopSec=30\n\
         TimeoutStartSec=30\nSuccessExitStatus=0 143\nOOMPolicy=continue\nKillMode=control-group\n",
    );
    for (k, v) in env_lines {
        s.push_str(&format!("Environment={}\n", quote(&format!("{k}={v}"))));
    }
    s.push_str("[Install]\nWantedBy=default.target\n");
    s
}

/// Outcome of one `systemctl` run.
pub struct Ran {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Run `program args…` with a deadline (killed on expiry); `None` if it cannot be spawned
/// or timed out.
pub fn run_with_deadline(program: &str, args: &[&str], limit: Duration) -> Option<Ran> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    let pid = child.id();
    let mut out = child.stdout.take()?;
    let mut err = child.stderr.take()?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut e = String::new();
        let t = std::thread::spawn(move || {
            let _ = err.read_to_string(&mut e);
            e
        });
        let mut o = String::new();
        let _ = out.read_to_string(&mut o);
        let e = t.join().unwrap_or_default();
        let _ = tx.send((child.wait(), o, e));
    });
    match rx.recv_timeout(limit) {
        Ok((Ok(status), stdout, stderr)) => Some(Ran {
            ok: status.success(),
            stdout,
            stderr,
        }),
        Ok((Err(_), _, _)) => None,
        Err(_) => {
            // SAFETY: kill(2) on our own child's pid; the reader thread then reaps it.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            None
        }
    }
}

pub(crate) fn systemctl(args: &[&str]) -> Result<String, String> {
    let mut full = vec!["--user"];
    full.extend_from_slice(args);
    match run_with_deadline("systemctl", &full, SYSTEMCTL_LIMIT) {
        Some(r) if r.ok => Ok(r.stdout),
        Some(r) => Err(first_nonempty(&r.stderr, &r.stdout)),
        None => Err("systemctl did not run or timed out".into()),
    }
}

fn first_nonempty(a: &str, b: &str) -> String {
    let t = if a.trim().is_empty() { b } else { a };
    let t = t.trim();
    if t.is_empty() {
        "systemctl failed".into()
    } else {
        t.to_string()
    }
}

/// `systemctl --user is-system-running` answers with a state other than `offline`/`unknown`.
pub fn systemd_usable() -> bool {
    match run_with_deadline(
        "systemctl",
        &["--user", "is-system-running"],
        Duration::from_secs(5),
    ) {
        Some(r) => {
            let state = r.stdout.trim();
            !state.is_empty() && state != "offline" && state != "unknown"
        }
        None => false,
    }
}

/// Where the unit lives and what it is called.
struct Unit {
    name: String,
    path: PathBuf,
}

impl Unit {
    fn resolve(global: &GlobalArgs, env: &Env) -> Result<Unit, i32> {
        let paths = setup::resolve(global, env)?;
        let name = unit_name(paths.profile.as_deref());
        let Some(dir) = unit_dir(env) else {
            eprintln!("openclaw gateway: cannot locate the systemd user unit directory (set HOME or XDG_CONFIG_HOME)");
            return Err(1);
        };
        Ok(Unit {
            path: dir.join(&name),
            name,
        })
    }
}

fn no_systemd(action: &str) -> i32 {
    eprintln!(
        "systemd user services are not available on this machine; cannot {action} the gateway service. Run the gateway in the foreground with: openclaw gateway run"
    );
    1
}

fn not_installed(unit: &Unit) -> i32 {
    eprintln!(
        "Gateway service not installed ({}).\nInstall it with: openclaw gateway install\nOr run it in the foreground: openclaw gateway run",
        unit.path.display()
    );
    1
}

/// Print a result line (or JSON) and return `code`.
fn report(json_out: bool, code: i32, v: Value, text: &str) -> i32 {
    if json_out {
        let mut v = v;
        v["ok"] = json!(code == 0);
        v["message"] = json!(text);
        super::out_json(&v);
    } else if code == 0 {
        super::out(text);
    } else {
        eprintln!("{text}");
    }
    code
}

/// `gateway install`.
pub fn install(global: &GlobalArgs, a: &GatewayInstallArgs) -> i32 {
    let env = Env::from_process();
    let unit = match Unit::resolve(global, &env) {
        Ok(u) => u,
        Err(c) => return c,
    };
    let base = json!({ "unit": unit.name, "path": unit.path });
    if unit.path.exists() && !a.force {
        let msg = format!(
            "Gateway service already installed at {}; use --force to overwrite it",
            unit.path.display()
        );
        return report(a.json, 1, base, &msg);
    }
    if let Some(t) = &a.token {
        if let Err(e) = store_token(global, &env, t.expose()) {
            return report(a.json, 1, base, &e);
        }
    }
    let ctx = match super::Ctx::load(global, a.port) {
        Ok(c) => c,
        Err(c) => return c,
    };
    let exe = match std::env::current_exe().and_then(std::fs::canonicalize) {
        Ok(p) => p,
        Err(e) => {
            return report(
                a.json,
                1,
                base,
                &format!("cannot locate this executable: {e}"),
            )
        }
    };
    let (exec, body) = expected_unit(
        &ctx.cfg,
        &env,
        &exe,
        a.wrapper.as_deref(),
        a.allow_unconfigured,
    );
    if let Err(e) = write_unit(&unit.path, &body) {
        return report(a.json, 1, base, &e);
    }
    let base = json!({
        "unit": unit.name, "path": unit.path, "port": ctx.cfg.port,
        "execStart": exec.join(" "),
    });
    let wrote = format!("Wrote {}", unit.path.display());
    if env.service_repair_external() {
        let msg = format!("{wrote}\nOPENCLAW_SERVICE_REPAIR_POLICY=external: an external supervisor owns {}; not enabling or starting it", unit.name);
        return report(a.json, 0, base, &msg);
    }
    if !systemd_usable() {
        let msg = format!(
            "systemd user services are not available on this machine; the unit was written to {} — start the gateway with: openclaw gateway run",
            unit.path.display()
        );
        return report(a.json, 1, base, &msg);
    }
    for step in [
        vec!["daemon-reload"],
        vec!["enable", unit.name.as_str()],
        vec!["restart", unit.name.as_str()],
    ] {
        if let Err(e) = systemctl(&step) {
            let msg = format!("{wrote}\nsystemctl --user {} failed: {e}", step.join(" "));
            return report(a.json, 1, base, &msg);
        }
    }
    let msg = format!(
        "{wrote}\nEnabled and started {} (port {})",
        unit.name, ctx.cfg.port
    );
    report(a.json, 0, base, &msg)
}

/// What `gateway install` writes for this config: the `ExecStart` words and the unit body.
/// `doctor` compares an installed unit with this to find drift.
pub fn expected_unit(
    cfg: &config::GatewayConfig,
    env: &Env,
    exe: &Path,
    wrapper: Option<&Path>,
    allow_unconfigured: bool,
) -> (Vec<String>, String) {
    let mut exec: Vec<String> = Vec::new();
    if let Some(w) = wrapper {
        let w = std::fs::canonicalize(w).unwrap_or_else(|_| w.to_path_buf());
        exec.push(w.display().to_string());
    }
    exec.push(exe.display().to_string());
    exec.extend(["gateway".into(), "--port".into(), cfg.port.to_string()]);
    if allow_unconfigured {
        exec.push("--allow-unconfigured".into());
    }
    let mut envs: Vec<(String, String)> = Vec::new();
    if env.state_dir().is_some() {
        envs.push((
            "OPENCLAW_STATE_DIR".into(),
            absolute(&cfg.state_dir).display().to_string(),
        ));
    }
    if env.config_path().is_some() {
        envs.push((
            "OPENCLAW_CONFIG_PATH".into(),
            absolute(&cfg.path).display().to_string(),
        ));
    }
    if let Some(p) = &cfg.profile {
        envs.push(("OPENCLAW_PROFILE".into(), p.clone()));
    }
    envs.push(("OPENCLAW_SERVICE_MARKER".into(), SERVICE_MARKER.into()));
    let body = render_unit(&exec, &envs);
    (exec, body)
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// Write the unit file (0644), creating its directory.
pub(crate) fn write_unit(path: &Path, body: &str) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let tmp = path.with_extension(format!("service.tmp-{}", std::process::id()));
    std::fs::write(&tmp, body)
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            format!("cannot write {}: {e}", path.display())
        })
}

/// `install --token T`: keep the token in the config (never in the unit). Refuses to replace
/// a different existing token.
fn store_token(global: &GlobalArgs, env: &Env, token: &str) -> Result<(), String> {
    let paths = setup::resolve(global, env).map_err(|_| "cannot resolve the config path")?;
    let path = &paths.config_path;
    let Some(mut v) = setup::read_config(path)? else {
        return Err(format!(
            "no config at {}; run `openclaw setup` first (the --token is stored in the config, never in the unit)",
            path.display()
        ));
    };
    let gw = setup::gateway_obj(&mut v, path)?;
    let auth = gw
        .entry("auth")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .ok_or_else(|| format!("Invalid config at {}: gateway.auth", path.display()))?;
    match auth.get("token") {
        Some(Value::String(t)) if t == token => return Ok(()),
        Some(_) => {
            return Err(format!(
                "{} already has gateway.auth.token; refusing to replace it (edit the config to change it)",
                path.display()
            ))
        }
        None => {}
    }
    auth.insert("token".into(), json!(token));
    auth.entry("mode").or_insert_with(|| json!("token"));
    setup::write_config_atomic(path, &v)?;
    eprintln!("Stored --token in {} (gateway.auth.token)", path.display());
    Ok(())
}

/// `gateway uninstall` (idempotent).
pub fn uninstall(global: &GlobalArgs, a: &JsonFlag) -> i32 {
    let env = Env::from_process();
    let unit = match Unit::resolve(global, &env) {
        Ok(u) => u,
        Err(c) => return c,
    };
    let base = json!({ "unit": unit.name, "path": unit.path });
    if !unit.path.exists() {
        let msg = format!(
            "Gateway service not installed ({}); nothing to remove",
            unit.path.display()
        );
        return report(a.json, 0, base, &msg);
    }
    let usable = !env.service_repair_external() && systemd_usable();
    if usable {
        let _ = systemctl(&["disable", "--now", &unit.name]);
    }
    if let Err(e) = std::fs::remove_file(&unit.path) {
        let msg = format!("cannot remove {}: {e}", unit.path.display());
        return report(a.json, 1, base, &msg);
    }
    if usable {
        let _ = systemctl(&["daemon-reload"]);
    }
    let mut msg = format!("Removed {}", unit.path.display());
    if !usable {
        msg.push_str(
            " (systemd user services not available or externally supervised; nothing was stopped)",
        );
    }
    report(a.json, 0, base, &msg)
}

/// Shared path of start/stop/restart: unit present, systemd usable, run one verb.
fn control(global: &GlobalArgs, json_out: bool, verb: &str, done: &str) -> i32 {
    let env = Env::from_process();
    let unit = match Unit::resolve(global, &env) {
        Ok(u) => u,
        Err(c) => return c,
    };
    if !unit.path.exists() {
        return not_installed(&unit);
    }
    if !systemd_usable() {
        return no_systemd(verb);
    }
    let base = json!({ "unit": unit.name, "path": unit.path });
    match systemctl(&[verb, &unit.name]) {
        Ok(_) => report(json_out, 0, base, &format!("{done} {}", unit.name)),
        Err(e) => {
            let msg = format!("systemctl --user {verb} {} failed: {e}", unit.name);
            report(json_out, 1, base, &msg)
        }
    }
}

/// `gateway start` (idempotent: starting a running unit is a no-op).
pub fn start(global: &GlobalArgs, a: &JsonFlag) -> i32 {
    control(global, a.json, "start", "Started")
}

/// `gateway stop`: from a non-interactive shell only with `--force`.
pub fn stop(global: &GlobalArgs, a: &GatewayStopArgs) -> i32 {
    // SAFETY: isatty(3) on fd 0 has no preconditions.
    let interactive = unsafe { libc::isatty(0) } == 1;
    if !interactive && !a.force {
        eprintln!("Refusing to stop the gateway service from a non-interactive shell; pass --force to stop it anyway");
        return 1;
    }
    control(global, a.json, "stop", "Stopped")
}

/// `gateway restart` (`--safe`/`--skip-deferral`/`--wait` are accepted; systemd restarts
/// after the gateway's own graceful drain, bounded by `TimeoutStopSec=30`).
pub fn restart(global: &GlobalArgs, a: &GatewayRestartArgs) -> i32 {
    if let Some(w) = &a.wait {
        if config::parse_duration_ms(w).is_none() {
            eprintln!("Invalid --wait duration: {w}");
            return 1;
        }
    }
    control(global, a.json, "restart", "Restarted")
}

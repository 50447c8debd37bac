//! Best-effort inspection of this machine for `gateway status` / `status`: the systemd user
//! unit, other gateway-like units (`--deep`), and an OS summary (listeners on the port come
//! from [`crate::procnet`]). Never fails: unknown is a valid answer.

pub use crate::procnet::{listeners, Listener};

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// Run a command with a deadline; its stdout when it exits 0.
pub fn run_cmd(program: &str, args: &[&str], limit: Duration) -> Option<String> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let t0 = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                let mut s = String::new();
                use std::io::Read;
                child.stdout.take()?.read_to_string(&mut s).ok()?;
                return status.success().then_some(s);
            }
            Ok(None) if t0.elapsed() < limit => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
}

/// The gateway's systemd user unit, as far as we can tell.
#[derive(Clone, Debug)]
pub struct Service {
    /// `openclaw-gateway[-<profile>].service`.
    pub unit: String,
    /// `None`: no usable service manager.
    pub manager: Option<&'static str>,
    pub load_state: String,
    pub active_state: String,
    pub main_pid: Option<u32>,
}

impl Service {
    /// Inspect the unit with `systemctl --user show` (bounded to 3 s).
    pub fn inspect(profile: Option<&str>) -> Service {
        let unit = match profile.filter(|p| !p.is_empty() && *p != "default") {
            Some(p) => format!("openclaw-gateway-{p}.service"),
            None => "openclaw-gateway.service".to_string(),
        };
        let shown = run_cmd(
            "systemctl",
            &[
                "--user",
                "show",
                &unit,
                "--property=LoadState,ActiveState,MainPID",
            ],
            Duration::from_secs(3),
        );
        let mut s = Service {
            unit,
            manager: None,
            load_state: String::new(),
            active_state: String::new(),
            main_pid: None,
        };
        if let Some(text) = shown {
            s.manager = Some("systemd");
            for line in text.lines() {
                match line.split_once('=') {
                    Some(("LoadState", v)) => s.load_state = v.to_string(),
                    Some(("ActiveState", v)) => s.active_state = v.to_string(),
                    Some(("MainPID", v)) => s.main_pid = v.parse().ok().filter(|p| *p != 0),
                    _ => {}
                }
            }
        }
        s
    }

    /// `true` when the unit file exists.
    pub fn installed(&self) -> bool {
        self.manager.is_some() && !self.load_state.is_empty() && self.load_state != "not-found"
    }

    /// The `Service:` line's value.
    pub fn label(&self) -> String {
        match self.manager {
            None => "no supported service manager detected (diagnostic only, not the probe target)"
                .to_string(),
            Some(m) if self.installed() => {
                format!(
                    "{m} user unit {} ({}, {})",
                    self.unit, self.load_state, self.active_state
                )
            }
            Some(m) => format!("{m} user unit {} not installed", self.unit),
        }
    }

    /// `service` block of `gateway status --json`.
    pub fn to_json(&self) -> Value {
        json!({
            "label": self.manager.unwrap_or("no supported service manager detected"),
            "unit": self.unit,
            "installed": self.installed(),
            "loaded": self.load_state == "loaded",
            "loadState": { "status": if self.load_state == "loaded" { "loaded" } else { "not-loaded" } },
            "targetRole": if self.installed() { "probe-target" } else { "diagnostic-only" },
            "command": Value::Null,
            "runtime": {
                "status": if self.manager.is_none() { "unknown" } else if self.active_state == "active" { "running" } else { "stopped" },
                "activeState": self.active_state,
                "pid": self.main_pid,
            },
        })
    }
}

/// Other gateway-like units (`--deep`): systemd user + system units whose names look like an
/// OpenClaw (or legacy clawdbot/moltbot) gateway, excluding `own_unit`.
pub fn extra_services(own_unit: &str, home: Option<&Path>) -> Vec<Value> {
    let looks_like = |n: &str| {
        let n = n.to_ascii_lowercase();
        (n.contains("openclaw") || n.contains("clawdbot") || n.contains("moltbot"))
            && n.ends_with(".service")
            && n != own_unit
    };
    let mut out: Vec<Value> = Vec::new();
    let mut push = |name: String, scope: &str, detail: String| {
        if !out.iter().any(|v| v["label"] == name.as_str()) {
            out.push(json!({ "label": name, "scope": scope, "detail": detail }));
        }
    };
    let query = [
        "list-units",
        "--all",
        "--no-legend",
        "--plain",
        "*claw*",
        "*moltbot*",
    ];
    let user: Vec<&str> = std::iter::once("--user").chain(query).collect();
    for (scope, args) in [("user", user), ("system", query.to_vec())] {
        if let Some(text) = run_cmd("systemctl", &args, Duration::from_secs(3)) {
            for line in text.lines() {
                let f: Vec<&str> = line.split_whitespace().collect();
                if let Some(name) = f.first().filter(|n| looks_like(n)) {
                    push(
                        name.to_string(),
                        scope,
                        format!("systemd {scope} unit, {}", f[1..].join(" ")),
                    );
                }
            }
        }
    }
    let mut dirs: Vec<(String, &str)> = vec![
        ("/etc/systemd/system".into(), "system"),
        ("/lib/systemd/system".into(), "system"),
        ("/usr/lib/systemd/system".into(), "system"),
    ];
    if let Some(h) = home {
        dirs.push((h.join(".config/systemd/user").display().to_string(), "user"));
    }
    for (dir, scope) in dirs {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.filter_map(Result::ok) {
            let name = e.file_name().to_string_lossy().into_owned();
            if looks_like(&name) {
                push(name.clone(), scope, format!("unit file {dir}/{name}"));
            }
        }
    }
    out
}

/// `linux 6.8.0 (x86_64)`.
pub fn os_summary() -> String {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    format!(
        "{} {} ({})",
        std::env::consts::OS,
        release,
        std::env::consts::ARCH
    )
    .replace("  ", " ")
}

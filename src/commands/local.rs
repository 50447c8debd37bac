//! Best-effort inspection of this machine for `gateway status` / `status`: who listens on
//! the gateway port (`/proc/net/tcp{,6}` + `/proc/<pid>/fd`), the systemd user unit, other
//! gateway-like units (`--deep`), and an OS summary. Never fails: unknown is a valid answer.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// A listening socket on the gateway port.
#[derive(Clone, Debug)]
pub struct Listener {
    pub address: String,
    pub pid: Option<u32>,
    pub command: Option<String>,
    pub command_line: Option<String>,
}

impl Listener {
    pub fn to_json(&self) -> Value {
        json!({
            "pid": self.pid,
            "command": self.command,
            "address": self.address,
            "commandLine": self.command_line,
        })
    }
}

fn parse_addr(hex: &str) -> Option<(IpAddr, u16)> {
    let (ip, port) = hex.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |s: &str| u32::from_str_radix(s, 16).ok().map(u32::to_ne_bytes);
    let ip = match ip.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(ip)?)),
        32 => {
            let mut b = [0u8; 16];
            for i in 0..4 {
                b[i * 4..i * 4 + 4].copy_from_slice(&word(&ip[i * 8..i * 8 + 8])?);
            }
            let v6 = Ipv6Addr::from(b);
            v6.to_ipv4_mapped()
                .map(IpAddr::V4)
                .unwrap_or(IpAddr::V6(v6))
        }
        _ => return None,
    };
    Some((ip, port))
}

/// Sockets in LISTEN state on `port`, with their owning process where visible.
pub fn listeners(port: u16) -> Vec<Listener> {
    let mut found: Vec<(String, String)> = Vec::new(); // (address, inode)
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 10 || f[3] != "0A" {
                continue;
            }
            let Some((ip, p)) = parse_addr(f[1]) else {
                continue;
            };
            if p != port {
                continue;
            }
            let address = match ip {
                IpAddr::V6(v6) => format!("[{v6}]:{p}"),
                IpAddr::V4(v4) => format!("{v4}:{p}"),
            };
            if !found.iter().any(|(a, _)| *a == address) {
                found.push((address, f[9].to_string()));
            }
        }
    }
    found
        .into_iter()
        .map(|(address, inode)| {
            let pid = pid_of_socket(&inode);
            let command = pid.and_then(|p| {
                std::fs::read_to_string(format!("/proc/{p}/comm"))
                    .ok()
                    .map(|s| s.trim().to_string())
            });
            let command_line = pid.and_then(|p| {
                std::fs::read(format!("/proc/{p}/cmdline")).ok().map(|b| {
                    b.split(|c| *c == 0)
                        .filter(|s| !s.is_empty())
                        .map(|s| String::from_utf8_lossy(s).into_owned())
                        .collect::<Vec<_>>()
                        .join(" ")
                })
            });
            Listener {
                address,
                pid,
                command,
                command_line,
            }
        })
        .collect()
}

fn pid_of_socket(inode: &str) -> Option<u32> {
    if inode == "0" {
        return None;
    }
    let needle = format!("socket:[{inode}]");
    let own = std::process::id();
    // Our own fds first (cheap), then everyone else's.
    let mut pids: Vec<u32> = std::fs::read_dir("/proc")
        .ok()?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_by_key(|p| *p != own);
    pids.into_iter().find(|pid| {
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|fds| {
                fds.filter_map(Result::ok).any(|fd| {
                    std::fs::read_link(fd.path())
                        .map(|t| t.as_os_str() == needle.as_str())
                        .unwrap_or(false)
                })
            })
            .unwrap_or(false)
    })
}

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
    for (scope, args) in [
        (
            "user",
            vec![
                "--user",
                "list-units",
                "--all",
                "--no-legend",
                "--plain",
                "*claw*",
                "*moltbot*",
            ],
        ),
        (
            "system",
            vec![
                "list-units",
                "--all",
                "--no-legend",
                "--plain",
                "*claw*",
                "*moltbot*",
            ],
        ),
    ] {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_net_addresses() {
        assert_eq!(
            parse_addr("0100007F:4965"),
            Some((IpAddr::V4(Ipv4Addr::LOCALHOST), 18789))
        );
        assert_eq!(
            parse_addr("00000000000000000000000000000000:0050"),
            Some((IpAddr::V6(Ipv6Addr::UNSPECIFIED), 80))
        );
        assert_eq!(
            parse_addr("00000000000000000000000001000000:0050"),
            Some((IpAddr::V6(Ipv6Addr::LOCALHOST), 80))
        );
    }

    #[test]
    fn finds_our_own_listener() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let found = listeners(port);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].address, format!("127.0.0.1:{port}"));
        assert_eq!(found[0].pid, Some(std::process::id()));
    }
}

//! `gateway run --force`: free the port before binding. Finds the processes listening on it
//! (Linux `/proc/net/tcp*` inodes → `/proc/<pid>/fd`), asks them to stop (SIGTERM, then
//! SIGKILL after a grace period). A listener that answers `/healthz` like a gateway is only
//! stopped when a person confirmed it (stdin is a TTY); otherwise we refuse.

use std::collections::HashSet;
use std::io::{IsTerminal, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// How long a SIGTERM'd listener gets before SIGKILL.
pub const FORCE_GRACE: Duration = Duration::from_secs(3);
/// Poll period while waiting for it to exit.
const FORCE_POLL: Duration = Duration::from_millis(50);
/// Timeout of the `/healthz` check that identifies a gateway.
const PROBE_TIMEOUT: Duration = Duration::from_millis(800);

/// Socket inodes listening on `port` (IPv4 and IPv6).
fn listening_inodes(port: u16) -> HashSet<u64> {
    let mut out = HashSet::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 10 || f[3] != "0A" {
                continue;
            }
            let local_port = f[1]
                .rsplit(':')
                .next()
                .and_then(|p| u16::from_str_radix(p, 16).ok());
            if local_port == Some(port) {
                if let Ok(inode) = f[9].parse::<u64>() {
                    out.insert(inode);
                }
            }
        }
    }
    out
}

/// Processes (other than us) holding one of `inodes`.
fn owners(inodes: &HashSet<u64>) -> Vec<i32> {
    let me = std::process::id() as i32;
    let mut pids = Vec::new();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return pids;
    };
    for p in procs.flatten() {
        let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(p.path().join("fd")) else {
            continue;
        };
        let holds = fds.flatten().any(|fd| {
            std::fs::read_link(fd.path())
                .ok()
                .and_then(|l| {
                    let l = l.to_string_lossy().into_owned();
                    l.strip_prefix("socket:[")?
                        .strip_suffix(']')?
                        .parse::<u64>()
                        .ok()
                })
                .is_some_and(|i| inodes.contains(&i))
        });
        if holds {
            pids.push(pid);
        }
    }
    pids
}

/// `true` if something on `addr` answers `/healthz` the way a gateway does.
pub fn is_gateway(addr: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, PROBE_TIMEOUT) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(PROBE_TIMEOUT));
    let req = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut buf = Vec::new();
    let _ = s.take(4096).read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    text.starts_with("HTTP/1.1 200") && text.contains("\"status\":\"live\"")
}

/// Still running (a zombie waiting for its parent to reap it holds no sockets: not alive).
fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence/permission.
    if unsafe { libc::kill(pid, 0) } != 0 {
        return false;
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat
        .rsplit(')')
        .next()
        .and_then(|r| r.split_whitespace().next());
    !matches!(state, Some("Z") | Some("X") | None)
}

/// Free `addr`'s port. `Ok(pids stopped)`, or `Err(message)` when we must not or cannot.
///
/// # Errors
/// A verified gateway without a person to confirm; a listener that would not exit.
pub fn free_port(addr: SocketAddr) -> Result<Vec<i32>, String> {
    let pids = owners(&listening_inodes(addr.port()));
    if pids.is_empty() {
        return Ok(pids);
    }
    if is_gateway(addr) && !std::io::stdin().is_terminal() {
        return Err(format!(
            "refusing to stop the gateway already listening on ws://{addr} (pid {}) without confirmation; stop it with `openclaw gateway stop` or run --force from a terminal",
            pids.iter().map(i32::to_string).collect::<Vec<_>>().join(", ")
        ));
    }
    for &pid in &pids {
        // SAFETY: plain kill(2).
        unsafe { libc::kill(pid, libc::SIGTERM) };
    }
    let until = Instant::now() + FORCE_GRACE;
    while pids.iter().any(|&p| alive(p)) && Instant::now() < until {
        std::thread::sleep(FORCE_POLL);
    }
    for &pid in pids.iter().filter(|&&p| alive(p)) {
        // SAFETY: plain kill(2).
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    let until = Instant::now() + FORCE_GRACE;
    while pids.iter().any(|&p| alive(p)) && Instant::now() < until {
        std::thread::sleep(FORCE_POLL);
    }
    if let Some(p) = pids.iter().find(|&&p| alive(p)) {
        return Err(format!(
            "could not stop pid {p} listening on port {}",
            addr.port()
        ));
    }
    Ok(pids)
}

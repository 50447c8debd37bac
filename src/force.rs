//! `gateway run --force`: free the port before binding. Finds the processes listening on it
//! ([`crate::procnet`]), asks them to stop (SIGTERM, then
//! SIGKILL after a grace period). A listener that answers `/healthz` like a gateway is only
//! stopped when a person confirmed it (stdin is a TTY); otherwise we refuse.

use std::io::{IsTerminal, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// How long a SIGTERM'd listener gets before SIGKILL.
pub const FORCE_GRACE: Duration = Duration::from_secs(3);
/// Poll period while waiting for it to exit.
const FORCE_POLL: Duration = Duration::from_millis(50);
/// Timeout of the `/healthz` check that identifies a gateway.
const PROBE_TIMEOUT: Duration = Duration::from_millis(800);

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
    let me = std::process::id();
    let mut pids: Vec<i32> = crate::procnet::listeners(addr.port())
        .into_iter()
        .filter_map(|l| l.pid)
        .filter(|p| *p != me)
        .map(|p| p as i32)
        .collect();
    pids.sort_unstable();
    pids.dedup();
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

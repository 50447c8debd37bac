//! Single-instance lock per state dir: `flock(2)` on `$STATE/tmp/openclaw-<uid>/gateway.lock`,
//! held for the life of the process and recording its pid and port. The kernel drops the lock
//! when the owner dies, so a dead owner is reclaimed without any liveness guessing. A held
//! lock is retried for [`LOCK_TIMEOUT`]; under a supervisor (systemd, or
//! `OPENCLAW_SUPERVISOR_MODE=external`) a healthy incumbent means "leave it running": the
//! caller exits 78 so `RestartPreventExitStatus=78` stops a restart loop.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::SocketAddr;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long a second instance waits for the lock before giving up (the Node gateway: 5 s).
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(5);
/// Poll period while waiting.
const LOCK_POLL: Duration = Duration::from_millis(100);

/// The held lock; dropping it (or exiting) releases it.
#[derive(Debug)]
pub struct StateLock {
    file: File,
    path: PathBuf,
}

/// Why the lock was not taken.
#[derive(Debug, PartialEq, Eq)]
pub enum LockRefused {
    /// Another live instance holds it past the timeout.
    Held {
        /// Its pid, if recorded.
        pid: Option<u32>,
        /// How long we waited.
        waited_ms: u128,
    },
    /// Supervised, and the incumbent answers `/healthz` as a gateway: exit 78.
    IncumbentHealthy {
        /// Its pid, if recorded.
        pid: Option<u32>,
        /// Its port.
        port: u16,
    },
    /// The lock file could not be created.
    Io(String),
}

impl std::fmt::Display for LockRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pid = |p: &Option<u32>| p.map_or_else(|| "unknown".to_string(), |p| p.to_string());
        match self {
            LockRefused::Held { pid: p, waited_ms } => write!(
                f,
                "gateway already running (pid {}); lock timeout after {waited_ms}ms",
                pid(p)
            ),
            LockRefused::IncumbentHealthy { pid: p, port } => write!(
                f,
                "gateway already running (pid {}) and healthy on port {port}; leaving it in charge",
                pid(p)
            ),
            LockRefused::Io(e) => write!(f, "cannot take the gateway lock: {e}"),
        }
    }
}

/// Where the lock lives for a state dir.
pub fn lock_path(state_dir: &Path) -> PathBuf {
    // SAFETY: getuid has no preconditions.
    let uid = unsafe { libc::getuid() };
    state_dir
        .join("tmp")
        .join(format!("openclaw-{uid}"))
        .join("gateway.lock")
}

fn try_flock(f: &File) -> bool {
    // SAFETY: flock on a descriptor we own.
    unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

/// `(pid, port)` recorded by the holder.
fn recorded(path: &Path) -> (Option<u32>, Option<u16>) {
    let mut s = String::new();
    if File::open(path)
        .and_then(|mut f| f.read_to_string(&mut s))
        .is_err()
    {
        return (None, None);
    }
    let v: serde_json::Value = serde_json::from_str(&s).unwrap_or_default();
    let pid = v["pid"].as_u64().and_then(|p| u32::try_from(p).ok());
    let port = v["port"].as_u64().and_then(|p| u16::try_from(p).ok());
    (pid, port)
}

/// Take the lock for `state_dir`, waiting up to `timeout`. `supervised`: a healthy incumbent
/// is reported at once as [`LockRefused::IncumbentHealthy`]. Blocking (start-up only).
///
/// # Errors
/// See [`LockRefused`].
pub fn acquire(
    state_dir: &Path,
    supervised: bool,
    timeout: Duration,
) -> Result<StateLock, LockRefused> {
    let path = lock_path(state_dir);
    if let Some(dir) = path.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| LockRefused::Io(format!("{}: {e}", dir.display())))?;
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(|e| LockRefused::Io(format!("{}: {e}", path.display())))?;
    let t0 = Instant::now();
    loop {
        if try_flock(&file) {
            let mut lock = StateLock { file, path };
            lock.record(None);
            return Ok(lock);
        }
        let (pid, port) = recorded(&path);
        if supervised {
            if let Some(port) = port {
                if crate::force::is_gateway(SocketAddr::from(([127, 0, 0, 1], port))) {
                    return Err(LockRefused::IncumbentHealthy { pid, port });
                }
            }
        }
        if t0.elapsed() >= timeout {
            return Err(LockRefused::Held {
                pid,
                waited_ms: t0.elapsed().as_millis(),
            });
        }
        std::thread::sleep(LOCK_POLL);
    }
}

impl StateLock {
    /// Record our pid and (once bound) port in the lock file.
    pub fn record(&mut self, port: Option<u16>) {
        let body = serde_json::json!({
            "pid": std::process::id(),
            "port": port,
            "startedAt": crate::clock::now_ms(),
        })
        .to_string();
        let _ = self.file.set_len(0);
        let _ = self.file.seek(SeekFrom::Start(0));
        let _ = self.file.write_all(body.as_bytes());
        let _ = self.file.flush();
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_times_out_and_first_release_frees_it() {
        let dir = std::env::temp_dir().join(format!("oc-lock-{}", uuid::Uuid::new_v4()));
        let mut a = acquire(&dir, false, LOCK_TIMEOUT).expect("first");
        a.record(Some(4242));
        let err = acquire(&dir, false, Duration::from_millis(150)).unwrap_err();
        match err {
            LockRefused::Held { pid, waited_ms } => {
                assert_eq!(pid, Some(std::process::id()));
                assert!(waited_ms >= 150);
            }
            other => panic!("{other:?}"),
        }
        assert!(err_text(&dir).starts_with("gateway already running (pid "));
        drop(a);
        assert!(acquire(&dir, false, Duration::from_millis(150)).is_ok());
        let _ = std::fs::remove_dir_all(dir);
    }

    fn err_text(dir: &Path) -> String {
        acquire(dir, false, Duration::ZERO)
            .map(|_| String::new())
            .unwrap_or_else(|e| e.to_string())
    }
}

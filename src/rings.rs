//! The WebSocket I/O runtime a serving gateway uses: tokio (a writer task per socket, epoll
//! for reads), or the io_uring rings (reads and writes, or writes only) when
//! `gateway.runtime` asks for them and the kernel allows them.
//!
//! The rings themselves are `openclaw_net::uring`; this module only chooses, logs the choice
//! once, falls back to tokio (one clear line) when io_uring is refused, and stops the rings
//! after the drain.

use openclaw_net::NetLimits;

use crate::config::{GatewayConfig, NetRuntime};

/// Test hook: make the io_uring probe fail with this errno (`EPERM`, `ENOSYS` or a number),
/// as a kernel with `io_uring_disabled` or a seccomp filter would.
pub const TEST_ERRNO_ENV: &str = "OPENCLAW_TEST_IO_URING_ERRNO";

/// The runtime in use, and the rings when it is io_uring.
#[derive(Debug)]
pub struct Rings {
    /// What is actually in use (tokio after a fallback).
    pub effective: NetRuntime,
    #[cfg(all(target_os = "linux", feature = "io-uring"))]
    pool: Option<std::sync::Arc<openclaw_net::uring::RingPool>>,
}

impl Rings {
    /// Start what `cfg.runtime` asks for, or tokio when that cannot be had.
    pub fn start(cfg: &GatewayConfig) -> Rings {
        let tokio = Rings {
            effective: NetRuntime::Tokio,
            #[cfg(all(target_os = "linux", feature = "io-uring"))]
            pool: None,
        };
        if !cfg.runtime.uses_rings() {
            return tokio;
        }
        match start_pool(cfg) {
            Ok(r) => r,
            Err(why) => {
                tracing::warn!(target: "gateway", "io_uring unavailable ({why}); running on tokio");
                tokio
            }
        }
    }

    /// Point the transport at the rings (a no-op on tokio).
    pub fn apply(&self, limits: &mut NetLimits) {
        #[cfg(all(target_os = "linux", feature = "io-uring"))]
        {
            limits.rings = self.pool.clone();
        }
        let _ = limits;
    }

    /// After the drain: cancel what is in flight, close, end the ring threads.
    pub async fn stop(&self) {
        #[cfg(all(target_os = "linux", feature = "io-uring"))]
        if let Some(p) = self.pool.clone() {
            p.stop().await;
        }
    }
}

fn test_errno(cfg: &GatewayConfig) -> Option<std::io::Error> {
    let raw = cfg.origin.env.get_trimmed(TEST_ERRNO_ENV)?;
    let n = match raw {
        "EPERM" => libc::EPERM,
        "ENOSYS" => libc::ENOSYS,
        n => n.parse().ok()?,
    };
    Some(std::io::Error::from_raw_os_error(n))
}

#[cfg(all(target_os = "linux", feature = "io-uring"))]
fn start_pool(cfg: &GatewayConfig) -> Result<Rings, String> {
    use openclaw_net::uring::RingPool;
    if let Some(e) = test_errno(cfg) {
        return Err(e.to_string());
    }
    let rings = RingPool::default_rings();
    let reads = cfg.runtime == NetRuntime::IoUring;
    let pool = RingPool::start(
        rings,
        openclaw_proto::SEQ_SPLICE_PREFIX,
        openclaw_net::uring::DIRECT_BELOW,
    )
    .map_err(|e| e.to_string())?
    .with_reads(reads);
    let what = if reads { "read and write" } else { "write" };
    tracing::info!(target: "gateway", "runtime: {} ({rings} rings {what} WebSocket sockets)", cfg.runtime.as_str());
    Ok(Rings {
        effective: cfg.runtime,
        pool: Some(std::sync::Arc::new(pool)),
    })
}

#[cfg(not(all(target_os = "linux", feature = "io-uring")))]
fn start_pool(cfg: &GatewayConfig) -> Result<Rings, String> {
    let _ = test_errno(cfg);
    Err("this build has no io_uring backend (Linux with the io-uring feature only)".into())
}

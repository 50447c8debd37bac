//! Bind the port and run the accept loop: every accepted socket gets a task that sniffs it
//! and hands it to the WebSocket or HTTP path, holding a pre-auth permit until the
//! WebSocket session is established (or the socket is classified as HTTP).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpSocket, TcpStream};

use crate::app::{App, ConnInfo};
use crate::error::NetError;
use crate::limits::{NetLimits, DEFAULT_LISTEN_BACKLOG};
use crate::shutdown::Shutdown;
use crate::sniff::{sniff, Sniffed};
use crate::stats::{ConnState, StateGuard};
use crate::ws::handshake::error_response;

/// Longest pause after an accept error such as EMFILE.
const MAX_ACCEPT_BACKOFF: Duration = Duration::from_secs(1);
/// First pause after an accept error.
const MIN_ACCEPT_BACKOFF: Duration = Duration::from_millis(5);

/// Bind a listening TCP socket with a deep backlog and `SO_REUSEADDR`.
///
/// # Errors
/// [`NetError::Bind`] with the OS error (e.g. `EADDRINUSE`).
pub fn bind(addr: SocketAddr) -> Result<TcpListener, NetError> {
    let err = |source| NetError::Bind { addr, source };
    let sock = if addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .map_err(err)?;
    sock.set_reuseaddr(true).map_err(err)?;
    sock.bind(addr).map_err(err)?;
    sock.listen(DEFAULT_LISTEN_BACKLOG).map_err(err)
}

/// Counts pre-auth sockets globally and per non-loopback IP.
#[derive(Debug, Default)]
pub(crate) struct Preauth {
    global: AtomicUsize,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
}

/// A pre-auth slot; released on drop.
#[derive(Debug)]
pub struct PreauthPermit {
    pool: Arc<Preauth>,
    ip: Option<IpAddr>,
}

impl Drop for PreauthPermit {
    fn drop(&mut self) {
        self.pool.global.fetch_sub(1, Ordering::AcqRel);
        if let Some(ip) = self.ip {
            let mut m = self.pool.per_ip.lock();
            if let Some(n) = m.get_mut(&ip) {
                *n -= 1;
                if *n == 0 {
                    m.remove(&ip);
                }
            }
        }
    }
}

impl Preauth {
    fn acquire(self: &Arc<Self>, ip: IpAddr, limits: &NetLimits) -> Option<PreauthPermit> {
        if self.global.fetch_add(1, Ordering::AcqRel) >= limits.max_preauth_global {
            self.global.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        let ip = if ip.is_loopback() {
            None
        } else {
            let mut m = self.per_ip.lock();
            let n = m.entry(ip).or_insert(0);
            if *n >= limits.max_preauth_per_ip {
                drop(m);
                self.global.fetch_sub(1, Ordering::AcqRel);
                return None;
            }
            *n += 1;
            Some(ip)
        };
        Some(PreauthPermit {
            pool: self.clone(),
            ip,
        })
    }
}

fn is_resource_error(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE) | Some(libc::ENFILE) | Some(libc::ENOBUFS) | Some(libc::ENOMEM)
    )
}

/// Run the accept loop until `shutdown` triggers. Connection tasks keep running; await
/// [`Shutdown::drain`] to wait for them.
pub async fn serve<A: App>(
    listener: TcpListener,
    app: Arc<A>,
    limits: NetLimits,
    shutdown: Shutdown,
) {
    let limits = Arc::new(limits);
    let preauth = Arc::new(Preauth::default());
    let next_id = AtomicU64::new(1);
    let mut backoff = MIN_ACCEPT_BACKOFF;
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = shutdown.wait() => break,
        };
        let (stream, peer) = match accepted {
            Ok(x) => {
                backoff = MIN_ACCEPT_BACKOFF;
                x
            }
            Err(e) if is_resource_error(&e) => {
                tracing::warn!(target: "gateway", "accept failed ({e}); backing off {backoff:?}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_ACCEPT_BACKOFF);
                continue;
            }
            Err(e) => {
                tracing::debug!(target: "gateway", "accept error: {e}");
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let local = stream.local_addr().unwrap_or(peer);
        let info = ConnInfo {
            conn_id: next_id.fetch_add(1, Ordering::Relaxed),
            peer,
            local,
            path: "/".into(),
            headers: Vec::new(),
        };
        crate::stats::count_accept();
        let token = shutdown.track();
        let permit = preauth.acquire(peer.ip(), &limits);
        tokio::spawn(handle(
            app.clone(),
            stream,
            info,
            limits.clone(),
            permit,
            shutdown.clone(),
            token,
        ));
    }
}

async fn handle<A: App>(
    app: Arc<A>,
    mut stream: TcpStream,
    info: ConnInfo,
    limits: Arc<NetLimits>,
    permit: Option<PreauthPermit>,
    shutdown: Shutdown,
    _token: crate::shutdown::ConnToken,
) {
    let mut state = StateGuard::enter(ConnState::Sniffing);
    let sniffed = tokio::select! {
        r = tokio::time::timeout(limits.handshake_timeout, sniff(&mut stream, limits.sniff_max_bytes)) => r,
        _ = shutdown.wait() => return,
    };
    match sniffed {
        Ok(Ok(Sniffed::WebSocket(head))) => {
            if head.count() >= limits.max_http_head_bytes {
                let too_large = error_response(431, "Request Header Fields Too Large", "");
                let _ = stream.write_all(&too_large).await;
                return;
            }
            if permit.is_none() {
                let body = "too many pending connections";
                let _ = stream
                    .write_all(&error_response(429, "Too Many Requests", body))
                    .await;
                return;
            }
            // A task of its own: this sniffing task's future (~2.6 KB: the sniff and the
            // HTTP branch) would otherwise stay allocated for the socket's whole life.
            state.set(ConnState::WsHandshake);
            let on = limits.clone();
            spawn_ws(&on, async move {
                let conn = crate::ws::Admitted { permit, state };
                crate::ws::run_ws(&*app, stream, head, info, &limits, conn, shutdown).await;
                drop(_token);
            });
        }
        Ok(Ok(Sniffed::Http(prefix))) => {
            drop(permit);
            state.set(ConnState::Http);
            Box::pin(crate::http::serve_http(
                app, stream, prefix, info, &limits, shutdown,
            ))
            .await;
        }
        _ => {}
    }
}

/// Run an upgraded connection: under io_uring on a ring's thread (where its socket will be
/// read and written), else on this runtime.
fn spawn_ws(limits: &NetLimits, conn: impl std::future::Future<Output = ()> + Send + 'static) {
    #[cfg(all(target_os = "linux", feature = "io-uring"))]
    if let Some(pool) = &limits.rings {
        pool.spawn(conn);
        return;
    }
    let _ = limits;
    tokio::spawn(conn);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_ip_cap_for_remote_peers_and_only_the_global_cap_for_loopback() {
        let limits = NetLimits {
            max_preauth_per_ip: 32,
            max_preauth_global: 100,
            ..NetLimits::default()
        };
        let pool = Arc::new(Preauth::default());
        let remote: IpAddr = "10.0.0.7".parse().unwrap();
        let held: Vec<_> = (0..32)
            .map(|_| pool.acquire(remote, &limits).expect("under the per-IP cap"))
            .collect();
        assert!(
            pool.acquire(remote, &limits).is_none(),
            "33rd pre-auth socket from one IP"
        );
        let other: IpAddr = "10.0.0.8".parse().unwrap();
        assert!(
            pool.acquire(other, &limits).is_some(),
            "other IPs are unaffected"
        );
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let local: Vec<_> = (0..68).map(|_| pool.acquire(lo, &limits)).collect();
        assert!(
            local.iter().all(Option::is_some),
            "loopback is not capped per IP"
        );
        assert!(
            pool.acquire(lo, &limits).is_none(),
            "but the global cap holds"
        );
        drop(local);
        drop(held);
        assert!(
            pool.acquire(remote, &limits).is_some(),
            "permits come back on drop"
        );
        assert_eq!(pool.global.load(Ordering::Acquire), 0);
        assert!(pool.per_ip.lock().is_empty());
    }
}

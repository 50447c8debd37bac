//! The hostile clients of the `hostile` scenario, one function per attack. Each runs until
//! `stop` flips, keeps its pressure up (a socket the gateway closes is opened again), and
//! counts what happened in [`AttackStats`]; the scenario measures the good clients meanwhile.
//! Every loop is bounded by the stop signal and every socket operation by a timeout.

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fastwebsockets::{Frame, OpCode, Payload};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::timeout;

use crate::client::{upgrade_request, ClientCfg, Conn, Identity};

/// What the attackers did and what the gateway did to them.
#[derive(Debug, Default)]
pub struct AttackStats {
    /// Sockets opened (or requests sent, for request-shaped attacks).
    pub opened: AtomicU64,
    /// Sockets the gateway closed (or answered with a refusal).
    pub closed: AtomicU64,
    /// Attack units sent (bytes trickled, pings, subscriptions, wrong tokens).
    pub sent: AtomicU64,
    /// Connects refused outright (connect errors, 429, 503).
    pub refused: AtomicU64,
}

impl AttackStats {
    pub fn json(&self) -> Value {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        serde_json::json!({ "opened": g(&self.opened), "closed_by_gateway": g(&self.closed),
            "sent": g(&self.sent), "refused": g(&self.refused) })
    }
}

/// The attacks, by name.
pub const ATTACKS: [&str; 9] = [
    "slowloris-http",
    "slowloris-ws",
    "half-open",
    "unauth-flood",
    "oversized",
    "garbage",
    "ping-flood",
    "subscriptions",
    "wrong-token",
];

/// Size knobs of the attacks.
#[derive(Clone, Debug)]
pub struct Sizes {
    /// Sockets for slowloris and half-open.
    pub sockets: usize,
    /// Sockets of the unauthenticated flood.
    pub flood: usize,
    /// Subscriptions opened by the subscription attacker.
    pub subscriptions: usize,
    /// Source addresses of the wrong-token flood.
    pub sources: Vec<Ipv4Addr>,
}

/// Start attack `name` on `rt` (the attackers' own runtime, so that their tasks never queue
/// ahead of the measured clients' tasks: a real attacker is another process); its tasks run
/// until `stop` flips.
pub fn start(
    rt: &tokio::runtime::Handle,
    name: &str,
    cfg: &ClientCfg,
    sizes: &Sizes,
    stop: watch::Receiver<bool>,
    stats: Arc<AttackStats>,
) -> JoinSet<()> {
    let mut set = JoinSet::new();
    let port = cfg.port;
    match name {
        "slowloris-http" | "slowloris-ws" => {
            let ws = name == "slowloris-ws";
            for _ in 0..sizes.sockets {
                set.spawn_on(slowloris(port, ws, stop.clone(), stats.clone()), rt);
            }
        }
        "half-open" => {
            for _ in 0..sizes.sockets {
                set.spawn_on(half_open(port, stop.clone(), stats.clone()), rt);
            }
        }
        "unauth-flood" => {
            for _ in 0..sizes.flood {
                set.spawn_on(
                    unauthenticated(cfg.clone(), stop.clone(), stats.clone()),
                    rt,
                );
            }
        }
        "oversized" => {
            for i in 0..4 {
                set.spawn_on(
                    oversized(cfg.clone(), i % 2 == 0, stop.clone(), stats.clone()),
                    rt,
                );
            }
        }
        "garbage" => {
            for _ in 0..4 {
                set.spawn_on(garbage(port, stop.clone(), stats.clone()), rt);
            }
        }
        "ping-flood" => {
            set.spawn_on(ping_flood(cfg.clone(), stop.clone(), stats.clone()), rt);
        }
        "subscriptions" => {
            set.spawn_on(
                subscriptions(
                    cfg.clone(),
                    sizes.subscriptions,
                    stop.clone(),
                    stats.clone(),
                ),
                rt,
            );
        }
        "wrong-token" => {
            let mut bad = cfg.clone();
            bad.token = "not-the-token".into();
            bad.identity = Identity::Token;
            bad.source_ips = Arc::new(sizes.sources.clone());
            for _ in 0..8 {
                set.spawn_on(wrong_token(bad.clone(), stop.clone(), stats.clone()), rt);
            }
        }
        other => panic!("unknown attack {other}"),
    }
    set
}

fn stopped(stop: &watch::Receiver<bool>) -> bool {
    *stop.borrow()
}

async fn tcp(port: u16, stats: &AttackStats) -> Option<TcpStream> {
    match timeout(
        Duration::from_secs(5),
        TcpStream::connect(("127.0.0.1", port)),
    )
    .await
    {
        Ok(Ok(s)) => {
            stats.opened.fetch_add(1, Ordering::Relaxed);
            Some(s)
        }
        _ => {
            stats.refused.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(100)).await;
            None
        }
    }
}

/// Wait until the peer closes (`true`) or `stop` flips (`false`), discarding what it sends.
async fn until_closed(s: &mut TcpStream, stop: &mut watch::Receiver<bool>) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        tokio::select! {
            r = s.read(&mut buf) => match r {
                Ok(0) | Err(_) => return true,
                Ok(_) => {}
            },
            _ = stop.changed() => return false,
        }
    }
}

/// A request head sent one header line per second, never finished.
async fn slowloris(port: u16, ws: bool, mut stop: watch::Receiver<bool>, stats: Arc<AttackStats>) {
    while !stopped(&stop) {
        let Some(mut s) = tcp(port, &stats).await else {
            continue;
        };
        let first = if ws {
            format!("GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n")
        } else {
            format!("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n")
        };
        if s.write_all(first.as_bytes()).await.is_err() {
            continue;
        }
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut buf = [0u8; 1024];
        let closed = loop {
            tokio::select! {
                _ = tick.tick() => {
                    if s.write_all(b"X-Slow: 1\r\n").await.is_err() { break true; }
                    stats.sent.fetch_add(1, Ordering::Relaxed);
                }
                r = s.read(&mut buf) => if matches!(r, Ok(0) | Err(_)) { break true },
                _ = stop.changed() => break false,
            }
        };
        if closed {
            stats.closed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A TCP connection that never sends a byte.
async fn half_open(port: u16, mut stop: watch::Receiver<bool>, stats: Arc<AttackStats>) {
    while !stopped(&stop) {
        let Some(mut s) = tcp(port, &stats).await else {
            continue;
        };
        if until_closed(&mut s, &mut stop).await {
            stats.closed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A completed WebSocket upgrade that never sends `connect`.
async fn unauthenticated(cfg: ClientCfg, mut stop: watch::Receiver<bool>, stats: Arc<AttackStats>) {
    while !stopped(&stop) {
        let c = match timeout(Duration::from_secs(10), Conn::open(&cfg)).await {
            Ok(Ok(c)) => c,
            _ => {
                // Refused (the pre-auth caps) or timed out: knock again in a second.
                stats.refused.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        stats.opened.fetch_add(1, Ordering::Relaxed);
        let mut ws = c.ws;
        let closed = loop {
            tokio::select! {
                r = ws.read_frame() => match r {
                    Ok(f) if f.opcode == OpCode::Close => break true,
                    Ok(_) => {}
                    Err(_) => break true,
                },
                _ = stop.changed() => break false,
            }
        };
        if closed {
            stats.closed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Oversized input: a 256 KB request header (`http`), or a WebSocket frame that announces
/// 1 GiB of payload before `connect`.
async fn oversized(
    cfg: ClientCfg,
    http: bool,
    mut stop: watch::Receiver<bool>,
    stats: Arc<AttackStats>,
) {
    let big = "a".repeat(256 * 1024);
    while !stopped(&stop) {
        let Some(mut s) = tcp(cfg.port, &stats).await else {
            continue;
        };
        let req = if http {
            format!("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n").into_bytes()
        } else {
            let mut r = upgrade_request(cfg.port).into_bytes();
            // FIN+text, masked, 64-bit length 1 GiB, mask key, then some of the "payload".
            r.extend_from_slice(&[0x81, 0xFF, 0, 0, 0, 0, 0x40, 0, 0, 0, 1, 2, 3, 4]);
            r.extend_from_slice(&big.as_bytes()[..16 * 1024]);
            r
        };
        let _ = s.write_all(&req).await;
        stats.sent.fetch_add(1, Ordering::Relaxed);
        let limit = Duration::from_secs(10);
        if let Ok(true) = timeout(limit, until_closed(&mut s, &mut stop)).await {
            stats.closed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Pipelined random bytes, 64 KB per connection.
async fn garbage(port: u16, mut stop: watch::Receiver<bool>, stats: Arc<AttackStats>) {
    while !stopped(&stop) {
        let Some(mut s) = tcp(port, &stats).await else {
            continue;
        };
        for _ in 0..4 {
            let chunk: Vec<u8> = (0..16 * 1024).map(|_| rand::random::<u8>()).collect();
            if s.write_all(&chunk).await.is_err() {
                break;
            }
            stats.sent.fetch_add(1, Ordering::Relaxed);
        }
        if let Ok(true) = timeout(Duration::from_secs(10), until_closed(&mut s, &mut stop)).await {
            stats.closed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// An authenticated client sending pings as fast as it can and never reading the pongs.
async fn ping_flood(cfg: ClientCfg, stop: watch::Receiver<bool>, stats: Arc<AttackStats>) {
    while !stopped(&stop) {
        let Ok(mut c) = Conn::connect(&cfg).await else {
            stats.refused.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        stats.opened.fetch_add(1, Ordering::Relaxed);
        loop {
            if stopped(&stop) {
                return;
            }
            let ping = Frame::new(
                true,
                OpCode::Ping,
                None,
                Payload::Borrowed(b"are you there?"),
            );
            match timeout(Duration::from_secs(5), c.ws.write_frame(ping)).await {
                Ok(Ok(())) => {
                    stats.sent.fetch_add(1, Ordering::Relaxed);
                }
                // Closed, or the gateway stopped reading us (backpressure): start over.
                _ => {
                    stats.closed.fetch_add(1, Ordering::Relaxed);
                    break;
                }
            }
        }
    }
}

/// One client subscribing to `n` session transcripts, then holding them.
async fn subscriptions(
    cfg: ClientCfg,
    n: usize,
    mut stop: watch::Receiver<bool>,
    stats: Arc<AttackStats>,
) {
    let Ok(mut c) = Conn::connect(&cfg).await else {
        stats.refused.fetch_add(1, Ordering::Relaxed);
        return;
    };
    stats.opened.fetch_add(1, Ordering::Relaxed);
    for i in 0..n {
        if stopped(&stop) {
            return;
        }
        let p = format!(r#"{{"key":"agent:main:hostile-{i}"}}"#);
        match c.call("sessions.messages.subscribe", &p).await {
            Ok(_) => stats.sent.fetch_add(1, Ordering::Relaxed),
            Err(_) => stats.refused.fetch_add(1, Ordering::Relaxed),
        };
    }
    loop {
        tokio::select! {
            r = c.ws.read_frame() => if r.is_err() { stats.closed.fetch_add(1, Ordering::Relaxed); return },
            _ = stop.changed() => return,
        }
    }
}

/// `connect` with a wrong token, over and over, from many source addresses.
async fn wrong_token(cfg: ClientCfg, stop: watch::Receiver<bool>, stats: Arc<AttackStats>) {
    while !stopped(&stop) {
        let r = timeout(Duration::from_secs(10), Conn::connect(&cfg)).await;
        stats.sent.fetch_add(1, Ordering::Relaxed);
        let counter = match r {
            // Refused at `connect` (the answer a wrong token must get).
            Ok(Err(_)) => &stats.closed,
            // Admitted with a wrong token: the report shows it as opened.
            Ok(Ok(_)) => &stats.opened,
            Err(_) => &stats.refused,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

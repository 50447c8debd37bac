//! Minimal OpenClaw gateway protocol-v4 client over fastwebsockets (hand-written HTTP/1.1 101 upgrade).
//!
//! One [`Conn`] = one WebSocket to `ws://127.0.0.1:PORT/`. [`Conn::connect`] performs the whole
//! handshake (TCP, upgrade, `connect.challenge`, `connect`, `hello-ok`). Incoming frames are
//! classified with a borrowed [`Head`] (type/id/event/ok, payload kept raw) so the client spends as
//! little CPU as possible on the large `hello-ok` and broadcast payloads.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use ed25519_dalek::{Signer, SigningKey};
use fastwebsockets::{FragmentCollector, Frame, OpCode, Payload, Role, WebSocket};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::timeout;

use crate::srcip;

/// Scopes requested by every connection (`system-event` needs `operator.admin`).
pub const SCOPES: [&str; 3] = ["operator.admin", "operator.read", "operator.write"];

/// The WebSocket type: buffered so bytes that follow the 101 response are not lost.
pub type Ws = FragmentCollector<BufReader<TcpStream>>;

/// How a connection authenticates.
#[derive(Clone)]
pub enum Identity {
    /// Shared token only, client `gateway-client` / mode `backend`.
    Token,
    /// Token plus a signed Ed25519 device block with a fresh key per connection (client `cli`/`cli`).
    DeviceNew,
    /// Token plus a signed device block, one key for every connection.
    DeviceShared(Arc<SigningKey>),
}

/// Connection settings shared by every scenario.
#[derive(Clone)]
pub struct ClientCfg {
    pub port: u16,
    pub token: String,
    pub identity: Identity,
    /// Bound on each step (connect+handshake, one RPC, ...).
    pub timeout: Duration,
    /// Local source addresses used round-robin (empty: let the kernel choose).
    pub source_ips: Arc<Vec<Ipv4Addr>>,
    /// Round-robin cursor into `source_ips`, shared by clones.
    pub next_src: Arc<AtomicUsize>,
    /// SO_RCVBUF for new sockets (slow consumers use a small one so they back up sooner).
    pub rcvbuf: Option<u32>,
}

impl ClientCfg {
    /// A plain token config for `port` (tests, limit checks).
    pub fn new(port: u16, token: &str, timeout: Duration) -> ClientCfg {
        ClientCfg {
            port,
            token: token.to_string(),
            identity: Identity::Token,
            timeout,
            source_ips: Arc::new(Vec::new()),
            next_src: Arc::new(AtomicUsize::new(0)),
            rcvbuf: None,
        }
    }

    /// TCP connection to 127.0.0.1:port from the next source address, Nagle off.
    pub async fn tcp(&self) -> Result<TcpStream> {
        let src = match self.source_ips.len() {
            0 => None,
            n => Some(self.source_ips[self.next_src.fetch_add(1, Ordering::Relaxed) % n]),
        };
        let sock = srcip::socket(src, self.rcvbuf)?;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let tcp = sock.connect(addr).await.context("tcp connect")?;
        tcp.set_nodelay(true)?;
        Ok(tcp)
    }
}

/// The client's HTTP/1.1 upgrade request.
pub fn upgrade_request(port: u16) -> String {
    let key = STANDARD.encode(rand::random::<[u8; 16]>());
    format!(
        "GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
}

/// Read the response headers of an upgrade; fail unless the status is 101.
pub async fn read_upgrade_response<R: AsyncBufRead + Unpin>(io: &mut R) -> Result<()> {
    let mut line = Vec::with_capacity(128);
    let mut total = 0usize;
    let mut status = None;
    loop {
        line.clear();
        let n = io.read_until(b'\n', &mut line).await?;
        if n == 0 {
            bail!("connection closed during upgrade");
        }
        total += n;
        if total > 16 * 1024 {
            bail!("upgrade response headers too large");
        }
        if status.is_none() {
            status = Some(String::from_utf8_lossy(&line).trim_end().to_string());
        } else if line == b"\r\n" || line == b"\n" {
            break;
        }
    }
    let status = status.unwrap_or_default();
    if status.split_whitespace().nth(1) != Some("101") {
        bail!("upgrade refused: {status}");
    }
    Ok(())
}

/// Top-level fields of a gateway frame; everything else stays unparsed.
#[derive(Deserialize)]
pub struct Head<'a> {
    #[serde(rename = "type", borrow)]
    pub kind: &'a str,
    #[serde(default, borrow)]
    pub id: Option<&'a str>,
    #[serde(default, borrow)]
    pub event: Option<&'a str>,
    #[serde(default)]
    pub ok: Option<bool>,
    #[serde(default, borrow)]
    pub payload: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub error: Option<&'a RawValue>,
}

impl<'a> Head<'a> {
    /// Parse the top level of a text frame.
    pub fn parse(buf: &'a [u8]) -> Result<Head<'a>> {
        serde_json::from_slice(buf).with_context(|| {
            let n = buf.len().min(200);
            format!("bad frame: {}", String::from_utf8_lossy(&buf[..n]))
        })
    }

    /// `code: message` of an error response (or the raw error).
    pub fn error_text(&self) -> String {
        let Some(raw) = self.error else {
            return "error without details".into();
        };
        match serde_json::from_str::<Value>(raw.get()) {
            Ok(v) => format!(
                "{}: {}",
                v["code"].as_str().unwrap_or("?"),
                v["message"].as_str().unwrap_or(raw.get())
            ),
            Err(_) => raw.get().to_string(),
        }
    }
}

/// One authenticated (or being authenticated) gateway connection.
pub struct Conn {
    pub ws: Ws,
    next_id: u64,
    /// Bound on one [`Conn::call`].
    pub op_timeout: Duration,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Conn {
    /// TCP connect + WebSocket upgrade (no protocol handshake yet).
    pub async fn open(cfg: &ClientCfg) -> Result<Conn> {
        let tcp = cfg.tcp().await?;
        let mut io = BufReader::with_capacity(4096, tcp);
        io.get_mut()
            .write_all(upgrade_request(cfg.port).as_bytes())
            .await?;
        read_upgrade_response(&mut io).await?;
        let ws = WebSocket::after_handshake(io, Role::Client);
        Ok(Conn {
            ws: FragmentCollector::new(ws),
            next_id: 0,
            op_timeout: Duration::from_secs(10),
        })
    }

    /// Open + full protocol handshake, bounded by `cfg.timeout`. Returns the connection after `hello-ok`.
    pub async fn connect(cfg: &ClientCfg) -> Result<Conn> {
        timeout(cfg.timeout, async {
            let mut c = Conn::open(cfg).await?;
            c.op_timeout = cfg.timeout;
            c.handshake(cfg).await?;
            Ok(c)
        })
        .await
        .map_err(|_| anyhow!("handshake timed out after {:?}", cfg.timeout))?
    }

    /// Wait for `connect.challenge`, send `connect`, wait for `hello-ok`.
    pub async fn handshake(&mut self, cfg: &ClientCfg) -> Result<()> {
        let buf = self.next_text().await?;
        self.send_text(connect_reply(cfg, &buf)?.into_bytes())
            .await?;
        while !is_hello(&self.next_text().await?)? {}
        Ok(())
    }

    /// A fresh request id (`r<n>`).
    pub fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Send one text frame.
    pub async fn send_text(&mut self, bytes: Vec<u8>) -> Result<()> {
        self.ws
            .write_frame(Frame::text(Payload::Owned(bytes)))
            .await
            .context("ws write")
    }

    /// Send a request `{"type":"req","id":"r<id>","method":…,"params":…}`; `params` is raw JSON.
    pub async fn send_req(&mut self, id: u64, method: &str, params: &str) -> Result<()> {
        let f = format!(r#"{{"type":"req","id":"r{id}","method":"{method}","params":{params}}}"#);
        self.send_text(f.into_bytes()).await
    }

    /// Next text frame (pings are answered by fastwebsockets; close is an error).
    pub async fn next_text(&mut self) -> Result<Vec<u8>> {
        loop {
            let frame = self.ws.read_frame().await.context("ws read")?;
            match frame.opcode {
                OpCode::Text => return Ok(frame.payload.into()),
                OpCode::Close => {
                    let p: &[u8] = &frame.payload;
                    let code = if p.len() >= 2 {
                        u16::from_be_bytes([p[0], p[1]])
                    } else {
                        1005
                    };
                    let reason = String::from_utf8_lossy(p.get(2..).unwrap_or_default());
                    bail!("closed by server: {code} {reason}");
                }
                _ => {}
            }
        }
    }

    /// One request/response round trip, skipping events. Returns the raw response frame.
    pub async fn call(&mut self, method: &str, params: &str) -> Result<Vec<u8>> {
        let id = self.next_id();
        let want = format!("r{id}");
        self.send_req(id, method, params).await?;
        let limit = self.op_timeout;
        timeout(limit, async {
            loop {
                let buf = self.next_text().await?;
                let head = Head::parse(&buf)?;
                if head.kind == "res" && head.id == Some(want.as_str()) {
                    if head.ok != Some(true) {
                        bail!("{method} failed: {}", head.error_text());
                    }
                    return Ok(buf);
                }
            }
        })
        .await
        .map_err(|_| anyhow!("{method} timed out"))?
    }

    /// Polite close: send close 1000, then drain until the server's close (or `wait` elapses).
    pub async fn close(mut self, wait: Duration) {
        if self.ws.write_frame(Frame::close(1000, b"")).await.is_err() {
            return;
        }
        let _ = timeout(wait, async {
            while let Ok(f) = self.ws.read_frame().await {
                if f.opcode == OpCode::Close {
                    break;
                }
            }
        })
        .await;
    }
}

/// The `connect` request answering the `connect.challenge` frame `buf`.
pub fn connect_reply(cfg: &ClientCfg, buf: &[u8]) -> Result<String> {
    let head = Head::parse(buf)?;
    if head.kind != "event" || head.event != Some("connect.challenge") {
        bail!(
            "expected connect.challenge, got {}",
            String::from_utf8_lossy(buf)
        );
    }
    let ch: Value = match head.payload {
        Some(p) => serde_json::from_str(p.get())?,
        None => Value::Null,
    };
    let nonce = ch["nonce"].as_str().unwrap_or_default().to_string();
    let ts = ch["ts"].as_u64().unwrap_or_else(now_ms);
    Ok(connect_frame(cfg, &nonce, ts))
}

/// True if `buf` is the successful `connect` response; an error if it is a refusal; false for
/// anything else (events such as `health` may precede or follow).
pub fn is_hello(buf: &[u8]) -> Result<bool> {
    let head = Head::parse(buf)?;
    if head.kind != "res" || head.id != Some("connect") {
        return Ok(false);
    }
    if head.ok != Some(true) {
        bail!("connect rejected: {}", head.error_text());
    }
    Ok(true)
}

/// The `connect` request for `cfg`, signed for the challenge `nonce`/`ts` if it uses a device.
pub fn connect_frame(cfg: &ClientCfg, nonce: &str, ts: u64) -> String {
    let key = match &cfg.identity {
        Identity::Token => None,
        Identity::DeviceNew => Some(Arc::new(SigningKey::generate(&mut rand::rngs::OsRng))),
        Identity::DeviceShared(k) => Some(k.clone()),
    };
    let (client_id, mode) = if key.is_some() {
        ("cli", "cli")
    } else {
        ("gateway-client", "backend")
    };
    let mut params = json!({
        "minProtocol": 4,
        "maxProtocol": 4,
        "client": {"id": client_id, "version": "loadtest", "platform": "linux", "mode": mode},
        "role": "operator",
        "scopes": SCOPES,
        "caps": [],
        "auth": {"token": cfg.token},
    });
    if let Some(key) = key {
        params["device"] = device_block(&key, client_id, mode, &cfg.token, nonce, ts);
    }
    json!({"type": "req", "id": "connect", "method": "connect", "params": params}).to_string()
}

/// Signed v3 device block: `v3|id|client|mode|role|scopes|signedAt|token|nonce|platform|deviceFamily`.
pub fn device_block(
    key: &SigningKey,
    client_id: &str,
    mode: &str,
    token: &str,
    nonce: &str,
    ts: u64,
) -> Value {
    let pk = key.verifying_key().to_bytes();
    let id = hex::encode(Sha256::digest(pk));
    let scopes = SCOPES.join(",");
    let msg = format!("v3|{id}|{client_id}|{mode}|operator|{scopes}|{ts}|{token}|{nonce}|linux|");
    let sig = key.sign(msg.as_bytes());
    json!({
        "id": id,
        "publicKey": URL_SAFE_NO_PAD.encode(pk),
        "signature": URL_SAFE_NO_PAD.encode(sig.to_bytes()),
        "signedAt": ts,
        "nonce": nonce,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::Verifier;

    #[test]
    fn head_parses_borrowed() {
        let f = br#"{"type":"res","id":"r7","ok":false,"error":{"code":"X","message":"m"}}"#;
        let h = Head::parse(f).unwrap();
        assert_eq!((h.kind, h.id, h.ok), ("res", Some("r7"), Some(false)));
        assert_eq!(h.error_text(), "X: m");
    }

    #[test]
    fn device_block_verifies() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let b = device_block(&key, "cli", "cli", "tok", "n1", 42);
        let id = b["id"].as_str().unwrap();
        let msg = format!(
            "v3|{id}|cli|cli|operator|operator.admin,operator.read,operator.write|42|tok|n1|linux|"
        );
        let sig = URL_SAFE_NO_PAD
            .decode(b["signature"].as_str().unwrap())
            .unwrap();
        let sig = ed25519_dalek::Signature::from_slice(&sig).unwrap();
        key.verifying_key().verify(msg.as_bytes(), &sig).unwrap();
        assert_eq!(id.len(), 64);
    }
}

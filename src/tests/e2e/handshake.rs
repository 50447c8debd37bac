//! Handshake: the challenge, every pre-auth refusal of observed.md (frame, code, message,
//! close code), protocol negotiation and probes, the handshake deadline, raw close-frame
//! validation, a second `connect`, and pipelined requests.

use std::collections::HashSet;

use crate::util::*;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Expect a refused connect/first request: `res ok:false` then a close; returns the error.
async fn refused(c: &mut Client, close: u16, reason: &str) -> Value {
    let r = c.recv().await.expect("an error response before the close");
    assert_eq!(r["type"], "res", "{r}");
    assert_eq!(r["ok"], false, "{r}");
    match c.closed().await {
        Closed::Frame(code, why) => {
            assert_eq!(code, close, "close code (reason {why:?}), error {r}");
            assert_eq!(why, reason, "close reason");
        }
        Closed::Eof => panic!("no close frame after {r}"),
    }
    r["error"].clone()
}

/// Expect a close with nothing sent before it.
async fn silent_close(c: &mut Client, code: u16) {
    match c.closed().await {
        Closed::Frame(got, why) => {
            assert_eq!(got, code, "close code (reason {why:?})");
            assert_eq!(why, "", "close reason");
        }
        Closed::Eof => panic!("no close frame (expected {code})"),
    }
    assert!(
        c.events.is_empty(),
        "nothing may be sent before the close: {:?}",
        c.events
    );
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// A full `connect` request frame of exactly `len` bytes (padded through `userAgent`).
fn padded_connect(len: usize) -> String {
    let mut p = connect_params("gateway-client", "backend", &["operator.read"], Some(TOKEN));
    p["userAgent"] = json!("");
    let frame = |p: &Value| {
        json!({ "type": "req", "id": "big-1", "method": "connect", "params": p }).to_string()
    };
    let base = frame(&p).len();
    p["userAgent"] = json!("u".repeat(len - base));
    let f = frame(&p);
    assert_eq!(f.len(), len);
    f
}

#[tokio::test]
async fn challenge_comes_first_with_nonce_and_ts_and_no_seq() {
    let g = start().await;
    // `Client::open` asserts the first frame is the challenge without `seq`.
    let c = Client::open(g.addr).await;
    assert!(!c.nonce.is_empty());
    assert!(
        c.challenge_ts.abs_diff(now_ms()) < 60_000,
        "ts is wall-clock ms: {}",
        c.challenge_ts
    );
    let c2 = Client::open(g.addr).await;
    assert_ne!(c.nonce, c2.nonce, "a fresh nonce per socket");
    g.stop().await;
}

#[tokio::test]
async fn non_json_text_first_closes_1000_silently() {
    let g = start().await;
    let mut c = Client::open(g.addr).await;
    c.send_text("hello not json").await;
    silent_close(&mut c, 1000).await;
    g.stop().await;
}

#[tokio::test]
async fn binary_first_closes_1000_silently() {
    let g = start().await;
    let mut c = Client::open(g.addr).await;
    c.send_binary(vec![1, 2, 3, 4]).await;
    silent_close(&mut c, 1000).await;
    g.stop().await;
}

#[tokio::test]
async fn event_frame_first_closes_1008_invalid_request_frame() {
    let g = start().await;
    let mut c = Client::open(g.addr).await;
    c.send_text(r#"{"type":"event"}"#).await;
    match c.closed().await {
        Closed::Frame(code, why) => {
            assert_eq!((code, why.as_str()), (1008, "invalid request frame"))
        }
        Closed::Eof => panic!("no close frame"),
    }
    assert!(c.events.is_empty(), "nothing sent: {:?}", c.events);
    g.stop().await;
}

#[tokio::test]
async fn health_first_is_refused_and_closed_1008() {
    let g = start().await;
    let mut c = Client::open(g.addr).await;
    let id = c.send_req("health", json!({})).await;
    let msg = "invalid handshake: first request must be connect";
    let r = c.recv().await.expect("response");
    assert_eq!(r["id"], id.as_str());
    assert_eq!(r["ok"], false);
    assert_eq!(
        r["error"],
        json!({ "code": "INVALID_REQUEST", "message": msg })
    );
    match c.closed().await {
        Closed::Frame(code, why) => assert_eq!((code, why.as_str()), (1008, msg)),
        Closed::Eof => panic!("no close frame"),
    }
    g.stop().await;
}

#[tokio::test]
async fn connect_without_params_is_refused() {
    let g = start().await;
    let mut c = Client::open(g.addr).await;
    c.send_text(r#"{"type":"req","id":"np-1","method":"connect"}"#)
        .await;
    let msg = "invalid connect params: must be object";
    let e = refused(&mut c, 1008, msg).await;
    assert_eq!(e, json!({ "code": "INVALID_REQUEST", "message": msg }));
    g.stop().await;
}

#[tokio::test]
async fn protocol_99_is_a_mismatch_closed_1002() {
    let g = start().await;
    let mut c = Client::open(g.addr).await;
    let mut p = connect_params("cli", "cli", ALL_SCOPES, Some(TOKEN));
    p["minProtocol"] = json!(99);
    p["maxProtocol"] = json!(99);
    c.send_req("connect", p).await;
    let e = refused(&mut c, 1002, "protocol mismatch").await;
    assert_eq!(
        e,
        json!({ "code": "INVALID_REQUEST", "message": "protocol mismatch", "details": {
            "code": "PROTOCOL_MISMATCH", "clientMinProtocol": 99, "clientMaxProtocol": 99,
            "expectedProtocol": 4, "minimumProbeProtocol": 3 } })
    );
    g.stop().await;
}

#[tokio::test]
async fn oversized_preauth_frame_closes_1009() {
    let g = start().await;
    let mut c = Client::open(g.addr).await;
    c.send_text(&padded_connect(70_000)).await;
    silent_close(&mut c, 1009).await;
    g.stop().await;
}

#[tokio::test]
async fn a_60k_preauth_frame_is_accepted() {
    let g = start().await;
    let mut c = Client::open(g.addr).await;
    c.send_text(&padded_connect(60_000)).await;
    let r = c
        .recv()
        .await
        .expect("a 60 000-byte connect is not closed for size");
    assert_eq!(r["id"], "big-1");
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["payload"]["type"], "hello-ok");
    g.stop().await;
}

async fn probe(
    addr: std::net::SocketAddr,
    client: &str,
    mode: &str,
    min: u32,
    max: u32,
) -> (Client, Value) {
    let mut c = Client::open(addr).await;
    let mut p = connect_params(client, mode, &["operator.read"], Some(TOKEN));
    p["minProtocol"] = json!(min);
    p["maxProtocol"] = json!(max);
    let r = c.call("connect", p).await;
    (c, r)
}

#[tokio::test]
async fn probe_3_to_4_gets_protocol_4_and_no_scopes() {
    let g = start().await;
    let (mut c, r) = probe(g.addr, "cli", "probe", 3, 4).await;
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["payload"]["protocol"], 4);
    assert_eq!(r["payload"]["auth"]["scopes"], json!([]));
    // health still answers; a read method does not (observed.md).
    c.ok("health", json!({})).await;
    let s = c.call("system-presence", json!({})).await;
    assert_eq!(s["error"]["code"], "FORBIDDEN", "{s}");
    assert_eq!(s["error"]["message"], "missing scope: operator.read");
    g.stop().await;
}

#[tokio::test]
async fn probe_3_to_3_gets_protocol_3() {
    let g = start().await;
    let (_c, r) = probe(g.addr, "cli", "probe", 3, 3).await;
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["payload"]["protocol"], 3);
    assert_eq!(r["payload"]["auth"]["scopes"], json!([]));
    g.stop().await;
}

#[tokio::test]
async fn cli_3_to_3_is_a_mismatch() {
    let g = start().await;
    let (mut c, r) = probe(g.addr, "cli", "cli", 3, 3).await;
    assert_eq!(r["ok"], false, "{r}");
    assert_eq!(r["error"]["message"], "protocol mismatch");
    assert_eq!(
        r["error"]["details"],
        json!({ "code": "PROTOCOL_MISMATCH", "clientMinProtocol": 3, "clientMaxProtocol": 3,
                "expectedProtocol": 4, "minimumProbeProtocol": 3 })
    );
    match c.closed().await {
        Closed::Frame(code, why) => assert_eq!((code, why.as_str()), (1002, "protocol mismatch")),
        Closed::Eof => panic!("no close frame"),
    }
    g.stop().await;
}

/// With a paused clock tokio auto-advances virtual time whenever the runtime is idle, so the
/// 15 s deadline passes instantly; the gateway's 500 ms monitor timer keeps the steps small.
#[tokio::test(start_paused = true)]
async fn silent_client_is_closed_1000_after_15s() {
    let g = start_with(Setup::default().paused_clock()).await;
    let t0 = tokio::time::Instant::now();
    let mut c = Client::open(g.addr).await;
    silent_close(&mut c, 1000).await;
    let waited = t0.elapsed();
    assert!(
        waited >= std::time::Duration::from_millis(15_000),
        "closed after {waited:?}"
    );
    assert!(
        waited < std::time::Duration::from_millis(16_000),
        "closed after {waited:?}"
    );
    g.stop().await;
}

// ---------------------------------------------------------------- raw frames

/// A raw WebSocket connection: manual upgrade, unmasked server frames parsed by hand.
struct Raw {
    s: TcpStream,
    buf: Vec<u8>,
}

impl Raw {
    async fn open(addr: std::net::SocketAddr) -> Raw {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let req = format!(
            "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        s.write_all(req.as_bytes()).await.unwrap();
        let mut raw = Raw { s, buf: Vec::new() };
        let end = loop {
            if let Some(i) = raw.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            assert!(raw.fill().await > 0, "EOF during upgrade");
        };
        let head = String::from_utf8_lossy(&raw.buf[..end]).to_string();
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        assert!(
            head.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
            "accept key: {head}"
        );
        raw.buf.drain(..end);
        raw
    }

    async fn fill(&mut self) -> usize {
        let mut tmp = [0u8; 4096];
        let n = bounded("bytes from the server", self.s.read(&mut tmp))
            .await
            .unwrap_or(0);
        self.buf.extend_from_slice(&tmp[..n]);
        n
    }

    /// Next server frame `(opcode, payload)`; `None` on EOF.
    async fn frame(&mut self) -> Option<(u8, Vec<u8>)> {
        loop {
            if self.buf.len() >= 2 {
                assert_eq!(self.buf[1] & 0x80, 0, "server frames are unmasked");
                let (len, hdr) = match self.buf[1] & 0x7f {
                    126 if self.buf.len() >= 4 => {
                        (u16::from_be_bytes([self.buf[2], self.buf[3]]) as usize, 4)
                    }
                    127 if self.buf.len() >= 10 => (
                        u64::from_be_bytes(self.buf[2..10].try_into().unwrap()) as usize,
                        10,
                    ),
                    n @ 0..=125 => (n as usize, 2),
                    _ => (usize::MAX, 0),
                };
                if len != usize::MAX && self.buf.len() >= hdr + len {
                    let op = self.buf[0] & 0x0f;
                    let payload = self.buf[hdr..hdr + len].to_vec();
                    self.buf.drain(..hdr + len);
                    return Some((op, payload));
                }
            }
            if self.fill().await == 0 {
                return None;
            }
        }
    }

    /// Send a masked client frame (FIN set) with any payload length.
    async fn send(&mut self, opcode: u8, payload: &[u8]) {
        let mask = [0x37u8, 0xfa, 0x21, 0x3d];
        let mut f = vec![0x80 | opcode];
        match payload.len() {
            n @ 0..=125 => f.push(0x80 | n as u8),
            n @ 126..=0xffff => {
                f.push(0x80 | 126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                f.push(0x80 | 127);
                f.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        f.extend_from_slice(&mask);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.s.write_all(&f).await.unwrap();
    }
}

#[tokio::test]
async fn oversized_close_frame_from_client_gets_1002() {
    let g = start().await;
    let mut raw = Raw::open(g.addr).await;
    let (op, ch) = raw.frame().await.expect("challenge");
    assert_eq!(op, 0x1);
    let ch: Value = serde_json::from_slice(&ch).unwrap();
    assert_eq!(ch["event"], "connect.challenge");
    let mut payload = 1000u16.to_be_bytes().to_vec();
    payload.extend_from_slice(&[b'a'; 128]); // 130 bytes > 125
    raw.send(0x8, &payload).await;
    let (op, body) = raw.frame().await.expect("a close frame from the server");
    assert_eq!(op, 0x8, "close opcode");
    assert!(body.len() >= 2, "close frame carries a code");
    assert_eq!(u16::from_be_bytes([body[0], body[1]]), 1002);
    g.stop().await;
}

// ---------------------------------------------------------------- after auth

#[tokio::test]
async fn second_connect_read_only_is_forbidden_and_socket_stays_usable() {
    let g = start().await;
    let (mut c, _) = operator(g.addr, &["operator.read"]).await;
    let r = c
        .call(
            "connect",
            connect_params("gateway-client", "backend", &["operator.read"], Some(TOKEN)),
        )
        .await;
    assert_eq!(r["ok"], false, "{r}");
    assert_eq!(
        r["error"],
        json!({ "code": "FORBIDDEN", "message": "missing scope: operator.admin", "details": {
            "code": "MISSING_SCOPE", "missingScope": "operator.admin", "requiredScopes": ["operator.admin"] } })
    );
    assert_eq!(c.ok("health", json!({})).await["ok"], true);
    g.stop().await;
}

#[tokio::test]
async fn second_connect_admin_is_invalid_request_and_socket_stays_usable() {
    let g = start().await;
    let (mut c, _) = operator(g.addr, ALL_SCOPES).await;
    let r = c
        .call(
            "connect",
            connect_params("gateway-client", "backend", ALL_SCOPES, Some(TOKEN)),
        )
        .await;
    assert_eq!(r["ok"], false, "{r}");
    assert_eq!(r["error"]["code"], "INVALID_REQUEST", "{r}");
    assert_eq!(c.ok("health", json!({})).await["ok"], true);
    g.stop().await;
}

#[tokio::test]
async fn fifty_pipelined_health_requests_all_answered() {
    let g = start().await;
    let (mut c, _) = operator(g.addr, &["operator.read"]).await;
    let mut ids = HashSet::new();
    for _ in 0..50 {
        ids.insert(c.send_req("health", json!({})).await);
    }
    assert_eq!(ids.len(), 50);
    let mut seen = HashSet::new();
    while seen.len() < 50 {
        let v = c
            .recv()
            .await
            .unwrap_or_else(|e| panic!("closed after {} responses: {e:?}", seen.len()));
        if v["type"] != "res" {
            continue;
        }
        assert_eq!(v["ok"], true, "{v}");
        let id = v["id"].as_str().unwrap().to_string();
        assert!(ids.contains(&id), "unknown id {id}");
        assert!(seen.insert(id), "duplicate response");
    }
    assert_eq!(seen, ids);
    g.stop().await;
}

#[tokio::test]
async fn message_limit_rises_from_preauth_to_max_payload_after_connect() {
    // maxPayload lowered so the test moves little data; the pre-auth cap stays 64 KiB.
    let g = start_with(Setup::config(
        r#"{ gateway: { mode: "local", auth: { mode: "token" }, limits: { maxPayload: 200000 } } }"#,
    ))
    .await;
    let (mut c, hello) = operator(g.addr, &["operator.read"]).await;
    assert_eq!(hello["policy"]["maxPayload"], 200000);
    // 100 KB is over the pre-auth cap but within maxPayload: answered after auth.
    let pad = "x".repeat(100_000);
    let big = json!({ "type": "req", "id": "big-1", "method": "health", "params": { "probe": false }, "pad": pad });
    c.send_text(&big.to_string()).await;
    // The frame has an extra top-level key, so it is dropped as invalid, but not closed for size:
    // a normal request afterwards is answered.
    assert_eq!(c.ok("health", json!({})).await["ok"], true);
    // 250 KB is over maxPayload: closed with 1009.
    let pad = "x".repeat(250_000);
    c.send_text(
        &json!({ "type": "req", "id": "big-2", "method": "health", "pad": pad }).to_string(),
    )
    .await;
    match c.closed().await {
        Closed::Frame(code, _) => assert_eq!(code, 1009),
        other => panic!("expected 1009, got {other:?}"),
    }
    g.stop().await;
}

//! `limit-server`: the reference "floor" target. A minimal server that only moves the protocol's
//! bytes: fixed `connect.challenge`, fixed `hello-ok` (protocol 4), a fixed `{"ok":true}` reply to
//! every other request, and on `system-event` one `presence` event encoded once and queued to every
//! socket as shared `Bytes` (each socket's writer splices its own `seq`). No auth, no state.
//! Plain HTTP requests get `200 {"ok":true}` (keep-alive), so `http` has a floor too.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::Bytes;
use clap::Args;
use fastwebsockets::{after_handshake_split, FragmentCollectorRead, OpCode, Role};
use serde::Deserialize;
use serde_json::value::RawValue;
use sha1::{Digest, Sha1};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

#[derive(Args, Debug)]
pub struct LimitArgs {
    /// Port on 127.0.0.1 (0: any free port; the chosen one is logged).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Exit after this many seconds (0: run until SIGTERM / Ctrl-C).
    #[arg(long, default_value_t = 0)]
    pub max_secs: u64,
}

const HELLO: &str = r#"{"type":"hello-ok","protocol":4,"server":{"version":"limit","connId":"limit"},"features":{"methods":["health","system-event"],"events":["connect.challenge","presence"]},"snapshot":{"presence":[],"health":{"ok":true},"stateVersion":{"presence":0,"health":0},"uptimeMs":0,"authMode":"none"},"auth":{"method":"none","role":"operator","scopes":["operator.admin","operator.read","operator.write"]},"policy":{"maxPayload":26214400,"maxBufferedBytes":52428800,"tickIntervalMs":30000}}"#;

/// What a socket's writer sends.
enum Out {
    /// A complete text frame.
    Text(Bytes),
    /// An event: `head` + `,"seq":N` + `tail`.
    Event(Bytes, Bytes),
    /// A control frame (pong, close) owed to the peer.
    Ctrl(u8, Vec<u8>),
}

#[derive(Default)]
struct Hub {
    socks: Mutex<HashMap<u64, mpsc::UnboundedSender<Out>>>,
    next: AtomicU64,
    version: AtomicU64,
}

#[derive(Deserialize)]
struct Req<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(borrow)]
    method: Cow<'a, str>,
    #[serde(default, borrow)]
    params: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct EventParams<'a> {
    #[serde(default, borrow)]
    text: Cow<'a, str>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// `Sec-WebSocket-Accept` for a client key (RFC 6455 §4.2.2).
pub fn accept_key(key: &str) -> String {
    let mut h = Sha1::new();
    h.update(key.trim().as_bytes());
    h.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    STANDARD.encode(h.finalize())
}

/// Header of an unmasked server frame with FIN set.
pub fn frame_header(buf: &mut Vec<u8>, opcode: u8, len: usize) {
    buf.push(0x80 | opcode);
    if len < 126 {
        buf.push(len as u8);
    } else if len <= 0xFFFF {
        buf.push(126);
        buf.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        buf.push(127);
        buf.extend_from_slice(&(len as u64).to_be_bytes());
    }
}

/// Append one [`Out`] as a WebSocket frame; events get `seq` spliced in.
fn encode(buf: &mut Vec<u8>, out: &Out, seq: &mut u64) {
    match out {
        Out::Text(b) => {
            frame_header(buf, 0x1, b.len());
            buf.extend_from_slice(b);
        }
        Out::Event(head, tail) => {
            *seq += 1;
            let n = seq.to_string();
            frame_header(buf, 0x1, head.len() + 7 + n.len() + tail.len());
            buf.extend_from_slice(head);
            buf.extend_from_slice(b",\"seq\":");
            buf.extend_from_slice(n.as_bytes());
            buf.extend_from_slice(tail);
        }
        Out::Ctrl(op, p) => {
            frame_header(buf, *op, p.len());
            buf.extend_from_slice(p);
        }
    }
}

/// `{"type":"res","id":<id>,"ok":true,"payload":<payload>}`.
pub fn res_ok(id: &str, payload: &str) -> Bytes {
    let id = serde_json::to_string(id).unwrap_or_else(|_| "\"\"".into());
    Bytes::from(format!(
        r#"{{"type":"res","id":{id},"ok":true,"payload":{payload}}}"#
    ))
}

/// The two shared parts of a `presence` event for `text`.
fn presence_parts(text: &str, version: u64) -> (Bytes, Bytes) {
    let text = serde_json::to_string(text).unwrap_or_else(|_| "\"\"".into());
    let head = format!(
        r#"{{"type":"event","event":"presence","payload":{{"presence":[{{"host":"limit","mode":"event","reason":"event","text":{text},"ts":{}}}]}}"#,
        now_ms()
    );
    let tail = format!(r#","stateVersion":{{"presence":{version},"health":1}}}}"#);
    (Bytes::from(head), Bytes::from(tail))
}

pub async fn serve(a: &LimitArgs) -> Result<()> {
    let l = TcpListener::bind(("127.0.0.1", a.port))
        .await
        .with_context(|| format!("bind 127.0.0.1:{}", a.port))?;
    eprintln!("listening on ws://{}", l.local_addr()?);
    let hub = Arc::new(Hub::default());
    let challenge = Bytes::from(format!(
        r#"{{"type":"event","event":"connect.challenge","payload":{{"nonce":"limit-nonce","ts":{}}}}}"#,
        now_ms()
    ));
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let limit = async {
        match a.max_secs {
            0 => std::future::pending::<()>().await,
            s => tokio::time::sleep(Duration::from_secs(s)).await,
        }
    };
    tokio::pin!(limit);
    loop {
        tokio::select! {
            r = l.accept() => {
                let Ok((s, _)) = r else { continue };
                let _ = s.set_nodelay(true);
                let (hub, ch) = (hub.clone(), challenge.clone());
                tokio::spawn(async move { let _ = conn(s, hub, ch).await; });
            }
            _ = term.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
            _ = &mut limit => break,
        }
    }
    eprintln!("limit-server: stopping");
    Ok(())
}

/// Request head: (is a WebSocket upgrade, Sec-WebSocket-Key, Content-Length). None at EOF.
async fn read_head<R: AsyncBufRead + Unpin>(r: &mut R) -> Result<Option<(bool, String, usize)>> {
    let (mut line, mut total, mut first) = (String::new(), 0usize, true);
    let (mut upgrade, mut key, mut len) = (false, String::new(), 0usize);
    loop {
        line.clear();
        let n = r.read_line(&mut line).await?;
        if n == 0 {
            if first {
                return Ok(None);
            }
            bail!("eof in request head");
        }
        total += n;
        if total > 16 * 1024 {
            bail!("request head too large");
        }
        if first {
            first = false;
            continue;
        }
        let l = line.trim_end();
        if l.is_empty() {
            return Ok(Some((upgrade, key, len)));
        }
        let Some((k, v)) = l.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
        match k.as_str() {
            "upgrade" => upgrade = v.eq_ignore_ascii_case("websocket"),
            "sec-websocket-key" => key = v.to_string(),
            "content-length" => len = v.parse().unwrap_or(0),
            _ => {}
        }
    }
}

async fn conn(s: TcpStream, hub: Arc<Hub>, challenge: Bytes) -> Result<()> {
    let (r, mut w) = s.into_split();
    let mut r = BufReader::with_capacity(4096, r);
    let key = loop {
        let Some((upgrade, key, len)) = read_head(&mut r).await? else {
            return Ok(());
        };
        if upgrade && !key.is_empty() {
            break key;
        }
        let mut body = vec![0u8; len.min(1 << 20)];
        r.read_exact(&mut body).await?;
        let ok = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{\"ok\":true}";
        w.write_all(ok).await?;
    };
    let resp = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
        accept_key(&key)
    );
    w.write_all(resp.as_bytes()).await?;
    let (tx, rx) = mpsc::unbounded_channel();
    let writer = tokio::spawn(write_loop(w, rx));
    let _ = tx.send(Out::Text(challenge));
    let (rd, _) = after_handshake_split(r, tokio::io::sink(), Role::Server);
    let mut rd = FragmentCollectorRead::new(rd);
    let id = hub.next.fetch_add(1, Ordering::Relaxed);
    let mut joined = false;
    loop {
        let t2 = tx.clone();
        let mut owed = move |f: fastwebsockets::Frame<'_>| {
            let r = t2.send(Out::Ctrl(f.opcode as u8, f.payload.to_vec()));
            async move { r.map_err(|_| std::io::Error::other("writer gone")) }
        };
        let Ok(f) = rd.read_frame(&mut owed).await else {
            break;
        };
        match f.opcode {
            OpCode::Close => break,
            OpCode::Text | OpCode::Binary => {}
            _ => continue,
        }
        let Ok(req) = serde_json::from_slice::<Req>(&f.payload) else {
            continue;
        };
        if req.method == "connect" {
            let _ = tx.send(Out::Text(res_ok(&req.id, HELLO)));
            if !joined {
                joined = true;
                if let Ok(mut m) = hub.socks.lock() {
                    m.insert(id, tx.clone());
                }
            }
            continue;
        }
        if req.method == "system-event" {
            let p = req.params.map(|p| p.get()).unwrap_or("{}");
            let text = serde_json::from_str::<EventParams>(p)
                .map(|e| e.text.into_owned())
                .unwrap_or_default();
            let v = hub.version.fetch_add(1, Ordering::Relaxed) + 1;
            let (head, tail) = presence_parts(&text, v);
            if let Ok(m) = hub.socks.lock() {
                for s in m.values() {
                    let _ = s.send(Out::Event(head.clone(), tail.clone()));
                }
            }
        }
        let _ = tx.send(Out::Text(res_ok(&req.id, r#"{"ok":true}"#)));
    }
    if let Ok(mut m) = hub.socks.lock() {
        m.remove(&id);
    }
    drop(tx);
    let _ = writer.await;
    Ok(())
}

/// Drain the queue into one buffer per wake-up and write it.
async fn write_loop(mut w: OwnedWriteHalf, mut rx: mpsc::UnboundedReceiver<Out>) {
    let (mut buf, mut seq) = (Vec::with_capacity(4096), 0u64);
    while let Some(m) = rx.recv().await {
        buf.clear();
        encode(&mut buf, &m, &mut seq);
        while buf.len() < 256 * 1024 {
            let Ok(m) = rx.try_recv() else { break };
            encode(&mut buf, &m, &mut seq);
        }
        if w.write_all(&buf).await.is_err() {
            return;
        }
    }
    let _ = w.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6455_accept() {
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn frames() {
        let mut b = Vec::new();
        frame_header(&mut b, 1, 5);
        assert_eq!(b, [0x81, 5]);
        b.clear();
        frame_header(&mut b, 1, 300);
        assert_eq!(b, [0x81, 126, 1, 44]);
        b.clear();
        frame_header(&mut b, 2, 70_000);
        assert_eq!(b, [0x82, 127, 0, 0, 0, 0, 0, 1, 0x11, 0x70]);
    }

    #[test]
    fn event_splice_and_res() {
        let (h, t) = presence_parts("hi \"x\"", 3);
        let (mut buf, mut seq) = (Vec::new(), 41);
        encode(&mut buf, &Out::Event(h, t), &mut seq);
        assert_eq!(seq, 42);
        let v: serde_json::Value = serde_json::from_slice(&buf[4..]).unwrap();
        assert_eq!(buf[1], 126);
        assert_eq!(u16::from_be_bytes([buf[2], buf[3]]) as usize, buf.len() - 4);
        assert_eq!(v["seq"], 42);
        assert_eq!(v["event"], "presence");
        assert_eq!(v["payload"]["presence"][0]["text"], "hi \"x\"");
        assert_eq!(v["stateVersion"]["presence"], 3);
        let r: serde_json::Value = serde_json::from_slice(&res_ok("a\"b", "{}")).unwrap();
        assert_eq!(
            (r["id"].as_str(), r["ok"].as_bool()),
            (Some("a\"b"), Some(true))
        );
        let hello: serde_json::Value = serde_json::from_str(HELLO).unwrap();
        assert_eq!(hello["protocol"], 4);
    }
}

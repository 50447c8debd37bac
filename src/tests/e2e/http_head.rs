//! The request-head limit (`gateway.limits.maxHttpHeadBytes`, 16 KiB like the Node gateway):
//! a head whose target plus header names and values stay under it is served; one that
//! reaches it gets `431 Request Header Fields Too Large` and the socket is closed — on
//! plain HTTP and on a WebSocket upgrade — and a 256 KB head is refused without the
//! gateway reading it to its end.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::util::*;

/// A GET of `path` whose target and header names and values add up to exactly `count`
/// bytes (as the Node gateway counts them), padded with an `X-Big` header.
fn head_of(path: &str, count: usize, upgrade: bool) -> Vec<u8> {
    let mut fixed: Vec<(&str, String)> = vec![("Host", "x".into())];
    if !upgrade {
        // Served heads end the exchange with the response.
        fixed.push(("Connection", "close".into()));
    } else {
        fixed.extend([
            ("Upgrade", "websocket".into()),
            ("Connection", "Upgrade".into()),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==".into()),
            ("Sec-WebSocket-Version", "13".into()),
        ]);
    }
    let used: usize = path.len() + fixed.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
    let pad = count - used - "X-Big".len();
    let mut head = format!("GET {path} HTTP/1.1\r\n");
    for (k, v) in fixed {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("X-Big: {}\r\n\r\n", "a".repeat(pad)));
    head.into_bytes()
}

/// Send `head` (from a task of its own: the gateway may stop reading it) and read what
/// comes back until the gateway closes: (status code, the response's bytes).
async fn exchange(addr: SocketAddr, head: Vec<u8>) -> (u16, String) {
    let s = bounded("tcp connect", TcpStream::connect(addr))
        .await
        .expect("tcp connect");
    let (mut rd, mut wr) = s.into_split();
    let writer = tokio::spawn(async move {
        // A refused head may be cut short by a reset: that is the point.
        let _ = wr.write_all(&head).await;
        wr
    });
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        // Read to EOF (or the reset that follows a refusal); a 101 is complete at its blank line.
        match bounded("the gateway's answer", rd.read(&mut buf)).await {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
        if got.starts_with(b"HTTP/1.1 101") && got.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    writer.abort();
    let text = String::from_utf8_lossy(&got).into_owned();
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|r| r.get(..3))
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status line in {text:?}"));
    (status, text)
}

fn assert_refused(status: u16, text: &str, what: &str) {
    assert_eq!(status, 431, "{what}: {text}");
    assert!(
        text.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
        "{what}: {text}"
    );
    assert!(
        text.to_ascii_lowercase()
            .contains("\r\nconnection: close\r\n"),
        "{what}: {text}"
    );
}

#[tokio::test]
async fn a_head_under_16_kib_is_served_and_one_that_reaches_it_gets_431() {
    let g = start().await;
    let (status, text) = exchange(g.addr, head_of("/healthz", 16 * 1024 - 1, false)).await;
    assert_eq!(status, 200, "count 16383: {text}");
    let (status, text) = exchange(g.addr, head_of("/healthz", 16 * 1024, false)).await;
    assert_refused(status, &text, "count 16384");
    // A long target counts too.
    let path = format!("/healthz?{}", "q".repeat(16 * 1024));
    let (status, text) = exchange(g.addr, head_of(&path, path.len() + 40, false)).await;
    assert_refused(status, &text, "a 16 KiB target");
    // The gateway is still serving.
    let (status, _) = exchange(g.addr, head_of("/healthz", 100, false)).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_256_kb_head_is_refused_before_its_end() {
    let g = start().await;
    // No end of head at all: the gateway cannot be waiting for one to answer 431.
    let mut head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ".to_vec();
    head.extend(std::iter::repeat_n(b'a', 256 * 1024));
    let (status, text) = exchange(g.addr, head).await;
    assert_refused(status, &text, "256 KB without an end");
}

#[tokio::test]
async fn the_limit_is_configurable_and_covers_websocket_upgrades() {
    let g = start_with(Setup::config(
        r#"{ gateway: { mode: "local", auth: { mode: "token" }, limits: { maxHttpHeadBytes: 9000 } } }"#,
    ))
    .await;
    let (status, text) = exchange(g.addr, head_of("/healthz", 8999, false)).await;
    assert_eq!(status, 200, "count 8999: {text}");
    let (status, text) = exchange(g.addr, head_of("/healthz", 9000, false)).await;
    assert_refused(status, &text, "HTTP, count 9000");
    let (status, text) = exchange(g.addr, head_of("/", 8999, true)).await;
    assert_eq!(status, 101, "upgrade, count 8999: {text}");
    let (status, text) = exchange(g.addr, head_of("/", 9000, true)).await;
    assert_refused(status, &text, "upgrade, count 9000");
}

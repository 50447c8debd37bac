//! HTTP on the gateway port (observed.md "HTTP on the same port"): probes, security headers,
//! disabled OpenAI surface, the built-in Control UI page, WS + HTTP on one port, and a burst
//! of 1000 simultaneous WebSocket connects.

use std::net::SocketAddr;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::util::*;

/// A parsed HTTP/1.1 response.
#[derive(Debug)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("utf-8 body")
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("JSON body ({e}): {}", self.text()))
    }
}

/// Decode a chunked body.
fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let i = b
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("chunk size line");
        let size_line = std::str::from_utf8(&b[..i]).unwrap();
        let size = usize::from_str_radix(size_line.split(';').next().unwrap().trim(), 16).unwrap();
        b = &b[i + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&b[..size]);
        b = &b[size + 2..];
    }
}

/// One request on a fresh connection (`Connection: close`), read to EOF.
async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    extra: &[(&str, &str)],
    body: &str,
) -> Resp {
    let mut s = bounded("tcp connect", TcpStream::connect(addr))
        .await
        .expect("tcp connect");
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in extra {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    bounded("the HTTP response", s.read_to_end(&mut raw))
        .await
        .expect("read response");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("response head");
    let head = std::str::from_utf8(&raw[..split]).expect("ASCII head");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    assert!(status_line.starts_with("HTTP/1.1 "), "{status_line}");
    let status = status_line[9..12].parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (k, v) = l.split_once(':').expect("header line");
            (k.trim().to_string(), v.trim().to_string())
        })
        .collect();
    let mut r = Resp {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    };
    if r.header("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        r.body = dechunk(&r.body);
    } else if let Some(n) = r.header("content-length").filter(|_| method != "HEAD") {
        assert_eq!(
            r.body.len(),
            n.parse::<usize>().unwrap(),
            "body matches content-length"
        );
    }
    r
}

async fn get(addr: SocketAddr, path: &str) -> Resp {
    request(addr, "GET", path, &[], "").await
}

/// The headers every response carries.
fn assert_secure(r: &Resp, what: &str) {
    assert_eq!(
        r.header("x-content-type-options"),
        Some("nosniff"),
        "{what}: {r:?}"
    );
    assert_eq!(
        r.header("referrer-policy"),
        Some("no-referrer"),
        "{what}: {r:?}"
    );
    assert!(
        r.header("permissions-policy")
            .is_some_and(|v| !v.is_empty()),
        "{what}: {r:?}"
    );
}

#[tokio::test]
async fn liveness_probes_get_and_head() {
    let g = start().await;
    for path in ["/health", "/healthz"] {
        let r = get(g.addr, path).await;
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(
            r.header("content-type"),
            Some("application/json; charset=utf-8")
        );
        assert_eq!(r.header("cache-control"), Some("no-store"));
        assert_eq!(r.text(), r#"{"ok":true,"status":"live"}"#);
        assert_secure(&r, path);

        let h = request(g.addr, "HEAD", path, &[], "").await;
        assert_eq!(h.status, 200, "HEAD {path}");
        assert!(h.body.is_empty(), "HEAD has no body");
        assert_eq!(
            h.header("content-type"),
            Some("application/json; charset=utf-8")
        );
        assert_eq!(
            h.header("content-length"),
            Some("27"),
            "HEAD announces the GET length"
        );
        assert_secure(&h, path);
    }
    g.stop().await;
}

#[tokio::test]
async fn readiness_probes() {
    let g = start().await;
    for path in ["/readyz", "/ready"] {
        let r = get(g.addr, path).await;
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(
            r.header("content-type"),
            Some("application/json; charset=utf-8")
        );
        assert_eq!(r.header("cache-control"), Some("no-store"));
        assert_secure(&r, path);
        let v = r.json();
        assert_eq!(v["ready"], true);
        assert_eq!(v["failing"], json!([]));
        assert!(v["uptimeMs"].is_u64(), "{v}");
        assert!(
            v["eventLoop"]["degraded"].is_boolean(),
            "observed: local callers get eventLoop: {v}"
        );
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(
            keys[..3],
            ["ready", "failing", "uptimeMs"],
            "observed key order"
        );

        let h = request(g.addr, "HEAD", path, &[], "").await;
        assert_eq!(h.status, 200);
        assert!(h.body.is_empty());
    }
    g.stop().await;
}

#[tokio::test]
async fn openai_surface_is_off_by_default() {
    let g = start().await;
    let bearer = format!("Bearer {TOKEN}");
    let chat = r#"{"model":"openclaw","messages":[{"role":"user","content":"hi"}]}"#;
    let cases = [
        request(g.addr, "GET", "/v1/models", &[], "").await,
        request(
            g.addr,
            "GET",
            "/v1/models",
            &[("Authorization", &bearer)],
            "",
        )
        .await,
        request(g.addr, "POST", "/v1/chat/completions", &[], chat).await,
        request(
            g.addr,
            "POST",
            "/v1/chat/completions",
            &[("Authorization", &bearer)],
            chat,
        )
        .await,
    ];
    for r in cases {
        assert_eq!(r.status, 404, "{r:?}");
        assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
        assert_eq!(r.text(), "Not Found");
        assert_secure(&r, "404");
    }
    g.stop().await;
}

#[tokio::test]
async fn control_ui_page_and_spa_fallback() {
    let g = start().await;
    for path in [
        "/",
        "/nonexistent-path",
        "/__openclaw__/",
        "/chat/session/1",
    ] {
        let r = get(g.addr, path).await;
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(
            r.header("content-type"),
            Some("text/html; charset=utf-8"),
            "{path}"
        );
        assert_eq!(r.header("x-frame-options"), Some("DENY"));
        assert_eq!(r.header("cache-control"), Some("no-cache"));
        assert!(r
            .header("content-security-policy")
            .is_some_and(|c| c.contains("frame-ancestors 'none'")));
        assert_secure(&r, path);
        assert!(
            r.text().contains("data-openclaw-control-ui-base-path=\"\""),
            "{path}: {}",
            r.text()
        );
    }
    let r = get(g.addr, "/ui").await;
    assert_eq!(r.status, 404);
    assert_secure(&r, "/ui");
    g.stop().await;
}

#[tokio::test]
async fn websocket_and_http_share_the_port() {
    let g = start().await;
    let (mut c, _) = operator(g.addr, &["operator.read"]).await;
    // HTTP while a WS session is open on the same listener.
    let r = get(g.addr, "/healthz").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!({ "ok": true, "status": "live" }));
    assert_eq!(c.ok("health", json!({})).await["ok"], true);
    let r = get(g.addr, "/readyz").await;
    assert_eq!(r.json()["ready"], true);
    // A second WS after the HTTP requests.
    let (mut d, _) = operator(g.addr, &["operator.read"]).await;
    assert!(d.ok("system-presence", json!({})).await.is_array());
    assert_eq!(c.ok("status", json!({})).await["connections"]["sockets"], 2);
    g.stop().await;
}

/// Raise the soft open-files limit to the hard one (the harness and the server share it).
fn raise_nofile() {
    // SAFETY: getrlimit/setrlimit only read/write the struct we own.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn burst_of_1000_websocket_connects() {
    raise_nofile();
    let g = start().await;
    let addr = g.addr;
    let tasks: Vec<_> = (0..1000)
        .map(|_| tokio::spawn(async move { Client::open(addr).await }))
        .collect();
    let mut clients = Vec::with_capacity(tasks.len());
    let mut failed = 0;
    for t in tasks {
        match t.await {
            Ok(c) => clients.push(c),
            Err(_) => failed += 1,
        }
    }
    assert_eq!(
        failed, 0,
        "every connect got its challenge (no reset, no refusal)"
    );
    let nonces: std::collections::HashSet<&str> =
        clients.iter().map(|c| c.nonce.as_str()).collect();
    assert_eq!(nonces.len(), 1000, "a fresh nonce per socket");
    // The gateway still serves WS and HTTP with 1000 sockets pending.
    let r = get(addr, "/healthz").await;
    assert_eq!(r.status, 200);
    let (mut c, _) = operator(addr, &["operator.read"]).await;
    assert_eq!(c.ok("health", json!({})).await["ok"], true);
    drop(clients);
    g.stop().await;
}

#[tokio::test]
async fn probe_details_only_for_local_direct_or_authenticated_callers() {
    let g = start().await;
    // Behind a proxy (forwarding header) the caller is not local-direct: minimal body.
    let fwd = [("X-Forwarded-For", "203.0.113.9")];
    let r = request(g.addr, "GET", "/readyz", &fwd, "").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!({ "ready": true }));
    let r = request(g.addr, "GET", "/startupz", &fwd, "").await;
    assert_eq!(r.json(), json!({ "ok": true, "status": "started" }));
    // The same caller with the gateway token sees the details.
    let bearer = format!("Bearer {TOKEN}");
    let auth = [
        ("X-Forwarded-For", "203.0.113.9"),
        ("Authorization", bearer.as_str()),
    ];
    let v = request(g.addr, "GET", "/readyz", &auth, "").await.json();
    assert!(v["uptimeMs"].is_u64() && v["eventLoop"].is_object(), "{v}");
    // A wrong token does not.
    let wrong = [
        ("X-Forwarded-For", "203.0.113.9"),
        ("Authorization", "Bearer nope"),
    ];
    let v = request(g.addr, "GET", "/readyz", &wrong, "").await.json();
    assert_eq!(v, json!({ "ready": true }));
    // Local-direct: startup details.
    let v = get(g.addr, "/startup").await.json();
    assert_eq!(v["status"], "started");
    assert!(v["uptimeMs"].is_u64(), "{v}");
    g.stop().await;
}

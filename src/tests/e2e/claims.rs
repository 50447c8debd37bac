//! README claims about HTTP and connect policy, each checked end to end in process: probes
//! answer 503 while draining, the Control UI (`root`, traversal guard, `enabled`,
//! `basePath`, `allowedOrigins`), trusted-proxy `requiredHeaders`/`allowUsers`, and
//! `gateway.nodes.pairing.autoApproveLocal: false`. Runs and sessions: `claims_sessions.rs`.

use std::net::SocketAddr;
use std::path::Path;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite;

use crate::util::*;

/// One raw HTTP/1.1 response: status, head (lower-cased), body.
struct Raw {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Raw {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Read a whole response from `s` (the server closes after it) and split it.
async fn read_raw(s: &mut TcpStream, what: &str) -> Raw {
    let mut raw = Vec::new();
    bounded(what, s.read_to_end(&mut raw))
        .await
        .expect("read response");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("{what}: no response head in {raw:?}"));
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 "), "{what}: {head}");
    assert!(!head.contains("transfer-encoding"), "{what}: {head}");
    Raw {
        status: head[9..12].parse().unwrap(),
        head,
        body: raw[split + 4..].to_vec(),
    }
}

/// `GET target` sent byte for byte (no client-side path normalisation), `Connection: close`.
async fn raw_get(addr: SocketAddr, target: &str) -> Raw {
    let mut s = bounded("tcp connect", TcpStream::connect(addr))
        .await
        .expect("tcp connect");
    let req = format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    read_raw(&mut s, &format!("the response to GET {target}")).await
}

// ---------------------------------------------------------------- probes while draining

/// A connection carrying an incomplete `GET path` whose gateway side has already left the
/// sniffer for the HTTP stack. With `maxPreauthGlobal: 1` the half-sent request holds the
/// only pre-auth slot until the sniffer classifies it, so a WebSocket upgrade is refused
/// (429) until then and accepted (101) right after.
async fn half_sent_get(g: &TestGateway, path: &str) -> TcpStream {
    let mut s = bounded("tcp connect", TcpStream::connect(g.addr))
        .await
        .expect("tcp connect");
    // More than the sniffer's look-ahead (`sniffMaxBytes: 1024` below; a head past the
    // 16 KiB default would be refused 431): HTTP without waiting for the whole head.
    let pad = "a".repeat(2 * 1024);
    let start = format!("GET {path} HTTP/1.1\r\nX-Pad: {pad}");
    s.write_all(start.as_bytes()).await.unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let r = bounded(
            "a WebSocket upgrade answer",
            tokio_tungstenite::connect_async(g.url()),
        )
        .await;
        match r {
            Ok(_) => return s,
            Err(tungstenite::Error::Http(resp)) if resp.status() == 429 => {}
            Err(e) => panic!("unexpected upgrade failure: {e}"),
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the half-sent GET {path} never left the sniffer"
        );
    }
}

/// Start draining while a probe request is mid-flight, then finish it: the answer.
async fn probe_while_draining(path: &str) -> Raw {
    let cfg = r#"{ gateway: { mode: "local", auth: { mode: "token" },
                   limits: { maxPreauthGlobal: 1, shutdownDrainMs: 60000, sniffMaxBytes: 1024 } } }"#;
    let g = start_with(Setup::config(cfg)).await;
    let ok = raw_get(g.addr, path).await;
    assert_eq!(ok.status, 200, "{path} before draining: {}", ok.text());
    let mut s = half_sent_get(&g, path).await;
    openclaw::serve::begin_shutdown(&g.gw, "claims test");
    assert!(g.gw.shutdown.is_triggered());
    // The drain waits for this connection; finish the request now.
    s.write_all(format!("\r\nHost: {}\r\n\r\n", g.addr).as_bytes())
        .await
        .unwrap();
    let r = read_raw(&mut s, &format!("GET {path} while draining")).await;
    drop(s);
    within(WAIT, "the drain to finish", g.stop()).await;
    r
}

#[tokio::test]
async fn readyz_and_startupz_answer_503_while_draining() {
    let r = probe_while_draining("/readyz").await;
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(r.head.contains("cache-control: no-store"), "{}", r.head);
    let v: Value = serde_json::from_slice(&r.body).expect("JSON body");
    assert_eq!(v["ready"], false, "{v}");
    assert_eq!(v["failing"], json!(["draining"]), "{v}");

    let r = probe_while_draining("/startupz").await;
    assert_eq!(r.status, 503, "{}", r.text());
    let v: Value = serde_json::from_slice(&r.body).expect("JSON body");
    assert_eq!(
        (&v["ok"], &v["status"]),
        (&json!(false), &json!("draining"))
    );
}

// ---------------------------------------------------------------- Control UI

const INDEX: &str = "<!doctype html><title>bundle index</title>";
const APP_JS: &str = "console.log('bundle app');";
const SECRET: &str = "TOP-SECRET-OUTSIDE-ROOT";

/// `<dir>/ui` with index.html, assets/app.js and a dot-file; `<dir>/secret.txt` outside.
fn ui_bundle(dir: &Path) -> std::path::PathBuf {
    let root = dir.join("ui");
    std::fs::create_dir_all(root.join("assets")).unwrap();
    std::fs::write(root.join("index.html"), INDEX).unwrap();
    std::fs::write(root.join("assets/app.js"), APP_JS).unwrap();
    std::fs::write(root.join(".env"), SECRET).unwrap();
    std::fs::write(dir.join("secret.txt"), SECRET).unwrap();
    root
}

fn ui_config(control_ui: &str) -> String {
    format!(
        r#"{{ gateway: {{ mode: "local", auth: {{ mode: "token" }}, controlUi: {control_ui} }} }}"#
    )
}

/// A gateway whose Control UI is `controlUi` with `root` set to a fresh bundle.
async fn ui_gateway(extra: &str) -> TestGateway {
    let dir = temp_dir("claims-ui");
    let root = ui_bundle(&dir);
    let ui = format!("{{ root: {}{extra} }}", json!(root.display().to_string()));
    start_with(Setup {
        dir: Some(dir),
        ..Setup::config(&ui_config(&ui))
    })
    .await
}

#[tokio::test]
async fn control_ui_root_is_served_and_traversal_stays_inside() {
    let g = ui_gateway("").await;
    let r = raw_get(g.addr, "/").await;
    assert_eq!((r.status, r.text().as_str()), (200, INDEX));
    let r = raw_get(g.addr, "/index.html").await;
    assert_eq!((r.status, r.text().as_str()), (200, INDEX));
    assert!(r.head.contains("content-type: text/html"), "{}", r.head);
    let r = raw_get(g.addr, "/assets/app.js").await;
    assert_eq!((r.status, r.text().as_str()), (200, APP_JS));
    assert!(
        r.head.contains("content-type: text/javascript"),
        "{}",
        r.head
    );
    assert!(r.head.contains("immutable"), "hashed assets: {}", r.head);
    // SPA fallback: an unknown route is the index.
    let r = raw_get(g.addr, "/settings/devices").await;
    assert_eq!((r.status, r.text().as_str()), (200, INDEX));
    for target in [
        "/../secret.txt",
        "/assets/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E/secret.txt",
        "/..%2fsecret.txt",
        "/%2e%2e%2fsecret.txt",
        "/assets/%2e%2e/%2e%2e/secret.txt",
        "/%252e%252e/secret.txt",
        "/..%5csecret.txt",
        "/.env",
        "/assets/../.env",
        "//../secret.txt",
    ] {
        let r = raw_get(g.addr, target).await;
        assert!(
            !r.text().contains(SECRET),
            "{target} escaped the root: {}",
            r.text()
        );
        assert!(
            r.status == 404 || r.status == 400 || (r.status == 200 && r.text() == INDEX),
            "{target}: {} {}",
            r.status,
            r.text()
        );
    }
    g.stop().await;
}

#[tokio::test]
async fn control_ui_root_index_at_base_path_is_html() {
    for (extra, target) in [("", "/"), (r#", basePath: "/console""#, "/console/")] {
        let g = ui_gateway(extra).await;
        let r = raw_get(g.addr, target).await;
        assert_eq!((r.status, r.text().as_str()), (200, INDEX), "{target}");
        assert!(
            r.head.contains("content-type: text/html; charset=utf-8"),
            "{target}: {}",
            r.head
        );
        assert!(
            r.head.contains("x-frame-options: deny"),
            "{target}: {}",
            r.head
        );
        g.stop().await;
    }
}

/// Whether a `content-security-policy` value lets a page load scripts from its own origin.
fn csp_allows_own_scripts(csp: &str) -> bool {
    let directive = |name: &str| {
        csp.split(';')
            .map(str::trim)
            .find(|d| d.split_whitespace().next() == Some(name))
            .map(str::to_string)
    };
    directive("script-src")
        .or_else(|| directive("default-src"))
        .is_none_or(|d| d.split_whitespace().any(|s| s == "'self'"))
}

#[tokio::test]
async fn control_ui_bundle_csp_allows_its_own_scripts() {
    let g = ui_gateway("").await;
    let r = raw_get(g.addr, "/index.html").await;
    assert_eq!((r.status, r.text().as_str()), (200, INDEX));
    let csp = r
        .head
        .lines()
        .find_map(|l| l.strip_prefix("content-security-policy:"))
        .unwrap_or("")
        .trim()
        .to_string();
    assert!(
        csp_allows_own_scripts(&csp),
        "CSP blocks /assets/*.js: {csp}"
    );
    g.stop().await;
}

#[tokio::test]
async fn control_ui_disabled_answers_404() {
    let g = ui_gateway(", enabled: false").await;
    for target in ["/", "/index.html", "/assets/app.js", "/settings"] {
        let r = raw_get(g.addr, target).await;
        assert_eq!(r.status, 404, "{target}: {}", r.text());
        assert!(!r.text().contains("bundle"), "{target}: {}", r.text());
    }
    // The WebSocket control plane on the same port is unaffected.
    let (mut c, _) = operator(g.addr, &["operator.read"]).await;
    c.ok("health", json!({})).await;
    g.stop().await;
}

#[tokio::test]
async fn control_ui_base_path_moves_the_ui() {
    let g = ui_gateway(r#", basePath: "/console""#).await;
    let r = raw_get(g.addr, "/console/").await;
    assert_eq!((r.status, r.text().as_str()), (200, INDEX));
    let r = raw_get(g.addr, "/console/assets/app.js").await;
    assert_eq!((r.status, r.text().as_str()), (200, APP_JS));
    let r = raw_get(g.addr, "/console/settings").await;
    assert_eq!((r.status, r.text().as_str()), (200, INDEX));
    for target in ["/", "/assets/app.js", "/index.html"] {
        let r = raw_get(g.addr, target).await;
        assert_eq!(r.status, 404, "{target} is outside basePath: {}", r.text());
    }
    g.stop().await;
}

/// `openclaw-control-ui` connect params with a signed device for `c`'s challenge.
fn control_ui_params(c: &Client, dev: &Device) -> Value {
    let mut p = connect_params("openclaw-control-ui", "ui", ALL_SCOPES, Some(TOKEN));
    dev.attach(&mut p, c);
    p
}

#[tokio::test]
async fn control_ui_allowed_origins_gate_browser_connects() {
    let cfg = ui_config(r#"{ allowedOrigins: ["https://ops.example.com"] }"#);
    let g = start_with(Setup::config(&cfg)).await;
    let dev = Device::new();
    for origin in [
        "https://evil.example.com",
        "https://ops.example.com.evil.net",
    ] {
        let mut c = Client::open_with_headers(g.addr, &[("origin", origin)]).await;
        let p = control_ui_params(&c, &dev);
        refused_with(&mut c, p, "CONTROL_UI_ORIGIN_NOT_ALLOWED").await;
    }
    let mut c = Client::open_with_headers(g.addr, &[("origin", "https://ops.example.com")]).await;
    let p = control_ui_params(&c, &dev);
    let r = c.call("connect", p).await;
    assert_eq!(r["ok"], true, "allowed origin: {r}");
    assert_eq!(r["payload"]["auth"]["role"], "operator", "{r}");
    c.ok("health", json!({})).await;
    g.stop().await;
}

// ---------------------------------------------------------------- trusted proxy

fn trusted_proxy_gateway_setup() -> Setup {
    Setup {
        config: r#"{ gateway: { mode: "local", trustedProxies: ["127.0.0.1"],
                     auth: { mode: "trusted-proxy", trustedProxy: { userHeader: "x-user",
                       requiredHeaders: ["X-Proxy-Secret"], allowUsers: ["alice"],
                       allowLoopback: true } } } }"#
            .into(),
        env: vec![],
        ..Setup::default()
    }
}

/// Connect through the "proxy" with these headers; the refusal's `details.reason`, or
/// `None` when accepted.
async fn proxied(addr: SocketAddr, headers: &[(&str, &str)]) -> Option<String> {
    let mut c = Client::open_with_headers(addr, headers).await;
    let p = connect_params("gateway-client", "backend", &["operator.read"], None);
    let r = c.call("connect", p).await;
    if r["ok"] == true {
        assert_eq!(r["payload"]["auth"]["method"], "trusted-proxy", "{r}");
        c.ok("health", json!({})).await;
        return None;
    }
    assert_eq!(
        r["error"]["details"]["code"], "AUTH_TRUSTED_PROXY_REJECTED",
        "{r}"
    );
    match c.closed().await {
        Closed::Frame(code, _) => assert_eq!(code, 1008, "{r}"),
        Closed::Eof => panic!("no close frame after {r}"),
    }
    Some(
        r["error"]["details"]["reason"]
            .as_str()
            .unwrap()
            .to_string(),
    )
}

#[tokio::test]
async fn trusted_proxy_required_headers_and_allow_users() {
    let g = start_with(trusted_proxy_gateway_setup()).await;
    let missing = Some("trusted_proxy_missing_header_x-proxy-secret".to_string());
    assert_eq!(proxied(g.addr, &[("x-user", "alice")]).await, missing);
    assert_eq!(
        proxied(g.addr, &[("x-user", "alice"), ("x-proxy-secret", " ")]).await,
        missing,
        "a blank required header counts as missing"
    );
    let not_allowed = Some("trusted_proxy_user_not_allowed".to_string());
    let bob = [("x-user", "bob"), ("x-proxy-secret", "s3")];
    assert_eq!(proxied(g.addr, &bob).await, not_allowed);
    let alice = [("x-user", "alice"), ("x-proxy-secret", "s3")];
    assert_eq!(proxied(g.addr, &alice).await, None, "alice is allowed");
    g.stop().await;
}

// ---------------------------------------------------------------- pairing

#[tokio::test]
async fn auto_approve_local_false_requires_pairing_on_loopback() {
    let cfg = r#"{ gateway: { mode: "local", auth: { mode: "token" },
                   nodes: { pairing: { autoApproveLocal: false } } } }"#;
    let g = start_with(Setup::config(cfg)).await;
    let dev = Device::new();
    let mut c = Client::open(g.addr).await;
    let mut p = connect_params("cli", "cli", ALL_SCOPES, Some(TOKEN));
    dev.attach(&mut p, &c);
    let (e, close, why) = refused(&mut c, p).await;
    assert_eq!(e["code"], "NOT_PAIRED", "{e}");
    assert_eq!(
        e["message"], "pairing required: device is not approved yet",
        "{e}"
    );
    assert_eq!(e["details"]["code"], "PAIRING_REQUIRED", "{e}");
    assert_eq!(e["details"]["reason"], "not-paired", "{e}");
    let rid = e["details"]["requestId"].as_str().unwrap();
    let reason = format!("pairing required: device is not approved yet (requestId: {rid})");
    assert_eq!((close, why.as_str()), (1008, reason.as_str()));
    assert!(g.gw.devices.get(&dev.id()).is_none(), "not silently paired");
    // A device-less token client still connects (pairing is about devices only).
    let (mut o, hello) = operator(g.addr, &["operator.read"]).await;
    assert!(hello["auth"].get("deviceToken").is_none(), "{hello}");
    o.ok("health", json!({})).await;
    g.stop().await;
}

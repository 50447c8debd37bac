//! Shared helpers for the end-to-end suite: an in-process gateway on 127.0.0.1:0 with its
//! own state dir, a protocol-v4 WebSocket client, Ed25519 device signing, and a schema check
//! applied to EVERY frame a test client receives (so the whole suite proves schema validity).

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use openclaw::config::{self, Env, LoadArgs};
use openclaw::serve::{self as server, Running};
use openclaw::server::Gateway;
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long any single wait of a test client may take before the test fails with what it
/// was waiting for (a frame, a response, an event, a log line, an HTTP answer).
pub const WAIT: Duration = Duration::from_secs(60);

/// Await `fut` for at most `limit`; on expiry fail the test naming `what`.
pub async fn within<T>(
    limit: Duration,
    what: &str,
    fut: impl std::future::Future<Output = T>,
) -> T {
    match tokio::time::timeout(limit, fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {limit:?} waiting for {what}"),
    }
}

/// Await `fut` for at most [`WAIT`].
pub async fn bounded<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    within(WAIT, what, fut).await
}

/// A 127.0.0.1 address that refuses every connection (bound, never listening) for as long
/// as the returned socket lives, so no other process can take the port meanwhile.
pub fn refusing_addr() -> (tokio::net::TcpSocket, SocketAddr) {
    let s = tokio::net::TcpSocket::new_v4().expect("socket");
    s.bind("127.0.0.1:0".parse().unwrap()).expect("bind");
    let a = s.local_addr().expect("local addr");
    (s, a)
}

/// An HTTP client whose every request fails after [`WAIT`] instead of hanging.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(WAIT)
        .build()
        .expect("reqwest client")
}

/// The shared token every test gateway uses unless a test says otherwise.
pub const TOKEN: &str = "test-token-0123456789";

/// All eight operator scopes.
pub const ALL_SCOPES: &[&str] = &[
    "operator.admin",
    "operator.read",
    "operator.write",
    "operator.approvals",
    "operator.pairing",
    "operator.questions",
    "operator.talk",
    "operator.talk.secrets",
];

/// A fresh temporary directory (kept on failure for inspection).
pub fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("oc-e2e-{tag}-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A gateway running inside the test process.
pub struct TestGateway {
    pub addr: SocketAddr,
    pub gw: Arc<Gateway>,
    pub dir: PathBuf,
    running: Option<Running>,
}

/// How to start a test gateway.
#[derive(Clone)]
pub struct Setup {
    /// Config file body (JSON5). `gateway.mode` is the caller's business.
    pub config: String,
    /// Extra env vars (OPENCLAW_STATE_DIR / CONFIG_PATH are set to the temp dir).
    pub env: Vec<(String, String)>,
    /// CLI-style overrides.
    pub args: LoadArgs,
    /// Reuse this state dir (restart tests).
    pub dir: Option<PathBuf>,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            config: r#"{ gateway: { mode: "local", auth: { mode: "token" } } }"#.into(),
            env: vec![("OPENCLAW_GATEWAY_TOKEN".into(), TOKEN.into())],
            args: LoadArgs::default(),
            dir: None,
        }
    }
}

impl Setup {
    /// For tests on tokio's paused clock: virtual time jumps ahead whenever the runtime
    /// idles, and a send io_uring completes later arrives through the ring's eventfd, which
    /// the paused clock does not wait for. These keep the writers on tokio on either CI pass.
    pub fn paused_clock(mut self) -> Self {
        self.env
            .push(("OPENCLAW_GATEWAY_RUNTIME".into(), "tokio".into()));
        self
    }

    /// Default setup with this config body.
    pub fn config(body: &str) -> Self {
        Setup {
            config: body.into(),
            ..Setup::default()
        }
    }
}

/// Start a gateway with the default token setup.
pub async fn start() -> TestGateway {
    start_with(Setup::default()).await
}

/// Start a gateway as described.
pub async fn start_with(s: Setup) -> TestGateway {
    let dir = s.dir.clone().unwrap_or_else(|| temp_dir("gw"));
    let cfg_path = dir.join("openclaw.json");
    std::fs::write(&cfg_path, &s.config).unwrap();
    let mut env = vec![
        ("HOME".to_string(), dir.display().to_string()),
        (
            "OPENCLAW_STATE_DIR".to_string(),
            dir.join("state").display().to_string(),
        ),
        (
            "OPENCLAW_CONFIG_PATH".to_string(),
            cfg_path.display().to_string(),
        ),
    ];
    // CI runs the whole suite a second time on io_uring with this set.
    if let Ok(r) = std::env::var("OPENCLAW_GATEWAY_RUNTIME") {
        env.push(("OPENCLAW_GATEWAY_RUNTIME".to_string(), r));
    }
    env.extend(s.env.clone());
    let env = Env::from_pairs(env);
    let mut cfg = config::load(&s.args, &env).expect("test config loads");
    cfg.logging.file = dir.join("openclaw.log");
    let gw = tokio::task::spawn_blocking(move || Gateway::new(cfg))
        .await
        .unwrap()
        .expect("gateway state");
    let listener = openclaw_net::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let running = server::start(gw.clone(), listener);
    TestGateway {
        addr: running.addr,
        gw,
        dir,
        running: Some(running),
    }
}

impl TestGateway {
    /// `ws://` URL of this gateway.
    pub fn url(&self) -> String {
        format!("ws://{}/", self.addr)
    }

    /// `http://` base URL.
    pub fn http(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The WebSocket writer runtime in use.
    pub fn runtime(&self) -> openclaw::config::NetRuntime {
        self.running.as_ref().expect("running").runtime
    }

    /// Graceful stop (shutdown event, close 1012, drain).
    pub async fn stop(mut self) -> PathBuf {
        if let Some(r) = self.running.take() {
            r.stop().await;
        }
        self.dir.clone()
    }
}

pub use crate::device_key::Device;
pub use crate::schema::{check_frame, CHECKED};

// ---------------------------------------------------------------- client

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// What ended a read.
#[derive(Debug)]
pub enum Closed {
    /// A close frame with this code and reason.
    Frame(u16, String),
    /// The stream ended without a close frame.
    Eof,
}

/// A protocol-v4 client that checks every frame it receives against the schema.
pub struct Client {
    ws: Ws,
    next_id: u64,
    /// Methods of requests in flight, by id (to pick the result schema).
    pending: HashMap<String, String>,
    /// Events received while waiting for responses.
    pub events: Vec<Value>,
    /// The challenge nonce.
    pub nonce: String,
    /// The challenge ts.
    pub challenge_ts: u64,
    /// How long one wait (`recv`, `response`, `event`, …) may take. Tests on tokio's paused
    /// clock raise it: their virtual time runs ahead while the runtime idles.
    pub wait: Duration,
}

impl Client {
    /// Open a socket and read the challenge.
    pub async fn open(addr: SocketAddr) -> Client {
        Self::open_with_headers(addr, &[]).await
    }

    /// Open a socket with extra upgrade headers and read the challenge.
    pub async fn open_with_headers(addr: SocketAddr, headers: &[(&str, &str)]) -> Client {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut req = format!("ws://{addr}/").into_client_request().unwrap();
        for (k, v) in headers {
            req.headers_mut().insert(
                tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        let (ws, _) = bounded(
            "the WebSocket upgrade",
            tokio_tungstenite::connect_async(req),
        )
        .await
        .expect("ws connect");
        let mut c = Client {
            ws,
            next_id: 1,
            pending: HashMap::new(),
            events: Vec::new(),
            nonce: String::new(),
            challenge_ts: 0,
            wait: WAIT,
        };
        let ch = c.recv().await.expect("challenge");
        assert_eq!(
            ch["event"], "connect.challenge",
            "first frame is the challenge: {ch}"
        );
        assert!(ch.get("seq").is_none(), "challenge carries no seq");
        c.nonce = ch["payload"]["nonce"].as_str().unwrap().to_string();
        c.challenge_ts = ch["payload"]["ts"].as_u64().unwrap();
        c
    }

    /// Next frame as JSON, schema-checked. `Err` when the socket closed; the test fails if
    /// nothing arrives within `self.wait`.
    pub async fn recv(&mut self) -> Result<Value, Closed> {
        let until = tokio::time::Instant::now() + self.wait;
        self.recv_by(until, "the next frame").await
    }

    /// Next frame, failing the test once `until` passes (naming `what` it waited for).
    pub async fn recv_by(
        &mut self,
        until: tokio::time::Instant,
        what: &str,
    ) -> Result<Value, Closed> {
        loop {
            let next = match tokio::time::timeout_at(until, self.ws.next()).await {
                Ok(n) => n,
                Err(_) => panic!(
                    "timed out after {:?} waiting for {what}; backlog: {:?}",
                    self.wait, self.events
                ),
            };
            match next {
                Some(Ok(Message::Text(t))) => {
                    let v: Value = serde_json::from_str(&t).expect("server sent JSON");
                    let method = if v["type"] == "res" {
                        v["id"]
                            .as_str()
                            .and_then(|id| self.pending.get(id))
                            .cloned()
                    } else {
                        None
                    };
                    check_frame(&v, method.as_deref());
                    return Ok(v);
                }
                Some(Ok(Message::Close(f))) => {
                    return Err(match f {
                        Some(CloseFrame { code, reason }) => {
                            Closed::Frame(u16::from(code), reason.to_string())
                        }
                        None => Closed::Frame(1005, String::new()),
                    })
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Err(Closed::Eof),
            }
        }
    }

    /// Read until the socket closes; the close it ended with.
    pub async fn closed(&mut self) -> Closed {
        let until = tokio::time::Instant::now() + self.wait;
        loop {
            match self.recv_by(until, "the socket to close").await {
                Ok(v) => self.events.push(v),
                Err(c) => return c,
            }
        }
    }

    /// Send raw text.
    pub async fn send_text(&mut self, s: &str) {
        bounded(
            "a send to complete",
            self.ws.send(Message::Text(s.to_string())),
        )
        .await
        .expect("send");
    }

    /// Send a binary frame.
    pub async fn send_binary(&mut self, b: Vec<u8>) {
        bounded("a send to complete", self.ws.send(Message::Binary(b)))
            .await
            .expect("send");
    }

    /// Send a ping frame.
    pub async fn send_ping(&mut self, payload: &[u8]) {
        bounded(
            "a ping to be sent",
            self.ws.send(Message::Ping(payload.to_vec())),
        )
        .await
        .expect("send");
    }

    /// Send `n` pings in one write (fed, then flushed together).
    pub async fn send_pings_at_once(&mut self, n: u32) {
        for i in 0..n {
            self.ws
                .feed(Message::Ping(i.to_be_bytes().to_vec()))
                .await
                .expect("feed");
        }
        bounded("the pings to be sent", self.ws.flush())
            .await
            .expect("flush");
    }

    /// The next pong's payload (frames other than pongs are kept as events or skipped).
    pub async fn pong(&mut self) -> Vec<u8> {
        let until = tokio::time::Instant::now() + self.wait;
        loop {
            match tokio::time::timeout_at(until, self.ws.next()).await {
                Ok(Some(Ok(Message::Pong(p)))) => return p,
                Ok(Some(Ok(_))) => continue,
                other => panic!("waiting for a pong: {other:?}"),
            }
        }
    }

    /// Send a close frame.
    pub async fn send_close(&mut self, code: u16, reason: &str) {
        let close = Message::Close(Some(CloseFrame {
            code: CloseCode::from(code),
            reason: reason.to_string().into(),
        }));
        let _ = bounded("a close frame to be sent", self.ws.send(close)).await;
    }

    /// Send a request; returns its id.
    pub async fn send_req(&mut self, method: &str, params: Value) -> String {
        let id = format!("{}:{}", self.next_id, uuid::Uuid::new_v4());
        self.next_id += 1;
        self.pending.insert(id.clone(), method.to_string());
        let frame = json!({ "type": "req", "id": id, "method": method, "params": params });
        self.send_text(&frame.to_string()).await;
        id
    }

    /// Send a request unless the socket is gone; its id.
    pub async fn try_send_req(&mut self, method: &str, params: Value) -> Option<String> {
        let id = format!("{}:{}", self.next_id, uuid::Uuid::new_v4());
        self.next_id += 1;
        self.pending.insert(id.clone(), method.to_string());
        let frame = json!({ "type": "req", "id": id, "method": method, "params": params });
        let sent = bounded(
            "a send to complete",
            self.ws.send(Message::Text(frame.to_string())),
        );
        sent.await.ok().map(|_| id)
    }

    /// The `res` for `id`, from the backlog first (frames that arrive first are kept in `events`).
    pub async fn response(&mut self, id: &str) -> Value {
        if let Some(i) = self
            .events
            .iter()
            .position(|v| v["type"] == "res" && v["id"] == id)
        {
            return self.events.remove(i);
        }
        let until = tokio::time::Instant::now() + self.wait;
        let what = format!("the response to {id}");
        loop {
            let v = self
                .recv_by(until, &what)
                .await
                .unwrap_or_else(|c| panic!("closed waiting for {id}: {c:?}"));
            if v["type"] == "res" && v["id"] == id {
                return v;
            }
            self.events.push(v);
        }
    }

    /// Read frames until one satisfies `hit` and return it (the others go to `events`);
    /// the socket closing or `self.wait` passing fails the test, naming `what`.
    pub async fn until(&mut self, what: &str, mut hit: impl FnMut(&Value) -> bool) -> Value {
        let until = tokio::time::Instant::now() + self.wait;
        loop {
            let v = self
                .recv_by(until, what)
                .await
                .unwrap_or_else(|c| panic!("closed waiting for {what}: {c:?}"));
            if hit(&v) {
                return v;
            }
            self.events.push(v);
        }
    }

    /// Request and wait for the response frame.
    pub async fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.send_req(method, params).await;
        self.response(&id).await
    }

    /// Request and return the payload of a successful response (panics otherwise).
    pub async fn ok(&mut self, method: &str, params: Value) -> Value {
        let r = self.call(method, params).await;
        assert_eq!(r["ok"], true, "{method} failed: {r}");
        r["payload"].clone()
    }

    /// The next event of any name (from the backlog first; responses there are skipped).
    pub async fn next_event(c: &mut Client) -> Value {
        while !c.events.is_empty() {
            let v = c.events.remove(0);
            if v["type"] == "event" {
                return v;
            }
        }
        let until = tokio::time::Instant::now() + c.wait;
        loop {
            let v = c
                .recv_by(until, "an event")
                .await
                .unwrap_or_else(|e| panic!("closed waiting for an event: {e:?}"));
            if v["type"] == "event" {
                return v;
            }
        }
    }

    /// The next event named `name` (from the backlog first).
    pub async fn event(&mut self, name: &str) -> Value {
        if let Some(i) = self.events.iter().position(|e| e["event"] == name) {
            return self.events.remove(i);
        }
        let until = tokio::time::Instant::now() + self.wait;
        let what = format!("event {name}");
        loop {
            let v = self
                .recv_by(until, &what)
                .await
                .unwrap_or_else(|c| panic!("closed waiting for {name}: {c:?}"));
            if v["type"] == "event" && v["event"] == name {
                return v;
            }
            self.events.push(v);
        }
    }
}

/// Publish a barrier: a `tick` with this `ts` to every socket (it passes every scope
/// gate), so a reader can tell "nothing else came before it".
pub fn barrier(g: &TestGateway, ts: u64) {
    g.gw.hub.publish("tick", &json!({ "ts": ts }), None);
}

/// Read events until the barrier tick with `ts` arrives; the names seen before it.
pub async fn until_barrier(c: &mut Client, ts: u64) -> Vec<String> {
    let mut seen = Vec::new();
    loop {
        let v = Client::next_event(c).await;
        if v["event"] == "tick" && v["payload"]["ts"] == ts {
            return seen;
        }
        seen.push(v["event"].as_str().unwrap().to_string());
    }
}

/// Send `connect`, expect a refusal and a close frame: (error, close code, reason).
pub async fn refused(c: &mut Client, p: Value) -> (Value, u16, String) {
    let r = c.call("connect", p).await;
    assert_eq!(r["ok"], false, "connect should be refused: {r}");
    match c.closed().await {
        Closed::Frame(code, reason) => (r["error"].clone(), code, reason),
        Closed::Eof => panic!("no close frame after {r}"),
    }
}

/// A `connect` refused `INVALID_REQUEST` with `details.code`, closed 1008 with the error's
/// message as the reason; the error.
pub async fn refused_with(c: &mut Client, p: Value, details_code: &str) -> Value {
    let (e, close, why) = refused(c, p).await;
    assert_eq!(e["code"], "INVALID_REQUEST", "{e}");
    assert_eq!(e["details"]["code"], details_code, "{e}");
    assert_eq!(
        (close, why.as_str()),
        (1008, e["message"].as_str().unwrap())
    );
    e
}

/// Connect params for a token client.
pub fn connect_params(client_id: &str, mode: &str, scopes: &[&str], token: Option<&str>) -> Value {
    let mut p = json!({
        "minProtocol": 4, "maxProtocol": 4,
        "client": { "id": client_id, "version": "e2e", "platform": "linux", "mode": mode },
        "role": "operator",
        "scopes": scopes,
        "caps": [],
    });
    if let Some(t) = token {
        p["auth"] = json!({ "token": t });
    }
    p
}

/// Open and `connect` with the shared token as `gateway-client`/`backend` (scopes kept).
pub async fn operator(addr: SocketAddr, scopes: &[&str]) -> (Client, Value) {
    let mut c = Client::open(addr).await;
    let r = c
        .call(
            "connect",
            connect_params("gateway-client", "backend", scopes, Some(TOKEN)),
        )
        .await;
    assert_eq!(r["ok"], true, "connect failed: {r}");
    (c, r["payload"].clone())
}

/// The `(role, text)` of each message of a `chat.history` answer (text parts joined).
pub fn role_texts(history: &Value) -> Vec<(String, String)> {
    history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let text = match &m["content"] {
                Value::String(s) => s.clone(),
                Value::Array(parts) => parts.iter().filter_map(|p| p["text"].as_str()).collect(),
                _ => String::new(),
            };
            (m["role"].as_str().unwrap_or("").to_string(), text)
        })
        .collect()
}

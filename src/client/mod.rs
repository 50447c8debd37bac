//! A small protocol-v4 client for the `openclaw` operator commands: open `ws://host:port/`,
//! read `connect.challenge`, send `connect` the way the stock CLI does (three flavours, see
//! [`Flavour`]), keep the `hello-ok`, then `call(method, params)` with a timeout and close.
//!
//! No device block is ever sent (the stock CLI sends none in a fresh HOME either), so the
//! gateway grants what a token/password client may self-declare.

mod error;
mod hello;
mod ws;

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{json, Value};

pub use error::ClientError;
pub use hello::{Capability, Hello};
pub use ws::{Ws, WsUrl};

/// Client version sent by the C and B flavours (the stock CLI sends its package version).
pub const CLIENT_VERSION: &str = env!("CARGO_PKG_VERSION");

/// How the CLI introduces itself (cli.md "Three connect flavours").
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Flavour {
    /// P: `cli`/`probe`, version `dev`, protocol 3..4. Device-less probes get no scopes.
    Probe,
    /// C: `cli`/`cli`, protocol 4.
    Cli,
    /// B: `gateway-client`/`backend`, `displayName:"gateway:<cmd>"`, protocol 4.
    Backend(String),
}

/// Where and how to connect.
#[derive(Clone, Debug)]
pub struct ConnectOptions {
    /// `ws://…` URL.
    pub url: String,
    /// Shared token (`auth.token`).
    pub token: Option<String>,
    /// Password (`auth.password`).
    pub password: Option<String>,
    pub flavour: Flavour,
    /// Requested scopes (the stock CLI asks for `operator.read`).
    pub scopes: Vec<String>,
    /// Bound for the handshake and for each call.
    pub timeout: Duration,
}

impl ConnectOptions {
    /// Defaults for `url`: flavour C, `operator.read`, 10 s.
    pub fn new(url: impl Into<String>) -> Self {
        ConnectOptions {
            url: url.into(),
            token: None,
            password: None,
            flavour: Flavour::Cli,
            scopes: vec!["operator.read".into()],
            timeout: Duration::from_millis(crate::cli::DEFAULT_CLIENT_TIMEOUT_MS),
        }
    }

    /// The `connect` params this client sends.
    pub fn connect_params(&self) -> Value {
        let (id, mode, version, min, display) = match &self.flavour {
            Flavour::Probe => ("cli", "probe", "dev", 3, None),
            Flavour::Cli => ("cli", "cli", CLIENT_VERSION, 4, None),
            Flavour::Backend(cmd) => (
                "gateway-client",
                "backend",
                CLIENT_VERSION,
                4,
                Some(format!("gateway:{cmd}")),
            ),
        };
        let mut client = json!({
            "id": id,
            "version": version,
            "platform": std::env::consts::OS,
            "deviceFamily": device_family(),
            "mode": mode,
            "instanceId": uuid::Uuid::new_v4().to_string(),
        });
        if let Some(d) = display {
            client["displayName"] = json!(d);
        }
        let mut p = json!({
            "minProtocol": min,
            "maxProtocol": 4,
            "client": client,
            "role": "operator",
            "scopes": self.scopes,
            "caps": [],
        });
        let mut auth = serde_json::Map::new();
        if let Some(t) = &self.token {
            auth.insert("token".into(), json!(t));
        }
        if let Some(pw) = &self.password {
            auth.insert("password".into(), json!(pw));
        }
        if !auth.is_empty() {
            p["auth"] = Value::Object(auth);
        }
        p
    }
}

fn device_family() -> &'static str {
    match std::env::consts::OS {
        "linux" => "Linux",
        "macos" => "Mac",
        "windows" => "Windows",
        _ => "Unknown",
    }
}

/// An authenticated connection.
pub struct GatewayClient {
    ws: Ws,
    next_id: u64,
    timeout: Duration,
    /// Responses that arrived while waiting for another id (pipelining).
    early: HashMap<String, Value>,
    /// The `hello-ok` payload.
    pub hello: Hello,
    /// Time from TCP connect to `hello-ok`.
    pub connect_latency: Duration,
}

impl GatewayClient {
    /// Open, read the challenge, `connect`, and keep the `hello-ok` — all within `opts.timeout`.
    pub async fn connect(opts: &ConnectOptions) -> Result<GatewayClient, ClientError> {
        let url = WsUrl::parse(&opts.url)?;
        let t0 = std::time::Instant::now();
        let ms = opts.timeout.as_millis() as u64;
        let fut = async {
            let mut ws = Ws::open(&url).await?;
            let first: Value = parse(&ws.recv().await?)?;
            if first.get("event").and_then(Value::as_str) != Some("connect.challenge") {
                return Err(ClientError::Protocol(format!(
                    "expected connect.challenge, got {first}"
                )));
            }
            let mut c = GatewayClient {
                ws,
                next_id: 1,
                timeout: opts.timeout,
                early: HashMap::new(),
                hello: Hello(Value::Null),
                connect_latency: Duration::ZERO,
            };
            let id = c.send_request("connect", opts.connect_params()).await?;
            let hello = c.read_response("connect", &id).await?;
            c.hello = Hello(hello);
            Ok(c)
        };
        let mut c = match tokio::time::timeout(opts.timeout, fut).await {
            Ok(r) => r?,
            Err(_) => {
                return Err(ClientError::Timeout {
                    what: format!("the gateway handshake at {}", url.as_string()),
                    ms,
                })
            }
        };
        c.connect_latency = t0.elapsed();
        Ok(c)
    }

    /// Send a request without waiting; its id.
    pub async fn send_request(
        &mut self,
        method: &str,
        params: Value,
    ) -> Result<String, ClientError> {
        let id = format!("{}:{}", self.next_id, uuid::Uuid::new_v4());
        self.next_id += 1;
        let frame = json!({ "type": "req", "id": id, "method": method, "params": params });
        self.ws.send(&frame.to_string()).await?;
        Ok(id)
    }

    /// Wait (bounded by the client timeout) for the response to `id`; its payload.
    pub async fn response(&mut self, method: &str, id: &str) -> Result<Value, ClientError> {
        let ms = self.timeout.as_millis() as u64;
        match tokio::time::timeout(self.timeout, self.read_response(method, id)).await {
            Ok(r) => r,
            Err(_) => Err(ClientError::Timeout {
                what: format!("the {method} response"),
                ms,
            }),
        }
    }

    /// `method(params)` and its payload.
    pub async fn call(&mut self, method: &str, params: Value) -> Result<Value, ClientError> {
        let id = self.send_request(method, params).await?;
        self.response(method, &id).await
    }

    /// Like [`Self::call`], but for streaming methods: skip `status:"accepted"` acks and
    /// return the final response.
    pub async fn call_final(&mut self, method: &str, params: Value) -> Result<Value, ClientError> {
        let id = self.send_request(method, params).await?;
        loop {
            let v = self.response(method, &id).await?;
            if v.get("status").and_then(Value::as_str) != Some("accepted") {
                return Ok(v);
            }
        }
    }

    /// Close politely (close frame 1000) and drop the socket.
    pub async fn close(mut self) {
        self.ws.close().await;
    }

    async fn read_response(&mut self, method: &str, id: &str) -> Result<Value, ClientError> {
        let frame = match self.early.remove(id) {
            Some(f) => f,
            None => loop {
                let v = parse(&self.ws.recv().await?)?;
                if v.get("type").and_then(Value::as_str) != Some("res") {
                    continue; // events (tick, health, presence) are not needed here
                }
                match v.get("id").and_then(Value::as_str) {
                    Some(got) if got == id => break v,
                    Some(other) => {
                        self.early.insert(other.to_string(), v);
                    }
                    None => {}
                }
            },
        };
        if frame.get("ok").and_then(Value::as_bool) == Some(true) {
            return Ok(frame.get("payload").cloned().unwrap_or(Value::Null));
        }
        let err = frame.get("error").cloned().unwrap_or(Value::Null);
        let text = |k: &str| err.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        Err(ClientError::Rpc {
            method: method.to_string(),
            code: if text("code").is_empty() {
                "UNKNOWN".into()
            } else {
                text("code")
            },
            message: text("message"),
            details: err.get("details").cloned().unwrap_or(Value::Null),
        })
    }
}

fn parse(text: &str) -> Result<Value, ClientError> {
    serde_json::from_str(text)
        .map_err(|e| ClientError::Protocol(format!("invalid JSON frame: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flavours_match_the_stock_cli() {
        let mut o = ConnectOptions::new("ws://127.0.0.1:1");
        o.token = Some("t".into());
        o.flavour = Flavour::Probe;
        let p = o.connect_params();
        assert_eq!(p["minProtocol"], 3);
        assert_eq!(p["client"]["id"], "cli");
        assert_eq!(p["client"]["mode"], "probe");
        assert_eq!(p["client"]["version"], "dev");
        assert_eq!(p["auth"], json!({ "token": "t" }));
        assert_eq!(p["scopes"], json!(["operator.read"]));
        o.flavour = Flavour::Backend("status".into());
        let p = o.connect_params();
        assert_eq!(p["minProtocol"], 4);
        assert_eq!(p["client"]["id"], "gateway-client");
        assert_eq!(p["client"]["mode"], "backend");
        assert_eq!(p["client"]["displayName"], "gateway:status");
        o.token = None;
        assert!(o.connect_params().get("auth").is_none());
    }
}

//! One WebSocket socket of the control plane: the pre-auth handshake (challenge, first
//! frame must be `connect`, every refusal answered and closed as the Node gateway does),
//! then request dispatch with the scope gate, until close.

use std::sync::Arc;

use openclaw_net::{ConnInfo, Flow, Message, Outbound, WsSession};
use openclaw_proto::{
    event_full, parse_inbound, res_err, res_ok, ErrorCode, ErrorShape, Inbound, ProtoError,
    RequestFrame,
};
use serde_json::json;

use crate::connect::{self, Authed};
use crate::server::{now_ms, Gateway};

/// Text of the refusal when the first request is not `connect`.
const FIRST_MUST_BE_CONNECT: &str = "invalid handshake: first request must be connect";
/// Calls at least this slow are logged at info (the Node gateway's threshold).
pub const SLOW_CALL_MS: u128 = 50;
/// Close reason for a first frame that is JSON but not a request.
const INVALID_REQUEST_FRAME: &str = "invalid request frame";

/// Per-socket state.
pub struct Session {
    gw: Arc<Gateway>,
    out: Outbound,
    info: ConnInfo,
    nonce: String,
    authed: Option<Arc<Authed>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("conn", &self.info.conn_id)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// A fresh socket: queue the challenge at once.
    pub fn open(gw: Arc<Gateway>, out: Outbound, info: ConnInfo) -> Self {
        let nonce = uuid::Uuid::new_v4().to_string();
        out.send_text(event_full(
            "connect.challenge",
            &json!({ "nonce": nonce, "ts": now_ms() }),
        ));
        tracing::debug!(target: "gateway/ws", "← open remoteAddr={} conn={}", info.peer, info.conn_id);
        Self {
            gw,
            out,
            info,
            nonce,
            authed: None,
        }
    }

    async fn handshake(&mut self, msg: Message) -> Flow {
        if !msg.text {
            return Flow::Close(1000, String::new());
        }
        let req = match parse_inbound(&msg.data) {
            Err(ProtoError::NotJson) => return Flow::Close(1000, String::new()),
            Err(_) | Ok(Inbound::Other { .. }) => {
                return Flow::Close(1008, INVALID_REQUEST_FRAME.into())
            }
            Ok(Inbound::Request(r)) => r,
        };
        if req.method() != "connect" {
            let e = ErrorShape::new(ErrorCode::InvalidRequest, FIRST_MUST_BE_CONNECT);
            self.out.send_text(res_err(req.id(), &e));
            return Flow::Close(1008, FIRST_MUST_BE_CONNECT.into());
        }
        match connect::connect(&self.gw, &self.info, &self.nonce, &req, &self.out).await {
            Ok((authed, hello)) => {
                self.out.send_text(res_ok(req.id(), &hello));
                let authed = Arc::new(authed);
                connect::after_hello(&self.gw, &authed, &self.out, &hello["snapshot"]["health"]);
                self.authed = Some(authed);
                // The upgrade headers and the nonce served the handshake; an idle socket
                // should not carry them for its lifetime.
                self.info.headers = Vec::new();
                self.nonce = String::new();
                Flow::Continue
            }
            Err(fail) => {
                self.out.send_text(res_err(req.id(), &fail.error));
                Flow::Close(fail.close, fail.reason)
            }
        }
    }

    async fn request(&self, authed: &Authed, req: RequestFrame<'_>) {
        let t0 = std::time::Instant::now();
        let sock = crate::rpc::Sock {
            conn: self.info.conn_id,
            out: self.out.clone(),
        };
        let reply = crate::rpc::call(&self.gw, authed, &req, &sock).await;
        let ms = t0.elapsed().as_millis();
        let conn = self.info.conn_id;
        // Like the Node gateway's WS log: errors and slow calls always, everything with
        // --verbose. Method names and codes only, never params or payloads.
        let bytes = match reply {
            Ok(None) => {
                tracing::debug!(target: "gateway/ws", "→ res ✓ {} {ms}ms conn={conn}", req.method());
                return;
            }
            Ok(Some(v)) => {
                if ms >= SLOW_CALL_MS {
                    tracing::info!(target: "gateway/ws", "→ res ✓ {} {ms}ms slow conn={conn}", req.method());
                } else {
                    tracing::debug!(target: "gateway/ws", "→ res ✓ {} {ms}ms conn={conn}", req.method());
                }
                res_ok(req.id(), &v)
            }
            Err(e) => {
                tracing::info!(target: "gateway/ws", "→ res ✗ {} {ms}ms code={} conn={conn}", req.method(), e.code);
                res_err(req.id(), &e)
            }
        };
        self.out.send_text(bytes);
    }
}

impl WsSession for Session {
    async fn on_message(&mut self, msg: Message) -> Flow {
        let Some(authed) = self.authed.clone() else {
            return self.handshake(msg).await;
        };
        if !msg.text {
            return Flow::Continue;
        }
        match parse_inbound(&msg.data) {
            Ok(Inbound::Request(req)) => self.request(&authed, req).await,
            Ok(Inbound::Other { .. }) => {}
            Err(ProtoError::InvalidFrame(detail)) => {
                tracing::debug!(target: "gateway/ws", "parse error conn={}: {detail}", self.info.conn_id);
            }
            Err(_) => {
                tracing::debug!(target: "gateway/ws", "non-JSON frame conn={}", self.info.conn_id);
            }
        }
        Flow::Continue
    }

    fn established(&self) -> bool {
        self.authed.is_some()
    }

    fn on_close(&mut self) {
        self.gw.agents.runs.socket_gone(self.info.conn_id);
        if let Some(a) = self.authed.take() {
            connect::disconnected(&self.gw, &a);
        }
        if self.out.was_slow() {
            tracing::warn!(target: "gateway/ws", "closed slow consumer conn={}", self.info.conn_id);
        }
    }
}

//! One WebSocket socket of the control plane: the pre-auth handshake (challenge, first
//! frame must be `connect`, every refusal answered and closed as the Node gateway does),
//! then `hello-ok` (always the first frame after the challenge: the socket joins the hub
//! only once it is queued), then each request handed to [`crate::rpc`]'s dispatcher, until
//! close. Answers go out through a [`crate::responder::Responder`], never written here.

use std::sync::Arc;

use openclaw_net::{ConnInfo, Flow, Message, Outbound, WsSession};
use openclaw_proto::close;
use openclaw_proto::{
    event_full, parse_inbound, res_err, res_ok, ErrorCode, ErrorShape, Inbound, ProtoError,
};
use serde_json::json;

use crate::clock::now_ms;
use crate::connect;
use crate::rpc::{Ctx, Lane, Sock};
use crate::server::Gateway;

/// Text of the refusal when the first request is not `connect`.
const FIRST_MUST_BE_CONNECT: &str = "invalid handshake: first request must be connect";
/// Close reason for a first frame that is JSON but not a request.
const INVALID_REQUEST_FRAME: &str = "invalid request frame";

/// Per-socket state.
pub struct Session {
    gw: Arc<Gateway>,
    out: Outbound,
    info: ConnInfo,
    nonce: String,
    /// Set once `connect` succeeded: what every handler is given.
    ctx: Option<Ctx>,
    lane: Lane,
    /// When the socket opened (the handshake latency metric).
    opened: std::time::Instant,
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
            ctx: None,
            lane: Lane::default(),
            opened: std::time::Instant::now(),
        }
    }

    async fn handshake(&mut self, msg: Message) -> Flow {
        if !msg.text {
            return Flow::Close(close::NORMAL, String::new());
        }
        let req = match parse_inbound(&msg.data) {
            Err(ProtoError::NotJson) => return Flow::Close(close::NORMAL, String::new()),
            Err(_) | Ok(Inbound::Other { .. }) => {
                return Flow::Close(close::POLICY_VIOLATION, INVALID_REQUEST_FRAME.into())
            }
            Ok(Inbound::Request(r)) => r,
        };
        if req.method() != "connect" {
            let e = ErrorShape::new(ErrorCode::InvalidRequest, FIRST_MUST_BE_CONNECT);
            self.out.send_text(res_err(req.id(), &e));
            return Flow::Close(close::POLICY_VIOLATION, FIRST_MUST_BE_CONNECT.into());
        }
        match connect::connect(&self.gw, &self.info, &self.nonce, &req).await {
            Ok((authed, hello)) => {
                crate::metrics::handshake(true, self.opened.elapsed());
                // The handshake answer is the socket's first `res`; nothing else can be
                // queued before it, since the socket joins the hub only now.
                self.out.send_text(res_ok(req.id(), &hello));
                let authed = Arc::new(authed);
                connect::joined(&self.gw, &authed, &self.out);
                connect::after_hello(&self.gw, &authed, &self.out, &hello["snapshot"]["health"]);
                self.ctx = Some(Ctx {
                    gw: self.gw.clone(),
                    who: authed,
                    sock: Sock {
                        conn: self.info.conn_id,
                        out: self.out.clone(),
                    },
                });
                // The upgrade headers and the nonce served the handshake; an idle socket
                // should not carry them for its lifetime.
                self.info.headers = Vec::new();
                self.nonce = String::new();
                Flow::Continue
            }
            Err(fail) => {
                crate::metrics::handshake(false, self.opened.elapsed());
                self.out.send_text(res_err(req.id(), &fail.error));
                Flow::Close(fail.close, fail.reason)
            }
        }
    }
}

impl WsSession for Session {
    async fn on_message(&mut self, msg: Message) -> Flow {
        let Some(ctx) = &self.ctx else {
            return self.handshake(msg).await;
        };
        if !msg.text {
            return Flow::Continue;
        }
        match parse_inbound(&msg.data) {
            Ok(Inbound::Request(req)) => {
                let limit = self.gw.cfg.load().limits.max_inflight_per_socket as usize;
                self.lane.dispatch(ctx, req, limit);
            }
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
        self.ctx.is_some()
    }

    fn on_close(&mut self) {
        self.gw.agents.runs.socket_gone(self.info.conn_id);
        if let Some(c) = self.ctx.take() {
            connect::disconnected(&self.gw, &c.who);
        }
        if self.out.was_slow() {
            tracing::warn!(target: "gateway/ws", "closed slow consumer conn={}", self.info.conn_id);
            self.gw.agents.diag.record(
                "connection.slow_consumer",
                serde_json::json!({ "conn": self.info.conn_id, "droppedEvents": self.out.dropped() }),
            );
        }
    }
}

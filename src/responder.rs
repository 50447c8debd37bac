//! The one writer of `res` frames. The session creates a [`Responder`] for every request it
//! dispatches; the handler (or the run engine, for an `agent` run's final reply) answers
//! through it exactly once. A responder dropped unanswered still answers (`UNAVAILABLE`), so
//! no request is ever left without a reply. Call logging (errors, slow calls, `--verbose`)
//! happens here, once, for every answer.

use std::time::Instant;

use bytes::Bytes;
use openclaw_net::Outbound;
use openclaw_proto::{res_err, res_err_payload, res_ok, ErrorCode, ErrorShape};
use serde_json::Value;

/// Calls at least this slow are logged at info (the Node gateway's threshold).
pub const SLOW_CALL_MS: u128 = 50;

/// The answer channel of one request.
#[derive(Debug)]
pub struct Responder {
    id: String,
    method: Box<str>,
    out: Outbound,
    conn: u64,
    t0: Instant,
    answered: bool,
    /// The method's row in the metrics table (`None`: a method we do not serve).
    slot: Option<usize>,
}

impl Responder {
    /// A responder for request `id` of `method` on the socket `out` (connection `conn`).
    pub fn new(id: &str, method: &str, out: Outbound, conn: u64) -> Self {
        Responder {
            id: id.to_string(),
            method: method.into(),
            out,
            conn,
            t0: Instant::now(),
            answered: false,
            slot: None,
        }
    }

    /// Count this request under the served method at registry index `slot`.
    pub fn with_slot(mut self, slot: usize) -> Self {
        self.slot = Some(slot);
        self
    }

    /// The request id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// An intermediate `ok` answer on the same id (`agent`'s `accepted`); the final one
    /// follows through [`Self::reply`] or [`Self::stored`].
    pub fn ack(&self, payload: &Value) {
        self.out.send_text(res_ok(&self.id, payload));
        tracing::debug!(target: "gateway/ws", "→ res ✓ {} (ack) conn={}", self.method, self.conn);
    }

    /// The final answer.
    pub fn reply(mut self, r: Result<Value, ErrorShape>) {
        let frame = match &r {
            Ok(v) => res_ok(&self.id, v),
            Err(e) => res_err(&self.id, e),
        };
        self.finish(frame, r.as_ref().err().map(|e| &*e.code));
    }

    /// The final answer from a stored run result `{ok, payload, error?}` (an `agent` run's
    /// reply, possibly replayed for a repeated idempotency key).
    pub fn stored(mut self, reply: &Value) {
        if reply["ok"] == true {
            let frame = res_ok(&self.id, &reply["payload"]);
            self.finish(frame, None);
            return;
        }
        let err = &reply["error"];
        let mut e = ErrorShape::with_code(
            err["code"].as_str().unwrap_or("UNAVAILABLE").to_string(),
            err["message"].as_str().unwrap_or("run failed").to_string(),
        );
        e.retryable = err["retryable"].as_bool();
        e.retry_after_ms = err["retryAfterMs"].as_u64();
        let frame = res_err_payload(&self.id, &reply["payload"], &e);
        self.finish(frame, Some(&*e.code));
    }

    fn finish(&mut self, frame: Bytes, code: Option<&str>) {
        self.answered = true;
        self.out.send_text(frame);
        let took = self.t0.elapsed();
        crate::metrics::rpc(self.slot, code, took);
        let ms = took.as_millis();
        let (m, conn) = (&self.method, self.conn);
        // Like the Node gateway's WS log: errors and slow calls always, everything with
        // --verbose. Method names and codes only, never params or payloads.
        match code {
            Some(code) => {
                tracing::info!(target: "gateway/ws", "→ res ✗ {m} {ms}ms code={code} conn={conn}")
            }
            None if ms >= SLOW_CALL_MS => {
                tracing::info!(target: "gateway/ws", "→ res ✓ {m} {ms}ms slow conn={conn}")
            }
            None => tracing::debug!(target: "gateway/ws", "→ res ✓ {m} {ms}ms conn={conn}"),
        }
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        if !self.answered {
            tracing::debug!(target: "gateway/ws", "{} ended without an answer conn={}", self.method, self.conn);
            let e = ErrorShape::new(ErrorCode::Unavailable, "request ended without an answer");
            let frame = res_err(&self.id, &e);
            self.finish(frame, Some("UNAVAILABLE"));
        }
    }
}

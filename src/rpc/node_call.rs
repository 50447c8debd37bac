//! One command sent to a live node and its answer awaited, bounded: the part `node.invoke`
//! and the node exec-approvals relay (`exec.approvals.node.*`) share. The invocation holds a
//! slot of the bounded table for exactly as long as its caller waits; a timeout cancels it on
//! the node. Checks of pairing and policy are the callers'.

use std::sync::Arc;
use std::time::Duration;

use openclaw_proto::{ErrorCode, ErrorShape};
use serde_json::{json, Value};

use super::Ctx;
use crate::nodes::invoke::{send_event, Outcome};
use crate::nodes::NodeConn;
use crate::server::Gateway;

/// What to send.
pub(super) struct Call<'a> {
    pub node_id: &'a str,
    pub command: &'a str,
    pub params: Option<Value>,
    pub timeout_ms: u64,
    pub idempotency_key: Option<&'a str>,
    pub session_key: Option<&'a str>,
}

/// A failure told as the Node gateway tells node failures: `UNAVAILABLE`, the node's code in
/// the message (or in `details.code` when `with_code`), and whether the command reached it.
pub(super) fn node_error(
    code: &str,
    message: &str,
    dispatched: bool,
    with_code: bool,
) -> ErrorShape {
    let mut details = json!({
        "nodeError": { "code": code, "message": message },
        "nodeCommandDispatched": dispatched,
    });
    let msg = if with_code {
        details["code"] = json!(code);
        message.to_string()
    } else {
        format!("{code}: {message}")
    };
    ErrorShape::new(ErrorCode::Unavailable, msg).with_details(details)
}

/// Drops the invocation's table entry however the call ends (answer, deadline, or the
/// caller's socket closing and its task being aborted).
struct Forget(Arc<Gateway>, String);

impl Drop for Forget {
    fn drop(&mut self) {
        self.0.nodes.invokes.forget(&self.1);
    }
}

/// Send `call` to `live` as `node.invoke.request` and wait for its `node.invoke.result`:
/// the node's payload (parsed) and its raw `payloadJSON` (or null).
pub(super) async fn call(
    c: &Ctx,
    live: &NodeConn,
    call: Call<'_>,
) -> Result<(Value, Value), ErrorShape> {
    let max = c.gw.cfg.load().limits.max_pending_node_invokes as usize;
    let id = uuid::Uuid::new_v4().to_string();
    let Some(rx) = c.gw.nodes.invokes.begin(&id, live.conn, call.node_id, max) else {
        return Err(ErrorShape::new(
            ErrorCode::Unavailable,
            format!("too many node invocations in flight (limit {max})"),
        )
        .retryable(true));
    };
    let _forget = Forget(c.gw.clone(), id.clone());
    let mut ev = json!({
        "id": id, "nodeId": call.node_id, "command": call.command,
        "paramsJSON": call.params.map(|v| v.to_string()), "timeoutMs": call.timeout_ms,
    });
    if let Some(k) = call.idempotency_key {
        ev["idempotencyKey"] = json!(k);
    }
    if let Some(k) = call.session_key {
        ev["sessionKey"] = json!(k);
    }
    if !send_event(&live.out, "node.invoke.request", &ev) {
        return Err(node_error(
            "NOT_CONNECTED",
            "node not connected",
            false,
            true,
        ));
    }
    match tokio::time::timeout(Duration::from_millis(call.timeout_ms), rx).await {
        Ok(Ok(Outcome::Done {
            ok: true,
            payload,
            payload_json,
            ..
        })) => Ok(match (payload, payload_json) {
            (_, Some(j)) => (
                serde_json::from_str(&j).unwrap_or(Value::Null),
                Value::String(j),
            ),
            (Some(v), None) => (v, Value::Null),
            (None, None) => (Value::Null, Value::Null),
        }),
        Ok(Ok(Outcome::Done { error, .. })) => {
            let e = error.unwrap_or(Value::Null);
            let code = e["code"].as_str().unwrap_or("UNAVAILABLE");
            let msg = e["message"].as_str().unwrap_or("node invoke failed");
            Err(node_error(code, msg, true, false))
        }
        Ok(Ok(Outcome::Disconnected) | Err(_)) => {
            let msg = format!("node disconnected ({})", call.command);
            Err(node_error("DISCONNECTED", &msg, true, false))
        }
        Err(_) => {
            let cancel = json!({ "invokeId": id, "nodeId": call.node_id });
            send_event(&live.out, "node.invoke.cancel", &cancel);
            Err(node_error("TIMEOUT", "node invoke timed out", true, false))
        }
    }
}

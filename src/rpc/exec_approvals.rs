//! Exec approvals on the wire (`exec.approval.request|list|get|resolve|waitDecision`), as the
//! Node gateway runs them (observed): a request is shown only to *approval clients* — sockets
//! with `operator.approvals` (or admin) that are the Control UI or declare the `approvals` /
//! `exec-approvals` cap, never the requester itself — and with none connected it ends at once
//! with no decision (`no-route`). The table of approvals in flight is `crate::approvals`.

use std::sync::Arc;
use std::time::Duration;

use openclaw_proto::{ErrorCode, ErrorShape, RequestFrame};
use serde_json::{json, Value};

use super::registry::Answer;
use super::ui::strict;
use super::Ctx;
use crate::approvals::{Decision, DECISIONS, DEFAULT_APPROVAL_TIMEOUT_MS};
use crate::clock::now_ms;
use crate::hub::Subscriber;
use crate::server::Gateway;

/// Every property of the 2026.9.6 `ExecApprovalRequestParams`.
const REQUEST_KEYS: &[&str] = &[
    "id",
    "command",
    "commandArgv",
    "systemRunPlan",
    "env",
    "cwd",
    "nodeId",
    "host",
    "security",
    "ask",
    "warningText",
    "scope",
    "unavailableDecisions",
    "commandSpans",
    "agentId",
    "resolvedPath",
    "sessionKey",
    "sessionId",
    "runId",
    "toolCallId",
    "turnSourceChannel",
    "turnSourceTo",
    "turnSourceAccountId",
    "turnSourceThreadId",
    "approvalReviewerDeviceIds",
    "requireDeliveryRoute",
    "suppressDelivery",
    "deliverToApprovalClientsOnly",
    "timeoutMs",
    "twoPhase",
];

/// The request fields echoed (null when absent) in events and lists, in the Node order.
const ECHOED: &[&str] = &[
    "systemRunBinding",
    "systemRunPlan",
    "cwd",
    "nodeId",
    "host",
    "security",
    "ask",
    "warningText",
    "scope",
];
const ECHOED_TAIL: &[&str] = &[
    "agentId",
    "resolvedPath",
    "sessionKey",
    "sessionId",
    "runId",
    "toolCallId",
    "turnSourceChannel",
    "turnSourceTo",
    "turnSourceAccountId",
    "turnSourceThreadId",
    "cronExecutionSource",
    "cronOperationBinding",
];

/// Whether socket `s` is one the gateway asks to decide (the Node gateway's rule).
fn approval_client(s: &Subscriber) -> bool {
    s.approval_client
}

/// How many top-level commands a shell line holds, and how many nested (`$(…)`, backticks).
fn analyse(command: &str) -> Value {
    let top = command
        .split(['\n', ';'])
        .flat_map(|p| p.split("&&"))
        .flat_map(|p| p.split("||"))
        .flat_map(|p| p.split('|'))
        .filter(|p| !p.trim().is_empty())
        .count()
        .max(1);
    let nested = command.matches("$(").count() + command.matches('`').count() / 2;
    json!({ "commandCount": top, "nestedCommandCount": nested, "riskKinds": [], "warningLines": [] })
}

fn build_request(p: &Value, command: &str) -> Value {
    let mut r = serde_json::Map::new();
    r.insert("command".into(), json!(command));
    if let Some(argv) = p.get("commandArgv").filter(|v| v.is_array()) {
        r.insert("commandArgv".into(), argv.clone());
    }
    for k in ECHOED {
        r.insert((*k).into(), p.get(*k).cloned().unwrap_or(Value::Null));
    }
    r.insert("commandAnalysis".into(), analyse(command));
    let unavailable = crate::nodes::strings(&p["unavailableDecisions"]);
    let allowed: Vec<&str> = DECISIONS
        .iter()
        .copied()
        .filter(|d| !unavailable.iter().any(|u| u == d))
        .collect();
    r.insert("allowedDecisions".into(), json!(allowed));
    for k in ECHOED_TAIL {
        r.insert((*k).into(), p.get(*k).cloned().unwrap_or(Value::Null));
    }
    Value::Object(r)
}

fn not_found() -> ErrorShape {
    ErrorShape::new(ErrorCode::InvalidRequest, "unknown or expired approval id").with_details(json!({
        "reason": "APPROVAL_NOT_FOUND",
        "remediation": "Re-request the action; pending approvals are cleared after expiry or restart.",
    }))
}

fn resolved_event(gw: &Gateway, id: &str, decision: Option<&str>, by: Value, request: Value) {
    let ev = json!({ "id": id, "decision": decision, "resolvedBy": by, "ts": now_ms(), "request": request });
    gw.hub
        .publish_filtered("exec.approval.resolved", &ev, None, approval_client);
}

/// Ends `id` as expired once its time is up (approval clients hear `deny`, by nobody).
fn expire_later(gw: Arc<Gateway>, id: String, after_ms: u64) {
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(after_ms)).await;
        let d = Decision {
            decision: None,
            terminal: "timeout",
        };
        if let Some(req) = gw.exec_approvals.decide(&id, d) {
            resolved_event(&gw, &id, Some("deny"), Value::Null, req);
        }
        gw.exec_approvals.prune(now_ms());
    });
}

/// `exec.approval.request`: ask the approval clients; `twoPhase` answers at once, otherwise
/// the answer is the decision.
pub async fn request(c: &Ctx, req: &RequestFrame<'_>) -> Answer {
    let p = strict(req, REQUEST_KEYS, &[])?;
    let command = p["command"]
        .as_str()
        .or_else(|| p["systemRunPlan"]["commandText"].as_str())
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| ErrorShape::new(ErrorCode::InvalidRequest, "command is required"))?
        .to_string();
    let id = p["id"]
        .as_str()
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_string);
    let timeout = p["timeoutMs"]
        .as_u64()
        .filter(|t| *t > 0)
        .unwrap_or(DEFAULT_APPROVAL_TIMEOUT_MS);
    let (gw, me) = (&c.gw, c.who.conn);
    gw.exec_approvals.prune(now_ms());
    let request = build_request(&p, &command);
    let created = now_ms();
    gw.exec_approvals
        .open(&id, request.clone(), created, timeout)
        .map_err(|_| ErrorShape::new(ErrorCode::Unavailable, "approval request unavailable"))?;
    let expires = created + timeout;
    let ev = json!({ "approvalKind": "exec", "id": id, "request": request,
        "createdAtMs": created, "expiresAtMs": expires });
    let asked = gw
        .hub
        .publish_filtered("exec.approval.requested", &ev, None, |s| {
            approval_client(s) && s.conn != me
        });
    let two_phase = p["twoPhase"].as_bool() == Some(true);
    if asked == 0 {
        gw.exec_approvals.decide(
            &id,
            Decision {
                decision: None,
                terminal: "no-route",
            },
        );
        return Ok(
            json!({ "id": id, "decision": null, "createdAtMs": created, "expiresAtMs": expires }),
        );
    }
    expire_later(gw.clone(), id.clone(), timeout);
    if two_phase {
        return Ok(
            json!({ "status": "accepted", "id": id, "deliveryRoute": "approval-client",
            "createdAtMs": created, "expiresAtMs": expires }),
        );
    }
    let d = gw
        .exec_approvals
        .wait(&id, Duration::from_millis(timeout.saturating_add(1000)))
        .await
        .flatten();
    Ok(json!({ "id": id, "decision": d.and_then(|d| d.decision),
        "createdAtMs": created, "expiresAtMs": expires }))
}

/// `exec.approval.list {}`: the pending approvals.
pub fn list(c: &Ctx, req: &RequestFrame<'_>) -> Answer {
    let _: Value = super::params(req)?;
    c.gw.exec_approvals.prune(now_ms());
    Ok(Value::Array(c.gw.exec_approvals.pending()))
}

fn id_param(
    req: &RequestFrame<'_>,
    keys: &[&str],
    required: &[&str],
) -> Result<(Value, String), ErrorShape> {
    let p = strict(req, keys, required)?;
    let id = p["id"].as_str().unwrap_or("").to_string();
    Ok((p, id))
}

/// `exec.approval.get {id}`: how a pending approval is presented.
pub fn get(c: &Ctx, req: &RequestFrame<'_>) -> Answer {
    let (_, id) = id_param(req, &["id"], &["id"])?;
    let (r, _, expires, decided) = c.gw.exec_approvals.get(&id).ok_or_else(not_found)?;
    if decided.is_some() {
        return Err(not_found());
    }
    Ok(
        json!({ "id": id, "commandText": r["command"], "commandPreview": null,
        "allowedDecisions": r["allowedDecisions"], "host": r["host"], "nodeId": r["nodeId"],
        "agentId": r["agentId"], "expiresAtMs": expires }),
    )
}

/// `exec.approval.resolve {id, decision}`.
pub fn resolve(c: &Ctx, req: &RequestFrame<'_>) -> Answer {
    let keys = ["id", "decision", "reviewer", "grantExpiresInDays"];
    let (p, id) = id_param(req, &keys, &["id", "decision"])?;
    let decision = p["decision"].as_str().unwrap_or("");
    if !DECISIONS.contains(&decision) {
        return Err(ErrorShape::new(
            ErrorCode::InvalidRequest,
            "invalid decision",
        ));
    }
    let (r, ..) = c.gw.exec_approvals.get(&id).ok_or_else(not_found)?;
    if !r["allowedDecisions"]
        .as_array()
        .is_some_and(|a| a.iter().any(|d| d == decision))
    {
        return Err(ErrorShape::new(
            ErrorCode::InvalidRequest,
            "invalid decision",
        ));
    }
    let d = Decision {
        decision: Some(decision.to_string()),
        terminal: "user",
    };
    let Some(request) = c.gw.exec_approvals.decide(&id, d) else {
        return Err(
            ErrorShape::new(ErrorCode::InvalidRequest, "approval already resolved")
                .with_details(json!({ "reason": "APPROVAL_ALREADY_RESOLVED" })),
        );
    };
    resolved_event(&c.gw, &id, Some(decision), json!(c.who.client_id), request);
    Ok(json!({ "ok": true }))
}

/// `exec.approval.waitDecision {id}`: until decided or expired.
pub async fn wait_decision(c: &Ctx, req: &RequestFrame<'_>) -> Answer {
    let (_, id) = id_param(req, &["id"], &["id"])?;
    let missing = || ErrorShape::new(ErrorCode::InvalidRequest, "approval expired or not found");
    let (_, created, expires, _) = c.gw.exec_approvals.get(&id).ok_or_else(missing)?;
    let left = expires.saturating_sub(now_ms()).saturating_add(1000);
    let d =
        c.gw.exec_approvals
            .wait(&id, Duration::from_millis(left))
            .await
            .ok_or_else(missing)?;
    let (decision, terminal) = match d {
        Some(d) => (d.decision, d.terminal),
        None => (None, "timeout"),
    };
    Ok(
        json!({ "id": id, "decision": decision, "createdAtMs": created, "expiresAtMs": expires,
        "terminalReason": terminal }),
    )
}

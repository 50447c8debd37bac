//! Exec approvals end to end: with no approval client a request ends at once with no decision
//! (`no-route`); an approval client (the `approvals` cap) is asked, the requester is not; a
//! decision reaches `waitDecision`, a blocking request and the `exec.approval.resolved` event;
//! an unanswered request expires as `deny`. Error words are the Node gateway's (observed).

use std::net::SocketAddr;

use crate::util::*;
use serde_json::{json, Value};

/// An operator socket declaring the `approvals` cap (an approval client).
async fn approver(addr: SocketAddr) -> Client {
    let mut c = Client::open(addr).await;
    let mut p = connect_params("gateway-client", "backend", ALL_SCOPES, Some(TOKEN));
    p["caps"] = json!(["approvals"]);
    let r = c.call("connect", p).await;
    assert_eq!(r["ok"], true, "{r}");
    c
}

fn err(r: &Value) -> Value {
    assert_eq!(r["ok"], false, "expected an error: {r}");
    r["error"].clone()
}

#[tokio::test]
async fn with_nobody_to_ask_a_request_ends_at_once() {
    let g = start().await;
    let (mut op, _) = operator(g.addr, ALL_SCOPES).await;
    let e = err(&op.call("exec.approval.request", json!({})).await);
    assert_eq!(e["message"], "command is required");
    let r = op
        .ok(
            "exec.approval.request",
            json!({ "command": "ls", "timeoutMs": 60_000 }),
        )
        .await;
    assert_eq!(r["decision"], Value::Null, "{r}");
    let id = r["id"].as_str().unwrap().to_string();
    assert_eq!(
        r["expiresAtMs"].as_u64().unwrap() - r["createdAtMs"].as_u64().unwrap(),
        60_000
    );
    let r = op
        .ok(
            "exec.approval.request",
            json!({ "command": "ls", "twoPhase": true, "id": "mine" }),
        )
        .await;
    assert_eq!((r["id"].as_str(), r.get("status")), (Some("mine"), None));
    let w = op
        .ok("exec.approval.waitDecision", json!({ "id": "mine" }))
        .await;
    assert_eq!(
        (w["decision"].clone(), w["terminalReason"].as_str()),
        (Value::Null, Some("no-route"))
    );
    let e = err(&op
        .call(
            "exec.approval.request",
            json!({ "command": "ls", "id": "mine" }),
        )
        .await);
    assert_eq!(
        (e["code"].as_str(), e["message"].as_str()),
        (Some("UNAVAILABLE"), Some("approval request unavailable"))
    );
    let e = err(&op.call("exec.approval.get", json!({ "id": id })).await);
    assert_eq!(e["details"]["reason"], "APPROVAL_NOT_FOUND");
    let e = err(&op
        .call(
            "exec.approval.resolve",
            json!({ "id": id, "decision": "deny" }),
        )
        .await);
    assert_eq!(e["details"]["reason"], "APPROVAL_ALREADY_RESOLVED");
    let e = err(&op
        .call("exec.approval.waitDecision", json!({ "id": "nope" }))
        .await);
    assert_eq!(e["message"], "approval expired or not found");
    assert_eq!(op.ok("exec.approval.list", json!({})).await, json!([]));
}

#[tokio::test]
async fn an_approval_client_decides_and_every_waiter_hears_it() {
    let g = start().await;
    let mut ui = approver(g.addr).await;
    let (mut op, _) = operator(g.addr, ALL_SCOPES).await;
    let p = json!({ "command": "echo hi", "commandArgv": ["echo", "hi"], "host": "gateway", "cwd": "/tmp",
                    "timeoutMs": 60_000, "twoPhase": true });
    let r = op.ok("exec.approval.request", p).await;
    assert_eq!(
        (r["status"].as_str(), r["deliveryRoute"].as_str()),
        (Some("accepted"), Some("approval-client"))
    );
    let id = r["id"].as_str().unwrap().to_string();
    let ev = ui.event("exec.approval.requested").await["payload"].clone();
    assert_eq!(
        (ev["id"].as_str(), ev["request"]["command"].as_str()),
        (Some(id.as_str()), Some("echo hi"))
    );
    assert_eq!(ev["request"]["commandArgv"], json!(["echo", "hi"]));
    assert_eq!(
        ev["request"]["allowedDecisions"],
        json!(["allow-once", "allow-always", "deny"])
    );
    let list = op.ok("exec.approval.list", json!({})).await;
    assert_eq!(
        (list[0]["id"].as_str(), list[0]["approvalKind"].as_str()),
        (Some(id.as_str()), Some("exec"))
    );
    let got = op.ok("exec.approval.get", json!({ "id": id })).await;
    assert_eq!(
        (got["commandText"].as_str(), got["host"].as_str()),
        (Some("echo hi"), Some("gateway"))
    );
    let waiter = op
        .send_req("exec.approval.waitDecision", json!({ "id": id }))
        .await;
    let e = err(&ui
        .call(
            "exec.approval.resolve",
            json!({ "id": id, "decision": "maybe" }),
        )
        .await);
    assert_eq!(e["message"], "invalid decision");
    assert_eq!(
        ui.ok(
            "exec.approval.resolve",
            json!({ "id": id, "decision": "allow-once" })
        )
        .await,
        json!({ "ok": true })
    );
    let w = op.response(&waiter).await["payload"].clone();
    assert_eq!(
        (w["decision"].as_str(), w["terminalReason"].as_str()),
        (Some("allow-once"), Some("user"))
    );
    let ev = ui.event("exec.approval.resolved").await["payload"].clone();
    assert_eq!(
        (ev["decision"].as_str(), ev["resolvedBy"].as_str()),
        (Some("allow-once"), Some("gateway-client"))
    );
    assert_eq!(op.ok("exec.approval.list", json!({})).await, json!([]));
    // A blocking request answers with the decision; the requester itself is never asked.
    let blocking = op
        .send_req(
            "exec.approval.request",
            json!({ "command": "rm -rf /tmp/x && ls | wc -l" }),
        )
        .await;
    let ev = ui.event("exec.approval.requested").await["payload"].clone();
    assert_eq!(ev["request"]["commandAnalysis"]["commandCount"], 3);
    ui.ok(
        "exec.approval.resolve",
        json!({ "id": ev["id"], "decision": "deny" }),
    )
    .await;
    let r = op.response(&blocking).await;
    assert_eq!(r["payload"]["decision"], "deny", "{r}");
    barrier(&g, 31);
    let seen = until_barrier(&mut op, 31).await;
    assert!(
        !seen.iter().any(|e| e.starts_with("exec.approval.")),
        "the requester is not asked: {seen:?}"
    );
}

#[tokio::test]
async fn an_unanswered_request_expires_as_deny() {
    let g = start().await;
    let mut ui = approver(g.addr).await;
    let (mut op, _) = operator(g.addr, ALL_SCOPES).await;
    let r = op
        .ok(
            "exec.approval.request",
            json!({ "command": "ls", "timeoutMs": 150, "twoPhase": true }),
        )
        .await;
    let id = r["id"].as_str().unwrap().to_string();
    let w = op
        .ok("exec.approval.waitDecision", json!({ "id": id }))
        .await;
    assert_eq!(
        (w["decision"].clone(), w["terminalReason"].as_str()),
        (Value::Null, Some("timeout"))
    );
    let ev = ui.event("exec.approval.resolved").await["payload"].clone();
    assert_eq!(
        (ev["decision"].as_str(), ev["resolvedBy"].clone()),
        (Some("deny"), Value::Null)
    );
    let e = err(&ui
        .call(
            "exec.approval.resolve",
            json!({ "id": id, "decision": "deny" }),
        )
        .await);
    assert_eq!(e["details"]["reason"], "APPROVAL_ALREADY_RESOLVED");
}

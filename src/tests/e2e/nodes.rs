//! Nodes end to end with a scripted node socket: its declared surface waits for an operator
//! (`node.pair.requested` → approve → `node.pair.resolved`), `node.invoke` round trips through
//! `node.invoke.request` / `node.invoke.result`, and every error path answers in the Node
//! gateway's words (observed): pending pairing, unknown node, policy refusals, the node's own
//! error, timeout (with `node.invoke.cancel`), the node leaving mid-call, a full invoke table.
//! Approval is durable across a restart. Nothing waits on after a call ends.

use std::net::SocketAddr;

use crate::util::*;
use serde_json::{json, Value};

const COMMANDS: &[&str] = &[
    "system.run",
    "system.which",
    "dir.list",
    "system.execApprovals.get",
];

/// Connect `dev` as a stock-like node host declaring `COMMANDS`.
pub(crate) async fn node(addr: SocketAddr, dev: &Device) -> Client {
    let mut c = Client::open(addr).await;
    let mut p = json!({
        "minProtocol": 3, "maxProtocol": 4,
        "client": { "id": "node-host", "displayName": "scripted", "version": "e2e",
                    "platform": "linux", "deviceFamily": "Linux", "mode": "node" },
        "role": "node", "scopes": [], "caps": ["system"], "commands": COMMANDS,
        "pathEnv": "/usr/bin:/bin", "auth": { "token": TOKEN },
    });
    dev.attach(&mut p, &c);
    let r = c.call("connect", p).await;
    assert_eq!(r["ok"], true, "node connect failed: {r}");
    c
}

fn invoke(node_id: &str, command: &str, extra: Value) -> Value {
    let mut p = json!({ "nodeId": node_id, "command": command,
        "params": { "bins": ["uname"] }, "idempotencyKey": uuid::Uuid::new_v4().to_string() });
    if let (Some(o), Some(x)) = (p.as_object_mut(), extra.as_object()) {
        o.extend(x.clone());
    }
    p
}

pub(crate) fn err(r: &Value) -> Value {
    assert_eq!(r["ok"], false, "expected an error: {r}");
    r["error"].clone()
}

/// Pair and approve a node; returns (operator, node socket, node id).
pub(crate) async fn approved(g: &TestGateway, dev: &Device) -> (Client, Client, String) {
    let (mut op, _) = operator(g.addr, ALL_SCOPES).await;
    let n = node(g.addr, dev).await;
    let req = op.event("node.pair.requested").await["payload"].clone();
    assert_eq!(req["nodeId"], dev.id().as_str());
    assert_eq!(
        req["commands"],
        json!(["system.execApprovals.get", "system.run", "system.which"]),
        "{req}"
    );
    assert_eq!(
        req["requiredApproveScopes"],
        json!(["operator.pairing", "operator.admin"])
    );
    let rid = req["requestId"].as_str().unwrap().to_string();
    let a = op
        .ok("node.pair.approve", json!({ "requestId": rid }))
        .await;
    assert_eq!(
        a["node"]["commands"],
        json!(["system.execApprovals.get", "system.run", "system.which"])
    );
    let ev = op.event("node.pair.resolved").await["payload"].clone();
    assert_eq!(
        (ev["requestId"].as_str(), ev["decision"].as_str()),
        (Some(rid.as_str()), Some("approved"))
    );
    (op, n, dev.id())
}

#[tokio::test]
async fn a_node_waits_for_approval_then_invokes_round_trip() {
    let g = start().await;
    let dev = Device::new();
    let (mut op, _) = operator(g.addr, ALL_SCOPES).await;
    let mut n = node(g.addr, &dev).await;
    let req = op.event("node.pair.requested").await["payload"].clone();
    let id = dev.id();
    // Pending: listed, nothing invocable, the node told to wait.
    let row = &op.ok("node.list", json!({})).await["nodes"][0];
    assert_eq!(row["approvalState"], "pending-approval");
    assert_eq!(row["commands"], json!([]));
    assert_eq!(row["pendingRequestId"], req["requestId"]);
    assert_eq!(row["connected"], true);
    let e = err(&op
        .call("node.invoke", invoke(&id, "system.which", json!({})))
        .await);
    assert_eq!(e["details"]["code"], "PAIRING_CHANGED", "{e}");
    let e = err(&n
        .call(
            "node.runnerInventory.update",
            json!({ "protocolFeatures": [] }),
        )
        .await);
    assert!(
        e["message"].as_str().unwrap().contains(&format!(
            "openclaw nodes approve {}",
            req["requestId"].as_str().unwrap()
        )),
        "{e}"
    );
    let rid = req["requestId"].clone();
    op.ok("node.pair.approve", json!({ "requestId": rid }))
        .await;
    assert_eq!(
        n.ok("node.runnerInventory.update", json!({})).await["nodeId"],
        id.as_str()
    );
    let row = op.ok("node.describe", json!({ "nodeId": id })).await;
    assert_eq!(
        (row["approvalState"].as_str(), row["commands"].clone()),
        (
            Some("approved"),
            json!(["system.execApprovals.get", "system.run", "system.which"])
        )
    );
    // The round trip.
    let call = op
        .send_req(
            "node.invoke",
            invoke(&id, "system.which", json!({ "timeoutMs": 20_000 })),
        )
        .await;
    let ask = n.event("node.invoke.request").await["payload"].clone();
    assert_eq!(
        (ask["command"].as_str(), ask["paramsJSON"].as_str()),
        (Some("system.which"), Some(r#"{"bins":["uname"]}"#))
    );
    assert_eq!(ask["timeoutMs"], 20_000);
    let result = json!({ "id": ask["id"], "nodeId": id, "ok": true, "payloadJSON": r#"{"bins":{"uname":"/usr/bin/uname"}}"# });
    assert_eq!(
        n.ok("node.invoke.result", result.clone()).await,
        json!({ "ok": true })
    );
    let r = op.response(&call).await;
    assert_eq!(
        r["payload"]["payload"]["bins"]["uname"], "/usr/bin/uname",
        "{r}"
    );
    assert_eq!(r["payload"]["command"], "system.which");
    // A repeated result is late; a result for another node id is refused.
    assert_eq!(n.ok("node.invoke.result", result).await["ignored"], true);
    let e = err(&n
        .call(
            "node.invoke.result",
            json!({ "id": "x", "nodeId": "someone-else", "ok": true }),
        )
        .await);
    assert_eq!(e["message"], "nodeId mismatch");
    // Host stats reach the node row; operators cannot call node-role methods.
    let stats = json!({ "event": "node.host.stats", "payloadJSON": r#"{"cpuCount":2}"# });
    assert_eq!(n.ok("node.event", stats).await["reason"], "updated");
    assert_eq!(
        op.ok("node.list", json!({})).await["nodes"][0]["hostStats"]["cpuCount"],
        2
    );
    let r = n.ok("node.event", json!({ "event": "some.event" })).await;
    assert_eq!(
        r,
        json!({ "ok": true, "event": "some.event", "handled": false, "reason": "unsupported_event" })
    );
    let e = err(&op.call("node.event", json!({ "event": "x" })).await);
    assert_eq!(
        (e["code"].as_str(), e["message"].as_str()),
        (Some("INVALID_REQUEST"), Some("unauthorized role: operator"))
    );
    let e = err(&n.call("node.list", json!({})).await);
    assert_eq!(
        (e["code"].as_str(), e["message"].as_str()),
        (Some("INVALID_REQUEST"), Some("unauthorized role: node"))
    );
    assert!(g.gw.nodes.invokes.is_empty());
}

#[tokio::test]
async fn every_invoke_error_is_the_node_gateways() {
    let g = start().await;
    let dev = Device::new();
    let (mut op, mut n, id) = approved(&g, &dev).await;
    let refused = |cmd: &str, msg: &str| (cmd.to_string(), msg.to_string());
    for (cmd, msg) in [
        refused("dir.list", "node command not allowed: \"dir.list\" is not in the allowlist for platform \"linux\""),
        refused("camera.snap", "node command not allowed: \"camera.snap\" requires explicit gateway.nodes.commands.allow opt-in"),
        refused("system.notify", "node command not allowed: the node (platform: linux) does not support \"system.notify\""),
        refused("system.execApprovals.get", "node.invoke does not allow system.execApprovals.*; use exec.approvals.node.*"),
    ] {
        let e = err(&op.call("node.invoke", invoke(&id, &cmd, json!({}))).await);
        assert_eq!((e["code"].as_str(), e["message"].as_str()), (Some("INVALID_REQUEST"), Some(msg.as_str())), "{cmd}: {e}");
    }
    let e = err(&op
        .call(
            "node.invoke",
            invoke("no-such-node", "system.which", json!({})),
        )
        .await);
    assert_eq!(
        (
            e["code"].as_str(),
            e["details"]["code"].as_str(),
            e["retryable"].as_bool()
        ),
        (Some("UNAVAILABLE"), Some("PAIRING_CHANGED"), Some(true))
    );
    let e = err(&op
        .call(
            "node.invoke",
            json!({ "nodeId": id, "command": "system.which" }),
        )
        .await);
    assert_eq!(
        e["message"],
        "invalid node.invoke params: must have required property 'idempotencyKey'"
    );
    // The node's own error.
    let call = op
        .send_req("node.invoke", invoke(&id, "system.which", json!({})))
        .await;
    let ask = n.event("node.invoke.request").await["payload"].clone();
    assert_eq!(ask["timeoutMs"], 30_000, "the default timeout");
    let fail = json!({ "id": ask["id"], "nodeId": id, "ok": false, "error": { "code": "INVALID_REQUEST", "message": "bins required" } });
    n.ok("node.invoke.result", fail).await;
    let e = err(&op.response(&call).await);
    assert_eq!(
        e,
        json!({ "code": "UNAVAILABLE", "message": "INVALID_REQUEST: bins required",
        "details": { "nodeError": { "code": "INVALID_REQUEST", "message": "bins required" }, "nodeCommandDispatched": true } })
    );
    // A node that never answers: timeout, and the node is told to cancel.
    let e = err(&op
        .call(
            "node.invoke",
            invoke(
                &id,
                "system.run",
                json!({ "timeoutMs": 150, "params": { "command": ["sleep", "9"] } }),
            ),
        )
        .await);
    assert_eq!(e["message"], "TIMEOUT: node invoke timed out");
    let ask = n.event("node.invoke.request").await["payload"].clone();
    assert!(
        ask["paramsJSON"].as_str().unwrap().contains("\"runId\""),
        "system.run gets a runId: {ask}"
    );
    let cancel = n.event("node.invoke.cancel").await["payload"].clone();
    assert_eq!(cancel["invokeId"], ask["id"]);
    // The node leaves mid-call, then is not connected.
    let call = op
        .send_req("node.invoke", invoke(&id, "system.which", json!({})))
        .await;
    n.event("node.invoke.request").await;
    drop(n);
    let e = err(&op.response(&call).await);
    assert_eq!(
        e["message"],
        "DISCONNECTED: node disconnected (system.which)"
    );
    let e = err(&op
        .call("node.invoke", invoke(&id, "system.which", json!({})))
        .await);
    assert_eq!(
        (e["message"].as_str(), e["details"]["code"].as_str()),
        (Some("node not connected"), Some("NOT_CONNECTED"))
    );
    assert!(
        g.gw.nodes.invokes.is_empty(),
        "nothing waits after every call ended"
    );
}

#[tokio::test]
async fn the_invoke_table_is_bounded() {
    let cfg = r#"{ gateway: { mode: "local", auth: { mode: "token" }, limits: { maxPendingNodeInvokes: 1 } } }"#;
    let g = start_with(Setup::config(cfg)).await;
    let dev = Device::new();
    let (mut op, mut n, id) = approved(&g, &dev).await;
    let first = op
        .send_req("node.invoke", invoke(&id, "system.which", json!({})))
        .await;
    let ask = n.event("node.invoke.request").await["payload"].clone();
    let e = err(&op
        .call("node.invoke", invoke(&id, "system.which", json!({})))
        .await);
    assert_eq!(
        (e["code"].as_str(), e["retryable"].as_bool()),
        (Some("UNAVAILABLE"), Some(true)),
        "{e}"
    );
    n.ok(
        "node.invoke.result",
        json!({ "id": ask["id"], "nodeId": id, "ok": true, "payload": { "x": 1 } }),
    )
    .await;
    let r = op.response(&first).await;
    assert_eq!(r["payload"]["payload"], json!({ "x": 1 }));
    assert_eq!(
        r["payload"]["payloadJSON"],
        Value::Null,
        "a payload object is passed as is"
    );
    // A caller that leaves does not leave its entry behind.
    let mut op2 = operator(g.addr, ALL_SCOPES).await.0;
    op2.send_req("node.invoke", invoke(&id, "system.which", json!({})))
        .await;
    n.event("node.invoke.request").await;
    drop(op2);
    bounded("the invoke entry to go with its caller", async {
        while !g.gw.nodes.invokes.is_empty() {
            tokio::task::yield_now().await;
        }
    })
    .await;
}

#[tokio::test]
async fn approval_survives_a_restart_and_reject_remove_rename_answer() {
    let g = start().await;
    let dev = Device::new();
    let (mut op, n, id) = approved(&g, &dev).await;
    let r = op
        .ok(
            "node.rename",
            json!({ "nodeId": id, "displayName": "renamed" }),
        )
        .await;
    assert_eq!(r, json!({ "nodeId": id, "displayName": "renamed" }));
    drop((op, n));
    let dir = g.stop().await;
    let g = start_with(Setup {
        dir: Some(dir),
        ..Setup::default()
    })
    .await;
    let (mut op, _) = operator(g.addr, ALL_SCOPES).await;
    let mut n = node(g.addr, &dev).await;
    let row = bounded("the node to reconnect", async {
        loop {
            let row = op.ok("node.describe", json!({ "nodeId": id })).await;
            if row["connected"] == true {
                break row;
            }
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert_eq!(
        (row["approvalState"].as_str(), row["displayName"].as_str()),
        (Some("approved"), Some("renamed"))
    );
    assert_eq!(
        op.ok("node.pair.list", json!({})).await["pending"],
        json!([])
    );
    // A second node: rejected, then a removed pairing is unknown.
    let other = Device::new();
    let mut m = node(g.addr, &other).await;
    let req = op.event("node.pair.requested").await["payload"].clone();
    let r = op
        .ok("node.pair.reject", json!({ "requestId": req["requestId"] }))
        .await;
    assert_eq!(r["nodeId"], other.id().as_str());
    assert_eq!(
        op.event("node.pair.resolved").await["payload"]["decision"],
        "rejected"
    );
    let row = op
        .ok("node.describe", json!({ "nodeId": other.id() }))
        .await;
    assert_eq!(
        (row["approvalState"].as_str(), row["commands"].clone()),
        (Some("unapproved"), json!([]))
    );
    let e = err(&m.call("node.runnerInventory.update", json!({})).await);
    assert_eq!(
        e["message"],
        "node runner inventory publication is not current; retry after pairing completes"
    );
    let e = err(&op
        .call(
            "node.pair.approve",
            json!({ "requestId": req["requestId"] }),
        )
        .await);
    assert_eq!(e["message"], "unknown requestId");
    assert_eq!(
        op.ok("node.pair.remove", json!({ "nodeId": id })).await,
        json!({ "nodeId": id })
    );
    let ev = op.event("node.pair.resolved").await["payload"].clone();
    assert_eq!(
        (ev["decision"].as_str(), ev["requestId"].as_str()),
        (Some("removed"), Some(""))
    );
    match n.closed().await {
        Closed::Frame(code, why) => assert_eq!((code, why.as_str()), (4001, "device removed")),
        other => panic!("expected close 4001, got {other:?}"),
    }
    let devices = op.ok("device.pair.list", json!({})).await;
    assert!(
        !devices["paired"].to_string().contains(&id),
        "its device is removed too"
    );
    let e = err(&op.call("node.pair.remove", json!({ "nodeId": id })).await);
    assert_eq!(e["message"], "unknown nodeId");
    let e = err(&op.call("node.describe", json!({ "nodeId": "nope" })).await);
    assert_eq!(e["message"], "unknown nodeId");
    g.stop().await;
}

#[tokio::test]
async fn approving_needs_the_scopes_the_request_names() {
    let g = start().await;
    let dev = Device::new();
    let (mut pairer, _) = operator(g.addr, &["operator.pairing"]).await;
    let _n = node(g.addr, &dev).await;
    let req = pairer.event("node.pair.requested").await["payload"].clone();
    let e = err(&pairer
        .call(
            "node.pair.approve",
            json!({ "requestId": req["requestId"] }),
        )
        .await);
    assert_eq!(
        (e["code"].as_str(), e["details"]["missingScope"].as_str()),
        (Some("FORBIDDEN"), Some("operator.admin")),
        "{e}"
    );
    let (mut reader, _) = operator(g.addr, &["operator.read"]).await;
    let row = &reader.ok("node.list", json!({})).await["nodes"][0];
    assert_eq!(row["approvalState"], "pending-approval");
    assert!(
        row.get("pendingRequestId").is_none(),
        "pending details only for pairing viewers: {row}"
    );
    let e = err(&reader.call("node.pair.list", json!({})).await);
    assert_eq!(e["code"], "FORBIDDEN");
    let e = err(&reader
        .call("node.invoke", invoke(&dev.id(), "system.which", json!({})))
        .await);
    assert_eq!(e["details"]["missingScope"], "operator.write", "{e}");
}

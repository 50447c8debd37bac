//! Work queued for a node (`node.pending.*`), progress chunks, a node's presence entry, and
//! a node's own exec-approvals document relayed through the gateway
//! (`exec.approvals.node.*`), with a scripted node, in the Node gateway's words (observed).

use serde_json::json;

use crate::nodes::{approved, err};
use crate::util::*;

#[tokio::test]
async fn operators_queue_work_that_the_node_drains_by_priority() {
    let g = start().await;
    let dev = Device::new();
    let (mut op, mut n, id) = approved(&g, &dev).await;
    // Who may call what.
    let e = err(&n
        .call(
            "node.pending.enqueue",
            json!({ "nodeId": id, "type": "status.request" }),
        )
        .await);
    assert_eq!(e["message"], "unauthorized role: node");
    let e = err(&op.call("node.pending.drain", json!({})).await);
    assert_eq!(e["message"], "unauthorized role: operator");
    let e = err(&op
        .call(
            "node.pending.enqueue",
            json!({ "nodeId": "nope", "type": "status.request" }),
        )
        .await);
    assert_eq!(
        (
            e["code"].as_str(),
            e["details"]["code"].as_str(),
            e["retryable"].as_bool()
        ),
        (Some("UNAVAILABLE"), Some("PAIRING_CHANGED"), Some(true)),
        "{e}"
    );
    assert_eq!(
        e["message"],
        "node pairing changed while pending work was active"
    );
    let e = err(&op
        .call(
            "node.pending.enqueue",
            json!({ "nodeId": id, "type": "status.request", "expiresInMs": 500 }),
        )
        .await);
    assert_eq!(
        e["message"],
        "invalid node.pending.enqueue params: at /expiresInMs: must be >= 1000"
    );
    // Queue two kinds; a repeat of a kind returns the queued item unchanged.
    let status = json!({ "nodeId": id, "type": "status.request", "priority": "high", "expiresInMs": 60_000 });
    let a = op.ok("node.pending.enqueue", status.clone()).await;
    assert_eq!(
        (a["revision"].as_u64(), a["wakeTriggered"].as_bool()),
        (Some(1), Some(false))
    );
    assert_eq!(a["queued"]["priority"], "high");
    let again = op
        .ok(
            "node.pending.enqueue",
            json!({ "nodeId": id, "type": "status.request" }),
        )
        .await;
    assert_eq!(
        (&again["queued"], &again["revision"]),
        (&a["queued"], &a["revision"])
    );
    let b = op
        .ok(
            "node.pending.enqueue",
            json!({ "nodeId": id, "type": "location.request" }),
        )
        .await;
    assert_eq!(b["revision"], 2);
    let q = &b["queued"];
    assert_eq!(q["priority"], "normal");
    assert_eq!(
        q["expiresAtMs"].as_u64().unwrap() - q["createdAtMs"].as_u64().unwrap(),
        86_400_000
    );
    // The node drains: highest priority first, then the rest with the baseline status.
    let d = n.ok("node.pending.drain", json!({ "maxItems": 1 })).await;
    assert_eq!(d["items"][0]["id"], a["queued"]["id"]);
    assert_eq!(
        (d["revision"].as_u64(), d["hasMore"].as_bool()),
        (Some(3), Some(true))
    );
    let d = n.ok("node.pending.drain", json!({})).await;
    assert_eq!(d["items"][0]["id"], q["id"]);
    assert_eq!(
        d["items"][1],
        json!({ "id": "baseline-status", "type": "status.request", "priority": "default",
                "createdAtMs": d["items"][1]["createdAtMs"], "expiresAtMs": null })
    );
    assert_eq!(
        (d["revision"].as_u64(), d["hasMore"].as_bool()),
        (Some(4), Some(false))
    );
    let d = n.ok("node.pending.drain", json!({})).await;
    assert_eq!(
        (d["revision"].as_u64(), d["items"].as_array().map(Vec::len)),
        (Some(0), Some(1))
    );
    let e = err(&n
        .call("node.pending.drain", json!({ "maxItems": 11 }))
        .await);
    assert_eq!(
        e["message"],
        "invalid node.pending.drain params: at /maxItems: must be <= 10"
    );
    // The foreground-action queue: empty; acks are trimmed and de-duplicated.
    assert_eq!(
        n.ok("node.pending.pull", json!({})).await,
        json!({ "nodeId": id, "actions": [] })
    );
    assert_eq!(
        n.ok("node.pending.ack", json!({ "ids": ["x", " x ", "y"] }))
            .await,
        json!({ "nodeId": id, "ackedIds": ["x", "y"], "remainingCount": 0 })
    );
    let e = err(&n.call("node.pending.ack", json!({ "ids": [] })).await);
    assert_eq!(
        e["message"],
        "invalid node.pending.ack params: at /ids: must not have fewer than 1 items"
    );
    // Progress is accepted and ignored, up to 16 KiB of UTF-8.
    let p = json!({ "invokeId": "i", "nodeId": id, "seq": 0, "chunk": "line\n" });
    assert_eq!(
        n.ok("node.invoke.progress", p).await,
        json!({ "ok": true, "ignored": true })
    );
    let big = json!({ "invokeId": "i", "nodeId": id, "seq": 1, "chunk": "é".repeat(9000) });
    assert_eq!(
        err(&n.call("node.invoke.progress", big).await)["message"],
        "progress chunk too large"
    );
    // The node's presence entry: its device id is its instance, no scopes.
    let list = op.ok("system-presence", json!({})).await;
    let entry = list
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["deviceId"] == id.as_str())
        .unwrap_or_else(|| panic!("no node entry in {list}"))
        .clone();
    assert_eq!(entry["instanceId"], id.as_str());
    assert_eq!(entry["roles"], json!(["node"]));
    assert_eq!(entry["text"], "Node: scripted · mode node");
    assert!(
        entry.get("scopes").is_none() && entry.get("user").is_none(),
        "{entry}"
    );
    // Removing the node forgets its queue.
    op.ok(
        "node.pending.enqueue",
        json!({ "nodeId": id, "type": "status.request" }),
    )
    .await;
    op.ok("node.pair.remove", json!({ "nodeId": id })).await;
    let e = err(&op
        .call(
            "node.pending.enqueue",
            json!({ "nodeId": id, "type": "status.request" }),
        )
        .await);
    assert_eq!(e["details"]["code"], "PAIRING_CHANGED");
}

#[tokio::test]
async fn a_nodes_exec_approvals_are_relayed_to_the_node() {
    let g = start().await;
    let dev = Device::new();
    let (mut op, mut n, id) = approved(&g, &dev).await;
    let call = op
        .send_req("exec.approvals.node.get", json!({ "nodeId": id }))
        .await;
    let ask = n.event("node.invoke.request").await["payload"].clone();
    assert_eq!(
        (
            ask["command"].as_str(),
            ask["paramsJSON"].as_str(),
            ask["timeoutMs"].as_u64()
        ),
        (Some("system.execApprovals.get"), Some("{}"), Some(30_000))
    );
    assert!(ask.get("idempotencyKey").is_none(), "{ask}");
    let snap = json!({ "path": "/n/state.sqlite#exec_approvals_config", "exists": true,
        "file": { "version": 1, "defaults": {}, "agents": {} }, "hash": "abc" });
    let result =
        json!({ "id": ask["id"], "nodeId": id, "ok": true, "payloadJSON": snap.to_string() });
    n.ok("node.invoke.result", result).await;
    let r = op.response(&call).await;
    assert_eq!(r["payload"], snap, "{r}");
    // The node's own refusal comes back nested; a node that answers nonsense is refused.
    let call = op
        .send_req("exec.approvals.node.get", json!({ "nodeId": id }))
        .await;
    let ask = n.event("node.invoke.request").await["payload"].clone();
    let result = json!({ "id": ask["id"], "nodeId": id, "ok": true, "payloadJSON": "{\"x\":1}" });
    n.ok("node.invoke.result", result).await;
    let e = err(&op.response(&call).await);
    assert_eq!(e["message"], "node returned invalid exec approvals payload");
    // Not among the node's approved commands.
    let set = json!({ "nodeId": id, "file": { "version": 1 }, "baseHash": "abc" });
    let e = err(&op.call("exec.approvals.node.set", set).await);
    assert_eq!(
        e["message"],
        "node command not allowed: system.execApprovals.set (command not allowlisted)"
    );
    let e = err(&op
        .call("exec.approvals.node.set", json!({ "nodeId": id }))
        .await);
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .ends_with("must match exactly one schema in oneOf"),
        "{e}"
    );
    let e = err(&op
        .call("exec.approvals.node.get", json!({ "nodeId": "elsewhere" }))
        .await);
    assert_eq!(
        (
            e["message"].as_str(),
            e["details"]["nodeCommandDispatched"].as_bool()
        ),
        (Some("NOT_CONNECTED: node not connected"), Some(false))
    );
    let e = err(&op
        .call("exec.approvals.node.get", json!({ "nodeId": "  " }))
        .await);
    assert_eq!(e["message"], "nodeId required");
}

#[tokio::test]
async fn the_gateways_exec_approvals_are_guarded_by_their_hash_and_durable() {
    let g = start().await;
    let (mut op, _) = operator(g.addr, ALL_SCOPES).await;
    let got = op.ok("exec.approvals.get", json!({})).await;
    assert_eq!(got["exists"], true);
    assert_eq!(got["file"]["defaults"], json!({}));
    assert!(got["file"]["socket"]["path"]
        .as_str()
        .unwrap()
        .ends_with("exec-approvals.sock"));
    assert!(
        got["file"]["socket"].get("token").is_none(),
        "the token stays in the store"
    );
    assert_eq!(
        got["resolvedDefaults"],
        json!({ "security": "full", "ask": "off", "askFallback": "deny", "autoAllowSkills": false })
    );
    let hash = got["hash"].as_str().unwrap().to_string();
    assert_eq!(hash.len(), 64);
    let file = json!({ "version": 1, "defaults": { "security": "allowlist", "ask": "on-miss" },
        "agents": { "main": { "allowlist": [{ "pattern": "/usr/bin/uname" }] } } });
    let cases = [
        (json!({ "file": file }), "exec approvals base hash required; re-run exec.approvals.get and retry"),
        (json!({ "file": file, "baseHash": "stale" }), "exec approvals changed since last load; re-run exec.approvals.get and retry"),
        (json!({ "file": { "version": 2 }, "baseHash": hash }), "invalid exec.approvals.set params: at /file/version: must be equal to constant"),
        (json!({ "file": { "version": 1, "agents": { "main": { "allowlist": [{ "pattern": "x", "bogus": 1 }] } } }, "baseHash": hash }),
         "invalid exec.approvals.set params: at /file/agents/main/allowlist/0: unexpected property 'bogus'"),
    ];
    for (p, msg) in cases {
        assert_eq!(err(&op.call("exec.approvals.set", p).await)["message"], msg);
    }
    let set = op
        .ok(
            "exec.approvals.set",
            json!({ "file": file, "baseHash": hash }),
        )
        .await;
    let entry = &set["file"]["agents"]["main"]["allowlist"][0];
    assert_eq!(entry["pattern"], "/usr/bin/uname");
    assert_eq!(
        entry["id"].as_str().map(str::len),
        Some(36),
        "an id is given: {set}"
    );
    assert_eq!(set["resolvedDefaults"]["security"], "allowlist");
    assert_ne!(set["hash"], hash.as_str());
    assert_eq!(op.ok("exec.approvals.get", json!({})).await, set);
    // Grants come only from cron-run approvals, which this gateway does not run.
    assert_eq!(
        op.ok("exec.approval.grants.list", json!({ "limit": 5 }))
            .await,
        json!({ "grants": [] })
    );
    let e = err(&op
        .call("exec.approval.grants.list", json!({ "limit": 501 }))
        .await);
    assert_eq!(
        e["message"],
        "invalid exec.approval.grants.list params: at /limit: must be <= 500"
    );
    assert_eq!(
        op.ok("exec.approval.grants.revoke", json!({ "grantId": "nope" }))
            .await,
        json!({ "outcome": "not-found" })
    );
    // Durable: the same document and hash after a restart.
    let dir = g.stop().await;
    let g = start_with(Setup {
        dir: Some(dir),
        ..Setup::default()
    })
    .await;
    let (mut op, _) = operator(g.addr, ALL_SCOPES).await;
    assert_eq!(op.ok("exec.approvals.get", json!({})).await, set);
}

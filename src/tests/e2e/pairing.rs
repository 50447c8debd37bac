//! Device pairing that needs an operator (local auto-approval off, the same path a non-local
//! device takes): the refusal names a durable pending request, operators are told, approval
//! admits the device with a device token; rename, token rotation (the device's sockets close
//! 4001), revocation, removal and rejection answer in the Node gateway's words (observed).

use std::net::SocketAddr;

use crate::util::*;
use serde_json::{json, Value};

const NO_AUTO: &str = r#"{ gateway: { mode: "local", auth: { mode: "token" },
                          nodes: { pairing: { autoApproveLocal: false } } } }"#;

fn device_params(c: &Client, dev: &Device, role: &str, scopes: &[&str], auth: Value) -> Value {
    let mut p = connect_params("cli", "cli", scopes, None);
    p["role"] = json!(role);
    p["auth"] = auth;
    dev.attach(&mut p, c);
    p
}

/// Connect `dev`; the response frame (and the client, still open when it succeeded).
async fn try_connect(
    addr: SocketAddr,
    dev: &Device,
    role: &str,
    scopes: &[&str],
    auth: Value,
) -> (Client, Value) {
    let mut c = Client::open(addr).await;
    let p = device_params(&c, dev, role, scopes, auth);
    let r = c.call("connect", p).await;
    (c, r)
}

fn err(r: &Value) -> Value {
    assert_eq!(r["ok"], false, "expected an error: {r}");
    r["error"].clone()
}

#[tokio::test]
async fn a_device_waits_for_an_operator_and_is_then_managed() {
    let g = start_with(Setup::config(NO_AUTO)).await;
    let (mut admin, _) = operator(g.addr, ALL_SCOPES).await;
    let dev = Device::new();
    let scopes = ["operator.read", "operator.write"];
    let token = json!({ "token": TOKEN });
    let mut c = Client::open(g.addr).await;
    let p = device_params(&c, &dev, "operator", &scopes, token.clone());
    let (e, close, why) = refused(&mut c, p).await;
    assert_eq!(
        (e["code"].as_str(), e["message"].as_str()),
        (
            Some("NOT_PAIRED"),
            Some("pairing required: device is not approved yet")
        )
    );
    let rid = e["details"]["requestId"].as_str().unwrap().to_string();
    assert_eq!(
        e["details"],
        json!({ "code": "PAIRING_REQUIRED", "reason": "not-paired", "requestId": rid,
        "remediationHint": "Approve this device from the pending pairing requests.", "deviceId": dev.id(),
        "requestedRole": "operator", "requestedScopes": scopes })
    );
    assert_eq!(
        (close, why),
        (
            1008,
            format!("pairing required: device is not approved yet (requestId: {rid})")
        )
    );
    let ev = admin.event("device.pair.requested").await["payload"].clone();
    assert_eq!(
        (
            ev["requestId"].as_str(),
            ev["deviceId"].as_str(),
            ev["isRepair"].as_bool()
        ),
        (Some(rid.as_str()), Some(dev.id().as_str()), Some(false))
    );
    // Asking again reuses the request; the list shows it.
    let (_, r) = try_connect(g.addr, &dev, "operator", &scopes, token.clone()).await;
    assert_eq!(err(&r)["details"]["requestId"], rid.as_str());
    let list = admin.ok("device.pair.list", json!({})).await;
    assert_eq!(list["pending"].as_array().unwrap().len(), 1, "{list}");
    let p0 = &list["pending"][0];
    assert_eq!(
        p0["ts"], ev["ts"],
        "a refresh keeps when it was first asked: {list}"
    );
    assert!(p0.get("refreshedAtMs").is_none(), "{list}");
    // A read-only approver cannot grant write.
    let (mut reader, _) = operator(g.addr, &["operator.read", "operator.pairing"]).await;
    let e = err(&reader
        .call("device.pair.approve", json!({ "requestId": rid }))
        .await);
    assert_eq!(e["message"], "device pairing approval denied");
    let a = admin
        .ok("device.pair.approve", json!({ "requestId": rid }))
        .await;
    assert_eq!(
        (
            a["device"]["approvedVia"].as_str(),
            a["device"]["scopes"].clone()
        ),
        (Some("owner"), json!(scopes))
    );
    assert_eq!(
        admin.event("device.pair.resolved").await["payload"]["decision"],
        "approved"
    );
    let (mut live, r) = try_connect(g.addr, &dev, "operator", &scopes, token.clone()).await;
    assert_eq!(r["ok"], true, "{r}");
    let dtoken = r["payload"]["auth"]["deviceToken"]
        .as_str()
        .unwrap()
        .to_string();
    // Rename, then rotate from another socket: the device's socket closes, the old token fails.
    let rn = admin
        .ok(
            "device.pair.rename",
            json!({ "deviceId": dev.id(), "label": "laptop" }),
        )
        .await;
    assert_eq!(rn, json!({ "deviceId": dev.id(), "label": "laptop" }));
    admin.event("device.pair.changed").await;
    let rot = admin
        .ok(
            "device.token.rotate",
            json!({ "deviceId": dev.id(), "role": "operator", "scopes": ["operator.read"] }),
        )
        .await;
    assert_eq!(
        (rot["tokenDelivery"].as_str(), rot["scopes"].clone()),
        (Some("withheld-cross-device"), json!(["operator.read"]))
    );
    assert!(rot.get("token").is_none(), "{rot}");
    match live.closed().await {
        Closed::Frame(code, why) => assert_eq!((code, why.as_str()), (4001, "device removed")),
        other => panic!("expected 4001, got {other:?}"),
    }
    let (_, r) = try_connect(
        g.addr,
        &dev,
        "operator",
        &["operator.read"],
        json!({ "deviceToken": dtoken }),
    )
    .await;
    assert_eq!(
        err(&r)["details"]["code"],
        "AUTH_DEVICE_TOKEN_MISMATCH",
        "{r}"
    );
    let e = err(&admin
        .call(
            "device.token.rotate",
            json!({ "deviceId": dev.id(), "role": "node" }),
        )
        .await);
    assert_eq!(e["message"], "device token rotation denied");
    let rv = admin
        .ok(
            "device.token.revoke",
            json!({ "deviceId": dev.id(), "role": "operator" }),
        )
        .await;
    assert!(rv["revokedAtMs"].as_u64().is_some(), "{rv}");
    let e = err(&admin
        .call(
            "device.token.revoke",
            json!({ "deviceId": "nope", "role": "operator" }),
        )
        .await);
    assert_eq!(e["message"], "device token revocation denied");
    let list = admin.ok("device.pair.list", json!({})).await;
    assert_eq!(list["paired"][0]["label"], "laptop", "{list}");
    assert_eq!(
        admin
            .ok("device.pair.remove", json!({ "deviceId": dev.id() }))
            .await,
        json!({ "deviceId": dev.id() })
    );
    let e = err(&admin
        .call("device.pair.remove", json!({ "deviceId": dev.id() }))
        .await);
    assert_eq!(e["message"], "unknown deviceId");
}

#[tokio::test]
async fn a_pending_request_survives_a_restart_and_can_be_rejected() {
    let g = start_with(Setup::config(NO_AUTO)).await;
    let dev = Device::new();
    let (_, r) = try_connect(g.addr, &dev, "node", &[], json!({ "token": TOKEN })).await;
    let e = err(&r);
    assert_eq!(
        (
            e["details"]["requestedRole"].as_str(),
            e["details"].get("requestedScopes")
        ),
        (Some("node"), None)
    );
    let rid = e["details"]["requestId"].as_str().unwrap().to_string();
    let dir = g.stop().await;
    let g = start_with(Setup {
        dir: Some(dir),
        ..Setup::config(NO_AUTO)
    })
    .await;
    let (mut admin, _) = operator(g.addr, ALL_SCOPES).await;
    let list = admin.ok("device.pair.list", json!({})).await;
    assert_eq!(list["pending"][0]["requestId"], rid.as_str(), "{list}");
    assert_eq!(list["pending"][0]["role"], "node");
    // A node role needs an admin to approve.
    let (mut pairer, _) = operator(g.addr, &["operator.pairing"]).await;
    let e = err(&pairer
        .call("device.pair.approve", json!({ "requestId": rid }))
        .await);
    assert_eq!(e["message"], "device pairing approval denied");
    let r = admin
        .ok("device.pair.reject", json!({ "requestId": rid }))
        .await;
    assert_eq!(r, json!({ "requestId": rid, "deviceId": dev.id() }));
    assert_eq!(
        admin.event("device.pair.resolved").await["payload"]["decision"],
        "rejected"
    );
    let e = err(&admin
        .call("device.pair.reject", json!({ "requestId": rid }))
        .await);
    assert_eq!(e["message"], "unknown requestId");
    let (_, r) = try_connect(g.addr, &dev, "node", &[], json!({ "token": TOKEN })).await;
    assert_ne!(
        err(&r)["details"]["requestId"],
        rid.as_str(),
        "a new request after a rejection"
    );
    g.stop().await;
}

/// A request nobody decides on expires (the Node gateway's 5 minutes; 1 ms here): it leaves
/// the list, approving it is "unknown requestId", and the device asking again gets a new
/// request, announced again. Asking again before that refreshes it without changing `ts`.
#[tokio::test]
async fn an_undecided_request_expires() {
    let cfg = r#"{ gateway: { mode: "local", auth: { mode: "token" },
                   nodes: { pairing: { autoApproveLocal: false } },
                   limits: { pairingPendingTtlMs: 1 } } }"#;
    let g = start_with(Setup::config(cfg)).await;
    let (mut admin, _) = operator(g.addr, ALL_SCOPES).await;
    let dev = Device::new();
    let token = json!({ "token": TOKEN });
    let (_, r) = try_connect(g.addr, &dev, "operator", &["operator.read"], token.clone()).await;
    let rid = err(&r)["details"]["requestId"]
        .as_str()
        .unwrap()
        .to_string();
    admin.event("device.pair.requested").await;
    // Polled, not slept: the list drops it once a millisecond has passed (5 s deadline).
    let end = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let list = admin.ok("device.pair.list", json!({})).await;
        if list["pending"].as_array().unwrap().is_empty() {
            break;
        }
        assert!(!list.to_string().contains("refreshedAtMs"), "{list}");
        assert!(std::time::Instant::now() < end, "never expired: {list}");
    }
    let e = err(&admin
        .call("device.pair.approve", json!({ "requestId": rid }))
        .await);
    assert_eq!(
        (e["code"].as_str(), e["message"].as_str()),
        (Some("INVALID_REQUEST"), Some("unknown requestId"))
    );
    let (_, r) = try_connect(g.addr, &dev, "operator", &["operator.read"], token).await;
    let rid2 = err(&r)["details"]["requestId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(rid2, rid, "an expired request is not reused");
    let ev = admin.event("device.pair.requested").await["payload"].clone();
    assert_eq!(ev["requestId"], rid2.as_str());
    g.stop().await;
}

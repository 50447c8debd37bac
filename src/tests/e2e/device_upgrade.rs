//! A paired device asking for more scopes (`device.scopes.requestUpgrade` / `waitUpgrade`),
//! and what a revoked device token means on reconnect: re-approved silently on loopback,
//! a `role-upgrade` pairing request otherwise — in the Node gateway's words (observed).

use std::net::SocketAddr;

use serde_json::{json, Value};

use crate::util::*;

const NO_AUTO: &str = r#"{ gateway: { mode: "local", auth: { mode: "token" },
                          nodes: { pairing: { autoApproveLocal: false } } } }"#;

/// Connect `dev` as a `cli` operator with `scopes` and `auth`: the client and the answer.
async fn connect(addr: SocketAddr, dev: &Device, scopes: &[&str], auth: Value) -> (Client, Value) {
    let mut c = Client::open(addr).await;
    let mut p = connect_params("cli", "cli", scopes, None);
    p["auth"] = auth;
    dev.attach(&mut p, &c);
    let r = c.call("connect", p).await;
    (c, r)
}

fn err(r: &Value) -> Value {
    assert_eq!(r["ok"], false, "expected an error: {r}");
    r["error"].clone()
}

#[tokio::test]
async fn a_device_asks_for_more_scopes_and_waits_for_the_verdict() {
    let g = start().await;
    let (mut admin, _) = operator(g.addr, ALL_SCOPES).await;
    let dev = Device::new();
    let (mut c, r) = connect(g.addr, &dev, &["operator.read"], json!({ "token": TOKEN })).await;
    assert_eq!(r["ok"], true, "{r}");
    // Without a device there is nobody to upgrade.
    let (mut plain, _) = operator(g.addr, &["operator.read"]).await;
    let e = err(&plain
        .call(
            "device.scopes.requestUpgrade",
            json!({ "scopes": ["operator.write"] }),
        )
        .await);
    assert_eq!(e["details"]["code"], "DEVICE_IDENTITY_REQUIRED", "{e}");
    let e = err(&c
        .call(
            "device.scopes.requestUpgrade",
            json!({ "scopes": ["operator.bogus"] }),
        )
        .await);
    assert_eq!(
        e["message"],
        "requested scopes contain an unknown operator scope"
    );
    let e = err(&c
        .call("device.scopes.requestUpgrade", json!({ "scopes": [] }))
        .await);
    assert_eq!(
        e["message"],
        "invalid device.scopes.requestUpgrade params: at /scopes: must not have fewer than 1 items"
    );
    // The ask is a pending device pairing; asking again for the same is the same request.
    let rid = c
        .ok(
            "device.scopes.requestUpgrade",
            json!({ "scopes": ["operator.write"] }),
        )
        .await["requestId"]
        .as_str()
        .unwrap()
        .to_string();
    let ev = admin.event("device.pair.requested").await["payload"].clone();
    assert_eq!(
        (
            ev["requestId"].as_str(),
            ev["isRepair"].as_bool(),
            ev["scopes"].clone()
        ),
        (
            Some(rid.as_str()),
            Some(true),
            json!(["operator.read", "operator.write"])
        )
    );
    let same = json!({ "scopes": ["operator.read", "operator.write"] });
    assert_eq!(
        c.ok("device.scopes.requestUpgrade", same).await["requestId"],
        rid.as_str()
    );
    // Another socket of the same device waits; the approval answers it.
    let (mut w, _) = connect(g.addr, &dev, &["operator.read"], json!({ "token": TOKEN })).await;
    let wait = w
        .send_req("device.scopes.waitUpgrade", json!({ "requestId": rid }))
        .await;
    admin
        .ok("device.pair.approve", json!({ "requestId": rid }))
        .await;
    let v = w.response(&wait).await["payload"].clone();
    assert_eq!(
        (v["status"].as_str(), v["scopes"].clone()),
        (Some("approved"), json!(["operator.read", "operator.write"])),
        "{v}"
    );
    // The live socket keeps its scopes; the token admits the device with the new ones.
    let e = err(&c.call("sessions.reset", json!({ "key": "x" })).await);
    assert_eq!(e["code"], "FORBIDDEN");
    let tok = v["deviceToken"].as_str().unwrap();
    let (_, r) = connect(
        g.addr,
        &dev,
        &["operator.read", "operator.write"],
        json!({ "deviceToken": tok }),
    )
    .await;
    assert_eq!(r["ok"], true, "{r}");
    // A rejected ask.
    let rid = c
        .ok(
            "device.scopes.requestUpgrade",
            json!({ "scopes": ["operator.approvals", "operator.read"] }),
        )
        .await["requestId"]
        .clone();
    let wait = w
        .send_req("device.scopes.waitUpgrade", json!({ "requestId": rid }))
        .await;
    admin
        .ok("device.pair.reject", json!({ "requestId": rid }))
        .await;
    assert_eq!(
        w.response(&wait).await["payload"],
        json!({ "status": "rejected", "requestId": rid })
    );
    let e = err(&w
        .call("device.scopes.waitUpgrade", json!({ "requestId": "nope" }))
        .await);
    assert_eq!(e["message"], "scope upgrade expired or not found");
}

#[tokio::test]
async fn a_revoked_token_is_reissued_silently_on_loopback() {
    let g = start().await;
    let (mut admin, _) = operator(g.addr, ALL_SCOPES).await;
    let dev = Device::new();
    let (mut c, r) = connect(g.addr, &dev, &["operator.read"], json!({ "token": TOKEN })).await;
    let old = r["payload"]["auth"]["deviceToken"]
        .as_str()
        .unwrap()
        .to_string();
    let rv = admin
        .ok(
            "device.token.revoke",
            json!({ "deviceId": dev.id(), "role": "operator" }),
        )
        .await;
    assert!(matches!(c.closed().await, Closed::Frame(4001, ref why) if why == "device removed"));
    let list = admin.ok("device.pair.list", json!({})).await;
    let paired = list["paired"].as_array().unwrap();
    let mine = paired
        .iter()
        .find(|d| d["deviceId"] == dev.id().as_str())
        .unwrap();
    assert_eq!(
        mine["tokens"][0]["revokedAtMs"], rv["revokedAtMs"],
        "{mine}"
    );
    // The old device token is refused; the shared token re-approves it with a new one.
    let (_, r) = connect(
        g.addr,
        &dev,
        &["operator.read"],
        json!({ "deviceToken": old }),
    )
    .await;
    assert_eq!(err(&r)["details"]["code"], "AUTH_DEVICE_TOKEN_MISMATCH");
    let (_, r) = connect(g.addr, &dev, &["operator.read"], json!({ "token": TOKEN })).await;
    let new = r["payload"]["auth"]["deviceToken"].as_str().unwrap();
    assert_ne!(new, old);
    let ev = admin.event("device.pair.resolved").await["payload"].clone();
    assert_eq!(
        (ev["deviceId"].as_str(), ev["decision"].as_str()),
        (Some(dev.id().as_str()), Some("approved"))
    );
}

#[tokio::test]
async fn a_revoked_token_needs_an_operator_when_pairing_is_not_automatic() {
    let g = start_with(Setup::config(NO_AUTO)).await;
    let (mut admin, _) = operator(g.addr, ALL_SCOPES).await;
    let dev = Device::new();
    let (_, r) = connect(g.addr, &dev, &["operator.read"], json!({ "token": TOKEN })).await;
    let rid = err(&r)["details"]["requestId"].clone();
    admin
        .ok("device.pair.approve", json!({ "requestId": rid }))
        .await;
    let (_, r) = connect(g.addr, &dev, &["operator.read"], json!({ "token": TOKEN })).await;
    assert_eq!(r["ok"], true, "{r}");
    admin
        .ok(
            "device.token.revoke",
            json!({ "deviceId": dev.id(), "role": "operator" }),
        )
        .await;
    let (_, r) = connect(g.addr, &dev, &["operator.read"], json!({ "token": TOKEN })).await;
    let e = err(&r);
    assert_eq!(
        (e["code"].as_str(), e["message"].as_str()),
        (
            Some("NOT_PAIRED"),
            Some("pairing required: device is asking for a higher role than currently approved")
        )
    );
    let d = &e["details"];
    assert_eq!(d["reason"], "role-upgrade");
    assert_eq!(d["approvedRoles"], json!(["operator"]));
    assert_eq!(d["approvedScopes"], json!(["operator.read"]));
    // Approving the request gives the role back.
    admin
        .ok(
            "device.pair.approve",
            json!({ "requestId": d["requestId"] }),
        )
        .await;
    let (_, r) = connect(g.addr, &dev, &["operator.read"], json!({ "token": TOKEN })).await;
    assert_eq!(r["ok"], true, "{r}");
}

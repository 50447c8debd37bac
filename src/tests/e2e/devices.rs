//! Device identity at connect: local auto-approval and its announcement, v3/v2 signatures,
//! device-token reconnects (also across a restart), every device-check refusal, and the
//! Control UI identity/origin rules.

use std::net::SocketAddr;

use crate::util::*;
use serde_json::{json, Value};

/// Set `p.device` for `dev`, signing the v3 (or v2) payload with these values.
fn sign(dev: &Device, p: &mut Value, signed_at: u64, nonce: &str, v2: bool) {
    let payload = if v2 {
        dev.v2_payload(p, signed_at, nonce)
    } else {
        dev.v3_payload(p, signed_at, nonce)
    };
    p["device"] = json!({
        "id": dev.id(), "publicKey": dev.public_key(), "signature": dev.sign(&payload),
        "signedAt": signed_at, "nonce": nonce,
    });
}

/// `cli`/`cli` params with the shared token and a v3 device block for `c`.
fn device_params(c: &Client, dev: &Device) -> Value {
    let mut p = connect_params("cli", "cli", ALL_SCOPES, Some(TOKEN));
    dev.attach(&mut p, c);
    p
}

/// Params that authenticate with the device token only (signed over that token).
pub(crate) fn device_token_params(c: &Client, dev: &Device, device_token: &str) -> Value {
    let mut p = connect_params("cli", "cli", ALL_SCOPES, None);
    p["auth"] = json!({ "deviceToken": device_token });
    dev.attach(&mut p, c);
    p
}

/// Pair `dev` (loopback auto-approval); returns the hello payload.
pub(crate) async fn pair(addr: SocketAddr, dev: &Device) -> Value {
    let mut c = Client::open(addr).await;
    let p = device_params(&c, dev);
    let r = c.call("connect", p).await;
    assert_eq!(r["ok"], true, "pairing connect failed: {r}");
    r["payload"].clone()
}

/// Assert a device-check refusal: exact error object and close 1008 with the message.
async fn device_reject(c: &mut Client, p: Value, message: &str, code: &str, reason: &str) {
    let (e, close, why) = refused(c, p).await;
    assert_eq!(
        e,
        json!({ "code": "INVALID_REQUEST", "message": message, "details": { "code": code, "reason": reason } })
    );
    assert_eq!((close, why.as_str()), (1008, message));
}

#[tokio::test]
async fn new_local_device_is_auto_approved_and_announced() {
    let g = start().await;
    let (mut admin, _) = operator(g.addr, ALL_SCOPES).await;
    let dev = Device::new();
    let hello = pair(g.addr, &dev).await;
    let auth = &hello["auth"];
    assert_eq!(auth["method"], "token");
    assert!(
        auth["deviceToken"].as_str().is_some_and(|t| !t.is_empty()),
        "{auth}"
    );
    assert!(auth["issuedAtMs"].as_u64().is_some_and(|t| t > 0), "{auth}");
    assert_eq!(auth["recoveryMigrationAllowed"], true);
    assert_eq!(auth["scopes"].as_array().unwrap().len(), 8, "{auth}");
    let ev = admin.event("device.pair.resolved").await;
    let pl = &ev["payload"];
    assert_eq!(pl["deviceId"], dev.id().as_str());
    assert_eq!(pl["decision"], "approved");
    assert!(
        pl["requestId"].as_str().is_some_and(|s| !s.is_empty()),
        "{ev}"
    );
    assert!(pl["ts"].as_u64().is_some(), "{ev}");
    assert!(
        ev["seq"].as_u64().is_some(),
        "broadcast events carry seq: {ev}"
    );
    g.stop().await;
}

#[tokio::test]
async fn v2_signature_is_accepted() {
    let g = start().await;
    let dev = Device::new();
    let mut c = Client::open(g.addr).await;
    let mut p = connect_params("cli", "cli", ALL_SCOPES, Some(TOKEN));
    sign(&dev, &mut p, c.challenge_ts, &c.nonce.clone(), true);
    let r = c.call("connect", p).await;
    assert_eq!(r["ok"], true, "{r}");
    assert!(r["payload"]["auth"]["deviceToken"].is_string(), "{r}");
    g.stop().await;
}

#[tokio::test]
async fn reconnect_with_device_token() {
    let g = start().await;
    let dev = Device::new();
    let first = pair(g.addr, &dev).await;
    let tok = first["auth"]["deviceToken"].as_str().unwrap().to_string();
    let mut c = Client::open(g.addr).await;
    let p = device_token_params(&c, &dev, &tok);
    let r = c.call("connect", p).await;
    assert_eq!(r["ok"], true, "{r}");
    let auth = &r["payload"]["auth"];
    assert_eq!(auth["method"], "device-token");
    assert_eq!(auth["deviceToken"], tok.as_str(), "same token on reconnect");
    assert_eq!(auth["issuedAtMs"], first["auth"]["issuedAtMs"]);
    assert!(
        auth.get("recoveryMigrationAllowed").is_none(),
        "only on first pairing: {auth}"
    );
    assert_eq!(
        auth["scopes"].as_array().unwrap().len(),
        8,
        "stored scopes: {auth}"
    );
    c.ok("health", json!({})).await;
    g.stop().await;
}

#[tokio::test]
async fn wrong_device_token_is_refused() {
    let g = start().await;
    let dev = Device::new();
    pair(g.addr, &dev).await;
    let mut c = Client::open(g.addr).await;
    let p = device_token_params(&c, &dev, "not-the-device-token");
    let (e, close, why) = refused(&mut c, p).await;
    assert_eq!(e["code"], "INVALID_REQUEST");
    assert_eq!(e["details"]["code"], "AUTH_DEVICE_TOKEN_MISMATCH", "{e}");
    assert_eq!(e["details"]["canRetryWithDeviceToken"], false);
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .starts_with("unauthorized: device token mismatch"),
        "{e}"
    );
    assert_eq!(
        (close, why.as_str()),
        (1008, e["message"].as_str().unwrap())
    );
    g.stop().await;
}

#[tokio::test]
async fn bad_signature() {
    let g = start().await;
    let dev = Device::new();
    let mut c = Client::open(g.addr).await;
    let mut p = device_params(&c, &dev);
    p["device"]["signature"] = json!(dev.sign("v3|something else entirely"));
    device_reject(
        &mut c,
        p,
        "device signature invalid",
        "DEVICE_AUTH_SIGNATURE_INVALID",
        "device-signature",
    )
    .await;
    // A signature over different scopes than sent is just as invalid.
    let mut c = Client::open(g.addr).await;
    let mut p = device_params(&c, &dev);
    p["scopes"] = json!(["operator.read"]);
    device_reject(
        &mut c,
        p,
        "device signature invalid",
        "DEVICE_AUTH_SIGNATURE_INVALID",
        "device-signature",
    )
    .await;
    g.stop().await;
}

#[tokio::test]
async fn wrong_nonce() {
    let g = start().await;
    let dev = Device::new();
    let mut c = Client::open(g.addr).await;
    let other = Client::open(g.addr).await;
    let mut p = connect_params("cli", "cli", ALL_SCOPES, Some(TOKEN));
    // A correctly signed block for another socket's challenge.
    sign(&dev, &mut p, c.challenge_ts, &other.nonce, false);
    device_reject(
        &mut c,
        p,
        "device nonce mismatch",
        "DEVICE_AUTH_NONCE_MISMATCH",
        "device-nonce-mismatch",
    )
    .await;
    g.stop().await;
}

#[tokio::test]
async fn empty_nonce_fails_params_validation() {
    let g = start().await;
    let dev = Device::new();
    let mut c = Client::open(g.addr).await;
    let mut p = connect_params("cli", "cli", ALL_SCOPES, Some(TOKEN));
    sign(&dev, &mut p, c.challenge_ts, "", false);
    let (e, close, why) = refused(&mut c, p).await;
    // ConnectParams.device.nonce has minLength 1: the schema check runs before device auth.
    let msg = "invalid connect params: at /device/nonce: must NOT have fewer than 1 characters";
    assert_eq!(e, json!({ "code": "INVALID_REQUEST", "message": msg }));
    assert_eq!((close, why.as_str()), (1008, msg));
    g.stop().await;
}

#[tokio::test]
async fn stale_signed_at() {
    let g = start().await;
    let dev = Device::new();
    let mut c = Client::open(g.addr).await;
    let mut p = connect_params("cli", "cli", ALL_SCOPES, Some(TOKEN));
    let nonce = c.nonce.clone();
    sign(&dev, &mut p, c.challenge_ts - 200_000, &nonce, false);
    device_reject(
        &mut c,
        p,
        "device signature expired",
        "DEVICE_AUTH_SIGNATURE_EXPIRED",
        "device-signature-stale",
    )
    .await;
    g.stop().await;
}

#[tokio::test]
async fn device_id_not_matching_key() {
    let g = start().await;
    let mut c = Client::open(g.addr).await;
    let mut p = device_params(&c, &Device::new());
    p["device"]["id"] = json!(Device::new().id());
    device_reject(
        &mut c,
        p,
        "device identity mismatch",
        "DEVICE_AUTH_DEVICE_ID_MISMATCH",
        "device-id-mismatch",
    )
    .await;
    g.stop().await;
}

#[tokio::test]
async fn garbage_public_key() {
    let g = start().await;
    let mut c = Client::open(g.addr).await;
    let mut p = device_params(&c, &Device::new());
    p["device"]["publicKey"] = json!("not a key!");
    device_reject(
        &mut c,
        p,
        "device public key invalid",
        "DEVICE_AUTH_PUBLIC_KEY_INVALID",
        "device-public-key",
    )
    .await;
    g.stop().await;
}

#[tokio::test]
async fn device_token_survives_restart() {
    let g = start().await;
    let dev = Device::new();
    let tok = pair(g.addr, &dev).await["auth"]["deviceToken"]
        .as_str()
        .unwrap()
        .to_string();
    let dir = g.stop().await;
    let g = start_with(Setup {
        dir: Some(dir),
        ..Setup::default()
    })
    .await;
    let mut c = Client::open(g.addr).await;
    let p = device_token_params(&c, &dev, &tok);
    let r = c.call("connect", p).await;
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["payload"]["auth"]["method"], "device-token");
    assert_eq!(r["payload"]["auth"]["deviceToken"], tok.as_str());
    g.stop().await;
}

#[tokio::test]
async fn ui_mode_without_device_is_refused() {
    let g = start().await;
    let mut c = Client::open(g.addr).await;
    let p = connect_params("openclaw-tui", "ui", ALL_SCOPES, Some(TOKEN));
    refused_with(&mut c, p, "CONTROL_UI_DEVICE_IDENTITY_REQUIRED").await;
    g.stop().await;
}

/// With a device block a `ui`-mode client works from loopback (observed.md).
#[tokio::test]
async fn ui_mode_with_device_connects() {
    let g = start().await;
    let mut c = Client::open(g.addr).await;
    let mut p = connect_params("openclaw-tui", "ui", ALL_SCOPES, Some(TOKEN));
    Device::new().attach(&mut p, &c);
    let r = c.call("connect", p).await;
    assert_eq!(r["ok"], true, "{r}");
    g.stop().await;
}

#[tokio::test]
async fn control_ui_needs_an_allowed_origin() {
    let g = start().await;
    let dev = Device::new();
    let ui = |c: &Client| {
        let mut p = connect_params("openclaw-control-ui", "ui", ALL_SCOPES, Some(TOKEN));
        dev.attach(&mut p, c);
        p
    };
    let mut c = Client::open(g.addr).await;
    let p = ui(&c);
    let (e, close, why) = refused(&mut c, p).await;
    let msg = e["message"].as_str().unwrap();
    assert_eq!(e["code"], "INVALID_REQUEST", "{e}");
    assert!(msg.starts_with("origin not allowed"), "{e}");
    assert_eq!((close, why.as_str()), (1008, msg));
    let origin = format!("http://127.0.0.1:{}", g.addr.port());
    let mut c = Client::open_with_headers(g.addr, &[("origin", &origin)]).await;
    let p = ui(&c);
    let r = c.call("connect", p).await;
    assert_eq!(r["ok"], true, "{r}");
    assert!(r["payload"]["auth"]["deviceToken"].is_string(), "{r}");
    g.stop().await;
}

#[tokio::test]
async fn one_device_keeps_its_token_across_operator_and_node_roles() {
    let g = start().await;
    let dev = Device::new();
    let hello = pair(g.addr, &dev).await;
    let token = hello["auth"]["deviceToken"].as_str().unwrap().to_string();
    // The same device as a node (role node, mode node: no scopes).
    let mut c = Client::open(g.addr).await;
    let mut p = connect_params("node-host", "node", &[], Some(TOKEN));
    p["role"] = json!("node");
    dev.attach(&mut p, &c);
    let r = c.call("connect", p).await;
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["payload"]["auth"]["role"], "node");
    assert_eq!(r["payload"]["auth"]["deviceToken"], token.as_str());
    // And as an operator again: still paired, same token, no re-pairing announcement needed.
    let again = pair(g.addr, &dev).await;
    assert_eq!(again["auth"]["deviceToken"], token.as_str());
    assert!(
        again["auth"].get("recoveryMigrationAllowed").is_none(),
        "not a new pairing: {again}"
    );
    let rec = g.gw.devices.get(&dev.id()).expect("paired");
    assert_eq!(rec.role, "operator,node");
    g.stop().await;
}

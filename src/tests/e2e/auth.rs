//! Connect authentication: shared token, password, none, the failed-auth limiter
//! (`gateway.auth.rateLimit`) and trusted-proxy mode, with the exact refusal frames.

use std::net::SocketAddr;

use crate::util::*;
use serde_json::{json, Value};

/// A refusal: the `error` object, close code and close reason.
struct Refusal {
    error: Value,
    close: u16,
    reason: String,
}

/// Send `connect` and expect a refusal followed by a close frame.
async fn refuse(c: &mut Client, p: Value) -> Refusal {
    let r = c.call("connect", p).await;
    assert_eq!(r["ok"], false, "connect should be refused: {r}");
    match c.closed().await {
        Closed::Frame(close, reason) => Refusal {
            error: r["error"].clone(),
            close,
            reason,
        },
        Closed::Eof => panic!("no close frame after {r}"),
    }
}

/// Open and connect with `p`, expecting success; the hello payload.
async fn accept(addr: SocketAddr, headers: &[(&str, &str)], p: Value) -> (Client, Value) {
    let mut c = Client::open_with_headers(addr, headers).await;
    let r = c.call("connect", p).await;
    assert_eq!(r["ok"], true, "connect should succeed: {r}");
    (c, r["payload"].clone())
}

/// Params for a `cli`/`cli` client with a v3-signed device block for `c`'s challenge.
fn cli_with_device(c: &Client, dev: &Device, token: Option<&str>) -> Value {
    let mut p = connect_params("cli", "cli", ALL_SCOPES, token);
    dev.attach(&mut p, c);
    p
}

#[tokio::test]
async fn token_ok() {
    let g = start().await;
    let (mut c, hello) = accept(
        g.addr,
        &[],
        connect_params("gateway-client", "backend", &["operator.read"], Some(TOKEN)),
    )
    .await;
    assert_eq!(hello["auth"]["method"], "token");
    assert_eq!(hello["auth"]["role"], "operator");
    assert_eq!(hello["auth"]["scopes"], json!(["operator.read"]));
    assert!(
        hello["auth"].get("deviceToken").is_none(),
        "no device, no device token"
    );
    assert_eq!(hello["snapshot"]["authMode"], "token");
    c.ok("health", json!({})).await;
    g.stop().await;
}

#[tokio::test]
async fn wrong_token_without_device() {
    let g = start().await;
    let mut c = Client::open(g.addr).await;
    let f = refuse(
        &mut c,
        connect_params("gateway-client", "backend", ALL_SCOPES, Some("wrong-token")),
    )
    .await;
    let msg = f.error["message"].as_str().unwrap();
    assert_eq!(f.error["code"], "INVALID_REQUEST");
    assert!(
        msg.starts_with("unauthorized: gateway token mismatch"),
        "{msg}"
    );
    assert_eq!(f.error["details"]["code"], "AUTH_TOKEN_MISMATCH");
    assert_eq!(f.error["details"]["authReason"], "token_mismatch");
    assert_eq!(f.error["details"]["canRetryWithDeviceToken"], false);
    assert_eq!((f.close, f.reason.as_str()), (1008, msg));
    g.stop().await;
}

#[tokio::test]
async fn wrong_token_with_signed_device_can_retry_with_device_token() {
    let g = start().await;
    let mut c = Client::open(g.addr).await;
    let p = cli_with_device(&c, &Device::new(), Some("wrong-token"));
    let f = refuse(&mut c, p).await;
    let msg = "unauthorized: gateway token mismatch (use this gateway's gateway.auth.token or pair the device)";
    assert_eq!(
        f.error,
        json!({ "code": "INVALID_REQUEST", "message": msg, "details": {
            "code": "AUTH_TOKEN_MISMATCH", "authReason": "token_mismatch",
            "canRetryWithDeviceToken": true, "recommendedNextStep": "retry_with_device_token" } })
    );
    assert_eq!((f.close, f.reason.as_str()), (1008, msg));
    g.stop().await;
}

#[tokio::test]
async fn signed_device_without_token_is_token_missing() {
    let g = start().await;
    let mut c = Client::open(g.addr).await;
    let p = cli_with_device(&c, &Device::new(), None);
    let f = refuse(&mut c, p).await;
    let msg = f.error["message"].as_str().unwrap();
    assert_eq!(f.error["code"], "INVALID_REQUEST");
    assert!(
        msg.starts_with("unauthorized: gateway token missing ("),
        "{msg}"
    );
    assert_eq!(
        f.error["details"],
        json!({ "code": "AUTH_TOKEN_MISSING", "authReason": "token_missing",
                "canRetryWithDeviceToken": false, "recommendedNextStep": "update_auth_configuration" })
    );
    assert_eq!((f.close, f.reason.as_str()), (1008, msg));
    g.stop().await;
}

#[tokio::test]
async fn no_token_no_device_is_device_identity_required() {
    let g = start().await;
    let mut c = Client::open(g.addr).await;
    let f = refuse(&mut c, connect_params("cli", "cli", ALL_SCOPES, None)).await;
    assert_eq!(f.error["code"], "NOT_PAIRED", "{}", f.error);
    assert_eq!(f.error["details"]["code"], "DEVICE_IDENTITY_REQUIRED");
    assert_eq!(f.close, 1008);
    assert_eq!(f.reason, f.error["message"].as_str().unwrap());
    g.stop().await;
}

// ---------------------------------------------------------------- password / none

fn password_setup() -> Setup {
    Setup {
        config: r#"{ gateway: { mode: "local", auth: { mode: "password", password: "pw-123" } } }"#
            .into(),
        env: vec![],
        ..Setup::default()
    }
}

fn with_password(pw: Option<&str>) -> Value {
    let mut p = connect_params("gateway-client", "backend", &["operator.read"], None);
    if let Some(pw) = pw {
        p["auth"] = json!({ "password": pw });
    }
    p
}

#[tokio::test]
async fn password_ok() {
    let g = start_with(password_setup()).await;
    let (_c, hello) = accept(g.addr, &[], with_password(Some("pw-123"))).await;
    assert_eq!(hello["auth"]["method"], "password");
    assert_eq!(hello["auth"]["scopes"], json!(["operator.read"]));
    assert_eq!(hello["snapshot"]["authMode"], "password");
    g.stop().await;
}

#[tokio::test]
async fn password_wrong() {
    let g = start_with(password_setup()).await;
    let mut c = Client::open(g.addr).await;
    let f = refuse(&mut c, with_password(Some("pw-999"))).await;
    let msg = f.error["message"].as_str().unwrap();
    assert_eq!(f.error["code"], "INVALID_REQUEST");
    assert!(
        msg.starts_with("unauthorized: gateway password mismatch"),
        "{msg}"
    );
    assert_eq!(f.error["details"]["code"], "AUTH_PASSWORD_MISMATCH");
    assert_eq!(f.error["details"]["authReason"], "password_mismatch");
    assert_eq!((f.close, f.reason.as_str()), (1008, msg));
    g.stop().await;
}

#[tokio::test]
async fn password_missing() {
    let g = start_with(password_setup()).await;
    // With a signed device block: the password is reported missing.
    let mut c = Client::open(g.addr).await;
    let mut p = connect_params("cli", "cli", ALL_SCOPES, None);
    Device::new().attach(&mut p, &c);
    let f = refuse(&mut c, p).await;
    let msg = f.error["message"].as_str().unwrap();
    assert!(
        msg.starts_with("unauthorized: gateway password missing"),
        "{msg}"
    );
    assert_eq!(f.error["details"]["code"], "AUTH_PASSWORD_MISSING");
    assert_eq!(f.error["details"]["authReason"], "password_missing");
    assert_eq!((f.close, f.reason.as_str()), (1008, msg));
    // Without anything: device identity required, as in token mode.
    let mut c = Client::open(g.addr).await;
    let f = refuse(&mut c, with_password(None)).await;
    assert_eq!(f.error["code"], "NOT_PAIRED");
    assert_eq!(f.error["details"]["code"], "DEVICE_IDENTITY_REQUIRED");
    assert_eq!(f.close, 1008);
    g.stop().await;
}

#[tokio::test]
async fn auth_mode_none_accepts_no_credentials() {
    let g = start_with(Setup {
        config: r#"{ gateway: { mode: "local", auth: { mode: "none" } } }"#.into(),
        env: vec![],
        ..Setup::default()
    })
    .await;
    let (mut c, hello) = accept(
        g.addr,
        &[],
        connect_params("gateway-client", "backend", &["operator.read"], None),
    )
    .await;
    assert_eq!(hello["auth"]["method"], "none");
    assert_eq!(hello["auth"]["scopes"], json!(["operator.read"]));
    assert_eq!(hello["snapshot"]["authMode"], "none");
    c.ok("health", json!({})).await;
    g.stop().await;
}

// ---------------------------------------------------------------- rate limiting

async fn wrong_token_attempt(addr: SocketAddr) -> Refusal {
    let mut c = Client::open(addr).await;
    refuse(
        &mut c,
        connect_params("gateway-client", "backend", &[], Some("wrong-token")),
    )
    .await
}

#[tokio::test]
async fn lockout_after_max_attempts_even_for_the_right_token() {
    let g = start_with(Setup::config(
        r#"{ gateway: { mode: "local", auth: { mode: "token",
             rateLimit: { maxAttempts: 3, windowMs: 60000, lockoutMs: 300000, exemptLoopback: false } } } }"#,
    ))
    .await;
    for i in 0..3 {
        let f = wrong_token_attempt(g.addr).await;
        assert_eq!(
            f.error["details"]["code"], "AUTH_TOKEN_MISMATCH",
            "attempt {i}: {}",
            f.error
        );
        assert_eq!(f.close, 1008);
    }
    let mut c = Client::open(g.addr).await;
    let f = refuse(
        &mut c,
        connect_params("gateway-client", "backend", &[], Some(TOKEN)),
    )
    .await;
    let wait = f.error["retryAfterMs"].as_u64().expect("retryAfterMs");
    assert!(wait > 0 && wait <= 300_000, "retryAfterMs {wait}");
    let msg = "unauthorized: too many failed authentication attempts (retry later)";
    assert_eq!(
        f.error,
        json!({ "code": "INVALID_REQUEST", "message": msg, "retryable": true, "retryAfterMs": wait,
                "details": { "code": "AUTH_RATE_LIMITED", "authReason": "rate_limited",
                             "recommendedNextStep": "wait_then_retry" } })
    );
    assert_eq!((f.close, f.reason.as_str()), (1008, msg));
    g.stop().await;
}

#[tokio::test]
async fn loopback_is_exempt_by_default() {
    let g = start().await;
    for i in 0..20 {
        let f = wrong_token_attempt(g.addr).await;
        assert_eq!(
            f.error["details"]["code"], "AUTH_TOKEN_MISMATCH",
            "attempt {i}: {}",
            f.error
        );
    }
    let (_c, hello) = operator(g.addr, &["operator.read"]).await;
    assert_eq!(hello["auth"]["method"], "token");
    g.stop().await;
}

// ---------------------------------------------------------------- trusted proxy

fn trusted_proxy_setup() -> Setup {
    Setup {
        config: r#"{ gateway: { mode: "local", trustedProxies: ["127.0.0.1"],
                     auth: { mode: "trusted-proxy", trustedProxy: { userHeader: "x-user", allowLoopback: true } } } }"#
            .into(),
        env: vec![],
        ..Setup::default()
    }
}

#[tokio::test]
async fn trusted_proxy_user_header_connects() {
    let g = start_with(trusted_proxy_setup()).await;
    let p = connect_params("gateway-client", "backend", ALL_SCOPES, None);
    let (mut c, hello) = accept(g.addr, &[("x-user", "alice")], p).await;
    assert_eq!(hello["auth"]["method"], "trusted-proxy");
    assert_eq!(
        hello["auth"]["scopes"].as_array().unwrap().len(),
        8,
        "{}",
        hello["auth"]
    );
    assert_eq!(hello["snapshot"]["authMode"], "trusted-proxy");
    c.ok("health", json!({})).await;
    g.stop().await;
}

#[tokio::test]
async fn trusted_proxy_without_user_header_is_refused() {
    let g = start_with(trusted_proxy_setup()).await;
    let mut c = Client::open(g.addr).await;
    let f = refuse(
        &mut c,
        connect_params("gateway-client", "backend", ALL_SCOPES, None),
    )
    .await;
    assert_eq!(f.error["code"], "INVALID_REQUEST", "{}", f.error);
    assert_eq!(
        f.error["details"]["reason"], "trusted_proxy_user_missing",
        "{}",
        f.error
    );
    assert_eq!(f.close, 1008);
    g.stop().await;
}

#[tokio::test]
async fn trusted_proxy_scope_header_caps_scopes() {
    let g = start_with(trusted_proxy_setup()).await;
    let p = connect_params("gateway-client", "backend", ALL_SCOPES, None);
    let (mut c, hello) = accept(
        g.addr,
        &[("x-user", "alice"), ("x-openclaw-scopes", "operator.read")],
        p,
    )
    .await;
    assert_eq!(hello["auth"]["scopes"], json!(["operator.read"]));
    let r = c
        .call("system-event", json!({ "text": "x", "mode": "now" }))
        .await;
    assert_eq!(r["error"]["code"], "FORBIDDEN", "capped to read: {r}");
    g.stop().await;
}

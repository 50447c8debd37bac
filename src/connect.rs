//! The `connect` request: params, protocol range, locality, shared-secret auth, device
//! identity and pairing, granted scopes, and the `hello-ok` payload. Every refusal is the
//! frame and close code the Node gateway sends.

use std::net::IpAddr;
use std::sync::Arc;

use openclaw_net::{ConnInfo, Outbound};
use openclaw_proto::close;
use openclaw_proto::connect::ConnectParams;
use openclaw_proto::{
    parse_connect_params, ErrorCode, ErrorShape, GrantedScopes, RequestFrame,
    MIN_PROBE_PROTOCOL_VERSION, PROTOCOL_VERSION,
};
use serde_json::{json, Value};

use crate::auth::ct_eq;
use crate::auth::device::{self, b64url, new_device_token};
use crate::auth::shared::{
    rate_limited, refuse, secret_failure, truncate_reason, ClientKind, ConnectFail, SecretFailure,
};
use crate::clock::now_ms;
use crate::config::AuthMode;
use crate::hub::Subscriber;
use crate::server::Gateway;
use crate::store::DeviceRecord;

/// Headers that make a loopback socket non-local (a proxy is in between).
const FORWARDING_HEADERS: &[&str] = &[
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-real-ip",
];

pub use crate::auth::Authed;

/// `true` for a direct loopback peer with no forwarding headers.
pub fn is_local_direct(info: &ConnInfo) -> bool {
    info.peer.ip().is_loopback() && !FORWARDING_HEADERS.iter().any(|h| info.header(h).is_some())
}

/// The peer's address as pairing records show it (`remoteIp`), when it is not this host.
fn remote_ip(info: &ConnInfo) -> Option<String> {
    let ip = info.peer.ip();
    (!ip.is_loopback()).then(|| ip.to_string())
}

fn negotiate(p: &ConnectParams) -> Option<u32> {
    let (min, max) = (p.min_protocol, p.max_protocol);
    let has = |v: u32| min <= v as i64 && v as i64 <= max;
    if has(PROTOCOL_VERSION) {
        return Some(PROTOCOL_VERSION);
    }
    let mode = p.client.mode.as_str();
    let lenient = mode == "probe" || (mode == "node" && p.role_or_default() == "node");
    (lenient && has(MIN_PROBE_PROTOCOL_VERSION)).then_some(MIN_PROBE_PROTOCOL_VERSION)
}

fn protocol_mismatch(p: &ConnectParams) -> ConnectFail {
    let e = ErrorShape::new(ErrorCode::InvalidRequest, "protocol mismatch").with_details(json!({
        "code": "PROTOCOL_MISMATCH",
        "clientMinProtocol": p.min_protocol,
        "clientMaxProtocol": p.max_protocol,
        "expectedProtocol": PROTOCOL_VERSION,
        "minimumProbeProtocol": MIN_PROBE_PROTOCOL_VERSION,
    }));
    ConnectFail::new(e, close::PROTOCOL_ERROR)
}

fn origin_allowed(gw: &Gateway, origin: &str) -> bool {
    let cfg = gw.cfg.load();
    if cfg
        .control_ui_allowed_origins
        .iter()
        .any(|o| o == "*" || o.eq_ignore_ascii_case(origin))
    {
        return true;
    }
    let host = origin
        .split("://")
        .nth(1)
        .unwrap_or("")
        .split('/')
        .next()
        .unwrap_or("");
    let host = host.rsplit_once(':').map_or(host, |(h, p)| {
        if p.chars().all(|c| c.is_ascii_digit()) {
            h
        } else {
            host
        }
    });
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.eq_ignore_ascii_case("localhost")
        || host.ends_with(".local")
        || host.ends_with(".ts.net")
    {
        return true;
    }
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || (v4.octets()[0] == 100 && (v4.octets()[1] & 0xC0) == 64)
        }
        Ok(IpAddr::V6(v6)) => v6.is_loopback(),
        Err(_) => false,
    }
}

struct SharedOk {
    method: &'static str,
    /// A verified device token matched (`device-token` method).
    device_token_ok: bool,
}

/// Shared-secret (or device-token) authentication.
fn authenticate(
    gw: &Gateway,
    p: &ConnectParams,
    info: &ConnInfo,
    kind: ClientKind,
    verified_device: Option<&str>,
) -> Result<SharedOk, ConnectFail> {
    let cfg = gw.cfg.load();
    let auth = p.auth.clone().unwrap_or_default();
    let ip = info.peer.ip();
    let rl = gw.rate_limit();
    let stored = verified_device.and_then(|id| gw.devices.get(id));
    let device_token_matches = |t: &str| stored.as_ref().is_some_and(|d| ct_eq(&d.token, t));
    let (class, secret, provided, missing, mismatch) = match cfg.auth.mode {
        AuthMode::None => {
            return Ok(SharedOk {
                method: "none",
                device_token_ok: false,
            })
        }
        AuthMode::TrustedProxy => {
            return trusted_proxy(gw, info).map(|_| SharedOk {
                method: "trusted-proxy",
                device_token_ok: false,
            })
        }
        AuthMode::Token => (
            "token",
            cfg.auth.token.as_ref().map(|s| s.expose().to_string()),
            auth.token.clone(),
            SecretFailure::TokenMissing,
            SecretFailure::TokenMismatch,
        ),
        AuthMode::Password => (
            "password",
            cfg.auth.password.as_ref().map(|s| s.expose().to_string()),
            auth.password.clone(),
            SecretFailure::PasswordMissing,
            SecretFailure::PasswordMismatch,
        ),
    };
    // A lockout of either credential class (shared secret or device token) applies.
    let locked = gw
        .limiter
        .check(&rl, ip, class)
        .and_then(|_| gw.limiter.check(&rl, ip, "device-token"));
    if let Err(wait) = locked {
        return Err(rate_limited(wait.as_millis() as u64));
    }
    if let (Some(given), Some(want)) = (provided.as_deref(), secret.as_deref()) {
        if !want.is_empty() && ct_eq(given, want) {
            gw.limiter.success(ip, class);
            return Ok(SharedOk {
                method: class,
                device_token_ok: false,
            });
        }
    }
    // A paired device may authenticate with its device token (in deviceToken or token).
    let dev_tok = auth.device_token.as_deref().or(auth.token.as_deref());
    if let Some(t) = dev_tok {
        if device_token_matches(t) {
            gw.limiter.success(ip, "device-token");
            return Ok(SharedOk {
                method: "device-token",
                device_token_ok: true,
            });
        }
    }
    let has_device = p.device.is_some();
    if auth.device_token.is_some() && verified_device.is_some() && provided.is_none() {
        // The failure that triggers a lockout is still answered as a mismatch; the lockout
        // applies from the next attempt (stock: recordFailure, then `token_mismatch`).
        gw.limiter.failure(&rl, ip, "device-token");
        return Err(secret_failure(
            SecretFailure::DeviceTokenMismatch,
            kind,
            has_device,
        ));
    }
    if provided.is_some() {
        gw.limiter.failure(&rl, ip, class);
        return Err(secret_failure(mismatch, kind, has_device));
    }
    if has_device {
        return Err(secret_failure(missing, kind, has_device));
    }
    Err(refuse(
        ErrorCode::NotPaired,
        "device identity required",
        Some("DEVICE_IDENTITY_REQUIRED"),
        close::POLICY_VIOLATION,
    ))
}

/// Trusted-proxy evaluation (security.md §5), first failure wins.
pub(crate) fn trusted_proxy(gw: &Gateway, info: &ConnInfo) -> Result<String, ConnectFail> {
    let cfg = gw.cfg.load();
    let fail = |reason: &str| {
        let e = ErrorShape::new(ErrorCode::InvalidRequest, format!("unauthorized: {reason}"))
            .with_details(json!({ "code": "AUTH_TRUSTED_PROXY_REJECTED", "reason": reason }));
        ConnectFail::new(e, close::POLICY_VIOLATION)
    };
    let Some(tp) = cfg.auth.trusted_proxy.as_ref() else {
        return Err(fail("trusted_proxy_config_missing"));
    };
    if cfg.trusted_proxies.is_empty() {
        return Err(fail("trusted_proxy_no_proxies_configured"));
    }
    let peer = info.peer.ip();
    let listed = cfg
        .trusted_proxies
        .iter()
        .any(|p| crate::auth::ip_matches(p, peer));
    if !listed {
        return Err(fail("trusted_proxy_untrusted_source"));
    }
    if peer.is_loopback() && !tp.allow_loopback {
        return Err(fail("trusted_proxy_loopback_source"));
    }
    for h in &tp.required_headers {
        if info
            .header(&h.to_ascii_lowercase())
            .is_none_or(|v| v.trim().is_empty())
        {
            return Err(fail(&format!(
                "trusted_proxy_missing_header_{}",
                h.to_ascii_lowercase()
            )));
        }
    }
    let user = info
        .header(&tp.user_header.to_ascii_lowercase())
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .ok_or_else(|| fail("trusted_proxy_user_missing"))?;
    if !tp.allow_users.is_empty() && !tp.allow_users.iter().any(|u| u.eq_ignore_ascii_case(user)) {
        return Err(fail("trusted_proxy_user_not_allowed"));
    }
    Ok(user.to_string())
}

/// Handle `connect`: `Ok((authed, hello-ok payload))` or the refusal.
pub async fn connect(
    gw: &Gateway,
    info: &ConnInfo,
    nonce: &str,
    req: &RequestFrame<'_>,
) -> Result<(Authed, Value), ConnectFail> {
    let p = parse_connect_params(req.params_raw()).map_err(|d| {
        refuse(
            ErrorCode::InvalidRequest,
            &format!("invalid connect params: {d}"),
            None,
            close::POLICY_VIOLATION,
        )
    })?;
    let protocol = negotiate(&p).ok_or_else(|| protocol_mismatch(&p))?;
    let role = p.role_or_default().to_string();
    if role != "operator" && role != "node" {
        return Err(refuse(
            ErrorCode::InvalidRequest,
            &format!("invalid role: {role}"),
            None,
            close::POLICY_VIOLATION,
        ));
    }
    let local = is_local_direct(info);
    let client_id = p.client.id.clone();
    let mode = p.client.mode.clone();
    let kind = ClientKind {
        cli: mode == "cli" || client_id == "cli",
        ui: matches!(
            client_id.as_str(),
            "openclaw-control-ui" | "webchat-ui" | "webchat"
        ),
        local,
    };
    if matches!(client_id.as_str(), "openclaw-control-ui" | "webchat-ui")
        && !info.header("origin").is_some_and(|o| origin_allowed(gw, o))
    {
        return Err(refuse(
            ErrorCode::InvalidRequest,
            "origin not allowed (open the Control UI from the gateway host or allow it in gateway.controlUi.allowedOrigins)",
            Some("CONTROL_UI_ORIGIN_NOT_ALLOWED"),
            close::POLICY_VIOLATION,
        ));
    }
    let now = now_ms();
    let verified = match p.device.as_ref() {
        Some(d) => match device::verify(d, &p, nonce, now) {
            Ok(pk) => Some((d.id.to_ascii_lowercase(), pk)),
            Err(r) => {
                let e = ErrorShape::new(ErrorCode::InvalidRequest, r.message)
                    .with_details(json!({ "code": r.code, "reason": r.reason }));
                return Err(ConnectFail::new(e, close::POLICY_VIOLATION));
            }
        },
        None => None,
    };
    if verified.is_none() && mode == "ui" {
        return Err(refuse(
            ErrorCode::InvalidRequest,
            "control ui requires device identity (use a browser with WebCrypto or pair the device)",
            Some("CONTROL_UI_DEVICE_IDENTITY_REQUIRED"),
            close::POLICY_VIOLATION,
        ));
    }
    let shared = authenticate(
        gw,
        &p,
        info,
        kind,
        verified.as_ref().map(|(id, _)| id.as_str()),
    )?;
    let requested: Vec<String> = p.scopes.clone().unwrap_or_default();

    // Scopes and pairing.
    let mut scopes = if role == "node" {
        Vec::new()
    } else {
        requested.clone()
    };
    let mut device_token: Option<(String, u64)> = None;
    let mut newly_paired = None;
    if let Some((id, pk)) = verified.as_ref() {
        let existing = gw.devices.get(id);
        // `role` is stored as the comma-separated set of roles the device was approved for;
        // a role whose token was revoked no longer counts until it is approved again.
        let revoked = crate::rpc::devices::revoked_roles(gw, id);
        let has_role =
            |d: &DeviceRecord| d.role.split(',').any(|r| r == role) && !revoked.contains(&role);
        let covers = |d: &DeviceRecord| has_role(d) && scopes.iter().all(|s| d.scopes.contains(s));
        match existing {
            Some(d) if covers(&d) => device_token = Some((d.token.clone(), d.token_issued_ms)),
            Some(_) if shared.device_token_ok => {
                let e = ErrorShape::new(ErrorCode::InvalidRequest, "unauthorized: device token scope mismatch")
                    .with_details(json!({ "code": "AUTH_SCOPE_MISMATCH", "recommendedNextStep": "review_auth_configuration", "canRetryWithDeviceToken": false }));
                return Err(ConnectFail::new(e, close::POLICY_VIOLATION));
            }
            prev if local && auto_approve_local(gw) => {
                let (token, issued) = match &prev {
                    Some(d) if has_role(d) || d.role.split(',').all(|r| r != role) => {
                        (d.token.clone(), d.token_issued_ms)
                    }
                    _ => (new_device_token(), now),
                };
                let mut all = prev.as_ref().map(|d| d.scopes.clone()).unwrap_or_default();
                for s in &scopes {
                    if !all.contains(s) {
                        all.push(s.clone());
                    }
                }
                let roles = match &prev {
                    Some(d) if !has_role(d) => format!("{},{role}", d.role),
                    Some(d) => d.role.clone(),
                    None => role.clone(),
                };
                let rec = DeviceRecord {
                    device_id: id.clone(),
                    public_key: b64url(pk),
                    role: roles,
                    scopes: all,
                    token: token.clone(),
                    token_issued_ms: issued,
                    approved_ms: now,
                    client_id: client_id.clone(),
                    platform: p.client.platform.clone(),
                    provenance: "silent".into(),
                };
                gw.devices.upsert(rec).await.map_err(|e| {
                    crate::failure::Failure::Store(e).log("pairing");
                    refuse(
                        ErrorCode::Unavailable,
                        crate::failure::STORE_UNAVAILABLE,
                        None,
                        close::TRY_AGAIN_LATER,
                    )
                })?;
                device_token = Some((token, issued));
                let repaired = prev.as_ref().is_some_and(|d| !has_role(d));
                if repaired {
                    crate::rpc::devices::unrevoke(gw, id, &role).await;
                }
                if prev.is_none() || repaired {
                    newly_paired = Some(id.clone());
                }
            }
            prev => {
                let reason = match &prev {
                    None => "not-paired",
                    Some(d) if !has_role(d) => "role-upgrade",
                    Some(_) => "scope-upgrade",
                };
                let ask = crate::rpc::devices::Ask {
                    device_id: id,
                    public_key: pk,
                    display_name: p.client.display_name.as_deref(),
                    platform: &p.client.platform,
                    device_family: p.client.device_family.as_deref(),
                    client_id: &client_id,
                    client_mode: &mode,
                    role: &role,
                    scopes: &scopes,
                    repair: prev.is_some(),
                    remote_ip: remote_ip(info),
                };
                return Err(crate::rpc::devices::pairing_required(gw, ask, reason).await);
            }
        }
    } else if mode == "probe" {
        // Device-less probes get their self-declared scopes cleared (observed).
        scopes.clear();
    }
    if cfg_is_trusted_proxy(gw) {
        if let Some(cap) = info.header("x-openclaw-scopes") {
            let allowed: Vec<&str> = cap.split([',', ' ']).filter(|s| !s.is_empty()).collect();
            scopes.retain(|s| allowed.contains(&s.as_str()));
        }
    }

    let conn_id = uuid::Uuid::new_v4().to_string();
    let granted = GrantedScopes::new(scopes);
    let creates_presence = matches!(mode.as_str(), "ui" | "webchat" | "node");
    let presence_key = creates_presence.then(|| {
        verified
            .as_ref()
            .map(|(id, _)| id.clone())
            .or_else(|| p.client.instance_id.clone())
            .unwrap_or_else(|| conn_id.clone())
    });
    if let Some(key) = &presence_key {
        gw.presence.upsert(
            key,
            crate::hello::presence_entry(
                &p,
                info,
                &role,
                &granted,
                verified.as_ref().map(|v| v.0.as_str()),
                now,
            ),
            now,
        );
    }
    let hello = crate::hello::hello_ok(
        gw,
        protocol,
        &conn_id,
        shared.method,
        &role,
        &granted,
        device_token.as_ref(),
        newly_paired.is_some(),
    );
    let node = (role == "node").then(|| {
        std::sync::Arc::new(crate::nodes::NodeDecl {
            node_id: verified
                .as_ref()
                .map_or_else(|| p.client.id.clone(), |(id, _)| id.clone()),
            client_id: p.client.id.clone(),
            client_mode: p.client.mode.clone(),
            display_name: p.client.display_name.clone(),
            platform: p.client.platform.clone(),
            version: p.client.version.clone(),
            device_family: p.client.device_family.clone(),
            model_identifier: p.client.model_identifier.clone(),
            caps: p.caps.clone(),
            commands: p.commands.clone().unwrap_or_default(),
            path_env: p.path_env.clone(),
            permissions: p.permissions.as_ref().map(|m| json!(m)),
            local,
            remote_ip: remote_ip(info),
        })
    });
    let authed = Authed {
        node,
        conn: info.conn_id,
        conn_id,
        role: role.clone(),
        scopes: granted.clone(),
        client_id,
        client_mode: mode,
        presence_key,
        device_id: verified.map(|(id, _)| id),
        newly_paired,
        caps: p.caps.clone(),
    };
    tracing::debug!(target: "gateway/ws", "← connect client={} mode={} role={} auth={} conn={}",
        authed.client_id, authed.client_mode, authed.role, shared.method, truncate_reason(&authed.conn_id));
    Ok((authed, hello))
}

/// `gateway.nodes.pairing.autoApproveLocal` (default on).
fn auto_approve_local(gw: &Gateway) -> bool {
    gw.cfg
        .load()
        .parsed
        .pointer("/gateway/nodes/pairing/autoApproveLocal")
        .and_then(Value::as_bool)
        .unwrap_or(true)
}

fn cfg_is_trusted_proxy(gw: &Gateway) -> bool {
    gw.cfg.load().auth.mode == AuthMode::TrustedProxy
}

/// After `hello-ok` is queued: the socket joins the hub (events may follow from now on).
pub fn joined(gw: &Gateway, a: &Authed, out: &Outbound) {
    gw.hub.join(std::sync::Arc::new(Subscriber {
        conn: a.conn,
        out: out.clone(),
        scopes: a.scopes.clone(),
        operator: a.role == "operator",
        device: a.device_id.clone(),
        approval_client: a.role == "operator"
            && openclaw_proto::scope::satisfies(&a.scopes, "operator.approvals")
            && (matches!(
                a.client_id.as_str(),
                "openclaw-control-ui" | "openclaw-macos" | "openclaw-ios" | "openclaw-android"
            ) || a
                .caps
                .iter()
                .any(|c| c == "approvals" || c == "exec-approvals")),
    }));
}

/// After `hello-ok` is queued and the socket joined: presence and pairing announcements, and the connect-time
/// `health` event (the snapshot `hello-ok` carried, not a second copy).
pub fn after_hello(gw: &Arc<Gateway>, a: &Authed, out: &Outbound, health: &Value) {
    if a.presence_key.is_some() {
        gw.publish_presence();
    }
    if let Some(d) = &a.node {
        crate::rpc::nodes::connected(gw, d, a.conn, out);
    }
    if let Some(id) = &a.newly_paired {
        let payload = json!({
            "requestId": uuid::Uuid::new_v4().to_string(),
            "deviceId": id,
            "decision": "approved",
            "ts": now_ms(),
        });
        let conn = a.conn;
        gw.hub
            .publish_filtered("device.pair.resolved", &payload, None, |s| s.conn != conn);
    }
    let parts = openclaw_proto::event_parts("health", health, Some(gw.versions.current()));
    out.send_seq(&parts.head, &parts.tail, true);
}

/// The socket is gone: leave the hub, mark presence.
pub fn disconnected(gw: &Gateway, a: &Authed) {
    gw.hub.leave(a.conn);
    if let Some(d) = &a.node {
        gw.nodes.detach(&d.node_id, a.conn);
    }
    if let Some(key) = &a.presence_key {
        if gw.presence.disconnect(key, now_ms()) {
            gw.publish_presence();
        }
    }
}

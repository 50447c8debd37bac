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
use crate::auth::shared::{
    rate_limited, refuse, secret_failure, truncate_reason, ClientKind, ConnectFail, SecretFailure,
};
use crate::clock::now_ms;
use crate::config::AuthMode;
use crate::hub::Subscriber;
use crate::server::Gateway;

/// Headers that make a loopback socket non-local (a proxy is in between).
const FORWARDING_HEADERS: &[&str] = &[
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-real-ip",
];

pub use crate::auth::Authed;

mod pairing;

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
    let ok = |method, device_token_ok| SharedOk {
        method,
        device_token_ok,
    };
    let check = match cfg.auth.mode {
        AuthMode::None => return Ok(ok("none", false)),
        AuthMode::TrustedProxy => {
            return trusted_proxy(gw, info).map(|_| ok("trusted-proxy", false))
        }
        mode => SecretCheck::of(mode, &cfg.auth, &auth),
    };
    let ip = info.peer.ip();
    let rl = gw.rate_limit();
    // A lockout of either credential class (shared secret or device token) applies.
    let locked = gw
        .limiter
        .check(&rl, ip, check.class)
        .and_then(|_| gw.limiter.check(&rl, ip, "device-token"));
    if let Err(wait) = locked {
        return Err(rate_limited(wait.as_millis() as u64));
    }
    if let (Some(given), Some(want)) = (check.provided.as_deref(), check.secret.as_deref()) {
        if !want.is_empty() && ct_eq(given, want) {
            gw.limiter.success(ip, check.class);
            return Ok(ok(check.class, false));
        }
    }
    // A paired device may authenticate with its device token (in deviceToken or token).
    let stored = verified_device.and_then(|id| gw.devices.get(id));
    let dev_tok = auth.device_token.as_deref().or(auth.token.as_deref());
    if let (Some(t), Some(d)) = (dev_tok, &stored) {
        if ct_eq(&d.token, t) {
            gw.limiter.success(ip, "device-token");
            return Ok(ok("device-token", true));
        }
    }
    let has_device = p.device.is_some();
    let failure =
        if auth.device_token.is_some() && verified_device.is_some() && check.provided.is_none() {
            // The failure that triggers a lockout is still answered as a mismatch; the lockout
            // applies from the next attempt (stock: recordFailure, then `token_mismatch`).
            gw.limiter.failure(&rl, ip, "device-token");
            SecretFailure::DeviceTokenMismatch
        } else if check.provided.is_some() {
            gw.limiter.failure(&rl, ip, check.class);
            check.mismatch
        } else if has_device {
            check.missing
        } else {
            return Err(refuse(
                ErrorCode::NotPaired,
                "device identity required",
                Some("DEVICE_IDENTITY_REQUIRED"),
                close::POLICY_VIOLATION,
            ));
        };
    Err(secret_failure(failure, kind, has_device))
}

/// The shared secret a token or password gateway checks, and what the client gave.
struct SecretCheck {
    class: &'static str,
    secret: Option<String>,
    provided: Option<String>,
    missing: SecretFailure,
    mismatch: SecretFailure,
}

impl SecretCheck {
    /// For `mode` token (else password).
    fn of(
        mode: AuthMode,
        cfg: &crate::config::AuthConfig,
        auth: &openclaw_proto::connect::ConnectAuth,
    ) -> SecretCheck {
        let expose = |s: &Option<crate::config::Secret>| s.as_ref().map(|s| s.expose().to_string());
        match mode {
            AuthMode::Token => SecretCheck {
                class: "token",
                secret: expose(&cfg.token),
                provided: auth.token.clone(),
                missing: SecretFailure::TokenMissing,
                mismatch: SecretFailure::TokenMismatch,
            },
            _ => SecretCheck {
                class: "password",
                secret: expose(&cfg.password),
                provided: auth.password.clone(),
                missing: SecretFailure::PasswordMissing,
                mismatch: SecretFailure::PasswordMismatch,
            },
        }
    }
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
    let local = is_local_direct(info);
    let kind = check_client(gw, info, &p, &role, local)?;
    let now = now_ms();
    let verified = pairing::verify(&p, nonce, now)?;
    let shared = authenticate(gw, &p, info, kind, verified.as_ref().map(|v| v.id.as_str()))?;
    let mut scopes = match role.as_str() {
        "node" => Vec::new(),
        _ => p.scopes.clone().unwrap_or_default(),
    };
    let grant = match &verified {
        Some(dev) => {
            let asking = pairing::Asking {
                gw,
                info,
                p: &p,
                dev,
                role: &role,
                scopes: &scopes,
                local,
                device_token_ok: shared.device_token_ok,
                now,
            };
            pairing::grant(asking).await?
        }
        None => {
            // Device-less probes get their self-declared scopes cleared (observed).
            if p.client.mode == "probe" {
                scopes.clear();
            }
            pairing::Grant::default()
        }
    };
    cap_by_trusted_proxy(gw, info, &mut scopes);
    let conn_id = uuid::Uuid::new_v4().to_string();
    let granted = GrantedScopes::new(scopes);
    let device_id = verified.map(|v| v.id);
    let presence_key = upsert_presence(
        gw,
        info,
        &p,
        &role,
        &granted,
        device_id.as_deref(),
        &conn_id,
        now,
    );
    let hello = crate::hello::hello_ok(
        gw,
        protocol,
        &conn_id,
        shared.method,
        &role,
        &granted,
        grant.device_token.as_ref(),
        grant.newly_paired.is_some(),
    );
    let node = (role == "node").then(|| node_decl(&p, device_id.as_deref(), local, info));
    let authed = Authed {
        node,
        conn: info.conn_id,
        conn_id,
        client_id: p.client.id.clone(),
        client_mode: p.client.mode.clone(),
        role,
        scopes: granted,
        presence_key,
        device_id,
        newly_paired: grant.newly_paired,
        caps: p.caps.clone(),
    };
    tracing::debug!(target: "gateway/ws", "← connect client={} mode={} role={} auth={} conn={}",
        authed.client_id, authed.client_mode, authed.role, shared.method, truncate_reason(&authed.conn_id));
    Ok((authed, hello))
}

/// The role is one we serve, and a Control UI comes from an allowed origin; what kind of
/// client this is, for shared-secret auth.
fn check_client(
    gw: &Gateway,
    info: &ConnInfo,
    p: &ConnectParams,
    role: &str,
    local: bool,
) -> Result<ClientKind, ConnectFail> {
    if role != "operator" && role != "node" {
        return Err(refuse(
            ErrorCode::InvalidRequest,
            &format!("invalid role: {role}"),
            None,
            close::POLICY_VIOLATION,
        ));
    }
    let client_id = p.client.id.as_str();
    if matches!(client_id, "openclaw-control-ui" | "webchat-ui")
        && !info.header("origin").is_some_and(|o| origin_allowed(gw, o))
    {
        return Err(refuse(
            ErrorCode::InvalidRequest,
            "origin not allowed (open the Control UI from the gateway host or allow it in gateway.controlUi.allowedOrigins)",
            Some("CONTROL_UI_ORIGIN_NOT_ALLOWED"),
            close::POLICY_VIOLATION,
        ));
    }
    Ok(ClientKind {
        cli: p.client.mode == "cli" || client_id == "cli",
        ui: matches!(client_id, "openclaw-control-ui" | "webchat-ui" | "webchat"),
        local,
    })
}

/// Behind a trusted proxy, `x-openclaw-scopes` caps the scopes granted.
fn cap_by_trusted_proxy(gw: &Gateway, info: &ConnInfo, scopes: &mut Vec<String>) {
    if gw.cfg.load().auth.mode != AuthMode::TrustedProxy {
        return;
    }
    if let Some(cap) = info.header("x-openclaw-scopes") {
        let allowed: Vec<&str> = cap.split([',', ' ']).filter(|s| !s.is_empty()).collect();
        scopes.retain(|s| allowed.contains(&s.as_str()));
    }
}

/// UIs, webchats and nodes appear in presence (keyed by device, else instance, else
/// connection); the key, if this connection has one.
#[allow(clippy::too_many_arguments)]
fn upsert_presence(
    gw: &Gateway,
    info: &ConnInfo,
    p: &ConnectParams,
    role: &str,
    granted: &GrantedScopes,
    device_id: Option<&str>,
    conn_id: &str,
    now: u64,
) -> Option<String> {
    if !matches!(p.client.mode.as_str(), "ui" | "webchat" | "node") {
        return None;
    }
    let key = device_id
        .map(str::to_string)
        .or_else(|| p.client.instance_id.clone())
        .unwrap_or_else(|| conn_id.to_string());
    let entry = crate::hello::presence_entry(p, info, role, granted, device_id, now);
    gw.presence.upsert(&key, entry, now);
    Some(key)
}

/// What a node connection declares about itself.
fn node_decl(
    p: &ConnectParams,
    device_id: Option<&str>,
    local: bool,
    info: &ConnInfo,
) -> Arc<crate::nodes::NodeDecl> {
    Arc::new(crate::nodes::NodeDecl {
        node_id: device_id.map_or_else(|| p.client.id.clone(), str::to_string),
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

//! Gateway HTTP auth for `/v1/*` and `/tools/invoke` (http.md §2): a Bearer token or
//! password grants the full operator scope set; trusted-proxy and `none` honour
//! `x-openclaw-scopes`; the Control UI's own reads also take a paired operator device's
//! token. Wrong credentials count toward the failed-auth lockout.

use hyper::header::{HeaderValue, AUTHORIZATION, RETRY_AFTER};
use hyper::{HeaderMap, Response, StatusCode};
use openclaw_net::{ConnInfo, HttpBody};
use serde_json::json;

use super::{respond, JSON_UTF8};
use crate::auth::ct_eq;
use crate::config::AuthMode;
use crate::server::Gateway;

/// Scopes a shared-secret HTTP caller gets (http.md §2).
pub const FULL_SCOPES: &[&str] = &[
    "operator.admin",
    "operator.approvals",
    "operator.pairing",
    "operator.read",
    "operator.talk.secrets",
    "operator.write",
];

/// Limiter class for HTTP API auth failures.
const LIMIT_CLASS: &str = "http";

/// An authenticated HTTP caller.
#[derive(Clone, Debug)]
pub struct Caller {
    pub scopes: Vec<String>,
    /// Who it is, for session scoping (`token`, `password`, the proxy user, `none`).
    pub subject: String,
}

impl Caller {
    /// `operator.admin`, or the named scope.
    pub fn has(&self, scope: &str) -> bool {
        self.scopes
            .iter()
            .any(|s| s == scope || s == "operator.admin")
    }
}

/// An OpenAI-style JSON error response.
pub fn openai_error(status: StatusCode, kind: &str, message: &str) -> Response<HttpBody> {
    let body = json!({ "error": { "message": message, "type": kind } }).to_string();
    respond(status, JSON_UTF8, body, false)
}

fn header_scopes(h: &HeaderMap) -> Vec<String> {
    match h.get("x-openclaw-scopes").and_then(|v| v.to_str().ok()) {
        None => FULL_SCOPES.iter().map(|s| s.to_string()).collect(),
        Some(v) => v
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
    }
}

fn bearer(h: &HeaderMap) -> Option<&str> {
    let v = h.get(AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, rest) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
}

/// Authenticate a request or produce the refusal (401 / 429 with `Retry-After`).
pub fn authenticate(
    gw: &Gateway,
    h: &HeaderMap,
    info: &ConnInfo,
) -> Result<Caller, Response<HttpBody>> {
    let cfg = gw.cfg.load();
    let ip = info.peer.ip();
    let limits = gw.rate_limit();
    if let Err(wait) = gw.limiter.check(&limits, ip, LIMIT_CLASS) {
        return Err(too_many(wait.as_secs().max(1)));
    }
    let unauthorized = || {
        if let Some(lock) = gw.limiter.failure(&limits, ip, LIMIT_CLASS) {
            return too_many(lock.as_secs().max(1));
        }
        openai_error(StatusCode::UNAUTHORIZED, "unauthorized", "Unauthorized")
    };
    let secret = |s: Option<&crate::config::Secret>, subject: &str| match (bearer(h), s) {
        (Some(given), Some(want)) if !want.expose().is_empty() && ct_eq(given, want.expose()) => {
            gw.limiter.success(ip, LIMIT_CLASS);
            Ok(Caller {
                scopes: FULL_SCOPES.iter().map(|s| s.to_string()).collect(),
                subject: subject.to_string(),
            })
        }
        _ => Err(unauthorized()),
    };
    match cfg.auth.mode {
        AuthMode::Token => secret(cfg.auth.token.as_ref(), "token"),
        AuthMode::Password => secret(cfg.auth.password.as_ref(), "password"),
        AuthMode::None => Ok(Caller {
            scopes: header_scopes(h),
            subject: "none".into(),
        }),
        AuthMode::TrustedProxy => {
            let mut ci = info.clone();
            ci.headers = h
                .iter()
                .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
                .collect();
            match crate::connect::trusted_proxy(gw, &ci) {
                Ok(user) => Ok(Caller {
                    scopes: header_scopes(h),
                    subject: format!("proxy:{user}"),
                }),
                Err(_) => Err(unauthorized()),
            }
        }
    }
}

/// Authenticate a Control UI read (its `control-ui-config.json`): what [`authenticate`]
/// accepts, or the device token of a paired operator device as the Bearer (the stock UI
/// sends the token its device was issued at `connect`), with that device's scopes.
pub fn authenticate_ui_read(
    gw: &Gateway,
    h: &HeaderMap,
    info: &ConnInfo,
) -> Result<Caller, Response<HttpBody>> {
    let limits = gw.rate_limit();
    if let Err(wait) = gw.limiter.check(&limits, info.peer.ip(), LIMIT_CLASS) {
        return Err(too_many(wait.as_secs().max(1)));
    }
    if let Some(given) = bearer(h).filter(|t| !t.is_empty()) {
        let device =
            gw.devices.list().into_iter().find(|d| {
                d.role.split(',').any(|r| r.trim() == "operator") && ct_eq(&d.token, given)
            });
        if let Some(d) = device {
            gw.limiter.success(info.peer.ip(), LIMIT_CLASS);
            return Ok(Caller {
                scopes: d.scopes,
                subject: format!("device:{}", d.device_id),
            });
        }
    }
    authenticate(gw, h, info)
}

/// `429` with `Retry-After` seconds.
pub fn too_many(secs: u64) -> Response<HttpBody> {
    let mut r = openai_error(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limit_error",
        "Too many failed authentication attempts. Try again later.",
    );
    r.headers_mut().insert(RETRY_AFTER, HeaderValue::from(secs));
    r
}

/// `403` for a missing scope, with the MISSING_SCOPE object under `error.details`.
pub fn missing_scope(scope: &str) -> Response<HttpBody> {
    let body = json!({ "error": {
        "message": format!("missing scope: {scope}"),
        "type": "forbidden",
        "details": { "code": "MISSING_SCOPE", "missingScope": scope, "requiredScopes": [scope] },
    }})
    .to_string();
    respond(StatusCode::FORBIDDEN, JSON_UTF8, body, false)
}

//! Webhooks under `hooks.path` (http.md §6): on only with `hooks.enabled` and a non-empty
//! `hooks.token`; the hook token (Bearer or `x-openclaw-token`, never the query string) with
//! its own failure limiter (20 per 60 s per client IP → 60 s lockout, loopback included);
//! POST with a JSON body ≤ `hooks.maxBodyBytes`; then `wake`, `agent` or a mapping.

use parking_lot::Mutex;
use std::path::Path;
use std::time::Duration;

use hyper::header::{HeaderValue, ALLOW, AUTHORIZATION, RETRY_AFTER};
use hyper::{HeaderMap, Method, Request, Response, StatusCode};
use openclaw_net::{ConnInfo, HttpBody};
use serde_json::{json, Map, Value};

use super::hooks_actions::{self, Origin, Reply};
use super::{not_found, respond, JSON_UTF8, TEXT_UTF8};
use crate::auth::ct_eq;
use crate::auth::ratelimit::RateLimitSettings;
use crate::config::hooks::{base_path, render, Action, HooksConfig};
use crate::config::{parse_secret_input, resolve_secret_input, GatewayConfig, SecretInput};
use crate::server::Gateway;

/// Limiter class of hook token failures (separate from gateway auth).
pub const LIMIT_CLASS: &str = "hooks";
/// Failures per window before a lockout.
pub const MAX_FAILURES: u32 = 20;
/// The failure window.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// The lockout.
pub const LOCKOUT: Duration = Duration::from_secs(60);
/// Distinct config warnings remembered (so a misconfiguration is logged once per snapshot).
pub const MAX_WARNINGS_KEPT: usize = 64;

/// The hooks limiter settings (fixed; loopback is not exempt).
pub const LIMITS: RateLimitSettings = RateLimitSettings {
    max_attempts: MAX_FAILURES,
    window: FAILURE_WINDOW,
    lockout: LOCKOUT,
    exempt_loopback: false,
};

/// `true` when `path` is under the enabled hooks path.
pub fn matches(gw: &Gateway, path: &str) -> bool {
    base_path(&gw.cfg.load().parsed).is_some_and(|b| {
        path.strip_prefix(b.as_str())
            .is_some_and(|r| r.is_empty() || r.starts_with('/'))
    })
}

/// Log `msg` once per config snapshot (`raw_sha256`) and kind.
fn warn_once(cfg: &GatewayConfig, kind: &'static str, msg: &str) {
    static SEEN: Mutex<Vec<(String, &'static str)>> = Mutex::new(Vec::new());
    let mut seen = SEEN.lock();
    if seen.iter().any(|(h, k)| *h == cfg.raw_sha256 && *k == kind) {
        return;
    }
    if seen.len() >= MAX_WARNINGS_KEPT {
        seen.clear();
    }
    seen.push((cfg.raw_sha256.clone(), kind));
    tracing::warn!(target: "gateway/hooks", "{msg}");
}

/// `hooks.token` resolved (plain, env or file SecretRef); `None` when unset or empty.
async fn hook_token(cfg: &GatewayConfig) -> Option<String> {
    let input = parse_secret_input(cfg.parsed.pointer("/hooks/token")?)?;
    let env = cfg.origin.env.clone();
    let dir = cfg.path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let resolved = if matches!(input, SecretInput::File(_)) {
        tokio::task::spawn_blocking(move || resolve_secret_input(&input, &env, &dir))
            .await
            .ok()?
    } else {
        resolve_secret_input(&input, &env, &dir)
    };
    resolved
        .ok()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
}

fn plain(status: StatusCode, text: &'static str) -> Response<HttpBody> {
    respond(status, TEXT_UTF8, text, false)
}

fn too_many(wait: Duration) -> Response<HttpBody> {
    let mut r = plain(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests");
    r.headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(wait.as_secs().max(1)));
    r
}

fn reply((status, body): Reply) -> Response<HttpBody> {
    respond(status, JSON_UTF8, body.to_string(), false)
}

/// The token a request presents (Bearer first, then `x-openclaw-token`).
fn presented(h: &HeaderMap) -> Option<&str> {
    let bearer = h
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(s, _)| s.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim());
    bearer
        .or_else(|| h.get("x-openclaw-token").and_then(|v| v.to_str().ok()))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// `true` when the query string carries a `token` parameter.
fn query_token(q: Option<&str>) -> bool {
    q.unwrap_or("").split('&').any(|kv| {
        kv.split('=')
            .next()
            .is_some_and(|k| k.eq_ignore_ascii_case("token"))
    })
}

/// Handle one webhook request.
pub async fn handle(
    gw: &Gateway,
    req: Request<hyper::body::Incoming>,
    info: &ConnInfo,
    path: &str,
) -> Response<HttpBody> {
    let cfg = gw.cfg.load_full();
    let Some(base) = base_path(&cfg.parsed) else {
        return not_found(false);
    };
    let Some(token) = hook_token(&cfg).await else {
        warn_once(
            &cfg,
            "no-token",
            "hooks.enabled is true but hooks.token is empty or unresolvable; webhooks are off",
        );
        return not_found(false);
    };
    let reused = [cfg.auth.token.as_ref(), cfg.auth.password.as_ref()]
        .into_iter()
        .flatten()
        .any(|s| ct_eq(s.expose(), &token));
    if reused {
        warn_once(
            &cfg,
            "reused",
            "hooks.token equals the gateway token/password; use a dedicated hook token",
        );
    }
    if query_token(req.uri().query()) {
        return reply((
            StatusCode::BAD_REQUEST,
            json!({ "ok": false, "error": "hook token must be sent in the Authorization or x-openclaw-token header, not the query string" }),
        ));
    }
    let ip = info.peer.ip();
    if let Err(wait) = gw.limiter.check(&LIMITS, ip, LIMIT_CLASS) {
        return too_many(wait);
    }
    if !presented(req.headers()).is_some_and(|t| ct_eq(t, &token)) {
        if let Some(lock) = gw.limiter.failure(&LIMITS, ip, LIMIT_CLASS) {
            tracing::warn!(target: "gateway/hooks", "hook auth locked out for {ip}");
            return too_many(lock);
        }
        return plain(StatusCode::UNAUTHORIZED, "Unauthorized");
    }
    gw.limiter.success(ip, LIMIT_CLASS);
    if req.method() != Method::POST {
        let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
        r.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("POST"));
        return r;
    }
    let hc = HooksConfig::load(&cfg.parsed, base);
    let deadline = Duration::from_millis(cfg.limits.http_body_timeout_ms);
    let payload = match super::body::read_json(req, hc.max_body, deadline).await {
        Ok((_, v)) => v,
        Err(r) => {
            let status = r.status();
            let error = match status {
                StatusCode::PAYLOAD_TOO_LARGE => "payload too large",
                StatusCode::REQUEST_TIMEOUT => "request body timed out",
                _ => "body must be a JSON object",
            };
            return reply((status, json!({ "ok": false, "error": error })));
        }
    };
    let name = path[hc.path.len()..].trim_matches('/');
    match name {
        "wake" => reply(hooks_actions::wake(gw, &hc, &payload, Origin::Request, None).await),
        "agent" => reply(hooks_actions::agent(gw, &hc, &payload, Origin::Request).await),
        _ => mapped(gw, &hc, name, &payload).await,
    }
}

/// `POST <path>/<name>` through `hooks.mappings[]`.
async fn mapped(gw: &Gateway, hc: &HooksConfig, name: &str, payload: &Value) -> Response<HttpBody> {
    let Some(m) = hc.mapping(name, payload) else {
        return reply((
            StatusCode::NOT_FOUND,
            json!({ "ok": false, "error": "no hook mapping matches this path" }),
        ));
    };
    let raw = &m.raw;
    let opt = |k: &str| raw.get(k).and_then(Value::as_str);
    let rendered = |k: &str| opt(k).map(|t| render(t, name, payload));
    // The message: the template, else the whole payload as JSON.
    let template = match m.action {
        Action::Wake => opt("textTemplate").or_else(|| opt("messageTemplate")),
        Action::Agent => opt("messageTemplate"),
    };
    let text = match template {
        Some(t) => render(t, name, payload),
        None => payload.to_string(),
    };
    if text.trim().is_empty() {
        return reply((
            StatusCode::BAD_REQUEST,
            json!({ "ok": false, "error": format!("mapping {} produced an empty message", m.id) }),
        ));
    }
    let templated_key = opt("sessionKey").is_some_and(|k| k.contains("{{"));
    let origin = Origin::Mapping { templated_key };
    let hook_name = rendered("name");
    let mut f = Map::new();
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            f.insert(k.to_string(), v);
        }
    };
    put("agentId", raw.get("agentId").cloned());
    put("sessionKey", rendered("sessionKey").map(Value::String));
    match m.action {
        Action::Wake => {
            put("text", Some(Value::String(text)));
            put("mode", raw.get("wakeMode").cloned());
            let f = Value::Object(f);
            reply(hooks_actions::wake(gw, hc, &f, origin, hook_name.as_deref()).await)
        }
        Action::Agent => {
            put("message", Some(Value::String(text)));
            put("name", hook_name.map(Value::String));
            put("to", rendered("to").map(Value::String));
            put("model", rendered("model").map(Value::String));
            for k in [
                "sessionMode",
                "wakeMode",
                "deliver",
                "channel",
                "accountId",
                "thinking",
                "timeoutSeconds",
            ] {
                put(k, raw.get(k).cloned());
            }
            reply(hooks_actions::agent(gw, hc, &Value::Object(f), origin).await)
        }
    }
}

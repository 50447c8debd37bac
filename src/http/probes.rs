//! Readiness and startup probes. `/readyz` and `/startupz` answer 503 while the gateway
//! drains; details (uptime, failing subsystems, the runtime block) go only to local-direct
//! callers (loopback, no forwarding headers) or callers presenting the gateway secret —
//! remote unauthenticated callers learn only whether it is up.

use hyper::header::{HeaderValue, AUTHORIZATION, CACHE_CONTROL};
use hyper::{Request, Response, StatusCode};
use openclaw_net::{ConnInfo, HttpBody};
use serde_json::json;

use super::{respond, JSON_UTF8};
use crate::auth::ct_eq;
use crate::server::Gateway;

/// Headers that mean a proxy stands between us and the caller.
const FORWARDING: &[&str] = &[
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-real-ip",
];

/// Local-direct, or a Bearer credential equal to the gateway token/password.
fn may_see_details<B>(gw: &Gateway, req: &Request<B>, info: &ConnInfo) -> bool {
    let h = req.headers();
    if info.peer.ip().is_loopback() && !FORWARDING.iter().any(|n| h.contains_key(*n)) {
        return true;
    }
    let Some(bearer) = h
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    let cfg = gw.cfg.load();
    let secrets = [cfg.auth.token.as_ref(), cfg.auth.password.as_ref()];
    let ok = secrets
        .into_iter()
        .flatten()
        .any(|s| !s.expose().is_empty() && ct_eq(bearer.trim(), s.expose()));
    ok
}

fn reply(status: StatusCode, body: serde_json::Value, head: bool) -> Response<HttpBody> {
    let mut r = respond(status, JSON_UTF8, body.to_string(), head);
    r.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// `/readyz`, `/ready`.
pub fn ready<B>(gw: &Gateway, req: &Request<B>, info: &ConnInfo, head: bool) -> Response<HttpBody> {
    let draining = gw.shutdown.is_triggered();
    let status = if draining {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    let failing: Vec<&str> = if draining { vec!["draining"] } else { vec![] };
    let body = if may_see_details(gw, req, info) {
        json!({
            "ready": !draining,
            "failing": failing,
            "uptimeMs": gw.uptime_ms(),
            "version": crate::server::VERSION,
            "eventLoop": gw.monitor.event_loop(),
        })
    } else {
        json!({ "ready": !draining })
    };
    reply(status, body, head)
}

/// `/startupz`, `/startup`: started unless draining (start-up has no sidecars to wait for).
pub fn startup<B>(
    gw: &Gateway,
    req: &Request<B>,
    info: &ConnInfo,
    head: bool,
) -> Response<HttpBody> {
    let draining = gw.shutdown.is_triggered();
    let (status, word) = if draining {
        (StatusCode::SERVICE_UNAVAILABLE, "draining")
    } else {
        (StatusCode::OK, "started")
    };
    let mut body = json!({ "ok": !draining, "status": word });
    if may_see_details(gw, req, info) {
        body["version"] = json!(crate::server::VERSION);
        body["uptimeMs"] = json!(gw.uptime_ms());
    }
    reply(status, body, head)
}

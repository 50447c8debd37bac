//! Request dispatch: the scope gate, then one handler per method (a file per method group).
//!
//! Order matches the Node gateway: a method in the protocol's table is scope-checked first
//! (so a read-only socket asking for an admin method gets `FORBIDDEN`), then dispatched;
//! anything we do not implement is `unknown method: <name>`.

mod config;
mod logs;
mod system;

use openclaw_proto::scope::satisfies;
use openclaw_proto::{required_scope, ErrorCode, ErrorShape, RequestFrame, RequiredScope};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::connect::Authed;
use crate::server::Gateway;

/// Methods we implement (advertised in `hello-ok.features.methods`).
pub const METHODS: &[&str] = &[
    "health",
    "status",
    "system-presence",
    "system-event",
    "last-heartbeat",
    "set-heartbeats",
    "logs.tail",
    "config.get",
    "models.list",
    "gateway.identity.get",
];

/// Events we emit (advertised in `hello-ok.features.events`).
pub const EVENTS: &[&str] = &[
    "connect.challenge",
    "tick",
    "presence",
    "health",
    "heartbeat",
    "shutdown",
    "device.pair.resolved",
    "config.changed",
];

/// The scope a method needs on this gateway: the protocol table, except `health`, which
/// the Node gateway answers on any authenticated socket (observed).
fn gate(method: &str) -> RequiredScope {
    match method {
        "health" => RequiredScope::None,
        m => required_scope(m),
    }
}

fn forbidden(scope: &str) -> ErrorShape {
    ErrorShape::missing_scope(scope, &[scope])
}

/// Parse params (absent = `{}`) into `T`, mapping failures to `invalid <method> params`.
pub(crate) fn params<T: DeserializeOwned>(req: &RequestFrame<'_>) -> Result<T, ErrorShape> {
    req.parse_params_or_default::<T>().map_err(|e| {
        let detail = e.to_string();
        let detail = detail
            .strip_prefix("invalid params: ")
            .unwrap_or(&detail)
            .to_string();
        ErrorShape::invalid_params(req.method(), &detail)
    })
}

/// Answer one request.
pub async fn call(gw: &Gateway, who: &Authed, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let method = req.method();
    match gate(method) {
        RequiredScope::None => {}
        RequiredScope::Scope(s) => {
            if who.role != "operator" {
                return Err(ErrorShape::new(
                    ErrorCode::Forbidden,
                    format!("unauthorized role: {}", who.role),
                ));
            }
            if !satisfies(&who.scopes, s) {
                return Err(forbidden(s));
            }
        }
        RequiredScope::Node => {
            if who.role != "node" {
                return Err(ErrorShape::new(
                    ErrorCode::Forbidden,
                    format!("unauthorized role: {}", who.role),
                ));
            }
        }
        RequiredScope::Dynamic | RequiredScope::Unknown => {}
    }
    match method {
        "health" => system::health(gw, req),
        "status" => system::status(gw, who, req),
        "system-presence" => system::presence(gw, req),
        "system-event" => system::system_event(gw, req),
        "last-heartbeat" => system::last_heartbeat(gw, req),
        "set-heartbeats" => system::set_heartbeats(gw, req),
        "gateway.identity.get" => system::identity(gw, req),
        "models.list" => config::models_list(gw, req),
        "config.get" => config::config_get(gw, req),
        "logs.tail" => logs::tail(gw, req).await,
        "connect" => Err(ErrorShape::new(
            ErrorCode::InvalidRequest,
            "connect is only valid as the first request",
        )),
        other => Err(ErrorShape::unknown_method(other)),
    }
}

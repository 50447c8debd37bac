//! Request dispatch: the scope gate, then one handler per method (a file per method group).
//!
//! Order matches the Node gateway: a method in the protocol's table is scope-checked first
//! (so a read-only socket asking for an admin method gets `FORBIDDEN`), then dispatched;
//! anything we do not implement is `unknown method: <name>`.

mod agent;
mod chat;
mod config;
mod logs;
mod secrets;
mod sessions;

pub(crate) use sessions::row_json;
mod system;

use openclaw_proto::scope::satisfies;
use openclaw_proto::{required_scope, ErrorCode, ErrorShape, RequestFrame, RequiredScope};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::sync::Arc;

use crate::connect::Authed;
use crate::server::Gateway;

/// The socket a request arrived on (for methods that answer later or subscribe it).
#[derive(Debug, Clone)]
pub struct Sock {
    /// Transport connection number.
    pub conn: u64,
    /// Its outbound queue.
    pub out: openclaw_net::Outbound,
}

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
    "secrets.reload",
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
    "agent",
    "chat",
    "session.message",
    "sessions.changed",
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

/// A store failure as the client sees it: `UNAVAILABLE` without the database's own text
/// (which is logged).
pub(crate) fn store_failure(method: &str, e: &crate::GatewayError) -> ErrorShape {
    tracing::error!(target: "store", "{method}: session store failed: {e}");
    ErrorShape::new(ErrorCode::Unavailable, "session store unavailable")
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
/// `Ok(None)`: the handler already queued its response(s) on the socket (`agent`,
/// `chat.send`: the ack must precede the run's events).
pub async fn call(
    gw: &Arc<Gateway>,
    who: &Authed,
    req: &RequestFrame<'_>,
    sock: &Sock,
) -> Result<Option<Value>, ErrorShape> {
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
        "agent" => agent::agent(gw, who, req, sock).await,
        "chat.send" => chat::send(gw, req, sock).await,
        _ => answer(gw, who, req, sock).await.map(Some),
    }
}

async fn answer(
    gw: &Arc<Gateway>,
    who: &Authed,
    req: &RequestFrame<'_>,
    sock: &Sock,
) -> Result<Value, ErrorShape> {
    let method = req.method();
    match method {
        "agent.wait" => agent::wait(gw, req).await,
        "agent.identity.get" => agent::identity(gw, req),
        "agents.list" => agent::list(gw, req),
        "chat.history" => chat::history(gw, req).await,
        "chat.abort" => chat::abort(gw, req, false),
        "chat.inject" => chat::inject(gw, req).await,
        "sessions.list" => sessions::list(gw, req).await,
        "sessions.get" => sessions::get(gw, req).await,
        "sessions.reset" => sessions::reset(gw, req).await,
        "sessions.delete" => {
            if !satisfies(&who.scopes, "operator.write") {
                return Err(forbidden("operator.write"));
            }
            sessions::delete(gw, req).await
        }
        "sessions.abort" => chat::abort(gw, req, true),
        "sessions.subscribe" => sessions::subscribe(gw, req, sock),
        "sessions.messages.subscribe" => sessions::messages_subscribe(gw, req, sock, true),
        "sessions.messages.unsubscribe" => sessions::messages_subscribe(gw, req, sock, false),
        "health" => system::health(gw, req),
        "status" => system::status(gw, who, req).await,
        "system-presence" => system::presence(gw, req),
        "system-event" => system::system_event(gw, req),
        "last-heartbeat" => system::last_heartbeat(gw, req),
        "set-heartbeats" => system::set_heartbeats(gw, req),
        "gateway.identity.get" => system::identity(gw, req),
        "models.list" => config::models_list(gw, req),
        "config.get" => config::config_get(gw, req),
        "logs.tail" => logs::tail(gw, req).await,
        "secrets.reload" => secrets::reload(gw, req).await,
        "connect" => Err(ErrorShape::new(
            ErrorCode::InvalidRequest,
            "connect is only valid as the first request",
        )),
        other => Err(ErrorShape::unknown_method(other)),
    }
}

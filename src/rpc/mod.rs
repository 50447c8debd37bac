//! The request path after `connect`: look the method up in the [`registry`], check its scope
//! gate, then run its handler now, beside the read loop, or in the socket's ordered lane
//! ([`dispatch`]); every answer goes out through a [`Responder`]. One file per method group.
//!
//! Order matches the Node gateway: a method in the protocol's table is scope-checked first
//! (so a read-only socket asking for an admin method gets `FORBIDDEN`), then dispatched;
//! anything we do not serve is `unknown method: <name>`.

mod agent;
mod approvals;
mod catalogs;
mod channels;
mod chat;
mod chat_history;
mod config;
mod config_write;
mod cron;
mod device_scopes;
pub mod devices;
mod diagnostics;
mod dispatch;
mod exec_approvals;
mod exec_policy;
mod logs;
mod models_auth;
mod node_call;
mod node_pending;
mod node_table;
pub mod nodes;
mod pages;
mod profile;
pub mod registry;
mod secrets;
mod sessions;
mod settings;
mod surface;
mod system;
mod ui;
mod usage;
mod worded;

pub use dispatch::{Lane, MAX_INFLIGHT_PER_SOCKET};
pub(crate) use worded::{reword, schema_checked, worded};

use std::sync::Arc;

use openclaw_net::Outbound;
use openclaw_proto::scope::satisfies;
use openclaw_proto::{required_scope, ErrorCode, ErrorShape, RequestFrame, RequiredScope};
use serde::de::DeserializeOwned;

use crate::auth::Authed;
use crate::server::Gateway;
use registry::Gate;

/// The socket a request arrived on (for methods that answer later or subscribe it).
#[derive(Debug, Clone)]
pub struct Sock {
    /// Transport connection number.
    pub conn: u64,
    /// Its outbound queue.
    pub out: Outbound,
}

/// What every handler is given: the gateway, the caller, and the caller's socket.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// Shared gateway state.
    pub gw: Arc<Gateway>,
    /// The authenticated caller.
    pub who: Arc<Authed>,
    /// Its socket.
    pub sock: Sock,
}

fn forbidden(scope: &str) -> ErrorShape {
    ErrorShape::missing_scope(scope, &[scope])
}

/// The scope gate of method `name` (gated as `g`) for `who`. Methods we do not serve are
/// gated by the protocol table too, before they are refused as unknown (as the Node gateway
/// does).
pub(crate) fn gate(name: &str, g: Gate, who: &Authed) -> Result<(), ErrorShape> {
    let required = match g {
        Gate::AnyAuthed => RequiredScope::None,
        Gate::Table => required_scope(name),
    };
    match required {
        RequiredScope::None | RequiredScope::Dynamic | RequiredScope::Unknown => Ok(()),
        RequiredScope::Scope(s) => {
            if who.role != "operator" {
                return Err(unauthorized_role(&who.role));
            }
            if !satisfies(&who.scopes, s) {
                return Err(forbidden(s));
            }
            Ok(())
        }
        RequiredScope::Node if who.role != "node" => Err(unauthorized_role(&who.role)),
        RequiredScope::Node => Ok(()),
    }
}

fn unauthorized_role(role: &str) -> ErrorShape {
    ErrorShape::new(
        ErrorCode::InvalidRequest,
        format!("unauthorized role: {role}"),
    )
}

/// Parse params (absent = `{}`) into `T`, mapping failures to `invalid <method> params`.
pub(crate) fn params<T: DeserializeOwned>(req: &RequestFrame<'_>) -> Result<T, ErrorShape> {
    req.parse_params_or_default::<T>().map_err(|e| {
        let detail = e.to_string();
        let detail = detail.strip_prefix("invalid params: ").unwrap_or(&detail);
        ErrorShape::invalid_params(req.method(), &node_wording(detail))
    })
}

/// A serde message in the Node gateway's (ajv) wording where one maps: an unknown field is
/// `at root: unexpected property 'x'`, a missing one `must have required property 'x'`.
fn node_wording(detail: &str) -> String {
    let quoted = |prefix: &str| {
        let rest = detail.strip_prefix(prefix)?;
        Some(rest.split('`').next()?.to_string())
    };
    if let Some(f) = quoted("unknown field `") {
        return format!("at root: unexpected property '{f}'");
    }
    if let Some(f) = quoted("missing field `") {
        return format!("must have required property '{f}'");
    }
    detail.to_string()
}

//! `POST /tools/invoke` (http.md §4): one built-in tool call with gateway HTTP auth and
//! `operator.write`, the hard deny list (`gateway.tools.deny` extends it, `gateway.tools.allow`
//! lifts entries for admin callers), the session the call is about, and `{ok, result|error}`
//! bodies. The tools themselves are in [`crate::tools`].

use hyper::header::{HeaderValue, ALLOW};
use hyper::{Method, Request, Response, StatusCode};
use openclaw_net::{ConnInfo, HttpBody};
use serde_json::{json, Value};

use super::auth::{self, Caller};
use super::body::{read_json, MAX_TOOLS_BODY_BYTES};
use super::{respond, JSON_UTF8};
use crate::agents::{canonical_key, key_agent};
use crate::server::Gateway;
use crate::tools::{self as tools_builtin, Target};

/// Tools never reachable over HTTP, whatever the policy says (http.md §4).
pub const HARD_DENY: &[&str] = &[
    "exec",
    "spawn",
    "shell",
    "fs_write",
    "fs_delete",
    "fs_move",
    "apply_patch",
    "sessions_spawn",
    "sessions_send",
    "cron",
    "gateway",
    "nodes",
];
/// Hard-denied tools that `gateway.tools.allow` cannot lift, and that need `operator.admin`.
pub const OWNER_ONLY: &[&str] = &["cron", "gateway", "nodes"];
/// Longest tool name accepted.
pub const MAX_TOOL_NAME: usize = 128;
pub use crate::config::limits::MAX_SESSION_KEY;
/// The main session's key suffix (`agent:<id>:main`).
pub const MAIN_KEY: &str = "main";

/// `{ok:false, error:{type, message}}` with `status`.
pub fn tool_error(status: StatusCode, kind: &str, message: &str) -> Response<HttpBody> {
    let body = json!({ "ok": false, "error": { "type": kind, "message": message } });
    respond(status, JSON_UTF8, body.to_string(), false)
}

fn bad_request(message: &str) -> Response<HttpBody> {
    tool_error(StatusCode::BAD_REQUEST, "invalid_request", message)
}

fn not_available(name: &str) -> Response<HttpBody> {
    tool_error(
        StatusCode::NOT_FOUND,
        "not_found",
        &format!("Tool not available: {name}"),
    )
}

/// A body refusal (413 / 408 / 400 from [`read_json`]) in this endpoint's error shape.
fn refusal(status: StatusCode) -> Response<HttpBody> {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => tool_error(
            status,
            "payload_too_large",
            &format!("Request body exceeds {MAX_TOOLS_BODY_BYTES} bytes."),
        ),
        StatusCode::REQUEST_TIMEOUT => {
            tool_error(status, "request_timeout", "Request body timed out.")
        }
        _ => bad_request("Invalid JSON body."),
    }
}

/// Lower-cased, trimmed names under `gateway.tools.<which>`.
fn config_list(parsed: &Value, which: &str) -> Vec<String> {
    parsed
        .pointer(&format!("/gateway/tools/{which}"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect()
}

/// The HTTP policy: `gateway.tools.deny` (or `*`) always wins; owner-only tools need admin;
/// the hard deny list can be lifted by `gateway.tools.allow` for admin callers only, except
/// the owner-only tools, which stay denied.
pub fn permitted(parsed: &Value, caller: &Caller, name: &str) -> bool {
    if config_list(parsed, "deny")
        .iter()
        .any(|d| d == name || d == "*")
    {
        return false;
    }
    if OWNER_ONLY.contains(&name) {
        return false;
    }
    if HARD_DENY.contains(&name) {
        return caller.has("operator.admin")
            && config_list(parsed, "allow").iter().any(|a| a == name);
    }
    true
}

/// An optional non-empty string field; `Err` when present with another type.
fn opt_str<'a>(body: &'a Value, key: &str) -> Result<Option<&'a str>, String> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim())),
        Some(_) => Err(format!("{key} must be a string")),
    }
}

/// The session the call is about: `sessionKey` (omitted or `"main"` = the main session of
/// `agentId` or the default agent), checked against `agentId`.
fn target(gw: &Gateway, body: &Value) -> Result<Target, String> {
    let agent = opt_str(body, "agentId")?;
    let key = opt_str(body, "sessionKey")?;
    let cat = gw.agents.catalog();
    if let Some(a) = agent {
        if cat.agent(a).is_none() {
            return Err(format!("unknown agent id \"{a}\""));
        }
    }
    let Some(key) = key.filter(|k| *k != MAIN_KEY) else {
        let agent_id = agent.unwrap_or(&cat.default_agent).to_string();
        return Ok(Target {
            key: format!("agent:{agent_id}:{MAIN_KEY}"),
            agent_id,
        });
    };
    if key.len() > MAX_SESSION_KEY {
        return Err(format!(
            "sessionKey must not exceed {MAX_SESSION_KEY} characters"
        ));
    }
    let from_key = if key.starts_with("agent:") {
        Some(key_agent(key).ok_or("sessionKey is malformed")?)
    } else {
        None
    };
    if let (Some(a), Some(k)) = (agent, from_key) {
        if a != k {
            return Err(format!(
                "agentId \"{a}\" conflicts with the agent of sessionKey (\"{k}\")"
            ));
        }
    }
    let agent_id = from_key.or(agent).unwrap_or(&cat.default_agent);
    if cat.agent(agent_id).is_none() {
        return Err(format!("unknown agent id \"{agent_id}\""));
    }
    Ok(Target {
        key: canonical_key(key, agent_id),
        agent_id: agent_id.to_string(),
    })
}

/// `POST /tools/invoke`.
pub async fn invoke(
    gw: &Gateway,
    req: Request<hyper::body::Incoming>,
    info: &ConnInfo,
) -> Response<HttpBody> {
    if req.method() != Method::POST {
        let mut r = tool_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "Method Not Allowed",
        );
        r.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("POST"));
        return r;
    }
    let caller = match auth::authenticate(gw, req.headers(), info) {
        Ok(c) => c,
        Err(r) => return r,
    };
    if !caller.has("operator.write") {
        let body = json!({ "ok": false, "error": {
            "type": "forbidden",
            "message": "missing scope: operator.write",
            "details": { "code": "MISSING_SCOPE", "missingScope": "operator.write", "requiredScopes": ["operator.write"] },
        }});
        return respond(StatusCode::FORBIDDEN, JSON_UTF8, body.to_string(), false);
    }
    let deadline = std::time::Duration::from_millis(gw.cfg.load().limits.http_body_timeout_ms);
    let body = match read_json(req, MAX_TOOLS_BODY_BYTES, deadline).await {
        Ok((_, b)) => b,
        Err(r) => return refusal(r.status()),
    };
    // `name` wins over `tool`.
    let name = match (opt_str(&body, "name"), opt_str(&body, "tool")) {
        (Err(e), _) | (Ok(None), Err(e)) => return bad_request(&e),
        (Ok(Some(n)), _) | (Ok(None), Ok(Some(n))) => n.to_ascii_lowercase(),
        (Ok(None), Ok(None)) => return bad_request("tool (or name) is required"),
    };
    if name.len() > MAX_TOOL_NAME {
        return bad_request(&format!(
            "tool name must not exceed {MAX_TOOL_NAME} characters"
        ));
    }
    if !permitted(&gw.cfg.load().parsed, &caller, &name) || !tools_builtin::exists(&name) {
        return not_available(&name);
    }
    let args = match body.get("args") {
        None | Some(Value::Null) => json!({}),
        Some(a @ Value::Object(_)) => a.clone(),
        Some(_) => return bad_request("args must be an object"),
    };
    for k in ["action", "idempotencyKey"] {
        if let Err(e) = opt_str(&body, k) {
            return bad_request(&e);
        }
    }
    let target = match target(gw, &body) {
        Ok(t) => t,
        Err(e) => return bad_request(&e),
    };
    match tools_builtin::run(gw, &name, &args, &target).await {
        Ok(result) => respond(
            StatusCode::OK,
            JSON_UTF8,
            json!({ "ok": true, "result": result }).to_string(),
            false,
        ),
        Err(f) => super::failure::tools(&name, &f),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(scopes: &[&str]) -> Caller {
        Caller {
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            subject: "token".into(),
        }
    }

    #[test]
    fn allow_lifts_hard_denied_tools_for_admins_only() {
        let cfg = json!({ "gateway": { "tools": { "allow": ["EXEC", " shell "] } } });
        let admin = caller(&["operator.admin"]);
        let writer = caller(&["operator.write"]);
        assert!(
            permitted(&cfg, &admin, "exec"),
            "allow lifts exec for an admin"
        );
        assert!(
            permitted(&cfg, &admin, "shell"),
            "names are trimmed, case-folded"
        );
        assert!(!permitted(&cfg, &writer, "exec"), "not for a non-admin");
        assert!(!permitted(&cfg, &admin, "spawn"), "only what allow names");
        let none = json!({});
        assert!(
            !permitted(&none, &admin, "exec"),
            "hard-denied without allow"
        );
        assert!(
            permitted(&none, &writer, "sessions_list"),
            "ordinary tools pass"
        );
    }

    #[test]
    fn owner_only_tools_stay_denied_and_deny_always_wins() {
        let cfg = json!({ "gateway": { "tools": {
            "allow": ["cron", "gateway", "nodes", "exec"],
            "deny": ["exec", "sessions_history"],
        } } });
        let admin = caller(&["operator.admin"]);
        for t in OWNER_ONLY {
            assert!(!permitted(&cfg, &admin, t), "{t} cannot be lifted");
        }
        assert!(!permitted(&cfg, &admin, "exec"), "deny beats allow");
        assert!(
            !permitted(&cfg, &admin, "sessions_history"),
            "deny extends the list"
        );
        assert!(permitted(&cfg, &admin, "sessions_list"));
        let star = json!({ "gateway": { "tools": { "deny": ["*"] } } });
        assert!(
            !permitted(&star, &admin, "sessions_list"),
            "* denies everything"
        );
    }
}

//! Exec-approval policy on the wire: the gateway's own document (`exec.approvals.get/set`,
//! durable in the state store, `baseHash`-guarded), a node's document relayed to the node
//! (`exec.approvals.node.get/set` as `system.execApprovals.*` invokes), and the standing
//! grants (`exec.approval.grants.*`), which only cron-run approvals mint on the Node gateway —
//! this gateway runs no exec tool in cron, so its list is empty and a revoke finds nothing.
//! The document rules are `crate::exec_policy`'s.

use openclaw_proto::{ErrorCode, ErrorShape, RequestFrame};
use serde_json::{json, Value};

use super::node_call::{self, node_error, Call};
use super::pages::{bad, int};
use super::registry::Answer;
use super::ui::strict;
use super::Ctx;
use crate::exec_policy as doc;
use crate::nodes::invoke::DEFAULT_INVOKE_TIMEOUT_MS;
use crate::store::nodes::Kind;

/// The store key of the document.
const KEY: &str = "current";

/// Field types of the document's shape check.
#[derive(Clone, Copy)]
enum Ty {
    Str,
    Bool,
    Num,
    One,
    Obj(&'static [(&'static str, Ty)], &'static [&'static str]),
    MapOf(&'static Ty),
    ListOf(&'static Ty),
    Any,
}

const POLICY: [(&str, Ty); 4] = [
    ("security", Ty::Str),
    ("ask", Ty::Str),
    ("askFallback", Ty::Str),
    ("autoAllowSkills", Ty::Bool),
];
const ENTRY: Ty = Ty::Obj(
    &[
        ("id", Ty::Str),
        ("pattern", Ty::Str),
        ("source", Ty::Str),
        ("commandText", Ty::Str),
        ("argPattern", Ty::Str),
        ("lastUsedAt", Ty::Num),
        ("lastUsedCommand", Ty::Str),
        ("lastResolvedPath", Ty::Str),
    ],
    &["pattern"],
);
const AGENT: Ty = Ty::Obj(
    &[
        POLICY[0],
        POLICY[1],
        POLICY[2],
        POLICY[3],
        ("allowlist", Ty::ListOf(&ENTRY)),
        ("mcpTools", Ty::ListOf(&Ty::Any)),
    ],
    &[],
);
const FILE: Ty = Ty::Obj(
    &[
        ("version", Ty::One),
        (
            "socket",
            Ty::Obj(&[("path", Ty::Str), ("token", Ty::Str)], &[]),
        ),
        ("defaults", Ty::Obj(&POLICY, &[])),
        ("agents", Ty::MapOf(&AGENT)),
    ],
    &["version"],
);

/// The first shape problem of `v` at `path`, in the Node gateway's (ajv) words.
fn shape(v: &Value, ty: Ty, path: &str) -> Option<String> {
    let at = |p: &str| {
        if path.is_empty() {
            p.to_string()
        } else {
            format!("at {path}: {p}")
        }
    };
    match ty {
        Ty::Any => None,
        Ty::Str => (!v.is_string()).then(|| at("must be string")),
        Ty::Bool => (!v.is_boolean()).then(|| at("must be boolean")),
        Ty::Num => (!v.is_number()).then(|| at("must be number")),
        Ty::One => (v.as_f64() != Some(1.0)).then(|| at("must be equal to constant")),
        Ty::ListOf(t) => match v.as_array() {
            None => Some(at("must be array")),
            Some(a) => a
                .iter()
                .enumerate()
                .find_map(|(i, x)| shape(x, *t, &format!("{path}/{i}"))),
        },
        Ty::MapOf(t) => match v.as_object() {
            None => Some(at("must be object")),
            Some(o) => o
                .iter()
                .find_map(|(k, x)| shape(x, *t, &format!("{path}/{k}"))),
        },
        Ty::Obj(keys, required) => {
            let Some(o) = v.as_object() else {
                return Some(at("must be object"));
            };
            if let Some(r) = required.iter().find(|r| !o.contains_key(**r)) {
                return Some(at(&format!("must have required property '{r}'")));
            }
            if let Some(k) = o.keys().find(|k| !keys.iter().any(|(n, _)| n == k)) {
                return Some(at(&format!("unexpected property '{k}'")));
            }
            keys.iter()
                .find_map(|(k, t)| o.get(*k).and_then(|x| shape(x, *t, &format!("{path}/{k}"))))
        }
    }
}

/// The stored document, created (with its socket path and token) on first use.
async fn ensure(c: &Ctx) -> Result<(Value, String), ErrorShape> {
    let store = c.gw.nodes.records();
    if let Some(raw) = store
        .get(Kind::ExecPolicy, KEY)
        .and_then(|v| v["raw"].as_str().map(String::from))
    {
        if let Ok(file) = serde_json::from_str(&raw) {
            return Ok((file, raw));
        }
    }
    let socket = c.gw.cfg.load().state_dir.join("exec-approvals.sock");
    let file = doc::fresh(&socket.display().to_string());
    let raw = doc::raw(&file);
    store
        .put(Kind::ExecPolicy, KEY, json!({ "raw": raw }))
        .await?;
    Ok((file, raw))
}

fn snapshot(c: &Ctx, file: &Value, raw: &str) -> Value {
    json!({
        "path": format!("{}#exec_approvals_config", c.gw.devices.path().display()),
        "exists": true, "file": doc::wire(file), "hash": doc::hash(raw),
        "resolvedDefaults": doc::resolved_defaults(file),
    })
}

/// `exec.approvals.get {}`.
pub async fn get(c: &Ctx, req: &RequestFrame<'_>) -> Answer {
    strict(req, &[], &[])?;
    let (file, raw) = ensure(c).await?;
    Ok(snapshot(c, &file, &raw))
}

fn invalid(m: &str, problem: String) -> ErrorShape {
    ErrorShape::invalid_params(m, &problem)
}

/// `exec.approvals.set {file, baseHash?}`: written only over the hash the caller read.
pub async fn set(c: &Ctx, req: &RequestFrame<'_>) -> Answer {
    let m = req.method();
    let p = strict(req, &["file", "baseHash"], &["file"])?;
    if let Some(problem) = shape(&p["file"], FILE, "/file") {
        return Err(invalid(m, problem));
    }
    match p.get("baseHash") {
        Some(Value::String(s)) if s.is_empty() => {
            return Err(bad(m, "baseHash", "must not have fewer than 1 characters"))
        }
        Some(Value::String(_)) | None => {}
        Some(_) => return Err(bad(m, "baseHash", "must be string")),
    }
    let base = p["baseHash"]
        .as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let store = c.gw.nodes.records();
    let current = store
        .get(Kind::ExecPolicy, KEY)
        .and_then(|v| v["raw"].as_str().map(String::from));
    let fail = |msg: &str| Err(ErrorShape::new(ErrorCode::InvalidRequest, msg));
    let (cur_file, cur_hash) = match &current {
        Some(raw) => (
            serde_json::from_str(raw).unwrap_or(Value::Null),
            doc::hash(raw),
        ),
        None => (Value::Null, doc::MISSING_HASH.to_string()),
    };
    match base {
        None if current.is_some() => {
            return fail("exec approvals base hash required; re-run exec.approvals.get and retry")
        }
        Some(h) if h != cur_hash => {
            return fail(
                "exec approvals changed since last load; re-run exec.approvals.get and retry",
            )
        }
        _ => {}
    }
    let cur_file = if cur_file.is_null() {
        let socket = c.gw.cfg.load().state_dir.join("exec-approvals.sock");
        doc::fresh(&socket.display().to_string())
    } else {
        cur_file
    };
    let file = doc::normalize(&p["file"], &cur_file);
    let raw = doc::raw(&file);
    if current.as_deref() != Some(raw.as_str()) {
        store
            .put(Kind::ExecPolicy, KEY, json!({ "raw": raw }))
            .await?;
    }
    Ok(snapshot(c, &file, &raw))
}

/// The node named by `p.nodeId`, connected and allowed `command`; the Node gateway's errors
/// otherwise.
fn node_for<'a>(
    c: &Ctx,
    p: &'a Value,
    m: &str,
    command: &str,
) -> Result<(&'a str, std::sync::Arc<crate::nodes::NodeConn>), ErrorShape> {
    let id = match &p["nodeId"] {
        Value::String(s) if s.is_empty() => {
            return Err(bad(m, "nodeId", "must not have fewer than 1 characters"))
        }
        Value::String(s) => s.trim(),
        _ => return Err(bad(m, "nodeId", "must be string")),
    };
    if id.is_empty() {
        return Err(ErrorShape::new(
            ErrorCode::InvalidRequest,
            "nodeId required",
        ));
    }
    let Some(live) = c.gw.nodes.live(id) else {
        return Err(node_error(
            "NOT_CONNECTED",
            "node not connected",
            false,
            false,
        ));
    };
    if !c
        .gw
        .nodes
        .effective_commands(id)
        .iter()
        .any(|x| x == command)
    {
        let reason = "command not allowlisted";
        return Err(ErrorShape::new(
            ErrorCode::InvalidRequest,
            format!("node command not allowed: {command} ({reason})"),
        )
        .with_details(json!({ "command": command, "reason": reason })));
    }
    Ok((id, live))
}

async fn relay(c: &Ctx, p: &Value, m: &str, command: &str, params: Value) -> Answer {
    let (id, live) = node_for(c, p, m, command)?;
    let call = Call {
        node_id: id,
        command,
        params: Some(params),
        timeout_ms: DEFAULT_INVOKE_TIMEOUT_MS,
        idempotency_key: None,
        session_key: None,
    };
    let (payload, _) = node_call::call(c, &live, call).await?;
    Ok(payload)
}

/// `exec.approvals.node.get {nodeId}`: the node's own document, from the node.
pub async fn node_get(c: &Ctx, req: &RequestFrame<'_>) -> Answer {
    let p = strict(req, &["nodeId"], &["nodeId"])?;
    let got = relay(c, &p, req.method(), "system.execApprovals.get", json!({})).await?;
    let ok = got["hash"].is_string() && (got["file"].is_object() || got.get("enabled").is_some());
    if !ok && got["enabled"] != false {
        return Err(ErrorShape::new(
            ErrorCode::InvalidRequest,
            "node returned invalid exec approvals payload",
        ));
    }
    Ok(got)
}

/// `exec.approvals.node.set {nodeId, file | native, baseHash?}`: the node checks the hash.
pub async fn node_set(c: &Ctx, req: &RequestFrame<'_>) -> Answer {
    let m = req.method();
    let p = strict(req, &["nodeId", "file", "native", "baseHash"], &["nodeId"])?;
    let mut fwd = match (p.get("file"), p.get("native")) {
        (Some(f), None) => {
            if let Some(problem) = shape(f, FILE, "/file") {
                return Err(invalid(m, problem));
            }
            json!({ "file": f })
        }
        (None, Some(Value::Object(n))) => Value::Object(n.clone()),
        (None, Some(_)) => return Err(bad(m, "native", "must be object")),
        (None, None) => return Err(invalid(m, "must have required property 'file'; must have required property 'native'; must match exactly one schema in oneOf".into())),
        (Some(_), Some(_)) => return Err(invalid(m, "must not be valid; must match exactly one schema in oneOf".into())),
    };
    if let Some(h) = p.get("baseHash") {
        fwd["baseHash"] = h.clone();
    }
    relay(c, &p, m, "system.execApprovals.set", fwd).await
}

/// `exec.approval.grants.list {limit?}`.
pub fn grants_list(_: &Ctx, req: &RequestFrame<'_>) -> Answer {
    let p = strict(req, &["limit"], &[])?;
    int(&p, "limit", 1, 500, req.method())?;
    Ok(json!({ "grants": [] }))
}

/// `exec.approval.grants.revoke {grantId}`.
pub fn grants_revoke(_: &Ctx, req: &RequestFrame<'_>) -> Answer {
    let p = strict(req, &["grantId"], &["grantId"])?;
    match &p["grantId"] {
        Value::String(s) if !s.is_empty() => Ok(json!({ "outcome": "not-found" })),
        Value::String(_) => Err(bad(
            req.method(),
            "grantId",
            "must not have fewer than 1 characters",
        )),
        _ => Err(bad(req.method(), "grantId", "must be string")),
    }
}

//! Node methods on the wire: what operators call (`node.list|describe|rename`,
//! `node.pair.*`, `node.invoke`) and what a node socket calls (`node.invoke.result`,
//! `node.event`, its inventory updates), with the Node gateway's answers and error words
//! (observed). The registry of nodes and invocations is `crate::nodes`; the table is
//! `node_table.rs`.

use std::sync::Arc;

use openclaw_net::Outbound;
use openclaw_proto::scope::satisfies;
use openclaw_proto::{ErrorCode, ErrorShape, RequestFrame};
use serde::Deserialize;
use serde_json::{json, Value};

use super::node_call::{self, node_error, Call};
use super::registry::Answer;
use super::ui::strict;
use super::{params, Ctx};
use crate::clock::now_ms;
use crate::nodes::invoke::{send_event, Outcome, DEFAULT_INVOKE_TIMEOUT_MS, MAX_RESULT_BYTES};
use crate::nodes::{policy, Approval, NodeConn, NodeDecl};
use crate::server::Gateway;

/// A node socket joined: make it live, then check its surface (a pairing request is
/// announced to operators with `operator.pairing`).
pub fn connected(gw: &Arc<Gateway>, d: &Arc<NodeDecl>, conn: u64, out: &Outbound) {
    let now = now_ms();
    gw.nodes.register(NodeConn {
        decl: d.clone(),
        conn,
        out: out.clone(),
        connected_ms: now,
    });
    let (gw, d) = (gw.clone(), d.clone());
    tokio::spawn(async move {
        let cfg = gw.cfg.load().parsed.clone();
        match gw.nodes.on_connect(&d, &cfg, now).await {
            Ok(Some(req)) => {
                gw.hub.publish("node.pair.requested", &req, None);
            }
            Ok(None) => {}
            Err(e) => crate::failure::Failure::Store(e).log("node pairing"),
        }
        gw.nodes.expire(now).await;
    });
}

/// Close code for a socket whose device pairing was removed.
pub const DEVICE_REMOVED_CLOSE: u16 = 4001;

fn unknown_node() -> ErrorShape {
    ErrorShape::new(ErrorCode::InvalidRequest, "unknown nodeId")
}

fn unknown_request() -> ErrorShape {
    ErrorShape::new(ErrorCode::InvalidRequest, "unknown requestId")
}

pub(super) fn pairing_changed(msg: &str) -> ErrorShape {
    ErrorShape::new(ErrorCode::Unavailable, msg)
        .retryable(true)
        .with_details(json!({ "code": "PAIRING_CHANGED" }))
}

/// Pending surface details are shown to callers who may act on them.
fn pairing_view(c: &Ctx) -> bool {
    satisfies(&c.who.scopes, "operator.pairing")
}

fn device_approved(gw: &Gateway) -> impl Fn(&str) -> Option<u64> + '_ {
    |id| gw.devices.get(id).map(|d| d.approved_ms)
}

fn node_id_param(req: &RequestFrame<'_>, extra: &[&str]) -> Result<(Value, String), ErrorShape> {
    let mut keys = vec!["nodeId"];
    keys.extend_from_slice(extra);
    let mut required = vec!["nodeId"];
    required.extend_from_slice(extra);
    let p = strict(req, &keys, &required)?;
    let id = p["nodeId"].as_str().unwrap_or("").trim().to_string();
    if id.is_empty() {
        return Err(ErrorShape::invalid_params(
            req.method(),
            "at /nodeId: must NOT have fewer than 1 characters",
        ));
    }
    Ok((p, id))
}

/// `node.list {}`.
pub fn list(c: &Ctx, req: &RequestFrame<'_>) -> Answer {
    strict(req, &[], &[])?;
    let nodes = c.gw.nodes.list(device_approved(&c.gw), pairing_view(c));
    Ok(json!({ "ts": now_ms(), "nodes": nodes }))
}

/// `node.describe {nodeId}`.
pub fn describe(c: &Ctx, req: &RequestFrame<'_>) -> Answer {
    let (_, id) = node_id_param(req, &[])?;
    let mut row =
        c.gw.nodes
            .row(&id, device_approved(&c.gw), pairing_view(c))
            .ok_or_else(unknown_node)?;
    let mut out = json!({ "ts": now_ms() });
    if let (Some(o), Some(r)) = (out.as_object_mut(), row.as_object_mut()) {
        o.append(r);
    }
    Ok(out)
}

/// `node.rename {nodeId, displayName}`.
pub async fn rename(c: &Ctx, req: &RequestFrame<'_>) -> Answer {
    let (p, id) = node_id_param(req, &["displayName"])?;
    let name = p["displayName"].as_str().unwrap_or("").trim().to_string();
    if name.is_empty() {
        return Err(ErrorShape::new(
            ErrorCode::InvalidRequest,
            "displayName required",
        ));
    }
    if !c.gw.nodes.rename(&id, &name).await? {
        return Err(unknown_node());
    }
    Ok(json!({ "nodeId": id, "displayName": name }))
}

/// `node.pair.list {}`.
pub fn pair_list(c: &Ctx, req: &RequestFrame<'_>) -> Answer {
    strict(req, &[], &[])?;
    Ok(c.gw.nodes.pair_list())
}

fn request_id(req: &RequestFrame<'_>) -> Result<String, ErrorShape> {
    let p = strict(req, &["requestId"], &["requestId"])?;
    Ok(p["requestId"].as_str().unwrap_or("").to_string())
}

/// `node.pair.resolved` to operators; an approved node hears it too (it then retries what
/// waited for approval).
fn resolved(c: &Ctx, rid: &str, node_id: &str, decision: &str) {
    let ev = json!({ "requestId": rid, "nodeId": node_id, "decision": decision, "ts": now_ms() });
    c.gw.hub.publish("node.pair.resolved", &ev, None);
    if decision == "approved" {
        if let Some(live) = c.gw.nodes.live(node_id) {
            send_event(&live.out, "node.pair.resolved", &ev);
        }
    }
}

/// `node.pair.approve {requestId}`: the caller needs every scope the request names.
pub async fn pair_approve(c: &Ctx, req: &RequestFrame<'_>) -> Answer {
    let rid = request_id(req)?;
    let pending = c.gw.nodes.pair_list()["pending"].clone();
    let Some(r) = pending
        .as_array()
        .and_then(|a| a.iter().find(|r| r["requestId"] == rid.as_str()))
        .cloned()
    else {
        return Err(unknown_request());
    };
    let needs = crate::nodes::strings(&r["requiredApproveScopes"]);
    if let Some(missing) = needs.iter().find(|s| !satisfies(&c.who.scopes, s)) {
        let all: Vec<&str> = needs.iter().map(String::as_str).collect();
        return Err(ErrorShape::missing_scope(missing, &all));
    }
    let node =
        c.gw.nodes
            .approve(&rid, now_ms())
            .await?
            .ok_or_else(unknown_request)?;
    resolved(c, &rid, node["nodeId"].as_str().unwrap_or(""), "approved");
    Ok(json!({ "requestId": rid, "node": node }))
}

/// `node.pair.reject {requestId}`.
pub async fn pair_reject(c: &Ctx, req: &RequestFrame<'_>) -> Answer {
    let rid = request_id(req)?;
    let node_id = c.gw.nodes.reject(&rid).await?.ok_or_else(unknown_request)?;
    resolved(c, &rid, &node_id, "rejected");
    Ok(json!({ "requestId": rid, "nodeId": node_id }))
}

/// `node.pair.remove {nodeId}`.
pub async fn pair_remove(c: &Ctx, req: &RequestFrame<'_>) -> Answer {
    let (_, id) = node_id_param(req, &[])?;
    if !c.gw.nodes.remove(&id).await? {
        return Err(unknown_node());
    }
    // The node's device goes with it, and its socket is closed (as the Node gateway does).
    if c.gw.devices.get(&id).is_some() {
        c.gw.devices.remove(&id).await?;
    }
    c.gw.nodes.pending.forget(&id);
    if let Some(live) = c.gw.nodes.live(&id) {
        live.out.close(DEVICE_REMOVED_CLOSE, "device removed");
    }
    resolved(c, "", &id, "removed");
    Ok(json!({ "nodeId": id }))
}

/// `node.invoke` params (2026.9.6 `NodeInvokeParams`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(dead_code)] // turnSource* route replies to channels, which this gateway does not have.
struct InvokeParams {
    node_id: String,
    command: String,
    params: Option<Value>,
    timeout_ms: Option<u64>,
    idempotency_key: String,
    session_key: Option<String>,
    turn_source_channel: Option<String>,
    turn_source_to: Option<String>,
    turn_source_account_id: Option<String>,
    turn_source_thread_id: Option<Value>,
}

/// The caller's answer for a node-reported failure (`UNAVAILABLE`, the node's code first).
/// `node.invoke`: check pairing, connection and policy, send `node.invoke.request` to the
/// node, and wait (bounded) for its `node.invoke.result`.
pub async fn invoke(c: &Ctx, req: &RequestFrame<'_>) -> Answer {
    if c.who.role != "operator" {
        return Err(ErrorShape::new(
            ErrorCode::InvalidRequest,
            format!("unauthorized role: {}", c.who.role),
        ));
    }
    if !satisfies(&c.who.scopes, "operator.write") {
        return Err(ErrorShape::missing_scope(
            "operator.write",
            &["operator.write"],
        ));
    }
    let p: InvokeParams = params(req)?;
    let (node_id, command) = (p.node_id.trim().to_string(), p.command.trim().to_string());
    if node_id.is_empty() || command.is_empty() {
        return Err(ErrorShape::new(
            ErrorCode::InvalidRequest,
            "nodeId and command required",
        ));
    }
    if policy::EXEC_APPROVALS.contains(&command.as_str()) {
        return Err(ErrorShape::new(
            ErrorCode::InvalidRequest,
            "node.invoke does not allow system.execApprovals.*; use exec.approvals.node.*",
        )
        .with_details(json!({ "command": command })));
    }
    if !matches!(c.gw.nodes.approval(&node_id), Approval::Approved(_)) {
        return Err(pairing_changed(
            "node pairing changed while invocation was active",
        ));
    }
    let Some(live) = c.gw.nodes.live(&node_id) else {
        return Err(node_error(
            "NOT_CONNECTED",
            "node not connected",
            false,
            true,
        ));
    };
    let cfg = c.gw.cfg.load();
    let platform = policy::platform_id(
        &live.decl.platform,
        live.decl.device_family.as_deref().unwrap_or(""),
    );
    let effective = c.gw.nodes.effective_commands(&node_id);
    if let Some((reason, msg)) = policy::refusal(&cfg.parsed, platform, &effective, &command) {
        return Err(ErrorShape::new(ErrorCode::InvalidRequest, msg)
            .with_details(json!({ "reason": reason, "command": command })));
    }
    let timeout_ms = p
        .timeout_ms
        .filter(|t| *t > 0)
        .unwrap_or(DEFAULT_INVOKE_TIMEOUT_MS);
    drop(cfg);
    let mut fwd = p.params.clone();
    if command == "system.run" {
        if let Some(o) = fwd.as_mut().and_then(Value::as_object_mut) {
            o.entry("runId")
                .or_insert_with(|| json!(uuid::Uuid::new_v4().to_string()));
        }
    }
    let session_key = p
        .session_key
        .as_deref()
        .map(str::trim)
        .filter(|k| !k.is_empty());
    let call = Call {
        node_id: &node_id,
        command: &command,
        params: fwd,
        timeout_ms,
        idempotency_key: Some(&p.idempotency_key),
        session_key,
    };
    let (payload, payload_json) = node_call::call(c, &live, call).await?;
    Ok(json!({ "ok": true, "nodeId": node_id, "command": command,
        "payload": payload, "payloadJSON": payload_json }))
}

/// The node id of a node socket (`device.id`, else `client.id`).
pub(super) fn caller_node(c: &Ctx) -> String {
    c.who
        .node
        .as_ref()
        .map_or_else(|| c.who.client_id.clone(), |d| d.node_id.clone())
}

/// Largest `node.invoke.progress` chunk, in UTF-8 bytes (the Node gateway's limit).
pub const MAX_PROGRESS_CHUNK_BYTES: usize = 16_384;

/// `node.invoke.result` (node role).
pub fn invoke_result(c: &Ctx, req: &RequestFrame<'_>) -> Answer {
    if req.params_raw().map_or(0, str::len) > MAX_RESULT_BYTES {
        return Err(ErrorShape::new(
            ErrorCode::InvalidRequest,
            "node invoke result too large",
        ));
    }
    let p = strict(
        req,
        &["id", "nodeId", "ok", "payload", "payloadJSON", "error"],
        &["id", "nodeId", "ok"],
    )?;
    let node_id = p["nodeId"].as_str().unwrap_or("");
    if node_id != caller_node(c) {
        return Err(ErrorShape::new(
            ErrorCode::InvalidRequest,
            "nodeId mismatch",
        ));
    }
    let outcome = Outcome::Done {
        ok: p["ok"].as_bool().unwrap_or(false),
        payload: p.get("payload").filter(|v| !v.is_null()).cloned(),
        payload_json: p["payloadJSON"].as_str().map(str::to_string),
        error: p.get("error").filter(|v| !v.is_null()).cloned(),
    };
    let id = p["id"].as_str().unwrap_or("");
    if c.gw.nodes.invokes.finish(id, c.who.conn, node_id, outcome) {
        Ok(json!({ "ok": true }))
    } else {
        Ok(json!({ "ok": true, "ignored": true }))
    }
}

/// `node.invoke.progress` (node role): output streaming is not relayed here.
pub fn invoke_progress(c: &Ctx, req: &RequestFrame<'_>) -> Answer {
    let p = strict(
        req,
        &["invokeId", "nodeId", "seq", "chunk"],
        &["invokeId", "nodeId", "seq", "chunk"],
    )?;
    if p["nodeId"].as_str() != Some(caller_node(c).as_str()) {
        return Err(ErrorShape::new(
            ErrorCode::InvalidRequest,
            "nodeId mismatch",
        ));
    }
    if p["chunk"].as_str().map_or(0, str::len) > MAX_PROGRESS_CHUNK_BYTES {
        return Err(ErrorShape::new(
            ErrorCode::InvalidRequest,
            "progress chunk too large",
        ));
    }
    // The Node gateway streams progress only to in-process (plugin) callers; a WebSocket
    // operator's invoke ignores it, and so does ours.
    Ok(json!({ "ok": true, "ignored": true }))
}

fn approved_caller(c: &Ctx, msg: &str) -> Result<String, ErrorShape> {
    let id = caller_node(c);
    match c.gw.nodes.approval(&id) {
        Approval::Approved(_) => Ok(id),
        Approval::Unknown if msg.is_empty() && c.gw.nodes.live(&id).is_some() => {
            Err(ErrorShape::new(
                ErrorCode::Unavailable,
                "node runner inventory publication is not current; retry after pairing completes",
            ))
        }
        Approval::Pending(rid) if msg.is_empty() => Err(ErrorShape::new(
            ErrorCode::Unavailable,
            format!("node capability surface is awaiting operator approval; run `openclaw nodes approve {rid}` (see `openclaw nodes pending`), then this node retries automatically"),
        )),
        _ => Err(pairing_changed(if msg.is_empty() {
            "node pairing changed before request dispatch"
        } else {
            msg
        })),
    }
}

/// `node.event {event, payload?|payloadJSON?}` (node role).
pub fn event(c: &Ctx, req: &RequestFrame<'_>) -> Answer {
    let p = strict(req, &["event", "payload", "payloadJSON"], &["event"])?;
    let id = approved_caller(c, "node pairing changed while invocation was active")?;
    let name = p["event"].as_str().unwrap_or("");
    if name == "node.host.stats" {
        let mut stats = match p["payloadJSON"].as_str() {
            Some(j) => serde_json::from_str(j).unwrap_or(Value::Null),
            None => p["payload"].clone(),
        };
        if stats.is_object() {
            stats["updatedAtMs"] = json!(now_ms());
            c.gw.nodes.set_host_stats(&id, stats.clone());
            let ev = json!({ "nodeId": id, "hostStats": stats });
            c.gw.hub.publish("node.hostStats", &ev, None);
        }
        return Ok(json!({ "ok": true, "event": name, "handled": true, "reason": "updated" }));
    }
    if name.starts_with("exec.") {
        return Ok(json!({ "ok": true }));
    }
    Ok(json!({ "ok": true, "event": name, "handled": false, "reason": "unsupported_event" }))
}

/// `node.runnerInventory.update` (node role): no worker runners here; the answer says
/// whether the node's surface is approved.
pub fn runner_inventory(c: &Ctx, req: &RequestFrame<'_>) -> Answer {
    strict(req, &["protocolFeatures", "workerHost", "runners"], &[])?;
    let id = approved_caller(c, "")?;
    Ok(json!({ "nodeId": id }))
}

/// `node.skills.update` / `node.pluginTools.update` (node role): nothing is published from
/// nodes here, so both lists stay empty.
pub fn surface_update(c: &Ctx, req: &RequestFrame<'_>, key: &str) -> Answer {
    strict(req, &[key], &[])?;
    Ok(json!({ "nodeId": caller_node(c), key: [] }))
}

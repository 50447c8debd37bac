//! Sessions over the control plane: `sessions.list` (paged, filtered, indexed queries on the
//! blocking pool), `sessions.get`, `sessions.reset`, `sessions.delete`, and the
//! subscriptions behind `sessions.changed` and `session.message`.

use std::sync::Arc;

use openclaw_proto::{ErrorCode, ErrorShape, RequestFrame};
use serde_json::{json, Value};

use super::agent::{check_keys, opt_str, req_str};
use super::chat::display_row;
use super::{params, Sock};
use crate::agents::canonical_key;
use crate::agents::runs::AbortReason;
use crate::server::{now_ms, Gateway};
use crate::store::sessions::{get_session, list_sessions, transcript, ListQuery, SessionRow};

/// `sessions.list` page size when `limit` is absent (observed `limitApplied: 100`).
pub const DEFAULT_LIST_LIMIT: u64 = 100;
/// Largest `sessions.list` page.
pub const MAX_LIST_LIMIT: u64 = 1000;
/// Messages returned by `sessions.get`.
pub const GET_MESSAGES_LIMIT: u64 = 1000;

const LIST_KEYS: &[&str] = &[
    "limit",
    "offset",
    "activeMinutes",
    "requireLastInteraction",
    "sortBy",
    "includeGlobal",
    "includeUnknown",
    "configuredAgentsOnly",
    "includeDerivedTitles",
    "includeLastMessage",
    "label",
    "boardFace",
    "creatorId",
    "ownerId",
    "ownerFirst",
    "involvingMe",
    "involvingProfileId",
    "includePeople",
    "spawnedBy",
    "agentId",
    "search",
    "archived",
];

/// A session row as `sessions.list` shows it (`last`: with the last message preview).
pub(crate) fn row_json(gw: &Gateway, r: &SessionRow, last: bool) -> Value {
    let ids = gw.agents.runs.active_ids(&r.key);
    let mut v = json!({
        "key": r.key,
        "sessionId": r.session_id,
        "agentId": r.agent_id,
        "createdAt": r.created_ms,
        "updatedAt": r.updated_ms,
        "hasActiveRun": !ids.is_empty(),
        "activeRunIds": ids,
        "inputTokens": r.input_tokens,
        "outputTokens": r.output_tokens,
        "totalTokens": r.input_tokens + r.output_tokens,
        "messageCount": r.message_count,
    });
    if let Some(l) = &r.label {
        v["label"] = json!(l);
    }
    if let Some(p) = &r.provider {
        v["modelProvider"] = json!(p);
    }
    if let Some(m) = &r.model {
        v["model"] = json!(m);
    }
    if last {
        if let Some(p) = &r.last_preview {
            v["lastMessagePreview"] = json!(p);
        }
    }
    v
}

/// `sessions.list`.
pub async fn list(gw: &Arc<Gateway>, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let p: Value = params(req)?;
    check_keys(&p, LIST_KEYS, "sessions.list")?;
    let int = |k: &str, min: u64| -> Result<Option<u64>, ErrorShape> {
        match p.get(k) {
            None => Ok(None),
            Some(v) => match v.as_u64() {
                Some(n) if n >= min => Ok(Some(n)),
                _ => Err(ErrorShape::invalid_params(
                    "sessions.list",
                    &format!("at /{k}: must be integer >= {min}"),
                )),
            },
        }
    };
    let limit = int("limit", 1)?
        .unwrap_or(DEFAULT_LIST_LIMIT)
        .min(MAX_LIST_LIMIT);
    let offset = int("offset", 0)?.unwrap_or(0);
    let active_minutes = int("activeMinutes", 1)?;
    let agent = opt_str(&p, "agentId", "sessions.list")?.map(str::to_string);
    let label = opt_str(&p, "label", "sessions.list")?.map(str::to_string);
    let search = opt_str(&p, "search", "sessions.list")?
        .filter(|s| !s.trim().is_empty())
        .map(str::to_string);
    let include_last = p.get("includeLastMessage") == Some(&Value::Bool(true));

    let q = ListQuery {
        agent_id: agent,
        label,
        search,
        updated_since_ms: active_minutes.map(|m| now_ms().saturating_sub(m * 60_000)),
        limit,
        offset,
    };
    let unfiltered_total = gw.agents.runs.store.count();
    let (rows, total) = gw
        .agents
        .runs
        .store
        .read(move |c| list_sessions(c, &q, unfiltered_total))
        .await
        .map_err(|e| ErrorShape::new(ErrorCode::Unavailable, e.to_string()))?;
    let sessions: Vec<Value> = rows.iter().map(|r| row_json(gw, r, include_last)).collect();
    let has_more = offset + (rows.len() as u64) < total;
    let cat = gw.agents.catalog();
    let primary = cat
        .default_agent()
        .models
        .first()
        .cloned()
        .unwrap_or_default();
    let (provider, model) = primary.split_once('/').unwrap_or(("", primary.as_str()));
    Ok(json!({
        "ts": now_ms(),
        "path": gw.sessions_path(),
        "count": sessions.len(),
        "totalCount": total,
        "limitApplied": limit,
        "nextOffset": if has_more { json!(offset + rows.len() as u64) } else { Value::Null },
        "hasMore": has_more,
        "owners": [],
        "defaults": { "modelProvider": provider, "model": model, "modelSelectionTarget": "session" },
        "sessions": sessions,
    }))
}

/// The session key of `{key}` or `{sessionKey}` params, canonical.
fn key_param(gw: &Gateway, p: &Value, method: &str) -> Result<String, ErrorShape> {
    let raw = match (
        opt_str(p, "key", method)?,
        opt_str(p, "sessionKey", method)?,
    ) {
        (Some(k), _) | (None, Some(k)) if !k.is_empty() => k,
        _ => {
            return Err(ErrorShape::invalid_params(
                method,
                "at root: must have required property 'key'",
            ))
        }
    };
    let agent = gw
        .agents
        .resolve_agent(opt_str(p, "agentId", method)?, Some(raw))?;
    Ok(canonical_key(raw, &agent))
}

/// `sessions.get {key}`: the session row and its transcript.
pub async fn get(gw: &Arc<Gateway>, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let p: Value = params(req)?;
    check_keys(
        &p,
        &["key", "sessionKey", "agentId", "limit"],
        "sessions.get",
    )?;
    let key = key_param(gw, &p, "sessions.get")?;
    let limit = p
        .get("limit")
        .and_then(Value::as_u64)
        .unwrap_or(GET_MESSAGES_LIMIT)
        .clamp(1, GET_MESSAGES_LIMIT);
    let k = key.clone();
    let found = gw
        .agents
        .runs
        .store
        .read(move |c| {
            let Some(row) = get_session(c, &k)? else {
                return Ok(None);
            };
            let (rows, total) = transcript(c, &row.session_id, limit, 0)?;
            Ok(Some((row, rows, total)))
        })
        .await
        .map_err(|e| ErrorShape::new(ErrorCode::Unavailable, e.to_string()))?;
    let Some((row, rows, total)) = found else {
        return Err(ErrorShape::new(
            ErrorCode::InvalidRequest,
            format!("session not found: {key}"),
        ));
    };
    let messages: Vec<Value> = rows.iter().filter_map(|r| display_row(r, None)).collect();
    Ok(json!({
        "key": key,
        "sessionId": row.session_id,
        "session": row_json(gw, &row, true),
        "messages": messages,
        "totalMessages": total,
    }))
}

fn stop_runs(gw: &Gateway, key: &str) {
    for r in gw.agents.runs.active_runs(key, None) {
        r.abort(AbortReason::Rpc);
    }
}

/// `sessions.reset {key, reason?}`: a fresh transcript (new session id).
pub async fn reset(gw: &Arc<Gateway>, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let p: Value = params(req)?;
    check_keys(&p, &["key", "agentId", "reason"], "sessions.reset")?;
    let key = key_param(gw, &p, "sessions.reset")?;
    if let Some(r) = opt_str(&p, "reason", "sessions.reset")? {
        if r != "new" && r != "reset" {
            return Err(ErrorShape::invalid_params(
                "sessions.reset",
                "at /reason: must be equal to one of the allowed values",
            ));
        }
    }
    stop_runs(gw, &key);
    let sid = gw
        .agents
        .runs
        .store
        .reset(&key)
        .await
        .map_err(|e| ErrorShape::new(ErrorCode::Unavailable, e.to_string()))?;
    gw.agents.session_changed(&key);
    Ok(json!({ "ok": true, "key": key, "sessionId": sid, "reset": sid.is_some() }))
}

/// `sessions.delete {key}`.
pub async fn delete(gw: &Arc<Gateway>, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let p: Value = params(req)?;
    check_keys(
        &p,
        &[
            "key",
            "agentId",
            "deleteTranscript",
            "expectedSessionId",
            "expectedLifecycleRevision",
            "expectedSessionUpdatedAt",
            "emitLifecycleHooks",
            "archivedOnly",
        ],
        "sessions.delete",
    )?;
    let key = key_param(gw, &p, "sessions.delete")?;
    if let Some(expected) = opt_str(&p, "expectedSessionId", "sessions.delete")? {
        let k = key.clone();
        let cur = gw
            .agents
            .runs
            .store
            .read(move |c| get_session(c, &k))
            .await
            .ok()
            .flatten();
        if cur.is_some_and(|r| r.session_id != expected) {
            return Err(ErrorShape::new(
                ErrorCode::InvalidRequest,
                "session id changed; not deleted",
            )
            .with_details(json!({ "reason": "session-id-mismatch" })));
        }
    }
    stop_runs(gw, &key);
    let deleted = gw
        .agents
        .runs
        .store
        .delete(&key)
        .await
        .map_err(|e| ErrorShape::new(ErrorCode::Unavailable, e.to_string()))?;
    gw.agents
        .runs
        .emit_changed(&json!({ "sessionKey": key, "key": key, "deleted": true, "ts": now_ms() }));
    Ok(json!({ "ok": true, "key": key, "deleted": deleted, "archived": [] }))
}

/// `sessions.subscribe {}`: `sessions.changed` for this socket until it closes.
pub fn subscribe(gw: &Gateway, req: &RequestFrame<'_>, sock: &Sock) -> Result<Value, ErrorShape> {
    let p: Value = params(req)?;
    check_keys(&p, &[], "sessions.subscribe")?;
    gw.agents.runs.watch_list(sock.conn, &sock.out);
    Ok(json!({ "ok": true }))
}

/// `sessions.messages.subscribe {key}` / `.unsubscribe {key}`.
pub fn messages_subscribe(
    gw: &Gateway,
    req: &RequestFrame<'_>,
    sock: &Sock,
    on: bool,
) -> Result<Value, ErrorShape> {
    let method = if on {
        "sessions.messages.subscribe"
    } else {
        "sessions.messages.unsubscribe"
    };
    let p: Value = params(req)?;
    let allowed: &[&str] = if on {
        &["key", "agentId", "includeApprovals"]
    } else {
        &["key", "agentId"]
    };
    check_keys(&p, allowed, method)?;
    req_str(&p, "key", method)?;
    let key = key_param(gw, &p, method)?;
    if on {
        gw.agents.runs.watch_session(&key, sock.conn, &sock.out);
    } else {
        gw.agents.runs.unwatch_session(&key, sock.conn);
    }
    Ok(json!({ "ok": true, "key": key, "subscribed": on }))
}

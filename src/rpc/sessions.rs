//! Sessions over the control plane: `sessions.list` (paged, filtered, indexed queries on the
//! blocking pool), `sessions.get`, `sessions.reset`, `sessions.delete`, and the
//! subscriptions behind `sessions.changed` and `session.message`.

use openclaw_proto::{ErrorCode, ErrorShape, RequestFrame};
use serde_json::{json, Value};

use super::agent::{check_keys, opt_str, req_str};
use super::chat::display_row;
use super::{params, Ctx};
use crate::agents::canonical_key;
use crate::agents::runs::AbortReason;
use crate::clock::now_ms;
use crate::server::Gateway;
use crate::store::sessions::{get_session, transcript, with_last_runs, ListQuery, SessionRow};

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
    // Filters on features this gateway has no data for (projects, groups, pins, boards,
    // workspaces, profiles, subagent/cron/system sessions): see `unsupported_filters`.
    "activeOnly",
    "excludeSubagents",
    "excludeCron",
    "excludeSystem",
    "projectId",
    "workspaceDir",
    "group",
    "pinned",
    "hasBoard",
    "profileRelation",
    // Activity summaries are not computed here; the rows are the same without it.
    "includeActivitySummary",
];

/// `true` when a filter asks for sessions with a property none of ours has (a project, a
/// group, a workspace, a pin, a board): the page is empty. The `exclude*` filters never
/// match (we have no subagent, cron or system sessions) and so exclude nothing.
fn unsupported_filters(p: &Value) -> bool {
    let set = |k: &str| p.get(k).is_some_and(|v| !v.is_null());
    set("projectId")
        || set("workspaceDir")
        || set("group")
        || p.get("pinned") == Some(&Value::Bool(true))
        || p.get("hasBoard") == Some(&Value::Bool(true))
}

/// `sessions.list`.
pub async fn list(c: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let gw = &c.gw;
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
    let active_only = p.get("activeOnly") == Some(&Value::Bool(true));
    let (rows, total) = if unsupported_filters(&p) {
        (Vec::new(), 0)
    } else if active_only {
        active_sessions(gw, q).await?
    } else {
        gw.agents
            .runs
            .store
            .list(q)
            .await
            .map_err(|e| crate::failure::store(req.method(), e))?
    };
    let sessions: Vec<Value> = rows
        .iter()
        .map(|r| gw.agents.runs.row_json(r, include_last))
        .collect();
    let has_more = offset + (rows.len() as u64) < total;
    let defaults = super::chat_history::defaults(c, &gw.agents.catalog().default_agent);
    Ok(json!({
        "ts": now_ms(),
        "path": gw.sessions_path(),
        "count": sessions.len(),
        "totalCount": total,
        "limitApplied": limit,
        "nextOffset": if has_more { json!(offset + rows.len() as u64) } else { Value::Null },
        "hasMore": has_more,
        "owners": [],
        "defaults": defaults,
        "sessions": sessions,
    }))
}

/// `activeOnly`: the sessions with a run in flight, newest first, paged like the rest.
async fn active_sessions(gw: &Gateway, q: ListQuery) -> Result<(Vec<SessionRow>, u64), ErrorShape> {
    let keys = gw.agents.runs.active_session_keys();
    let mut rows = gw
        .agents
        .runs
        .store
        .read(move |c| {
            let mut out = Vec::new();
            for k in &keys {
                if let Some(r) = get_session(c, k)? {
                    out.push(r);
                }
            }
            Ok(out)
        })
        .await
        .map_err(|e| crate::failure::store("sessions.list", e))?;
    rows.retain(|r| {
        q.agent_id.as_ref().is_none_or(|a| &r.agent_id == a)
            && q.label.as_ref().is_none_or(|l| r.label.as_ref() == Some(l))
            && q.search.as_ref().is_none_or(|s| {
                r.key.contains(s.as_str())
                    || r.label.as_ref().is_some_and(|l| l.contains(s.as_str()))
            })
            && q.updated_since_ms.is_none_or(|t| r.updated_ms >= t)
    });
    rows.sort_by_key(|r| std::cmp::Reverse(r.updated_ms));
    let total = rows.len() as u64;
    let page = rows
        .into_iter()
        .skip(q.offset as usize)
        .take(q.limit as usize)
        .collect();
    Ok((page, total))
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
                "must have required property 'key'",
            ))
        }
    };
    let agent = gw
        .agents
        .resolve_agent(opt_str(p, "agentId", method)?, Some(raw))?;
    Ok(canonical_key(raw, &agent))
}

/// `sessions.get {key}`: the session row and its transcript.
pub async fn get(c: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let gw = &c.gw;
    // Checked by hand like the Node gateway: unknown keys are ignored, a missing key is
    // `key required`.
    let p = super::system::loose(req)?;
    if p["key"]
        .as_str()
        .or(p["sessionKey"].as_str())
        .is_none_or(str::is_empty)
    {
        return Err(ErrorShape::new(ErrorCode::InvalidRequest, "key required"));
    }
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
            let Some(mut row) = get_session(c, &k)? else {
                return Ok(None);
            };
            with_last_runs(c, std::slice::from_mut(&mut row))?;
            let (rows, total) = transcript(c, &row.session_id, limit, 0)?;
            Ok(Some((row, rows, total)))
        })
        .await
        .map_err(|e| crate::failure::store(req.method(), e))?;
    // An unknown session is an empty transcript, not an error (observed).
    let Some((row, rows, total)) = found else {
        return Ok(json!({ "messages": [] }));
    };
    let messages: Vec<Value> = rows.iter().filter_map(|r| display_row(r, None)).collect();
    Ok(json!({
        "key": key,
        "sessionId": row.session_id,
        "session": gw.agents.runs.row_json(&row, true),
        "messages": messages,
        "totalMessages": total,
    }))
}

/// `expectedSessionId`: refuse when the session has moved on to another id meanwhile.
async fn expect_session_id(
    gw: &Gateway,
    p: &Value,
    key: &str,
    method: &str,
    what: &str,
) -> Result<(), ErrorShape> {
    let Some(expected) = opt_str(p, "expectedSessionId", method)? else {
        return Ok(());
    };
    let cur = gw
        .agents
        .runs
        .store
        .session(key)
        .await
        .map_err(|e| crate::failure::store(method, e))?;
    if cur.is_some_and(|r| r.session_id != expected) {
        return Err(ErrorShape::new(
            ErrorCode::InvalidRequest,
            format!("session id changed; {what}"),
        )
        .with_details(json!({ "reason": "session-id-mismatch" })));
    }
    Ok(())
}

fn stop_runs(gw: &Gateway, key: &str) {
    for r in gw.agents.runs.active_runs(key, None) {
        r.abort(AbortReason::Rpc);
    }
}

/// `sessions.reset {key, reason?}`: a fresh transcript (new session id).
pub async fn reset(c: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let gw = &c.gw;
    let p: Value = params(req)?;
    check_keys(
        &p,
        &["key", "agentId", "reason", "expectedSessionId"],
        "sessions.reset",
    )?;
    let key = key_param(gw, &p, "sessions.reset")?;
    expect_session_id(gw, &p, &key, "sessions.reset", "not reset").await?;
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
        .map_err(|e| crate::failure::store(req.method(), e))?;
    gw.agents.session_changed(&key);
    Ok(json!({ "ok": true, "key": key, "sessionId": sid, "reset": sid.is_some() }))
}

/// `sessions.delete {key}`.
pub async fn delete(c: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let gw = &c.gw;
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
    expect_session_id(gw, &p, &key, "sessions.delete", "not deleted").await?;
    stop_runs(gw, &key);
    let deleted = gw
        .agents
        .runs
        .store
        .delete(&key)
        .await
        .map_err(|e| crate::failure::store(req.method(), e))?;
    gw.agents
        .runs
        .emit_changed(&json!({ "sessionKey": key, "key": key, "deleted": true, "ts": now_ms() }));
    Ok(json!({ "ok": true, "key": key, "deleted": deleted, "archived": [] }))
}

/// `sessions.subscribe {}`: `sessions.changed` for this socket until it closes.
pub fn subscribe(c: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let p: Value = params(req)?;
    check_keys(&p, &[], "sessions.subscribe")?;
    c.gw.agents.runs.watch_list(c.sock.conn);
    Ok(json!({ "subscribed": true }))
}

/// Properties of `sessions.get` (no published schema; as the Node gateway reads them).
pub const GET_KEYS: &[&str] = &["key", "sessionKey", "agentId", "limit"];

/// `sessions.messages.subscribe {key}` / `.unsubscribe {key}`.
pub fn messages_subscribe(c: &Ctx, req: &RequestFrame<'_>, on: bool) -> Result<Value, ErrorShape> {
    let gw = &c.gw;
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
        gw.agents.runs.watch_session(&key, c.sock.conn);
    } else {
        gw.agents.runs.unwatch_session(&key, c.sock.conn);
    }
    Ok(json!({ "ok": true, "key": key, "subscribed": on }))
}

//! `chat.history`: a page of a session's transcript (newest last, `limit`/`offset`,
//! `maxChars` per message, `maxBytes` for the page), or with a `cursor` only what is newer
//! than it (`delta`), or `reset` when the cursor no longer fits. Reading the store is
//! [`crate::store::sessions`]'; how a row is shown is [`super::chat::display_row`].

use openclaw_proto::{ErrorShape, RequestFrame};
use serde_json::{json, Value};

use super::agent::{check_keys, opt_str, req_str};
use super::chat::{display_row, DEFAULT_HISTORY_LIMIT, MAX_DELTA_ROWS, MAX_HISTORY_LIMIT};
use super::{params, Ctx};
use crate::agents::canonical_key;
use crate::store::sessions::{get_session, transcript, with_last_runs, MessageRow};

const HISTORY_KEYS: &[&str] = &[
    "sessionKey",
    "agentId",
    "cursor",
    "limit",
    "offset",
    "pendingBefore",
    "inputRunIds",
    "messageId",
    "sessionId",
    "maxChars",
    "maxBytes",
];

/// The paging params, checked.
struct Paging {
    limit: u64,
    offset: u64,
    max_chars: Option<usize>,
    max_bytes: Option<usize>,
}

impl Paging {
    fn parse(p: &Value, method: &str) -> Result<Paging, ErrorShape> {
        let int = |k: &str, min: u64, max: u64| -> Result<Option<u64>, ErrorShape> {
            match p.get(k) {
                None => Ok(None),
                Some(v) => match v.as_u64() {
                    Some(n) if (min..=max).contains(&n) => Ok(Some(n)),
                    _ => Err(ErrorShape::invalid_params(
                        method,
                        &format!("at /{k}: must be integer in {min}..{max}"),
                    )),
                },
            }
        };
        Ok(Paging {
            limit: int("limit", 1, MAX_HISTORY_LIMIT)?.unwrap_or(DEFAULT_HISTORY_LIMIT),
            offset: int("offset", 0, u64::MAX)?.unwrap_or(0),
            max_chars: int("maxChars", 1, 500_000)?.map(|n| n as usize),
            max_bytes: int("maxBytes", 1024, u64::MAX)?.map(|n| n as usize),
        })
    }
}

/// `chat.history`.
pub async fn history(c: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    super::schema_checked(req)?;
    page_of(c, req).await
}

/// The history page of `req`'s params, already checked against their definition (by
/// `chat.history`, or by `chat.startup`, which answers the same page).
pub async fn page_of(c: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let gw = &c.gw;
    let p: Value = params(req)?;
    check_keys(&p, HISTORY_KEYS, req.method())?;
    let raw_key = req_str(&p, "sessionKey", req.method())?;
    let pg = Paging::parse(&p, req.method())?;
    let cursor = opt_str(&p, "cursor", req.method())?.map(str::to_string);
    let agent_id = gw
        .agents
        .resolve_agent(opt_str(&p, "agentId", req.method())?, Some(raw_key))?;
    let key = canonical_key(raw_key, &agent_id);
    let k2 = key.clone();
    let want_sid = opt_str(&p, "sessionId", req.method())?.map(str::to_string);
    let read_offset = if cursor.is_some() { 0 } else { pg.offset };
    let limit = pg.limit;
    let (row, rows, total) = gw
        .agents
        .runs
        .store
        .read(move |c| {
            let Some(mut row) = get_session(c, &k2)? else {
                return Ok((None, Vec::new(), 0));
            };
            with_last_runs(c, std::slice::from_mut(&mut row))?;
            let sid = want_sid.unwrap_or_else(|| row.session_id.clone());
            let (rows, total) = transcript(c, &sid, limit.max(MAX_DELTA_ROWS + 1), read_offset)?;
            Ok((Some(row), rows, total))
        })
        .await
        .map_err(|e| crate::failure::store(req.method(), e))?;
    let runs = &gw.agents.runs;
    let info = match &row {
        Some(r) => runs.row_json(r, true),
        None => runs.absent_row_json(&key, &agent_id),
    };
    let sid = row
        .as_ref()
        .map(|r| r.session_id.clone())
        .unwrap_or_default();
    let last_id = rows.iter().map(|r| r.id).max().unwrap_or(0);
    let delta_cursor = format!("{sid}:{last_id}");
    if let Some(cur) = cursor {
        let Some(messages) = delta(&rows, &cur, &sid, total, pg.max_chars) else {
            return Ok(json!({ "kind": "reset" }));
        };
        return Ok(
            json!({ "kind": "delta", "messages": messages, "deltaCursor": delta_cursor,
                          "pendingInputs": no_pending(), "sessionInfo": info }),
        );
    }
    let (messages, kept_rows) = page(&rows, &pg);
    let has_more = pg.offset + (kept_rows as u64) < total;
    let mut v = json!({
        "sessionKey": raw_key,
        "sessionId": row.as_ref().map(|r| Value::String(r.session_id.clone())).unwrap_or(Value::Null),
        "messages": messages,
        "pendingInputs": no_pending(),
        "deltaCursor": delta_cursor,
        "hasMore": has_more,
        "totalMessages": total,
        "defaults": defaults(c, &agent_id),
        "sessionInfo": info,
    });
    if has_more {
        v["nextOffset"] = json!(pg.offset + kept_rows as u64);
    }
    if let Some(id) = runs.active_ids(&key).first() {
        if let Some(run) = runs.get(id) {
            let text = run.text.lock().clone();
            v["inFlightRun"] = json!({ "runId": run.id, "text": text });
        }
    }
    Ok(v)
}

/// The inputs waiting outside the transcript: none. Every accepted input is in the
/// transcript at once (a queued one marked `__openclaw.kind: "queued"`).
fn no_pending() -> Value {
    json!({ "items": [], "total": 0 })
}

/// The model a new turn of `agent`'s sessions would use (`null`s when none is configured),
/// as `chat.history` and `sessions.list` show it.
pub(super) fn defaults(c: &Ctx, agent: &str) -> Value {
    let cat = c.gw.agents.catalog();
    let model = cat
        .agents
        .iter()
        .find(|a| a.id == agent)
        .and_then(|a| a.models.first().cloned());
    let target = model.as_deref().and_then(|m| cat.target(m).ok());
    let mut v = json!({
        "modelProvider": target.as_ref().map(|t| t.provider.id.clone()),
        "model": target.as_ref().map(|t| t.model.clone()),
        "contextTokens": target.as_ref().and_then(|t| t.context_window()),
    });
    super::config::thinking_off(&mut v, true);
    v["modelSelectionTarget"] = json!("session");
    v
}

/// The messages newer than cursor `cur` (`<sessionId>:<rowId>`); `None` when the cursor is
/// of another session, unreadable, or too far behind (the caller reloads: `reset`).
fn delta(
    rows: &[MessageRow],
    cur: &str,
    sid: &str,
    total: u64,
    max_chars: Option<usize>,
) -> Option<Vec<Value>> {
    let (csid, cid) = cur.rsplit_once(':').unwrap_or(("", ""));
    let cid: i64 = cid.parse().unwrap_or(-1);
    let newer: Vec<&MessageRow> = rows.iter().filter(|r| r.id > cid).collect();
    if csid != sid
        || cid < 0
        || newer.len() as u64 > MAX_DELTA_ROWS
        || (newer.len() == rows.len() && total > rows.len() as u64)
    {
        return None;
    }
    Some(
        newer
            .into_iter()
            .filter_map(|r| display_row(r, max_chars))
            .collect(),
    )
}

/// The newest `limit` rows as messages; with `maxBytes`, only the newest whose JSON fits
/// (the rest is the next page). Also how many rows the page kept.
fn page(rows: &[MessageRow], pg: &Paging) -> (Vec<Value>, usize) {
    let n = rows.len().saturating_sub(pg.limit as usize);
    let page = &rows[n..];
    let mut messages: Vec<Value> = page
        .iter()
        .filter_map(|r| display_row(r, pg.max_chars))
        .collect();
    let mut kept_rows = page.len();
    if let Some(max) = pg.max_bytes {
        let mut size: usize = messages.iter().map(|m| m.to_string().len() + 1).sum();
        while size > max && !messages.is_empty() {
            size -= messages.remove(0).to_string().len() + 1;
            kept_rows -= 1;
        }
    }
    (messages, kept_rows)
}

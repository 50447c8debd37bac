//! Read queries of the session store (run on pooled read connections).

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;

use super::{MessageRow, SessionRow};

/// Row mapper for `SELECT` [`SESSION_COLS`].
pub const SESSION_COLS: &str = "key, session_id, agent_id, created_ms, updated_ms, label, \
    provider, model, input_tokens, output_tokens, message_count, last_preview";

/// Map a row selected with [`SESSION_COLS`].
pub fn session_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SessionRow> {
    Ok(SessionRow {
        key: r.get(0)?,
        session_id: r.get(1)?,
        agent_id: r.get(2)?,
        created_ms: r.get::<_, i64>(3)? as u64,
        updated_ms: r.get::<_, i64>(4)? as u64,
        label: r.get(5)?,
        provider: r.get(6)?,
        model: r.get(7)?,
        input_tokens: r.get::<_, i64>(8)? as u64,
        output_tokens: r.get::<_, i64>(9)? as u64,
        message_count: r.get::<_, i64>(10)? as u64,
        last_preview: r.get(11)?,
        last_run: None,
    })
}

/// The `limit` most recently updated sessions, newest first.
pub fn recent_sessions(c: &Connection, limit: usize) -> rusqlite::Result<Vec<SessionRow>> {
    let sql = format!("SELECT {SESSION_COLS} FROM sessions ORDER BY updated_ms DESC LIMIT {limit}");
    let mut st = c.prepare_cached(&sql)?;
    let rows = st.query_map([], session_row)?;
    rows.collect()
}

/// Session count per agent id.
pub fn session_counts_by_agent(
    c: &Connection,
) -> rusqlite::Result<std::collections::HashMap<String, u64>> {
    let mut st = c.prepare_cached("SELECT agent_id, count(*) FROM sessions GROUP BY agent_id")?;
    let rows = st.query_map([], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
    })?;
    rows.collect()
}

/// One session by key.
pub fn get_session(c: &Connection, key: &str) -> rusqlite::Result<Option<SessionRow>> {
    c.query_row(
        &format!("SELECT {SESSION_COLS} FROM sessions WHERE key = ?1"),
        [key],
        session_row,
    )
    .optional()
}

/// The transcript of a session id: positioned rows in order, then queued inputs.
/// `offset`/`limit` count from the END (newest) as chat history pages do; returns the rows
/// oldest-first and the total.
pub fn transcript(
    c: &Connection,
    session_id: &str,
    limit: u64,
    offset: u64,
) -> rusqlite::Result<(Vec<MessageRow>, u64)> {
    let total: i64 = c.query_row(
        "SELECT count(*) FROM messages WHERE session_id = ?1",
        [session_id],
        |r| r.get(0),
    )?;
    let mut st = c.prepare_cached(
        "SELECT id, seq, run_id, body FROM messages WHERE session_id = ?1
         ORDER BY seq IS NULL DESC, seq DESC, id DESC LIMIT ?2 OFFSET ?3",
    )?;
    let rows = st.query_map(params![session_id, limit as i64, offset as i64], |r| {
        let body: String = r.get(3)?;
        Ok(MessageRow {
            id: r.get(0)?,
            seq: r.get::<_, Option<i64>>(1)?.map(|s| s as u64),
            run_id: r.get(2)?,
            body: serde_json::from_str(&body).unwrap_or(Value::Null),
        })
    })?;
    let mut v = rows.collect::<rusqlite::Result<Vec<_>>>()?;
    v.reverse();
    Ok((v, total as u64))
}

/// Filters and page of a session listing (`sessions.list`).
#[derive(Clone, Debug, Default)]
pub struct ListQuery {
    pub agent_id: Option<String>,
    pub label: Option<String>,
    /// Substring of the key or label.
    pub search: Option<String>,
    /// Only sessions updated at or after this time (ms).
    pub updated_since_ms: Option<u64>,
    pub limit: u64,
    pub offset: u64,
}

/// One page of sessions, newest first, and the total matching. `unfiltered_total` (the
/// writer-maintained count) spares a count over the whole table when nothing filters.
pub fn list_sessions(
    c: &Connection,
    q: &ListQuery,
    unfiltered_total: u64,
) -> rusqlite::Result<(Vec<SessionRow>, u64)> {
    use rusqlite::types::Value as Sql;
    let mut wh: Vec<String> = Vec::new();
    let mut args: Vec<Sql> = Vec::new();
    if let Some(a) = &q.agent_id {
        args.push(Sql::Text(a.clone()));
        wh.push(format!("agent_id = ?{}", args.len()));
    }
    if let Some(l) = &q.label {
        args.push(Sql::Text(l.clone()));
        wh.push(format!("label = ?{}", args.len()));
    }
    if let Some(s) = &q.search {
        let pat = format!("%{}%", s.replace('%', "\\%").replace('_', "\\_"));
        args.push(Sql::Text(pat));
        let n = args.len();
        wh.push(format!(
            "(key LIKE ?{n} ESCAPE '\\' OR label LIKE ?{n} ESCAPE '\\')"
        ));
    }
    if let Some(since) = q.updated_since_ms {
        args.push(Sql::Integer(since as i64));
        wh.push(format!("updated_ms >= ?{}", args.len()));
    }
    let where_sql = if wh.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", wh.join(" AND "))
    };
    let count = |c: &Connection| -> rusqlite::Result<u64> {
        let sql = format!("SELECT count(*) FROM sessions {where_sql}");
        Ok(
            c.query_row(&sql, rusqlite::params_from_iter(args.iter()), |r| {
                r.get::<_, i64>(0)
            })? as u64,
        )
    };
    if q.search.is_some() {
        // A substring search reads every row anyway: one table scan (`+updated_ms` keeps the
        // planner off the index, whose row-by-row lookups cost more), counting as it goes.
        let sql = format!(
            "SELECT {SESSION_COLS}, count(*) OVER () FROM sessions {where_sql}
             ORDER BY +updated_ms DESC LIMIT {} OFFSET {}",
            q.limit, q.offset
        );
        let mut total = None;
        let mut st = c.prepare_cached(&sql)?;
        let rows = st
            .query_map(rusqlite::params_from_iter(args.iter()), |r| {
                Ok((session_row(r)?, r.get::<_, i64>(12)? as u64))
            })?
            .map(|r| {
                r.map(|(row, n)| {
                    total = Some(n);
                    row
                })
            })
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let total = match total {
            Some(n) => n,
            None => count(c)?,
        };
        return Ok((rows, total));
    }
    let total = if wh.is_empty() {
        unfiltered_total
    } else {
        count(c)?
    };
    let sql = format!(
        "SELECT {SESSION_COLS} FROM sessions {where_sql} ORDER BY updated_ms DESC LIMIT {} OFFSET {}",
        q.limit, q.offset
    );
    let mut st = c.prepare_cached(&sql)?;
    let rows = st
        .query_map(rusqlite::params_from_iter(args.iter()), session_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok((rows, total))
}

/// The stored final result of a run.
pub fn run_result(c: &Connection, run_id: &str) -> rusqlite::Result<Option<Value>> {
    let s: Option<String> = c
        .query_row("SELECT result FROM runs WHERE run_id = ?1", [run_id], |r| {
            r.get(0)
        })
        .optional()?;
    Ok(s.and_then(|s| serde_json::from_str(&s).ok()))
}

/// What one finished run used, from its stored result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunUsage {
    pub session_key: String,
    pub ended_ms: u64,
    /// The run answered (`ok`); anything else counts as an error.
    pub ok: bool,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub input: u64,
    pub output: u64,
    pub duration_ms: u64,
}

/// Every run that ended at or after `from_ms`, oldest first.
pub fn run_usage(c: &Connection, from_ms: u64) -> rusqlite::Result<Vec<RunUsage>> {
    let mut st = c.prepare_cached(
        "SELECT session_key, ended_ms, json_extract(result, '$.payload.status'),
                json_extract(result, '$.payload.result.meta.agentMeta.provider'),
                json_extract(result, '$.payload.result.meta.agentMeta.model'),
                json_extract(result, '$.payload.result.meta.agentMeta.usage.input'),
                json_extract(result, '$.payload.result.meta.agentMeta.usage.output'),
                json_extract(result, '$.payload.result.meta.durationMs')
         FROM runs WHERE ended_ms >= ?1 ORDER BY ended_ms",
    )?;
    let rows = st.query_map([from_ms as i64], |r| {
        let n = |i: usize| {
            r.get::<_, Option<i64>>(i)
                .map(|v| v.unwrap_or(0).max(0) as u64)
        };
        Ok(RunUsage {
            session_key: r.get(0)?,
            ended_ms: r.get::<_, i64>(1)?.max(0) as u64,
            ok: r.get::<_, Option<String>>(2)?.as_deref() == Some("ok"),
            provider: r.get(3)?,
            model: r.get(4)?,
            input: n(5)?,
            output: n(6)?,
            duration_ms: n(7)?,
        })
    })?;
    rows.collect()
}

/// Width of the time buckets [`message_counts`] groups by: every real UTC offset is a
/// multiple of it, so buckets map to calendar days in any zone.
pub const MESSAGE_BUCKET_MS: u64 = 15 * 60 * 1000;

/// Messages per `(session key, role, bucket start ms)` stamped in `[from_ms, to_ms)`.
pub fn message_counts(
    c: &Connection,
    from_ms: u64,
    to_ms: u64,
) -> rusqlite::Result<Vec<(String, String, u64, u64)>> {
    let mut st = c.prepare_cached(
        "SELECT session_key, role, (ts / ?3) * ?3 AS bucket, count(*) FROM messages
         WHERE ts >= ?1 AND ts < ?2 GROUP BY session_key, role, bucket",
    )?;
    let rows = st.query_map(
        params![from_ms as i64, to_ms as i64, MESSAGE_BUCKET_MS as i64],
        |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get::<_, i64>(2)?.max(0) as u64,
                r.get::<_, i64>(3)?.max(0) as u64,
            ))
        },
    )?;
    rows.collect()
}

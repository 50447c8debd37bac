//! What each queued session-store write does inside the shared group-commit writer
//! (`store::group`), and what the store refreshes after a commit (count, recent rows).

use std::sync::atomic::Ordering;

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;

use super::{Appended, Op, RunTotals, SessionRow, Summary};
use crate::store::group::{answer as reply, Ack, Reply, Write};

struct SessionHead {
    session_id: String,
    next_seq: u64,
}

fn head(c: &Connection, key: &str) -> rusqlite::Result<Option<SessionHead>> {
    c.prepare_cached("SELECT session_id, next_seq FROM sessions WHERE key = ?1")?
        .query_row([key], |r| {
            Ok(SessionHead {
                session_id: r.get(0)?,
                next_seq: r.get::<_, i64>(1)? as u64,
            })
        })
        .optional()
}

fn ensure(
    c: &Connection,
    key: &str,
    agent_id: &str,
    ts: u64,
) -> rusqlite::Result<(SessionHead, bool)> {
    if let Some(h) = head(c, key)? {
        return Ok((h, false));
    }
    let sid = crate::clock::ordered_uuid();
    c.prepare_cached(
        "INSERT INTO sessions (key, session_id, agent_id, created_ms, updated_ms) VALUES (?1, ?2, ?3, ?4, ?4)",
    )?
    .execute(params![key, sid, agent_id, ts as i64])?;
    Ok((
        SessionHead {
            session_id: sid,
            next_seq: 1,
        },
        true,
    ))
}

/// A message row to write: which session, whose run, the JSON body and its preview.
struct Row<'a> {
    key: &'a str,
    agent_id: &'a str,
    body: &'a str,
    preview: &'a str,
    ts: u64,
}

impl<'a> Row<'a> {
    fn of(key: &'a str, agent_id: &'a str, body: &'a str, preview: &'a str, ts: u64) -> Self {
        Row {
            key,
            agent_id,
            body,
            preview,
            ts,
        }
    }
}

/// Apply one op inside the open transaction. Returns the reply to send after commit and
/// the change in session count.
fn apply(c: &Connection, op: Op) -> (Reply, i64) {
    let mut count = 0;
    let done = match op {
        Op::Append {
            key,
            agent_id,
            run_id,
            body,
            preview,
            ts,
            queued,
            ack,
        } => {
            let row = Row::of(&key, &agent_id, &body, &preview, ts);
            reply(ack, append(c, &row, run_id.as_deref(), queued, &mut count))
        }
        Op::Activate { id, key, ack } => reply(ack, activate(c, id, &key)),
        Op::Assistant {
            key,
            agent_id,
            run_id,
            body,
            preview,
            ts,
            totals,
            ack,
        } => {
            let row = Row::of(&key, &agent_id, &body, &preview, ts);
            let r = assistant(c, &row, &run_id, &mut count)
                .and_then(|()| add_totals(c, &key, totals.as_ref()));
            reply(ack, r)
        }
        Op::RunDone {
            run_id,
            key,
            result,
            ts,
        } => {
            let r = c
                .prepare_cached(
                    "INSERT OR REPLACE INTO runs (run_id, session_key, result, ended_ms) VALUES (?1, ?2, ?3, ?4)",
                )
                .and_then(|mut s| s.execute(params![run_id, key, result, ts as i64]))
                .map(|_| ());
            reply::<()>(None, r)
        }
        Op::Reset { key, ack } => reply(Some(ack), reset(c, &key)),
        Op::Delete { key, ack } => reply(Some(ack), delete(c, &key, &mut count)),
        Op::Flush(ack) => reply(Some(ack), Ok(())),
        Op::Bulk(rows, ack) => reply(Some(ack), bulk(c, &rows, &mut count)),
    };
    (done, count)
}

/// A user (or queued) message; `created` counts a session made for it.
fn append(
    c: &Connection,
    row: &Row<'_>,
    run_id: Option<&str>,
    queued: bool,
    created: &mut i64,
) -> rusqlite::Result<Appended> {
    let (h, new) = ensure(c, row.key, row.agent_id, row.ts)?;
    *created = i64::from(new);
    let seq = (!queued).then_some(h.next_seq);
    let role = serde_json::from_str::<Value>(row.body)
        .ok()
        .and_then(|v| v.get("role").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| "user".into());
    c.prepare_cached(
        "INSERT INTO messages (session_key, session_id, seq, run_id, role, body, ts)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        row.key,
        h.session_id,
        seq.map(|s| s as i64),
        run_id,
        role,
        row.body,
        row.ts as i64
    ])?;
    let id = c.last_insert_rowid();
    c.prepare_cached(
        "UPDATE sessions SET updated_ms = ?2, message_count = message_count + 1,
         next_seq = next_seq + ?3, last_preview = ?4 WHERE key = ?1",
    )?
    .execute(params![
        row.key,
        row.ts as i64,
        i64::from(!queued),
        row.preview
    ])?;
    Ok(Appended {
        id,
        seq,
        session_id: h.session_id,
        created: new,
    })
}

/// A queued message takes its place in the transcript: the session's next `seq`.
fn activate(c: &Connection, id: i64, key: &str) -> rusqlite::Result<u64> {
    let h = head(c, key)?.ok_or(rusqlite::Error::QueryReturnedNoRows)?;
    c.prepare_cached("UPDATE messages SET seq = ?2 WHERE id = ?1 AND seq IS NULL")?
        .execute(params![id, h.next_seq as i64])?;
    c.prepare_cached("UPDATE sessions SET next_seq = next_seq + 1 WHERE key = ?1")?
        .execute([key])?;
    Ok(h.next_seq)
}

/// The run's assistant row: replaced when it exists (streamed progress), else appended.
fn assistant(
    c: &Connection,
    row: &Row<'_>,
    run_id: &str,
    created: &mut i64,
) -> rusqlite::Result<()> {
    let (h, new) = ensure(c, row.key, row.agent_id, row.ts)?;
    *created = i64::from(new);
    let existing: Option<i64> = c
        .prepare_cached(
            "SELECT id FROM messages WHERE run_id = ?1 AND role = 'assistant' AND session_id = ?2",
        )?
        .query_row(params![run_id, h.session_id], |r| r.get(0))
        .optional()?;
    let ts = row.ts as i64;
    if let Some(id) = existing {
        c.prepare_cached("UPDATE messages SET body = ?2, ts = ?3 WHERE id = ?1")?
            .execute(params![id, row.body, ts])?;
        c.prepare_cached("UPDATE sessions SET updated_ms = ?2, last_preview = ?3 WHERE key = ?1")?
            .execute(params![row.key, ts, row.preview])?;
        return Ok(());
    }
    c.prepare_cached(
        "INSERT INTO messages (session_key, session_id, seq, run_id, role, body, ts)
         VALUES (?1, ?2, ?3, ?4, 'assistant', ?5, ?6)",
    )?
    .execute(params![
        row.key,
        h.session_id,
        h.next_seq as i64,
        run_id,
        row.body,
        ts
    ])?;
    c.prepare_cached(
        "UPDATE sessions SET updated_ms = ?2, message_count = message_count + 1,
         next_seq = next_seq + 1, last_preview = ?3 WHERE key = ?1",
    )?
    .execute(params![row.key, ts, row.preview])?;
    Ok(())
}

/// A finished run's model and tokens, added to its session's.
fn add_totals(c: &Connection, key: &str, totals: Option<&RunTotals>) -> rusqlite::Result<()> {
    let Some(t) = totals else {
        return Ok(());
    };
    c.prepare_cached(
        "UPDATE sessions SET provider = ?2, model = ?3,
         input_tokens = input_tokens + ?4, output_tokens = output_tokens + ?5
         WHERE key = ?1",
    )?
    .execute(params![
        key,
        t.provider,
        t.model,
        t.input_tokens as i64,
        t.output_tokens as i64
    ])?;
    Ok(())
}

/// A new session id for `key`, its transcript and totals emptied; `None` if no such session.
fn reset(c: &Connection, key: &str) -> rusqlite::Result<Option<String>> {
    let Some(_) = head(c, key)? else {
        return Ok(None);
    };
    let sid = crate::clock::ordered_uuid();
    c.execute(
        "UPDATE sessions SET session_id = ?2, next_seq = 1, message_count = 0,
         input_tokens = 0, output_tokens = 0, last_preview = NULL, updated_ms = ?3
         WHERE key = ?1",
        params![key, sid, crate::clock::now_ms() as i64],
    )?;
    Ok(Some(sid))
}

/// The session, its messages and runs removed; `count` goes down by the sessions removed.
fn delete(c: &Connection, key: &str, count: &mut i64) -> rusqlite::Result<bool> {
    c.execute("DELETE FROM messages WHERE session_key = ?1", [key])?;
    c.execute("DELETE FROM runs WHERE session_key = ?1", [key])?;
    let n = c.execute("DELETE FROM sessions WHERE key = ?1", [key])?;
    *count = -(n as i64);
    Ok(n > 0)
}

/// Sessions imported in bulk (existing keys kept); `count` goes up by the rows added.
fn bulk(c: &Connection, rows: &[SessionRow], count: &mut i64) -> rusqlite::Result<()> {
    let mut st = c.prepare_cached(
        "INSERT OR IGNORE INTO sessions (key, session_id, agent_id, created_ms, updated_ms,
         label, message_count) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for s in rows {
        *count += st.execute(params![
            s.key,
            s.session_id,
            s.agent_id,
            s.created_ms as i64,
            s.updated_ms as i64,
            s.label,
            s.message_count as i64
        ])? as i64;
    }
    Ok(())
}

impl Write for Op {
    /// The change in the number of sessions.
    type Effect = i64;

    fn apply(self, tx: &Connection, effect: &mut i64) -> Reply {
        let (done, d) = apply(tx, self);
        *effect += d;
        done
    }

    fn skip(self) -> Reply {
        apply_failed(self)
    }

    /// Writes with an ack are awaited (or are reads' barriers); progress rows, final replies,
    /// run results and sessionless HTTP messages are not.
    fn urgent(&self) -> bool {
        match self {
            Op::Append { ack, .. } => ack.is_some(),
            Op::Activate { ack, .. } => ack.is_some(),
            Op::Assistant { ack, .. } => ack.is_some(),
            Op::RunDone { .. } => false,
            Op::Reset { .. } | Op::Delete { .. } | Op::Flush(_) | Op::Bulk(..) => true,
        }
    }
}

impl Summary {
    /// After a commit: apply the count change and refresh the recent rows (one indexed read
    /// of ten rows per group commit keeps `recent` exact).
    pub(super) fn committed(&self, c: &Connection, delta: i64) {
        if delta > 0 {
            self.count.fetch_add(delta as u64, Ordering::Relaxed);
        } else if delta < 0 {
            self.count
                .fetch_sub(delta.unsigned_abs(), Ordering::Relaxed);
        }
        match super::query::recent_sessions(c, super::RECENT_SESSIONS) {
            Ok(rows) => self.recent.store(std::sync::Arc::new(rows)),
            Err(e) => tracing::warn!(target: "store", "session store: recent: {e}"),
        }
    }
}

/// Reply to an op that never ran (the transaction could not begin).
fn apply_failed(op: Op) -> Reply {
    fn fail<T: Send + 'static>(ack: Option<Ack<T>>) -> Reply {
        Box::new(move |e: Result<(), crate::store::StoreError>| {
            if let (Some(a), Err(e)) = (ack, e) {
                let _ = a.send(Err(e));
            }
        })
    }
    match op {
        Op::Append { ack, .. } => fail(ack),
        Op::Activate { ack, .. } => fail(ack),
        Op::Assistant { ack, .. } => fail(ack),
        Op::RunDone { .. } => fail::<()>(None),
        Op::Reset { ack, .. } => fail(Some(ack)),
        Op::Delete { ack, .. } => fail(Some(ack)),
        Op::Flush(ack) => fail(Some(ack)),
        Op::Bulk(_, ack) => fail(Some(ack)),
    }
}

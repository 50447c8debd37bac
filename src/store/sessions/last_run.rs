//! The last finished run of a session, for the rows `sessions.list`, `sessions.describe` and
//! `chat.history` show (status, `lastRunId`, when it started and ended): one lookup per shown
//! row on the `runs (session_key, ended_ms)` index. What a client makes of it is the row
//! builder's business ([`crate::agents::runs`]).

use super::SessionRow;
use rusqlite::{Connection, OptionalExtension};

/// How a session's last run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LastRun {
    pub run_id: String,
    /// The run's final status (`ok`, `error`, `timeout`, …) as its stored reply says.
    pub status: String,
    /// It was aborted (by a caller, a disconnect or shutdown).
    pub aborted: bool,
    pub ended_ms: u64,
    /// How long it ran, when the reply says.
    pub duration_ms: Option<u64>,
}

/// The last run of session `key` that ended, if any.
pub fn last_run(c: &Connection, key: &str) -> rusqlite::Result<Option<LastRun>> {
    c.prepare_cached(
        "SELECT run_id, ended_ms,
                json_extract(result, '$.payload.status'),
                json_extract(result, '$.payload.summary'),
                json_extract(result, '$.payload.result.meta.aborted'),
                json_extract(result, '$.payload.result.meta.durationMs')
         FROM runs WHERE session_key = ?1 ORDER BY ended_ms DESC LIMIT 1",
    )?
    .query_row([key], |r| {
        let summary: Option<String> = r.get(3)?;
        let aborted: Option<i64> = r.get(4)?;
        Ok(LastRun {
            run_id: r.get(0)?,
            ended_ms: r.get::<_, i64>(1)?.max(0) as u64,
            status: r
                .get::<_, Option<String>>(2)?
                .unwrap_or_else(|| "error".into()),
            aborted: aborted == Some(1) || summary.as_deref() == Some("aborted"),
            duration_ms: r.get::<_, Option<i64>>(5)?.map(|ms| ms.max(0) as u64),
        })
    })
    .optional()
}

/// Fills `last_run` of each row.
pub fn with_last_runs(c: &Connection, rows: &mut [SessionRow]) -> rusqlite::Result<()> {
    for r in rows {
        r.last_run = last_run(c, &r.key)?;
    }
    Ok(())
}

//! Sessions and transcripts in SQLite (WAL): one writer thread with group commit, readers on
//! a small connection pool behind `spawn_blocking`. Callers of [`SessionStore::append`] get
//! their reply only after the transaction holding the row has committed (durable).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use super::group::{Ack, Writer};
use super::StoreError;
use rusqlite::Connection;
use serde_json::Value;

mod last_run;
mod query;
mod writer;

pub use last_run::{last_run, with_last_runs, LastRun};
pub use query::{
    get_session, list_sessions, message_counts, run_result, run_usage, session_counts_by_agent,
    session_row, transcript, ListQuery, RunUsage, SESSION_COLS,
};

/// Writes one group commit may gather.
pub const MAX_GROUP_COMMIT: usize = 512;
/// How long a batch of writes nobody waits for (a run's reply, a sessionless HTTP request's
/// message) may gather before it commits; an awaited write or a read ends the wait at once.
/// The cost: such a write may be lost to a crash this much longer after its answer.
pub const LAZY_COMMIT_WINDOW: std::time::Duration = std::time::Duration::from_millis(2);
/// Idle read connections kept open.
pub const READ_POOL_SIZE: usize = 4;
/// Longest preview of the last message kept on the session row.
pub const PREVIEW_CHARS: usize = 200;
/// Most recently updated sessions kept in memory for `status` / `health` (the Node
/// gateway reports 10 in `status`, 5 in `health`).
pub const RECENT_SESSIONS: usize = 10;

/// One session row.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionRow {
    pub key: String,
    pub session_id: String,
    pub agent_id: String,
    pub created_ms: u64,
    pub updated_ms: u64,
    pub label: Option<String>,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub message_count: u64,
    pub last_preview: Option<String>,
    /// How its last run ended; read only for the rows a client is shown
    /// ([`with_last_runs`]), `None` elsewhere.
    pub last_run: Option<LastRun>,
}

/// One stored transcript row.
#[derive(Clone, Debug, PartialEq)]
pub struct MessageRow {
    /// Row id (stable; `__openclaw.id`).
    pub id: i64,
    /// Position in the transcript (`None` while the input waits in the session queue).
    pub seq: Option<u64>,
    pub run_id: Option<String>,
    /// The message as JSON (`{role, content, …}`).
    pub body: Value,
}

/// What an append committed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Appended {
    pub id: i64,
    pub seq: Option<u64>,
    pub session_id: String,
    /// The session row was created by this append.
    pub created: bool,
}

/// Per-run token counts and model, recorded on the session at the run's end.
#[derive(Clone, Debug, Default)]
pub struct RunTotals {
    pub provider: String,
    pub model: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
}

pub(super) enum Op {
    Append {
        key: String,
        agent_id: String,
        run_id: Option<String>,
        body: String,
        preview: String,
        ts: u64,
        queued: bool,
        ack: Option<Ack<Appended>>,
    },
    Activate {
        id: i64,
        key: String,
        ack: Option<Ack<u64>>,
    },
    /// Insert or replace the assistant row of a run (streamed progress, then final).
    Assistant {
        key: String,
        agent_id: String,
        run_id: String,
        body: String,
        preview: String,
        ts: u64,
        totals: Option<RunTotals>,
        ack: Option<Ack<()>>,
    },
    RunDone {
        run_id: String,
        key: String,
        result: String,
        ts: u64,
    },
    Reset {
        key: String,
        ack: Ack<Option<String>>,
    },
    Delete {
        key: String,
        ack: Ack<bool>,
    },
    Flush(Ack<()>),
    Bulk(Vec<SessionRow>, Ack<()>),
}

use super::open_wal as open_conn;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS sessions (
    key TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    label TEXT,
    provider TEXT,
    model TEXT,
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    message_count INTEGER NOT NULL DEFAULT 0,
    next_seq INTEGER NOT NULL DEFAULT 1,
    last_preview TEXT
);
CREATE INDEX IF NOT EXISTS sessions_updated ON sessions(updated_ms DESC);
CREATE INDEX IF NOT EXISTS sessions_agent ON sessions(agent_id, updated_ms DESC);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_key TEXT NOT NULL,
    session_id TEXT NOT NULL,
    seq INTEGER,
    run_id TEXT,
    role TEXT NOT NULL,
    body TEXT NOT NULL,
    ts INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_session ON messages(session_id, seq);
CREATE INDEX IF NOT EXISTS messages_key ON messages(session_key);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    session_key TEXT NOT NULL,
    result TEXT NOT NULL,
    ended_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_ended ON runs(ended_ms);
CREATE INDEX IF NOT EXISTS runs_session ON runs(session_key, ended_ms);
";

/// Handle to the session store; cheap to clone.
#[derive(Clone)]
pub struct SessionStore {
    inner: Arc<Inner>,
}

pub(super) struct Inner {
    tx: Writer<Op>,
    path: PathBuf,
    pool: Mutex<Vec<Connection>>,
    /// At most [`READ_POOL_SIZE`] reads run at once, so the pool's connections are reused
    /// instead of a burst opening (and caching pages in) one connection per request.
    readers: tokio::sync::Semaphore,
    summary: Arc<Summary>,
}

/// What the writer keeps current after each commit, so readers never query for it.
pub(super) struct Summary {
    /// Number of sessions.
    pub(super) count: AtomicU64,
    /// The [`RECENT_SESSIONS`] most recently updated sessions, newest first.
    pub(super) recent: arc_swap::ArcSwap<Vec<SessionRow>>,
}

impl std::fmt::Debug for SessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionStore")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

fn preview(s: &str) -> String {
    s.chars().take(PREVIEW_CHARS).collect()
}

/// Text of a message body for previews: a string `content`, or its text parts joined.
pub fn body_text(body: &Value) -> String {
    match body.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    }
}

/// The write appending `body` (its `timestamp`, else now) to `key`'s transcript.
fn append_op(
    key: &str,
    agent_id: &str,
    run_id: Option<&str>,
    body: &Value,
    queued: bool,
    ack: Option<Ack<Appended>>,
) -> Op {
    Op::Append {
        key: key.to_string(),
        agent_id: agent_id.to_string(),
        run_id: run_id.map(str::to_string),
        body: body.to_string(),
        preview: preview(&body_text(body)),
        ts: body
            .get("timestamp")
            .and_then(Value::as_u64)
            .unwrap_or_else(crate::clock::now_ms),
        queued,
        ack,
    }
}

impl SessionStore {
    /// Open (creating) the store at `path` and start its writer thread. Blocking.
    ///
    /// # Errors
    /// The database cannot be created or opened.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let c = open_conn(path)?;
        c.execute_batch(SCHEMA)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
        }
        let count: i64 = c.query_row("SELECT count(*) FROM sessions", [], |r| r.get(0))?;
        let recent = query::recent_sessions(&c, RECENT_SESSIONS)?;
        let summary = Arc::new(Summary {
            count: AtomicU64::new(count as u64),
            recent: arc_swap::ArcSwap::from_pointee(recent),
        });
        super::checkpoint::writer_pragmas(&c)?;
        let ckpt = super::checkpoint::Checkpointer::spawn(
            "sessions",
            path,
            super::checkpoint::CHECKPOINT_INTERVAL,
        )?;
        let after = summary.clone();
        let batching = (MAX_GROUP_COMMIT, LAZY_COMMIT_WINDOW);
        let tx = Writer::spawn_windowed("sessions", c, batching.0, batching.1, move |c, delta| {
            after.committed(c, delta);
            ckpt.nudge();
        })?;
        let inner = Arc::new(Inner {
            tx,
            path: path.to_path_buf(),
            pool: Mutex::new(Vec::new()),
            readers: tokio::sync::Semaphore::new(READ_POOL_SIZE),
            summary,
        });
        Ok(Self { inner })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Number of sessions.
    pub fn count(&self) -> u64 {
        self.inner.summary.count.load(Ordering::Relaxed)
    }

    /// The most recently updated sessions (at most [`RECENT_SESSIONS`]), newest first, as of
    /// the last commit.
    pub fn recent(&self) -> Arc<Vec<SessionRow>> {
        self.inner.summary.recent.load_full()
    }

    fn send(&self, op: Op) -> Result<(), StoreError> {
        self.inner.tx.send(op)
    }

    /// Append a message (creating the session), durable when this returns. `queued` rows get
    /// no transcript position until [`activate`](Self::activate).
    ///
    /// # Errors
    /// The write failed; nothing was acknowledged.
    pub async fn append(
        &self,
        key: &str,
        agent_id: &str,
        run_id: Option<&str>,
        body: &Value,
        queued: bool,
    ) -> Result<Appended, StoreError> {
        self.inner
            .tx
            .call(|ack| append_op(key, agent_id, run_id, body, queued, Some(ack)))
            .await
    }

    /// Queue an append nobody waits for (it may gather with others for up to
    /// [`LAZY_COMMIT_WINDOW`]); transcript reads made after this returns still see the row
    /// ([`read`](Self::read)), and a failure is logged by the writer.
    ///
    /// # Errors
    /// The writer has stopped.
    pub fn append_queued(
        &self,
        key: &str,
        agent_id: &str,
        run_id: Option<&str>,
        body: &Value,
    ) -> Result<(), StoreError> {
        self.send(append_op(key, agent_id, run_id, body, false, None))
    }

    /// Give a queued input its transcript position (the run that consumes it has started).
    ///
    /// # Errors
    /// The write failed.
    pub async fn activate(&self, id: i64, key: &str) -> Result<u64, StoreError> {
        self.inner
            .tx
            .call(|ack| Op::Activate {
                id,
                key: key.to_string(),
                ack: Some(ack),
            })
            .await
    }

    /// Write the assistant row of a run: progress (`totals: None`, not awaited by callers
    /// that pass `wait = false`) or the final row with the run's token counts.
    ///
    /// # Errors
    /// The write failed (only reported when waiting).
    pub async fn assistant(
        &self,
        key: &str,
        agent_id: &str,
        run_id: &str,
        body: &Value,
        totals: Option<RunTotals>,
        wait: bool,
    ) -> Result<(), StoreError> {
        let op = |ack| Op::Assistant {
            key: key.to_string(),
            agent_id: agent_id.to_string(),
            run_id: run_id.to_string(),
            body: body.to_string(),
            preview: preview(&body_text(body)),
            ts: crate::clock::now_ms(),
            totals,
            ack,
        };
        if wait {
            self.inner.tx.call(|ack| op(Some(ack))).await
        } else {
            self.send(op(None))
        }
    }

    /// Queue a progress write of a run's assistant row (not awaited; the final write is).
    pub fn assistant_progress(&self, key: &str, agent_id: &str, run_id: &str, body: &Value) {
        let _ = self.send(Op::Assistant {
            key: key.to_string(),
            agent_id: agent_id.to_string(),
            run_id: run_id.to_string(),
            body: body.to_string(),
            preview: preview(&body_text(body)),
            ts: crate::clock::now_ms(),
            totals: None,
            ack: None,
        });
    }

    /// Record a run's final result (idempotent replays after a restart). Not awaited.
    pub fn run_done(&self, run_id: &str, key: &str, result: &Value) {
        let _ = self.send(Op::RunDone {
            run_id: run_id.to_string(),
            key: key.to_string(),
            result: result.to_string(),
            ts: crate::clock::now_ms(),
        });
    }

    /// Start a fresh transcript for `key` (new session id). Returns the new id, `None` when
    /// the session does not exist.
    ///
    /// # Errors
    /// The write failed.
    pub async fn reset(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.inner
            .tx
            .call(|ack| Op::Reset {
                key: key.to_string(),
                ack,
            })
            .await
    }

    /// Delete a session and its transcripts. `false` when it did not exist.
    ///
    /// # Errors
    /// The write failed.
    pub async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        self.inner
            .tx
            .call(|ack| Op::Delete {
                key: key.to_string(),
                ack,
            })
            .await
    }

    /// Wait until every write queued before this call has committed.
    ///
    /// # Errors
    /// The writer stopped.
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.inner.tx.call(Op::Flush).await
    }

    /// Insert many session rows at once (benchmarks and tests).
    ///
    /// # Errors
    /// The write failed.
    pub async fn bulk_insert(&self, rows: Vec<SessionRow>) -> Result<(), StoreError> {
        self.inner.tx.call(|ack| Op::Bulk(rows, ack)).await
    }

    /// Wait for the writes queued before this call when some are still in the writer's queue
    /// (cheap otherwise), so that [`count`](Self::count), [`recent`](Self::recent) and reads
    /// reflect them. A failed commit was the writer's to report; what is stored is what shows.
    async fn settle(&self) {
        if !self.inner.tx.settled() {
            let _ = self.flush().await;
        }
    }

    /// One page of sessions and the total matching `q` ([`list_sessions`]), counted after the
    /// writes queued before this call (the unfiltered total is the writer-kept count).
    ///
    /// # Errors
    /// The read failed.
    pub async fn list(&self, q: ListQuery) -> Result<(Vec<SessionRow>, u64), StoreError> {
        self.settle().await;
        let unfiltered = self.count();
        self.read(move |c| {
            let (mut rows, total) = list_sessions(c, &q, unfiltered)?;
            with_last_runs(c, &mut rows)?;
            Ok((rows, total))
        })
        .await
    }

    /// One session row by canonical key, off the runtime (a pooled read).
    ///
    /// # Errors
    /// The read failed.
    pub async fn session(&self, key: &str) -> Result<Option<SessionRow>, StoreError> {
        let k = key.to_string();
        self.read(move |c| {
            let mut row = get_session(c, &k)?;
            with_last_runs(c, row.as_mut_slice())?;
            Ok(row)
        })
        .await
    }

    /// Run `f` on a pooled read connection on the blocking pool. It sees every write queued
    /// before the call, awaited or not (a run's reply is answered before its row commits):
    /// while such writes are still in the writer's queue, the read waits for their commit.
    ///
    /// # Errors
    /// Opening a connection or the query failed.
    pub async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.settle().await;
        let inner = self.inner.clone();
        let _permit = self
            .inner
            .readers
            .acquire()
            .await
            .map_err(|_| StoreError::Stopped("sessions"))?;
        tokio::task::spawn_blocking(move || {
            let conn = inner.pool.lock().pop();
            let conn = match conn {
                Some(c) => c,
                None => open_conn(&inner.path)?,
            };
            let out = f(&conn).map_err(StoreError::from);
            let mut p = inner.pool.lock();
            if p.len() < READ_POOL_SIZE {
                p.push(conn);
            }
            out
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
    }
}

#[cfg(test)]
mod tests;

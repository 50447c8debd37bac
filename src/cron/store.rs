//! Cron jobs and their run log in SQLite (`$STATE/state/cron.sqlite`, WAL): writes go through
//! the shared group-commit writer (`store::group`), reads of the run log through one read
//! connection off the runtime. Jobs are loaded once at start; the scheduler keeps them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;
use rusqlite::{params, Connection};
use serde_json::Value;

use crate::store::group::{answer, Ack, Reply, Write, Writer};
use crate::store::StoreError;

/// Writes one group commit may gather.
pub const MAX_GROUP_COMMIT: usize = 512;
/// Run-log entries kept per job (older ones are pruned as new ones land).
pub const MAX_RUNS_PER_JOB: u64 = 500;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS cron_jobs (
    id TEXT PRIMARY KEY,
    job TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS cron_runs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL,
    ts INTEGER NOT NULL,
    status TEXT NOT NULL,
    entry TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS cron_runs_job ON cron_runs(job_id, seq);
";

/// One queued write.
pub enum Op {
    /// Insert or replace a job (its JSON, state included).
    Put {
        id: String,
        job: String,
        created_ms: u64,
        ack: Option<Ack<()>>,
    },
    /// Delete a job and its run log.
    Delete { id: String, ack: Ack<()> },
    /// Acknowledged once every write queued before it has committed.
    Flush(Ack<()>),
    /// Append a run-log entry (pruning the job's oldest beyond [`MAX_RUNS_PER_JOB`]).
    Log {
        job_id: String,
        ts: u64,
        status: String,
        entry: String,
    },
}

impl Write for Op {
    type Effect = ();

    fn apply(self, tx: &Connection, (): &mut ()) -> Reply {
        match self {
            Op::Put {
                id,
                job,
                created_ms,
                ack,
            } => answer(
                ack,
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO cron_jobs (id, job, created_ms) VALUES (?1, ?2, ?3)",
                )
                .and_then(|mut s| s.execute(params![id, job, created_ms as i64]))
                .map(|_| ()),
            ),
            Op::Delete { id, ack } => answer(
                Some(ack),
                tx.execute("DELETE FROM cron_runs WHERE job_id = ?1", [&id])
                    .and_then(|_| tx.execute("DELETE FROM cron_jobs WHERE id = ?1", [&id]))
                    .map(|_| ()),
            ),
            Op::Flush(ack) => answer(Some(ack), Ok(())),
            Op::Log {
                job_id,
                ts,
                status,
                entry,
            } => {
                let r = tx
                    .prepare_cached(
                        "INSERT INTO cron_runs (job_id, ts, status, entry) VALUES (?1, ?2, ?3, ?4)",
                    )
                    .and_then(|mut s| s.execute(params![job_id, ts as i64, status, entry]))
                    .and_then(|_| {
                        tx.prepare_cached(
                            "DELETE FROM cron_runs WHERE job_id = ?1 AND seq <= (SELECT seq FROM
                             cron_runs WHERE job_id = ?1 ORDER BY seq DESC LIMIT 1 OFFSET ?2)",
                        )?
                        .execute(params![job_id, MAX_RUNS_PER_JOB as i64])
                    })
                    .map(|_| ());
                answer::<()>(None, r)
            }
        }
    }

    fn skip(self) -> Reply {
        match self {
            Op::Put { ack, .. } => answer(ack, Ok(())),
            Op::Delete { ack, .. } | Op::Flush(ack) => answer(Some(ack), Ok(())),
            Op::Log { .. } => answer::<()>(None, Ok(())),
        }
    }
}

/// A page of the run log: entries (newest first unless `asc`) and the total matched.
pub struct RunPage {
    pub entries: Vec<Value>,
    pub total: u64,
}

/// Handle to the cron database.
#[derive(Clone)]
pub struct CronStore {
    pub writer: Writer<Op>,
    reader: Arc<Mutex<Connection>>,
    path: PathBuf,
}

use crate::store::open_wal as open_conn;

impl CronStore {
    /// Open (creating) the database and load every job. Blocking: call at start-up.
    ///
    /// # Errors
    /// The database cannot be created or read.
    pub fn open(state_dir: &Path) -> Result<(Self, Vec<Value>), StoreError> {
        let dir = state_dir.join("state");
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("cron.sqlite");
        let c = open_conn(&path)?;
        c.execute_batch(SCHEMA)?;
        let jobs = {
            let mut st = c.prepare("SELECT job FROM cron_jobs ORDER BY created_ms, id")?;
            let rows = st.query_map([], |r| r.get::<_, String>(0))?;
            rows.filter_map(|r| r.ok())
                .filter_map(|s| serde_json::from_str(&s).ok())
                .collect()
        };
        let reader = Arc::new(Mutex::new(open_conn(&path)?));
        let writer = Writer::spawn("cron", c, MAX_GROUP_COMMIT, |_, ()| {})?;
        Ok((
            Self {
                writer,
                reader,
                path,
            },
            jobs,
        ))
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A page of the run log of `job` (every job when `None`), filtered by status.
    ///
    /// # Errors
    /// The read failed.
    pub async fn runs(
        &self,
        job: Option<String>,
        statuses: Vec<String>,
        (limit, offset, asc): (u64, u64, bool),
    ) -> Result<RunPage, StoreError> {
        // Run-log writes are not awaited by the runner: read what has been queued.
        self.writer.call(Op::Flush).await?;
        let reader = self.reader.clone();
        tokio::task::spawn_blocking(move || {
            let c = reader.lock();
            let filter =
                "(?1 IS NULL OR job_id = ?1) AND (?2 = '' OR instr(?2, ',' || status || ',') > 0)";
            let wanted = if statuses.is_empty() {
                String::new()
            } else {
                format!(",{},", statuses.join(","))
            };
            let total: i64 = c.query_row(
                &format!("SELECT count(*) FROM cron_runs WHERE {filter}"),
                params![job, wanted],
                |r| r.get(0),
            )?;
            let order = if asc { "ASC" } else { "DESC" };
            let mut st = c.prepare_cached(&format!(
                "SELECT entry FROM cron_runs WHERE {filter} ORDER BY seq {order} LIMIT ?3 OFFSET ?4"
            ))?;
            let rows = st.query_map(params![job, wanted, limit as i64, offset as i64], |r| {
                r.get::<_, String>(0)
            })?;
            let entries = rows
                .filter_map(|r| r.ok())
                .filter_map(|s| serde_json::from_str(&s).ok())
                .collect();
            Ok(RunPage {
                entries,
                total: total.max(0) as u64,
            })
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
    }
}

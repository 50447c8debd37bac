//! Background WAL checkpoints for a store file: a thread with its own connection copies
//! committed WAL pages into the database while the group-commit writer goes on committing,
//! so no caller's commit waits behind a checkpoint. When to nudge belongs to the writer
//! (after each commit); keeping the WAL bounded when this thread falls behind belongs to the
//! writer's own autocheckpoint, set to [`WRITER_CHECKPOINT_PAGES`].

use std::path::Path;
use std::time::Duration;

use super::StoreError;

/// Shortest time between two background checkpoints: a WAL page rewritten many times in that
/// window (the right edge of an index) is copied into the database once.
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(100);

/// The writer's own autocheckpoint threshold (SQLite's default is 1000 pages): reached only if
/// the background thread falls behind, or because a WAL that is always being appended to is
/// never entirely copied, so it never restarts. The writer's checkpoint then copies the few
/// pages not yet copied and the WAL starts over, bounded at about this many pages (16 MiB).
pub const WRITER_CHECKPOINT_PAGES: i64 = 4000;

/// Handle to a checkpoint thread; it ends when the handle is dropped.
pub struct Checkpointer {
    tx: crossbeam::channel::Sender<()>,
}

impl Checkpointer {
    /// Start thread `openclaw-<name>-ckpt` on a new connection to `path`.
    ///
    /// # Errors
    /// The connection or the thread could not be opened.
    pub fn spawn(name: &str, path: &Path, interval: Duration) -> Result<Self, StoreError> {
        let c = super::open_wal(path)?;
        let (tx, rx) = crossbeam::channel::bounded(1);
        std::thread::Builder::new()
            .name(format!("openclaw-{name}-ckpt"))
            .spawn(move || run(&c, &rx, interval))?;
        Ok(Self { tx })
    }

    /// Ask for a checkpoint (after a commit). Never blocks: nudges while one is pending or
    /// running fold into it.
    pub fn nudge(&self) {
        let _ = self.tx.try_send(());
    }
}

/// Configure the writer's connection for a background checkpointer.
///
/// # Errors
/// The pragma failed.
pub fn writer_pragmas(c: &rusqlite::Connection) -> Result<(), StoreError> {
    c.pragma_update(None, "wal_autocheckpoint", WRITER_CHECKPOINT_PAGES)?;
    Ok(())
}

fn run(c: &rusqlite::Connection, rx: &crossbeam::channel::Receiver<()>, interval: Duration) {
    while rx.recv().is_ok() {
        // PASSIVE: copies what no reader still needs, never waits for the writer or readers.
        let r = c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
        });
        match r {
            Ok((log, copied)) => {
                tracing::trace!(target: "store", "checkpoint: {copied} of {log} WAL pages copied");
            }
            Err(e) => tracing::warn!(target: "store", "checkpoint failed: {e}"),
        }
        // Pacing, not synchronisation: the next checkpoint folds this interval's commits.
        std::thread::sleep(interval);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db_pages(path: &Path) -> u64 {
        std::fs::metadata(path).map(|m| m.len() / 4096).unwrap_or(0)
    }

    #[test]
    fn a_nudge_copies_committed_pages_into_the_database() {
        let dir = std::env::temp_dir().join(format!("oc-ckpt-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.sqlite");
        let w = super::super::open_wal(&path).unwrap();
        w.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        w.execute_batch("CREATE TABLE t (v BLOB)").unwrap();
        let before = db_pages(&path);
        for _ in 0..200 {
            w.execute("INSERT INTO t VALUES (zeroblob(4000))", [])
                .unwrap();
        }
        // Nothing copies the WAL into the database but the checkpointer.
        assert!(db_pages(&path) <= before + 1, "autocheckpoint is off");
        let ck = Checkpointer::spawn("test", &path, Duration::from_millis(1)).unwrap();
        ck.nudge();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while db_pages(&path) < before + 200 {
            assert!(
                std::time::Instant::now() < deadline,
                "no checkpoint within 10 s"
            );
            ck.nudge();
            std::thread::yield_now();
        }
        let n: i64 = w
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 200);
        drop(ck);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

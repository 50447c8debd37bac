//! One group-commit writer for every store: a thread owns the SQLite connection, gathers the
//! queued writes into one IMMEDIATE transaction, and answers each caller only after the commit
//! (so an acknowledged write is durable). What a write does, and what the store refreshes after
//! a commit, belong to the store ([`Write`], the `after` hook).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::StoreError;

/// What one write's caller hears once its transaction has committed (or failed).
pub type Reply = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

/// Where a write's result goes.
pub type Ack<T> = oneshot::Sender<Result<T, StoreError>>;

/// One queued write of a store.
pub trait Write: Send + 'static {
    /// What a batch changes that the store tracks in memory (summed over the batch and handed
    /// to the `after` hook once committed), e.g. the change in the session count.
    type Effect: Default + Send;
    /// Run inside the open transaction; the returned reply runs after the commit.
    fn apply(self, tx: &Connection, effect: &mut Self::Effect) -> Reply;
    /// The transaction could not begin: the reply to send without running.
    fn skip(self) -> Reply;
}

/// The reply of a write whose own statements gave `r`: the caller gets `r` only if the
/// batch committed, else the commit's error. A write nobody awaits logs its own failure.
pub fn answer<T: Send + 'static>(ack: Option<Ack<T>>, r: rusqlite::Result<T>) -> Reply {
    Box::new(move |commit: Result<(), StoreError>| match ack {
        Some(ack) => {
            let _ = ack.send(commit.and_then(|()| r.map_err(StoreError::from)));
        }
        None => {
            if let Err(e) = r {
                tracing::error!(target: "store", "a queued write failed: {e}");
            }
        }
    })
}

/// How many writes were queued and how many have been processed (committed, or failed).
#[derive(Default)]
struct Progress {
    queued: AtomicU64,
    done: AtomicU64,
}

/// The sending side of a store's writer thread.
pub struct Writer<W> {
    tx: crossbeam::channel::Sender<W>,
    name: &'static str,
    progress: Arc<Progress>,
}

impl<W> Clone for Writer<W> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
            name: self.name,
            progress: self.progress.clone(),
        }
    }
}

impl<W> Writer<W> {
    /// Whether every write queued before this call (its `send` returned) has been processed.
    /// The queue is FIFO, so once as many writes are done as had been queued, those are.
    pub fn settled(&self) -> bool {
        let queued = self.progress.queued.load(Ordering::Acquire);
        self.progress.done.load(Ordering::Acquire) >= queued
    }
}

impl<W: Write> Writer<W> {
    /// Start the writer thread `openclaw-<name>` over `conn`; at most `max_batch` writes share a
    /// transaction; `after` runs on the writer thread after each successful commit.
    ///
    /// # Errors
    /// The thread could not be started.
    pub fn spawn(
        name: &'static str,
        conn: Connection,
        max_batch: usize,
        after: impl FnMut(&Connection, W::Effect) + Send + 'static,
    ) -> Result<Self, StoreError> {
        let (tx, rx) = crossbeam::channel::unbounded();
        let progress = Arc::new(Progress::default());
        let p = progress.clone();
        std::thread::Builder::new()
            .name(format!("openclaw-{name}"))
            .spawn(move || run(name, conn, &rx, max_batch.max(1), after, &p))?;
        Ok(Self { tx, name, progress })
    }

    /// Queue a write whose caller does not wait.
    ///
    /// # Errors
    /// The writer thread has stopped.
    pub fn send(&self, w: W) -> Result<(), StoreError> {
        // Counted before it is queued: a reader that sees the count also waits for it.
        self.progress.queued.fetch_add(1, Ordering::AcqRel);
        self.tx.send(w).map_err(|_| StoreError::Stopped(self.name))
    }

    /// Queue a write built around its ack and wait for its committed result.
    ///
    /// # Errors
    /// The write or its commit failed, or the writer has stopped.
    pub async fn call<T>(&self, make: impl FnOnce(Ack<T>) -> W) -> Result<T, StoreError> {
        self.call_later(make)?.wait().await
    }

    /// Queue a write built around its ack now; its committed result can be awaited later.
    ///
    /// # Errors
    /// The writer thread has stopped.
    pub fn call_later<T>(&self, make: impl FnOnce(Ack<T>) -> W) -> Result<Pending<T>, StoreError> {
        let (ack, rx) = oneshot::channel();
        self.send(make(ack))?;
        Ok(Pending {
            rx,
            name: self.name,
        })
    }
}

/// A queued write's committed result, to await when it is needed.
pub struct Pending<T> {
    rx: oneshot::Receiver<Result<T, StoreError>>,
    name: &'static str,
}

impl<T> Pending<T> {
    /// Wait for the commit.
    ///
    /// # Errors
    /// The write or its commit failed, or the writer has stopped.
    pub async fn wait(self) -> Result<T, StoreError> {
        self.rx.await.map_err(|_| StoreError::Stopped(self.name))?
    }
}

fn run<W: Write>(
    name: &str,
    mut c: Connection,
    rx: &crossbeam::channel::Receiver<W>,
    max_batch: usize,
    mut after: impl FnMut(&Connection, W::Effect),
    progress: &Progress,
) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(w) => batch.push(w),
                Err(_) => break,
            }
        }
        let tx = match c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate) {
            Ok(tx) => tx,
            Err(e) => {
                tracing::error!(target: "store", "{name} store: begin failed: {e}");
                let e = StoreError::from(e);
                let n = batch.len() as u64;
                for w in batch {
                    w.skip()(Err(e.clone()));
                }
                progress.done.fetch_add(n, Ordering::AcqRel);
                continue;
            }
        };
        let mut effect = W::Effect::default();
        let n = batch.len() as u64;
        let replies: Vec<Reply> = batch
            .into_iter()
            .map(|w| w.apply(&tx, &mut effect))
            .collect();
        let commit = tx.commit().map_err(|e| {
            tracing::error!(target: "store", "{name} store: commit failed: {e}");
            StoreError::from(e)
        });
        if commit.is_ok() {
            after(&c, effect);
        }
        progress.done.fetch_add(n, Ordering::AcqRel);
        for done in replies {
            done(commit.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Insert `n` into a table whose values are unique.
    struct Put(i64, Ack<()>);

    impl Write for Put {
        type Effect = usize;
        fn apply(self, tx: &Connection, n: &mut usize) -> Reply {
            *n += 1;
            let r = tx
                .execute("INSERT INTO t (v) VALUES (?1)", [self.0])
                .map(|_| ());
            answer(Some(self.1), r)
        }
        fn skip(self) -> Reply {
            answer(Some(self.1), Ok(()))
        }
    }

    #[tokio::test]
    async fn settled_only_once_every_queued_write_is_done() {
        let dir = std::env::temp_dir().join(format!("oc-group-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("g.sqlite");
        let c = super::super::open_wal(&path).unwrap();
        c.execute_batch("CREATE TABLE t (v INTEGER UNIQUE)")
            .unwrap();
        let w = Writer::spawn("test", c, 8, |_, _: usize| {}).unwrap();
        assert!(w.settled());
        // Another connection holds the write lock, so the writer cannot commit yet.
        let lock = super::super::open_wal(&path).unwrap();
        lock.execute_batch("BEGIN IMMEDIATE").unwrap();
        let pending = w.call_later(|ack| Put(7, ack)).unwrap();
        assert!(!w.settled(), "a queued write is not done");
        lock.execute_batch("COMMIT").unwrap();
        pending.wait().await.unwrap();
        assert!(w.settled());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn each_caller_hears_its_own_write_and_committed_rows_are_durable() {
        let dir = std::env::temp_dir().join(format!("oc-group-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("g.sqlite");
        let c = Connection::open(&path).unwrap();
        c.execute_batch("CREATE TABLE t (v INTEGER UNIQUE)")
            .unwrap();
        let (seen_tx, seen_rx) = std::sync::mpsc::channel();
        let w = Writer::spawn("test", c, 8, move |_, n: usize| {
            let _ = seen_tx.send(n);
        })
        .unwrap();
        let (a, b, dup) = tokio::join!(
            w.call(|ack| Put(1, ack)),
            w.call(|ack| Put(2, ack)),
            w.call(|ack| Put(1, ack)),
        );
        assert_eq!((a, b), (Ok(()), Ok(())));
        assert!(matches!(dup, Err(StoreError::Sql(_))), "{dup:?}");
        let applied: usize = seen_rx.try_iter().sum();
        assert_eq!(applied, 3, "every write ran inside a committed batch");
        drop(w);
        let rows: i64 = Connection::open(&path)
            .unwrap()
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 2);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

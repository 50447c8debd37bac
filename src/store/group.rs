//! One group-commit writer for every store: a thread owns the SQLite connection, gathers the
//! queued writes into one IMMEDIATE transaction, and answers each caller only after the commit
//! (so an acknowledged write is durable). What a write does, and what the store refreshes after
//! a commit, belong to the store ([`Write`], the `after` hook).

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
/// batch committed, else the commit's error.
pub fn answer<T: Send + 'static>(ack: Option<Ack<T>>, r: rusqlite::Result<T>) -> Reply {
    Box::new(move |commit: Result<(), StoreError>| {
        if let Some(ack) = ack {
            let _ = ack.send(commit.and_then(|()| r.map_err(StoreError::from)));
        }
    })
}

/// The sending side of a store's writer thread.
pub struct Writer<W> {
    tx: crossbeam::channel::Sender<W>,
    name: &'static str,
}

impl<W> Clone for Writer<W> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
            name: self.name,
        }
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
        std::thread::Builder::new()
            .name(format!("openclaw-{name}"))
            .spawn(move || run(name, conn, &rx, max_batch.max(1), after))?;
        Ok(Self { tx, name })
    }

    /// Queue a write whose caller does not wait.
    ///
    /// # Errors
    /// The writer thread has stopped.
    pub fn send(&self, w: W) -> Result<(), StoreError> {
        self.tx.send(w).map_err(|_| StoreError::Stopped(self.name))
    }

    /// Queue a write built around its ack and wait for its committed result.
    ///
    /// # Errors
    /// The write or its commit failed, or the writer has stopped.
    pub async fn call<T>(&self, make: impl FnOnce(Ack<T>) -> W) -> Result<T, StoreError> {
        let (ack, rx) = oneshot::channel();
        self.send(make(ack))?;
        rx.await.map_err(|_| StoreError::Stopped(self.name))?
    }
}

fn run<W: Write>(
    name: &str,
    mut c: Connection,
    rx: &crossbeam::channel::Receiver<W>,
    max_batch: usize,
    mut after: impl FnMut(&Connection, W::Effect),
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
                for w in batch {
                    w.skip()(Err(e.clone()));
                }
                continue;
            }
        };
        let mut effect = W::Effect::default();
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

//! One group-commit writer for every store: a thread owns the SQLite connection, gathers the
//! queued writes into one IMMEDIATE transaction, and answers each caller only after the commit
//! (so an acknowledged write is durable). What a write does, and what the store refreshes after
//! a commit, belong to the store ([`Write`], the `after` hook).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

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
    /// Someone waits for this write's commit: its batch commits as soon as it is gathered.
    /// A batch of writes nobody waits for may gather for the writer's commit window.
    fn urgent(&self) -> bool {
        true
    }
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
    /// How often the writer has gone to sleep while gathering (tests wait for it).
    #[cfg(test)]
    parks: AtomicU64,
}

/// The sending side of a store's writer thread.
pub struct Writer<W> {
    tx: crossbeam::channel::Sender<W>,
    name: &'static str,
    progress: Arc<Progress>,
    /// The writer thread, unparked when a gathering batch must end now.
    thread: std::thread::Thread,
    max_batch: usize,
    /// Batches gather for a window (else the writer never sleeps in [`gather`]).
    windowed: bool,
}

impl<W> Clone for Writer<W> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
            name: self.name,
            progress: self.progress.clone(),
            thread: self.thread.clone(),
            max_batch: self.max_batch,
            windowed: self.windowed,
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
        Self::spawn_windowed(name, conn, max_batch, Duration::ZERO, after)
    }

    /// Like [`spawn`](Self::spawn), and a batch whose writes nobody waits for keeps gathering
    /// for up to `window` after its first write (until an urgent write arrives or the batch
    /// is full): under a steady stream of such writes, one commit serves many.
    ///
    /// # Errors
    /// The thread could not be started.
    pub fn spawn_windowed(
        name: &'static str,
        conn: Connection,
        max_batch: usize,
        window: Duration,
        after: impl FnMut(&Connection, W::Effect) + Send + 'static,
    ) -> Result<Self, StoreError> {
        let (tx, rx) = crossbeam::channel::unbounded();
        let progress = Arc::new(Progress::default());
        let p = progress.clone();
        let max_batch = max_batch.max(1);
        let thread = std::thread::Builder::new()
            .name(format!("openclaw-{name}"))
            .spawn(move || run(name, conn, &rx, (max_batch, window), after, &p))?
            .thread()
            .clone();
        Ok(Self {
            tx,
            name,
            progress,
            thread,
            max_batch,
            windowed: !window.is_zero(),
        })
    }

    /// Queue a write. An idle writer wakes for it; a writer gathering a batch of writes nobody
    /// awaits is woken only by an urgent write or a full batch, and otherwise takes this one
    /// when its window ends (one wake-up per window, not one per write).
    ///
    /// # Errors
    /// The writer thread has stopped.
    pub fn send(&self, w: W) -> Result<(), StoreError> {
        let urgent = w.urgent();
        // Counted before it is queued: a reader that sees the count also waits for it.
        let queued = self.progress.queued.fetch_add(1, Ordering::AcqRel) + 1;
        self.tx
            .send(w)
            .map_err(|_| StoreError::Stopped(self.name))?;
        // Not yet committed: the batch being gathered and what waits behind it.
        let pending = queued.saturating_sub(self.progress.done.load(Ordering::Acquire));
        if self.windowed && (urgent || pending >= self.max_batch as u64) {
            self.thread.unpark();
        }
        Ok(())
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

/// The batch that starts with `first`: every write already queued, and while none of them
/// is urgent, whatever arrives within `window` of the first. While it gathers, the thread
/// sleeps in `park_timeout`, which a lazy write's `send` does not disturb ([`Writer::send`]
/// unparks it for an urgent write or a full batch).
fn gather<W: Write>(
    rx: &crossbeam::channel::Receiver<W>,
    first: W,
    (max_batch, window): (usize, Duration),
    _progress: &Progress,
) -> Vec<W> {
    use crossbeam::channel::TryRecvError;
    let deadline = Instant::now() + window;
    let mut urgent = first.urgent() || window.is_zero();
    let mut batch = vec![first];
    while batch.len() < max_batch {
        match rx.try_recv() {
            Ok(w) => {
                urgent |= w.urgent();
                batch.push(w);
            }
            Err(TryRecvError::Disconnected) => break,
            Err(TryRecvError::Empty) => {
                let now = Instant::now();
                if urgent || now >= deadline {
                    break;
                }
                #[cfg(test)]
                _progress.parks.fetch_add(1, Ordering::AcqRel);
                std::thread::park_timeout(deadline - now);
            }
        }
    }
    batch
}

fn run<W: Write>(
    name: &str,
    mut c: Connection,
    rx: &crossbeam::channel::Receiver<W>,
    (max_batch, window): (usize, Duration),
    mut after: impl FnMut(&Connection, W::Effect),
    progress: &Progress,
) {
    while let Ok(first) = rx.recv() {
        let batch = gather(rx, first, (max_batch, window), progress);
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

    /// A fresh directory and a connection to `g.sqlite` in it with table `t` of unique values
    /// (`wal`: in WAL mode, so a second connection can hold the write lock).
    fn table_db(wal: bool) -> (std::path::PathBuf, Connection) {
        let dir = std::env::temp_dir().join(format!("oc-group-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("g.sqlite");
        let c = if wal {
            super::super::open_wal(&path).unwrap()
        } else {
            Connection::open(&path).unwrap()
        };
        c.execute_batch("CREATE TABLE t (v INTEGER UNIQUE)")
            .unwrap();
        (dir, c)
    }

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
        let (dir, c) = table_db(true);
        let path = dir.join("g.sqlite");
        let w = Writer::spawn("test", c, 8, |_, _: usize| {}).unwrap();
        assert!(w.settled());
        // Another connection holds the write lock, so the writer cannot commit yet.
        let lock = super::super::open_wal(&path).unwrap();
        lock.execute_batch("BEGIN IMMEDIATE").unwrap();
        let (ack, done) = oneshot::channel();
        w.send(Put(7, ack)).unwrap();
        assert!(!w.settled(), "a queued write is not done");
        lock.execute_batch("COMMIT").unwrap();
        done.await.unwrap().unwrap();
        assert!(w.settled());
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Insert `n`; urgent only when someone waits for it.
    struct Row(i64, Option<Ack<()>>);

    impl Write for Row {
        type Effect = usize;
        fn apply(self, tx: &Connection, n: &mut usize) -> Reply {
            *n += 1;
            let r = tx
                .execute("INSERT INTO t (v) VALUES (?1)", [self.0])
                .map(|_| ());
            answer(self.1, r)
        }
        fn skip(self) -> Reply {
            answer(self.1, Ok(()))
        }
        fn urgent(&self) -> bool {
            self.1.is_some()
        }
    }

    /// A writer of [`Row`]s whose window (an hour) outlasts any test, batches of at most
    /// `max_batch`, and the size of each committed batch.
    fn hour_writer(
        c: Connection,
        max_batch: usize,
    ) -> (Writer<Row>, std::sync::mpsc::Receiver<usize>) {
        let (seen_tx, seen_rx) = std::sync::mpsc::channel();
        let hour = Duration::from_secs(3600);
        let w = Writer::spawn_windowed("test", c, max_batch, hour, move |_, n: usize| {
            let _ = seen_tx.send(n);
        })
        .unwrap();
        (w, seen_rx)
    }

    #[tokio::test]
    async fn writes_nobody_awaits_gather_until_an_awaited_one_arrives() {
        let (dir, c) = table_db(false);
        // Only the awaited write can end the batch before the window.
        let (w, seen_rx) = hour_writer(c, 64);
        for i in 0..5 {
            w.send(Row(i, None)).unwrap();
        }
        assert!(!w.settled());
        // The gathering writer sleeps: only the awaited write's unpark ends it.
        tokio::time::timeout(Duration::from_secs(60), w.call(|ack| Row(99, Some(ack))))
            .await
            .expect("the awaited write ended the window")
            .unwrap();
        assert_eq!(
            seen_rx.try_iter().collect::<Vec<_>>(),
            vec![6],
            "one commit for all"
        );
        assert!(w.settled());
        drop(w);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_full_batch_of_writes_nobody_awaits_commits_before_its_window_ends() {
        let (dir, c) = table_db(false);
        let (w, seen_rx) = hour_writer(c, 8);
        // The first write starts a batch and the writer goes to sleep gathering; the eighth
        // fills it, and its send wakes the writer (without that, the batch waits out the hour).
        w.send(Row(0, None)).unwrap();
        let asleep = async {
            while w.progress.parks.load(Ordering::Acquire) == 0 {
                tokio::task::yield_now().await;
            }
        };
        tokio::time::timeout(Duration::from_secs(60), asleep)
            .await
            .expect("the writer sleeps while it gathers");
        for i in 1..8 {
            w.send(Row(i, None)).unwrap();
        }
        let n = seen_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the full batch committed");
        assert_eq!(n, 8, "one commit for the full batch");
        drop(w);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn each_caller_hears_its_own_write_and_committed_rows_are_durable() {
        let (dir, c) = table_db(false);
        let path = dir.join("g.sqlite");
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

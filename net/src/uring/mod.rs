//! The io_uring backend (Linux): upgraded WebSocket connections run on one of a few ring
//! threads (one per core, [`thread`]), each with its own runtime and ring, and hand their
//! outbound queue and their reads to that ring. The ring's driver frames each batch and
//! sends it with one SENDMSG per socket, every ready socket's send in one submit; each
//! socket's reads are one multishot RECV into the ring's provided buffers.
//!
//! What stays as it was: the accept loop, the sniffer, hyper, the upgrade, the frame decoder
//! and the session. What changes: the connection's task runs on a ring thread, and instead
//! of a writer task per socket and epoll readiness for its reads, one driver task per ring
//! writes and reads all of its sockets. The seams
//! are the [`Outbound`] queue (a push wakes the socket's ring instead of its writer task,
//! [`crate::outbound::RingWake`]) and the frame decoder's byte source
//! ([`RingReader`]). This module owns the pool, the probe and the per-socket handles;
//! [`ring`] owns one ring's driver, [`recv`] its reads.

mod flight;
mod recv;
mod ring;
mod thread;

pub(crate) use recv::RingReader;
pub use recv::{RECV_BUFFERS, RECV_BUFFER_SIZE, RECV_HIGH_WATER};
pub use ring::{DIRECT_BELOW, TURN_SOCKETS};
pub use thread::WakeBatch;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::{oneshot, Notify};

use crate::outbound::{Outbound, RingWake};

/// Submission queue entries per ring (completions get twice as many; the kernel keeps any
/// overflow, IORING_FEAT_NODROP).
pub const RING_ENTRIES: u32 = 4096;

/// How long a stopping ring waits for its cancelled sends to complete.
pub const STOP_DEADLINE: Duration = Duration::from_secs(5);

/// Work handed to a ring's driver by other tasks.
enum Cmd {
    /// Write this socket from now on.
    Attach {
        token: u64,
        wr: WriteSide,
        out: Outbound,
        done: oneshot::Sender<()>,
    },
    /// Stop writing this socket (its peer stopped reading and the linger ran out).
    Cancel(u64),
    /// Read this socket from now on, into `state`.
    AttachRecv {
        token: u64,
        rd: Arc<std::net::TcpStream>,
        state: recv::RecvShared,
    },
    /// The reader drained a paused socket's queue: receive again.
    Rearm(u64),
    /// The reader is gone: stop receiving, let go of the read half.
    DetachRecv(u64),
    /// Fail the driver as a hard `io_uring_enter` error would (tests only).
    #[cfg(test)]
    Fail,
    /// Hold the ring's thread, as a busy thread would (tests only); says when it starts.
    #[cfg(test)]
    Stall(Duration, oneshot::Sender<()>),
}

/// Let go of a command a ring will never run (it has ended): a writer is done at once (its
/// write side shut), a reader sees the end.
fn abandon(c: Cmd) {
    match c {
        Cmd::Attach { out, done, wr, .. } => {
            drop(wr);
            out.mark_closed();
            let _ = done.send(());
        }
        Cmd::AttachRecv { state, .. } => {
            let mut s = state.lock();
            s.eof = true;
            s.wake();
        }
        _ => {}
    }
}

/// The socket a ring writes: tokio's write half (the reads stay on tokio's reactor), or the
/// whole socket taken out of the reactor because the ring reads it too. Dropping either
/// shuts the write side down; the fd closes with the last holder.
pub(crate) enum WriteSide {
    Tokio(OwnedWriteHalf),
    Ring(Arc<std::net::TcpStream>),
}

impl WriteSide {
    fn fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd;
        match self {
            WriteSide::Tokio(w) => w.as_ref().as_raw_fd(),
            WriteSide::Ring(s) => s.as_raw_fd(),
        }
    }
}

impl Drop for WriteSide {
    fn drop(&mut self) {
        // tokio's half shuts down on its own drop.
        if let WriteSide::Ring(s) = self {
            let _ = s.shutdown(std::net::Shutdown::Write);
        }
    }
}

/// What other tasks leave for a ring's driver, behind one lock.
#[derive(Default)]
struct Inbox {
    cmds: Vec<Cmd>,
    /// Sockets whose queue has work (a token may appear more than once).
    ready: Vec<u64>,
    /// Generation of each slot index; a token is `gen << 32 | index`.
    gens: Vec<u32>,
    /// Slot indexes free for a new socket.
    free: Vec<u32>,
}

/// The part of a ring other tasks and threads touch.
struct Shared {
    inbox: Mutex<Inbox>,
    /// Wakes the driver task (a permit is kept if it is busy).
    notify: Notify,
    stop: AtomicBool,
    /// The driver has ended (stopped, or failed): nothing more is queued, new sockets go to
    /// another ring. Set under the inbox lock, so a push that holds the lock sees it.
    dead: AtomicBool,
    /// SENDMSGs submitted through the ring (direct writes not counted).
    ring_sends: AtomicU64,
    /// RECV statistics (see [`RecvStats`]).
    recv: RecvStats,
}

/// What the rings' reads did, summed over the rings by [`RingPool::recv_stats`].
#[derive(Debug, Default)]
pub struct RecvStats {
    /// Sockets being read (slots held, including RECVs waiting for their last completion).
    pub slots: AtomicUsize,
    /// RECVs cancelled because the socket's unread bytes passed [`RECV_HIGH_WATER`].
    pub pauses: AtomicU64,
    /// RECVs that ended for want of provided buffers (ENOBUFS) and were re-armed.
    pub nobufs: AtomicU64,
}

impl Shared {
    /// Leave work in the inbox (nothing, once the driver has ended); `true` if the inbox
    /// was empty (the driver needs a wake-up).
    fn fill(&self, f: impl FnOnce(&mut Inbox)) -> bool {
        let mut ib = self.inbox.lock();
        if self.dead.load(Ordering::Relaxed) {
            return false;
        }
        let was_empty = ib.cmds.is_empty() && ib.ready.is_empty();
        f(&mut ib);
        was_empty
    }

    /// Leave work in the inbox and wake the driver. One wake per inbox fill: a broadcast to
    /// 10k sockets wakes it once.
    fn push(&self, f: impl FnOnce(&mut Inbox)) {
        if self.fill(f) {
            self.notify.notify_one();
        }
    }

    /// A socket's queue has work. Inside a [`WakeBatch`] the wake-up waits for the batch's
    /// end.
    fn ready(self: &Arc<Self>, token: u64) {
        if self.fill(|ib| ib.ready.push(token)) && !thread::hold(self) {
            self.notify.notify_one();
        }
    }

    /// Queue a command; one a ring that has ended will never run is let go of at once.
    fn command(&self, c: Cmd) {
        let mut c = Some(c);
        self.push(|ib| ib.cmds.extend(c.take()));
        if let Some(c) = c {
            abandon(c);
        }
    }

    fn signal_stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.notify.notify_one();
    }

    /// The driver has ended: close the inbox and let go of what it still holds.
    fn close(&self) {
        let cmds = {
            let mut ib = self.inbox.lock();
            self.dead.store(true, Ordering::Relaxed);
            ib.ready = Vec::new();
            std::mem::take(&mut ib.cmds)
        };
        cmds.into_iter().for_each(abandon);
    }

    fn token(&self) -> u64 {
        let mut ib = self.inbox.lock();
        let idx = match ib.free.pop() {
            Some(i) => i,
            None => {
                ib.gens.push(0);
                (ib.gens.len() - 1) as u32
            }
        };
        // 31 generation bits: the top bit of `user_data` marks RECV completions.
        (u64::from(ib.gens[idx as usize] & 0x7fff_ffff) << 32) | u64::from(idx)
    }

    /// A token's slot is free for another socket (under a new generation).
    fn free_token(&self, token: u64) {
        let idx = token as u32;
        let mut ib = self.inbox.lock();
        ib.gens[idx as usize] = ib.gens[idx as usize].wrapping_add(1);
        ib.free.push(idx);
    }
}

/// Put `v` in the slot of `token` (slots grow to fit; a token's index is its low 32 bits).
fn put<T>(slots: &mut Vec<Option<T>>, token: u64, v: T) {
    let idx = token as u32 as usize;
    if slots.len() <= idx {
        slots.resize_with(idx + 1, || None);
    }
    slots[idx] = Some(v);
}

/// The socket's wake: queue the token for its ring's driver.
struct Wake {
    shared: Arc<Shared>,
    token: u64,
}

impl RingWake for Wake {
    fn schedule(&self) {
        self.shared.ready(self.token);
    }
}

/// The rings (one per core by default); sockets are spread over them in turn.
pub struct RingPool {
    rings: Vec<Arc<Shared>>,
    /// Whether sockets' reads go through the rings too (else tokio reads them).
    reads: bool,
    /// Each ring thread's runtime (connections run there).
    handles: Vec<tokio::runtime::Handle>,
    /// Each ring thread's end.
    ended: Mutex<Vec<oneshot::Receiver<()>>>,
    next: AtomicUsize,
}

impl std::fmt::Debug for RingPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RingPool")
            .field("rings", &self.rings.len())
            .finish()
    }
}

impl RingPool {
    /// Start `rings` ring threads, each with its ring and driver. Fails (with the kernel's
    /// error) where io_uring, a setup flag or an opcode it needs is unavailable: ENOSYS on
    /// old kernels, EINVAL before SINGLE_ISSUER (6.0), EPERM under `io_uring_disabled` or a
    /// seccomp filter. The caller falls back to tokio. `direct_below`: see [`DIRECT_BELOW`]
    /// (its value is the default; 0 sends every batch through the ring, as the Autobahn run
    /// on io_uring does).
    pub fn start(
        rings: usize,
        seq_prefix: &'static [u8],
        direct_below: usize,
    ) -> std::io::Result<RingPool> {
        let mut shared = Vec::new();
        let mut handles = Vec::new();
        let mut ended = Vec::new();
        for i in 0..rings.max(1) {
            let s = Arc::new(Shared {
                inbox: Mutex::new(Inbox::default()),
                notify: Notify::new(),
                stop: AtomicBool::new(false),
                dead: AtomicBool::new(false),
                ring_sends: AtomicU64::new(0),
                recv: RecvStats::default(),
            });
            match thread::start(i, s.clone(), seq_prefix, direct_below) {
                Ok(t) => {
                    shared.push(s);
                    handles.push(t.handle);
                    ended.push(t.ended);
                }
                Err(e) => {
                    shared.iter().for_each(|s: &Arc<Shared>| s.signal_stop());
                    return Err(e);
                }
            }
        }
        Ok(RingPool {
            rings: shared,
            handles,
            reads: true,
            ended: Mutex::new(ended),
            next: AtomicUsize::new(0),
        })
    }

    /// Whether the rings read sockets as well as write them (default true; false leaves the
    /// reads to tokio).
    pub fn with_reads(mut self, on: bool) -> Self {
        self.reads = on;
        self
    }

    /// See [`RingPool::with_reads`].
    pub fn reads(&self) -> bool {
        self.reads
    }

    /// SENDMSGs submitted through the rings so far (lone replies written directly are not).
    pub fn ring_sends(&self) -> u64 {
        self.rings
            .iter()
            .map(|s| s.ring_sends.load(Ordering::Relaxed))
            .sum()
    }

    /// RECV statistics over all rings: (sockets being read, pauses, ENOBUFS re-arms).
    pub fn recv_stats(&self) -> (usize, u64, u64) {
        self.rings.iter().fold((0, 0, 0), |(a, b, c), s| {
            (
                a + s.recv.slots.load(Ordering::Relaxed),
                b + s.recv.pauses.load(Ordering::Relaxed),
                c + s.recv.nobufs.load(Ordering::Relaxed),
            )
        })
    }

    /// Rings to start by default: one per core.
    pub fn default_rings() -> usize {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }

    /// Whether any ring still runs (a ring whose driver failed has closed its sockets;
    /// with none left, the caller leaves new sockets to tokio).
    pub fn alive(&self) -> bool {
        self.live_rings() > 0
    }

    /// Rings whose driver still runs.
    pub fn live_rings(&self) -> usize {
        self.rings
            .iter()
            .filter(|s| !s.dead.load(Ordering::Relaxed))
            .count()
    }

    /// The next ring in turn that still runs, if any.
    fn next_live(&self) -> Option<usize> {
        let n = self.rings.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..n)
            .map(|k| (start + k) % n)
            .find(|&i| !self.rings[i].dead.load(Ordering::Relaxed))
    }

    /// The ring a socket goes to: the ring of the thread we are on (a connection runs on its
    /// ring's thread), else the next one in turn that still runs (if none does, a dead one:
    /// what is handed to it is let go of at once).
    fn next_ring(&self) -> Arc<Shared> {
        if let Some(s) = thread::current() {
            if self.rings.iter().any(|r| Arc::ptr_eq(r, &s)) && !s.dead.load(Ordering::Relaxed) {
                return s;
            }
        }
        let i = self.next_live().unwrap_or(0);
        self.rings[i].clone()
    }

    /// Run a connection on the thread of the next ring in turn that still runs, where its
    /// socket will be attached: its reads, requests, replies and writes then stay on one
    /// thread. On the caller's runtime if no ring is left.
    pub fn spawn<F>(&self, conn: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        match self.next_live() {
            Some(i) => drop(self.handles[i].spawn(conn)),
            None => drop(tokio::spawn(conn)),
        }
    }

    /// Hold ring `i`'s thread for `d`, as a busy thread would (tests only); resolves when
    /// the hold has begun.
    #[cfg(test)]
    pub(crate) async fn stall_ring(&self, i: usize, d: Duration) {
        let (tx, rx) = oneshot::channel();
        self.rings[i].command(Cmd::Stall(d, tx));
        let _ = rx.await;
    }

    /// Make ring `i`'s driver fail as on a hard `io_uring_enter` error (tests only).
    #[cfg(test)]
    pub(crate) fn fail_ring(&self, i: usize) {
        self.rings[i].command(Cmd::Fail);
    }

    /// From now on a ring's driver writes `out` to `wr` (the reads stay on tokio). Await
    /// [`RingWriter::finish`] before the socket's read half is dropped.
    pub(crate) fn attach(&self, wr: OwnedWriteHalf, out: &Outbound) -> RingWriter {
        writer_on(self.next_ring(), WriteSide::Tokio(wr), out)
    }

    /// From now on one ring's driver writes `out` to the socket and reads it (multishot RECV
    /// into provided buffers). The socket leaves tokio's reactor first: registered there too,
    /// every packet would also wake an epoll wait that nobody needs. Fails only if the
    /// reactor cannot let go of it (the socket is then closed).
    pub(crate) fn attach_socket(
        &self,
        stream: tokio::net::TcpStream,
        out: &Outbound,
    ) -> std::io::Result<(RingWriter, RingReader)> {
        let sock = Arc::new(stream.into_std()?);
        let shared = self.next_ring();
        let writer = writer_on(shared.clone(), WriteSide::Ring(sock.clone()), out);
        Ok((writer, reader_on(shared, sock)))
    }

    /// From now on a ring's driver reads `sock` (already out of tokio's reactor); the
    /// returned reader is what the frame decoder reads from.
    #[cfg(test)]
    pub(crate) fn attach_reader(&self, sock: Arc<std::net::TcpStream>) -> RingReader {
        reader_on(self.next_ring(), sock)
    }

    /// Cancel every send in flight, wait for their completions (bounded by
    /// [`STOP_DEADLINE`]), close the sockets; resolves when every ring thread has ended.
    pub async fn stop(&self) {
        self.signal_stop();
        let ended: Vec<_> = self.ended.lock().drain(..).collect();
        for e in ended {
            let _ = e.await;
        }
    }

    fn signal_stop(&self) {
        self.rings.iter().for_each(|s| s.signal_stop());
    }
}

impl Drop for RingPool {
    fn drop(&mut self) {
        // The drivers cancel, drain and close on their own.
        self.signal_stop();
    }
}

fn writer_on(shared: Arc<Shared>, wr: WriteSide, out: &Outbound) -> RingWriter {
    let token = shared.token();
    let (done, rx) = oneshot::channel();
    shared.command(Cmd::Attach {
        token,
        wr,
        out: out.clone(),
        done,
    });
    out.set_ring(Box::new(Wake {
        shared: shared.clone(),
        token,
    }));
    RingWriter {
        shared,
        token,
        done: rx,
    }
}

fn reader_on(shared: Arc<Shared>, rd: Arc<std::net::TcpStream>) -> RingReader {
    let token = shared.token();
    let state = recv::RecvShared::default();
    shared.command(Cmd::AttachRecv {
        token,
        rd,
        state: state.clone(),
    });
    RingReader {
        ring: shared,
        token,
        state,
    }
}

/// The connection task's handle on its socket's ring writer.
pub(crate) struct RingWriter {
    shared: Arc<Shared>,
    token: u64,
    done: oneshot::Receiver<()>,
}

impl RingWriter {
    /// Wait up to `linger` for the writer to finish (close frame written, or the socket
    /// failed); past it, cancel the send in flight and wait for the ring to let go of the
    /// socket (bounded by the linger again).
    pub(crate) async fn finish(mut self, linger: Duration) {
        if tokio::time::timeout(linger, &mut self.done).await.is_ok() {
            return;
        }
        let token = self.token;
        self.shared.command(Cmd::Cancel(token));
        let _ = tokio::time::timeout(linger, self.done).await;
    }
}

#[cfg(test)]
mod tests;

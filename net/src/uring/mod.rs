//! The io_uring writer backend (Linux): upgraded WebSocket sockets hand their outbound queue
//! to one of a few ring threads, which frames each batch and sends it with one SENDMSG per
//! socket, every socket's send in one submit.
//!
//! What stays on tokio: the accept loop, the sniffer, hyper, the upgrade and every socket's
//! reads (the frame decoder and the session are unchanged). What moves: the writer task.
//! The seam is the [`Outbound`] queue: a push wakes the socket's ring thread instead of its
//! writer task ([`crate::outbound::RingWake`]). This module owns the pool, the probe and the
//! per-socket handle; [`ring`] owns one thread's loop.

mod ring;

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::oneshot;

use crate::outbound::{Outbound, RingWake};

/// Submission queue entries per ring (completions get twice as many; the kernel keeps any
/// overflow, IORING_FEAT_NODROP).
pub const RING_ENTRIES: u32 = 4096;

/// How long a stopping ring waits for its cancelled sends to complete.
pub const STOP_DEADLINE: Duration = Duration::from_secs(5);

/// Work handed to a ring thread by other threads.
enum Cmd {
    /// Write this socket from now on.
    Attach {
        token: u64,
        wr: OwnedWriteHalf,
        out: Outbound,
        done: oneshot::Sender<()>,
    },
    /// Stop writing this socket (its peer stopped reading and the linger ran out).
    Cancel(u64),
}

/// What other threads leave for a ring thread, behind one lock.
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

/// The part of a ring thread other threads touch.
struct Shared {
    inbox: Mutex<Inbox>,
    /// The thread is (about to be) blocked in the kernel: a push must write `event`.
    sleeping: AtomicBool,
    stop: AtomicBool,
    /// eventfd the thread always has a read posted on.
    event: OwnedFd,
}

impl Shared {
    fn push(&self, f: impl FnOnce(&mut Inbox)) {
        f(&mut self.inbox.lock());
        if self.sleeping.swap(false, Ordering::SeqCst) {
            let one = 1u64.to_ne_bytes();
            // SAFETY: writing 8 bytes from a live buffer to our own eventfd.
            let _ = unsafe { libc::write(self.event.as_raw_fd(), one.as_ptr().cast(), 8) };
        }
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
        (u64::from(ib.gens[idx as usize]) << 32) | u64::from(idx)
    }
}

/// The socket's wake: queue the token for its ring thread.
struct Wake {
    shared: Arc<Shared>,
    token: u64,
}

impl RingWake for Wake {
    fn schedule(&self) {
        self.shared.push(|ib| ib.ready.push(self.token));
    }
}

/// The ring threads (one per core by default); sockets are spread over them in turn.
pub struct RingPool {
    rings: Vec<Arc<Shared>>,
    threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
    next: AtomicUsize,
}

impl std::fmt::Debug for RingPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RingPool")
            .field("threads", &self.rings.len())
            .finish()
    }
}

impl RingPool {
    /// Start `threads` ring threads. Fails (with the kernel's error) where io_uring or an
    /// opcode the writer needs is unavailable: ENOSYS on old kernels, EPERM under
    /// `io_uring_disabled` or a seccomp filter. The caller falls back to tokio.
    pub fn start(threads: usize, seq_prefix: &'static [u8]) -> std::io::Result<RingPool> {
        let mut rings = Vec::new();
        let mut handles = Vec::new();
        for i in 0..threads.max(1) {
            // SAFETY: plain eventfd(2); the fd is owned below.
            let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
            if fd < 0 {
                return Err(std::io::Error::last_os_error());
            }
            let shared = Arc::new(Shared {
                inbox: Mutex::new(Inbox::default()),
                sleeping: AtomicBool::new(false),
                stop: AtomicBool::new(false),
                // SAFETY: a fresh fd nobody else owns.
                event: unsafe { OwnedFd::from_raw_fd(fd) },
            });
            let (ready_tx, ready_rx) = std::sync::mpsc::channel();
            let s = shared.clone();
            let h = std::thread::Builder::new()
                .name(format!("openclaw-ring-{i}"))
                .spawn(move || ring::run(s, seq_prefix, ready_tx))?;
            match ready_rx.recv() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(e),
                Err(_) => return Err(std::io::Error::other("ring thread died at start")),
            }
            rings.push(shared);
            handles.push(h);
        }
        Ok(RingPool {
            rings,
            threads: Mutex::new(handles),
            next: AtomicUsize::new(0),
        })
    }

    /// Ring threads to start by default: one per core.
    pub fn default_threads() -> usize {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }

    /// From now on a ring thread writes `out` to `wr`. Await [`RingWriter::finish`] before
    /// the socket's read half is dropped.
    pub(crate) fn attach(&self, wr: OwnedWriteHalf, out: &Outbound) -> RingWriter {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.rings.len();
        let shared = self.rings[i].clone();
        let token = shared.token();
        let (done, rx) = oneshot::channel();
        let o = out.clone();
        shared.push(|ib| {
            ib.cmds.push(Cmd::Attach {
                token,
                wr,
                out: o,
                done,
            })
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

    /// Cancel every send in flight, wait for their completions (bounded by
    /// [`STOP_DEADLINE`]), close the sockets and join the threads.
    pub fn stop(&self) {
        for s in &self.rings {
            s.stop.store(true, Ordering::SeqCst);
            s.push(|_| {});
        }
        for h in self.threads.lock().drain(..) {
            let _ = h.join();
        }
    }
}

impl Drop for RingPool {
    fn drop(&mut self) {
        self.stop();
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
        self.shared.push(|ib| ib.cmds.push(Cmd::Cancel(token)));
        let _ = tokio::time::timeout(linger, self.done).await;
    }
}

#[cfg(test)]
mod tests;

//! One ring thread: owns its io_uring (SINGLE_ISSUER, DEFER_TASKRUN where the kernel has
//! them), its sockets' write state and the buffers of every send in flight.
//!
//! Each turn: take the inbox (attaches, cancels, ready sockets), frame one batch for every
//! ready socket with nothing in flight and queue one SENDMSG for it, then submit them all
//! with one `io_uring_enter` that also reaps completions (and blocks only when idle). A
//! short send is re-queued from where it stopped; a finished one releases its buffers and
//! looks at the queue again. What is framed and when a socket is done is the tokio writer's
//! logic ([`crate::ws::writer::encode`]); the inbox and the wake belong to `super`.

use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use io_uring::{opcode, types, IoUring, Probe};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::oneshot;

use super::{Cmd, Shared, RING_ENTRIES, STOP_DEADLINE};
use crate::limits::MAX_BATCH_FRAMES;
use crate::outbound::{Item, Outbound, Take};
use crate::ws::writer::encode;

/// `user_data` of the eventfd read that wakes the thread.
const EVENT_TAG: u64 = u64::MAX;
/// `user_data` of cancel requests (their own completions carry nothing we need).
const CANCEL_TAG: u64 = u64::MAX - 1;
/// io_uring_enter flag: reap completions (and run deferred task work).
const ENTER_GETEVENTS: u32 = 1;

/// One send in flight: everything the kernel reads from until its completion.
struct Flight {
    /// Owns the payloads the iovecs point into (never read here, only kept alive).
    _batch: Vec<Item>,
    /// Owns the frame headers and spliced bytes the iovecs point into.
    _scratch: Vec<u8>,
    iov: Vec<libc::iovec>,
    /// First iovec not yet completely sent.
    at: usize,
    msg: libc::msghdr,
    queued: usize,
    last: bool,
}

/// A socket this ring writes.
struct Conn {
    token: u64,
    out: Outbound,
    /// Keeps the fd open; dropping it shuts the write side down.
    wr: OwnedWriteHalf,
    flight: Option<Box<Flight>>,
    done: oneshot::Sender<()>,
    cancelled: bool,
}

struct Ring {
    uring: IoUring,
    shared: Arc<Shared>,
    conns: Vec<Option<Conn>>,
    seq_prefix: &'static [u8],
    /// The eventfd read's buffer (the kernel writes it while the read is posted).
    event_buf: Box<[u8; 8]>,
}

fn build() -> std::io::Result<IoUring> {
    let ring = IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .build(RING_ENTRIES);
    let ring = match ring {
        Ok(r) => r,
        // Kernels before 6.1 lack DEFER_TASKRUN (EINVAL): a plain ring works the same.
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => IoUring::new(RING_ENTRIES)?,
        Err(e) => return Err(e),
    };
    let mut probe = Probe::new();
    ring.submitter().register_probe(&mut probe)?;
    for (code, name) in [
        (opcode::SendMsg::CODE, "SENDMSG"),
        (opcode::Read::CODE, "READ"),
        (opcode::AsyncCancel::CODE, "ASYNC_CANCEL"),
    ] {
        if !probe.is_supported(code) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                format!("io_uring lacks {name}"),
            ));
        }
    }
    Ok(ring)
}

/// The thread's body: report whether the ring could be built, then serve until stopped.
pub(super) fn run(
    shared: Arc<Shared>,
    seq_prefix: &'static [u8],
    started: std::sync::mpsc::Sender<std::io::Result<()>>,
) {
    let uring = match build() {
        Ok(r) => r,
        Err(e) => {
            let _ = started.send(Err(e));
            return;
        }
    };
    let mut ring = Ring {
        uring,
        shared,
        conns: Vec::new(),
        seq_prefix,
        event_buf: Box::new([0; 8]),
    };
    if let Err(e) = ring.post_event_read() {
        let _ = started.send(Err(e));
        return;
    }
    let _ = started.send(Ok(()));
    if let Err(e) = ring.serve() {
        tracing::error!(target: "gateway", "io_uring writer thread failed: {e}");
    }
    ring.shutdown();
}

impl Ring {
    fn push_sqe(&mut self, e: &io_uring::squeue::Entry) -> std::io::Result<()> {
        loop {
            // SAFETY: every entry points at memory owned by `self` (a boxed Flight, the
            // event buffer) that stays put until its completion is reaped.
            if unsafe { self.uring.submission().push(e) }.is_ok() {
                return Ok(());
            }
            // Submission queue full: hand what is there to the kernel first.
            self.enter(0)?;
        }
    }

    fn post_event_read(&mut self) -> std::io::Result<()> {
        let fd = self.shared.event.as_raw_fd();
        let e = opcode::Read::new(types::Fd(fd), self.event_buf.as_mut_ptr(), 8)
            .build()
            .user_data(EVENT_TAG);
        self.push_sqe(&e)
    }

    /// Submit what is queued and reap completions, waiting for `wait` of them.
    fn enter(&mut self, wait: u32) -> std::io::Result<()> {
        let pending = self.uring.submission().len() as u32;
        // SAFETY: a plain io_uring_enter on our own ring, no signal mask.
        let r = unsafe {
            self.uring
                .submitter()
                .enter::<libc::sigset_t>(pending, wait, ENTER_GETEVENTS, None)
        };
        match r {
            Ok(_) => Ok(()),
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINTR) | Some(libc::EBUSY)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn serve(&mut self) -> std::io::Result<()> {
        while !self.shared.stop.load(Ordering::SeqCst) {
            let (cmds, ready) = {
                let mut ib = self.shared.inbox.lock();
                (std::mem::take(&mut ib.cmds), std::mem::take(&mut ib.ready))
            };
            let idle = cmds.is_empty() && ready.is_empty();
            for c in cmds {
                self.command(c)?;
            }
            for t in ready {
                self.pump(t)?;
            }
            let wait = if idle { self.prepare_sleep() } else { 0 };
            self.enter(wait)?;
            self.shared.sleeping.store(false, Ordering::SeqCst);
            self.reap()?;
        }
        Ok(())
    }

    /// 1 when nothing arrived since the inbox was taken (the pushers will write the eventfd).
    fn prepare_sleep(&self) -> u32 {
        self.shared.sleeping.store(true, Ordering::SeqCst);
        let ib = self.shared.inbox.lock();
        u32::from(
            ib.cmds.is_empty() && ib.ready.is_empty() && !self.shared.stop.load(Ordering::SeqCst),
        )
    }

    fn command(&mut self, c: Cmd) -> std::io::Result<()> {
        match c {
            Cmd::Attach {
                token,
                wr,
                out,
                done,
            } => {
                let idx = token as u32 as usize;
                if self.conns.len() <= idx {
                    self.conns.resize_with(idx + 1, || None);
                }
                self.conns[idx] = Some(Conn {
                    token,
                    out,
                    wr,
                    flight: None,
                    done,
                    cancelled: false,
                });
                Ok(())
            }
            Cmd::Cancel(token) => {
                let Some(conn) = self.conn(token) else {
                    return Ok(());
                };
                conn.cancelled = true;
                if conn.flight.is_none() {
                    self.finish(token);
                    return Ok(());
                }
                let e = opcode::AsyncCancel::new(token)
                    .build()
                    .user_data(CANCEL_TAG);
                self.push_sqe(&e)
            }
        }
    }

    fn conn(&mut self, token: u64) -> Option<&mut Conn> {
        let c = self.conns.get_mut(token as u32 as usize)?.as_mut()?;
        (c.token == token).then_some(c)
    }

    /// A socket's queue may have work: send a batch unless one is in flight.
    fn pump(&mut self, token: u64) -> std::io::Result<()> {
        let seq_prefix = self.seq_prefix;
        let Some(conn) = self.conn(token) else {
            return Ok(());
        };
        if conn.flight.is_some() || conn.cancelled {
            return Ok(());
        }
        let mut batch = Vec::new();
        match conn.out.take_batch(&mut batch, MAX_BATCH_FRAMES) {
            Take::Empty => return Ok(()),
            Take::Finished => {
                self.finish(token);
                return Ok(());
            }
            Take::Items => {}
        }
        let fd = conn.wr.as_ref().as_raw_fd();
        let mut scratch = Vec::new();
        let enc = encode(&batch, &mut scratch, seq_prefix);
        let (queued, last) = (enc.queued, enc.last);
        let iov: Vec<libc::iovec> = enc
            .slices(&scratch)
            .map(|s| libc::iovec {
                iov_base: s.as_ptr() as *mut libc::c_void,
                iov_len: s.len(),
            })
            .collect();
        drop(enc);
        // The iovecs point into `scratch` and the items' `Bytes`, both moved (not copied)
        // into the box: their heap storage does not move.
        // SAFETY: msghdr is plain old data; zeroed is its empty value.
        let msg: libc::msghdr = unsafe { std::mem::zeroed() };
        let mut f = Box::new(Flight {
            _batch: batch,
            _scratch: scratch,
            iov,
            at: 0,
            msg,
            queued,
            last,
        });
        let e = send_entry(fd, &mut f, token);
        conn.flight = Some(f);
        self.push_sqe(&e)
    }

    fn reap(&mut self) -> std::io::Result<()> {
        loop {
            let done: Vec<(u64, i32)> = self
                .uring
                .completion()
                .map(|c| (c.user_data(), c.result()))
                .collect();
            if done.is_empty() {
                return Ok(());
            }
            for (tag, res) in done {
                match tag {
                    EVENT_TAG => self.post_event_read()?,
                    CANCEL_TAG => {}
                    token => self.sent(token, res)?,
                }
            }
        }
    }

    /// A send completed with `res` (bytes, or -errno).
    fn sent(&mut self, token: u64, res: i32) -> std::io::Result<()> {
        let Some(conn) = self.conn(token) else {
            return Ok(());
        };
        let Some(mut f) = conn.flight.take() else {
            return Ok(());
        };
        let stalled = res == 0 && f.at < f.iov.len();
        if res < 0 || stalled || conn.cancelled {
            conn.out.written(f.queued);
            self.finish(token);
            return Ok(());
        }
        advance(&mut f, res as usize);
        if f.at < f.iov.len() {
            let fd = conn.wr.as_ref().as_raw_fd();
            let e = send_entry(fd, &mut f, token);
            conn.flight = Some(f);
            return self.push_sqe(&e);
        }
        conn.out.written(f.queued);
        if f.last {
            self.finish(token);
            return Ok(());
        }
        drop(f);
        self.pump(token)
    }

    /// The writer is done with this socket: shut its write side, release the slot.
    fn finish(&mut self, token: u64) {
        let idx = token as u32 as usize;
        let Some(conn) = self.conns.get_mut(idx).and_then(Option::take) else {
            return;
        };
        let Conn { out, wr, done, .. } = conn;
        drop(wr);
        out.mark_closed();
        let _ = done.send(());
        let mut ib = self.shared.inbox.lock();
        ib.gens[idx] = ib.gens[idx].wrapping_add(1);
        ib.free.push(idx as u32);
    }

    /// Stopping: cancel every send in flight, wait (bounded) for their completions, then
    /// let go of every socket.
    fn shutdown(&mut self) {
        // Sockets attached after the last turn are let go of like the others.
        let cmds = std::mem::take(&mut self.shared.inbox.lock().cmds);
        for c in cmds {
            if let Cmd::Attach { .. } = c {
                let _ = self.command(c);
            }
        }
        let tokens: Vec<u64> = self.conns.iter().flatten().map(|c| c.token).collect();
        for t in &tokens {
            if let Some(c) = self.conn(*t) {
                c.cancelled = true;
                if c.flight.is_some() {
                    let e = opcode::AsyncCancel::new(*t).build().user_data(CANCEL_TAG);
                    let _ = self.push_sqe(&e);
                }
            }
        }
        let deadline = Instant::now() + STOP_DEADLINE;
        while self.conns.iter().flatten().any(|c| c.flight.is_some()) && Instant::now() < deadline {
            if self.enter(1).is_err() || self.reap().is_err() {
                break;
            }
        }
        // Sends whose completion never came keep their buffers: leaked, never freed
        // under the kernel.
        for c in self.conns.iter_mut().flatten() {
            if let Some(f) = c.flight.take() {
                std::mem::forget(f);
            }
        }
        for t in tokens {
            self.finish(t);
        }
    }
}

/// The SENDMSG for what is left of `f`, from iovec `f.at` on.
fn send_entry(fd: RawFd, f: &mut Flight, token: u64) -> io_uring::squeue::Entry {
    f.msg.msg_iov = f.iov[f.at..].as_mut_ptr();
    f.msg.msg_iovlen = (f.iov.len() - f.at) as _;
    opcode::SendMsg::new(types::Fd(fd), &f.msg)
        .flags(libc::MSG_NOSIGNAL as u32)
        .build()
        .user_data(token)
}

/// Skip `n` sent bytes: whole iovecs, then part of the next.
fn advance(f: &mut Flight, mut n: usize) {
    while n > 0 && f.at < f.iov.len() {
        let v = &mut f.iov[f.at];
        if n >= v.iov_len {
            n -= v.iov_len;
            f.at += 1;
        } else {
            // SAFETY: stays inside the same buffer (n < its length).
            v.iov_base = unsafe { v.iov_base.cast::<u8>().add(n) }.cast();
            v.iov_len -= n;
            n = 0;
        }
    }
    while f.at < f.iov.len() && f.iov[f.at].iov_len == 0 {
        f.at += 1;
    }
}

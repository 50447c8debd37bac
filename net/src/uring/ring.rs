//! One ring's driver: a task on the ring's own thread ([`super::thread`]) that owns the
//! io_uring, its sockets' write state and the buffers of every send in flight (the read side
//! of its sockets is [`super::recv`]'s).
//!
//! Each turn: take the inbox (attaches, cancels, ready sockets), frame one batch for up to
//! [`TURN_SOCKETS`] ready sockets with nothing in flight and queue one SENDMSG each, then
//! submit them all with one `io_uring_enter` and reap what completed. A short send is
//! re-queued from where it stopped; a finished one releases its buffers and looks at the
//! queue again. Sends that wait for socket space complete later: the ring signals its
//! eventfd (enabled only while the task waits), awaited on the thread's reactor next to
//! the inbox's [`tokio::sync::Notify`]. The connections run on the same thread, so a reply
//! costs no thread hand-off. What is framed and when a socket is done is
//! the tokio writer's logic ([`crate::ws::writer::encode`]); the inbox belongs to `super`.

use std::collections::VecDeque;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use io_uring::{opcode, IoUring, Probe};

use super::flight::{advance, send_entry, send_now, Flight, Pool, Sent};
use super::recv::{BufRing, Recv, RECV_BIT};
use tokio::io::unix::AsyncFd;
use tokio::sync::oneshot;

use super::{Cmd, Shared, WriteSide, RING_ENTRIES, STOP_DEADLINE};
use crate::limits::MAX_BATCH_FRAMES;
use crate::outbound::{Outbound, Take};

/// `user_data` of cancel requests (their own completions carry nothing we need).
pub(super) const CANCEL_TAG: u64 = u64::MAX - 1;
/// Ready sockets pumped per turn before the task yields to the runtime (a broadcast to 10k
/// sockets must not hold one worker for the whole of it).
pub const TURN_SOCKETS: usize = 1024;
/// Below this many ready sockets in a turn, each is written with a direct `sendmsg(2)`
/// first (one submit per lone send costs more than the syscall it replaces). The default
/// of [`super::RingPool::start`]'s `direct_below`; 0 sends everything through the ring.
pub const DIRECT_BELOW: usize = 4;

/// A socket this ring writes.
struct Conn {
    token: u64,
    out: Outbound,
    /// Keeps the fd open; dropping it shuts the write side down.
    wr: WriteSide,
    flight: Option<Box<Flight>>,
    done: oneshot::Sender<()>,
    cancelled: bool,
}

pub(super) struct Ring {
    // Dropped first: the kernel lets go of the provided buffers before they are freed.
    uring: IoUring,
    pub(super) shared: Arc<Shared>,
    conns: Vec<Option<Conn>>,
    /// Sockets this ring reads (see [`super::recv`]).
    pub(super) recvs: Vec<Option<Recv>>,
    pub(super) bufs: BufRing,
    seq_prefix: &'static [u8],
    /// See [`DIRECT_BELOW`].
    direct_below: usize,
    /// Ready sockets not pumped yet (over a turn's budget).
    pending: VecDeque<u64>,
    /// Finished flights, reused by the next sends.
    spare: Pool,
}

/// A ring (with the opcodes the writer needs) and the eventfd it signals for completions.
/// Fails where the kernel refuses io_uring.
pub(super) fn build(
    shared: Arc<Shared>,
    seq_prefix: &'static [u8],
    direct_below: usize,
) -> std::io::Result<(Ring, AsyncFd<OwnedFd>)> {
    // Built on the ring's own thread, which alone enters it (SINGLE_ISSUER), so the kernel
    // work of a completion (a RECV's copy, a send's retry) runs on the thread that handles
    // it. COOP_TASKRUN: that work does not interrupt the thread while it runs, it waits for
    // its next syscall (TASKRUN_FLAG says it waits). Not DEFER_TASKRUN: its wake-ups are
    // lazy, and an eventfd on this kernel then fires late (measured: 15 ms per request).
    let ring = IoUring::builder()
        .setup_single_issuer()
        .setup_coop_taskrun()
        .setup_taskrun_flag()
        .build(RING_ENTRIES)?;
    let mut probe = Probe::new();
    ring.submitter().register_probe(&mut probe)?;
    for (code, name) in [
        (opcode::SendMsg::CODE, "SENDMSG"),
        (opcode::AsyncCancel::CODE, "ASYNC_CANCEL"),
        (opcode::RecvMulti::CODE, "RECV"),
    ] {
        if !probe.is_supported(code) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                format!("io_uring lacks {name}"),
            ));
        }
    }
    // SAFETY: plain eventfd(2); the fd is owned right below.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a fresh fd nobody else owns.
    let event = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    ring.submitter().register_eventfd(event.as_raw_fd())?;
    let bufs = BufRing::register(&ring)?;
    let ring = Ring {
        uring: ring,
        shared,
        conns: Vec::new(),
        recvs: Vec::new(),
        bufs,
        seq_prefix,
        direct_below,
        pending: VecDeque::new(),
        spare: Pool::default(),
    };
    // SAFETY: an OwnedFd returns the same open fd for as long as it lives, and it lives
    // inside the AsyncFd.
    let event = unsafe { AsyncFd::register(event) }.map_err(|e| e.into_parts().1)?;
    Ok((ring, event))
}

/// The driver task: turns until stopped, then cancels, drains and closes.
pub(super) async fn drive(mut ring: Ring, event: AsyncFd<OwnedFd>) {
    loop {
        // While the task runs it reaps by itself: completions posted meanwhile (most sends
        // complete inside their submit) need no eventfd wake-up.
        ring.uring.completion().disable_eventfd();
        if let Err(e) = ring.turn() {
            tracing::error!(target: "gateway", "io_uring ring failed ({e}): its sockets are closed; new sockets go to the other rings, or to tokio if none is left");
            break;
        }
        if ring.shared.stop.load(Ordering::SeqCst) {
            break;
        }
        if !ring.pending.is_empty() {
            tokio::task::yield_now().await;
            continue;
        }
        // About to wait: a send that completes from now on signals the eventfd; one that
        // completed after the last reap is handled first.
        if ring.arm_eventfd() {
            tokio::task::yield_now().await;
            continue;
        }
        tokio::select! {
            _ = ring.shared.notify.notified() => {}
            r = event.readable() => {
                // Not read: the reactor is edge-triggered and each signal is an edge of its
                // own, so the count may grow (a read per wake-up is a syscall per request).
                if let Ok(mut g) = r {
                    g.clear_ready();
                }
            }
        }
    }
    ring.shutdown(&event).await;
    ring.shared.close();
}

fn drain_eventfd(fd: &OwnedFd) {
    let mut buf = [0u8; 8];
    // SAFETY: reading 8 bytes into a live buffer from our own non-blocking eventfd.
    let _ = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), 8) };
}

impl Ring {
    /// Let completions signal the eventfd; `true` if one is already waiting (or entries
    /// are still unsubmitted, e.g. after an EBUSY), so the driver turns again instead.
    fn arm_eventfd(&mut self) -> bool {
        self.uring.completion().enable_eventfd();
        // The flag's store before the tail's load: a completion the kernel posts after this
        // load sees the eventfd enabled.
        std::sync::atomic::fence(Ordering::SeqCst);
        !self.uring.completion().is_empty() || self.has_work()
    }

    /// Entries to submit, or completion work the kernel holds until this thread's next
    /// syscall (an enter runs it).
    fn has_work(&mut self) -> bool {
        let sq = self.uring.submission();
        !sq.is_empty() || sq.taskrun()
    }

    pub(super) fn push_sqe(&mut self, e: &io_uring::squeue::Entry) -> std::io::Result<()> {
        loop {
            // SAFETY: every entry points at memory owned by `self` (a boxed Flight) that
            // stays put until its completion is reaped.
            if unsafe { self.uring.submission().push(e) }.is_ok() {
                return Ok(());
            }
            // Submission queue full: hand what is there to the kernel first.
            self.submit()?;
        }
    }

    /// Hand the queued entries to the kernel (completions of sends that fit are posted
    /// before this returns).
    fn submit(&mut self) -> std::io::Result<()> {
        if !self.has_work() {
            return Ok(());
        }
        match self.uring.submit() {
            Ok(_) => Ok(()),
            // Transient (EAGAIN: the kernel is short of memory for requests): what was not
            // submitted stays queued, and the driver turns again.
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EINTR) | Some(libc::EBUSY) | Some(libc::EAGAIN)
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Take the inbox, pump up to [`TURN_SOCKETS`] ready sockets, submit and reap until
    /// nothing more completes.
    fn turn(&mut self) -> std::io::Result<()> {
        let (cmds, ready) = {
            let mut ib = self.shared.inbox.lock();
            (std::mem::take(&mut ib.cmds), std::mem::take(&mut ib.ready))
        };
        for c in cmds {
            self.command(c)?;
        }
        self.pending.extend(ready);
        // A few sockets: a syscall each costs less than a submit; many: one submit for all.
        let direct = self.pending.len() < self.direct_below;
        for _ in 0..TURN_SOCKETS {
            let Some(t) = self.pending.pop_front() else {
                break;
            };
            self.pump(t, direct)?;
        }
        loop {
            self.submit()?;
            if !self.reap()? {
                return Ok(());
            }
        }
    }

    fn command(&mut self, c: Cmd) -> std::io::Result<()> {
        match c {
            Cmd::Attach {
                token,
                wr,
                out,
                done,
            } => {
                super::put(
                    &mut self.conns,
                    token,
                    Conn {
                        token,
                        out,
                        wr,
                        flight: None,
                        done,
                        cancelled: false,
                    },
                );
                Ok(())
            }
            Cmd::AttachRecv { token, rd, state } => self.attach_recv(token, rd, state),
            Cmd::Rearm(token) => self.arm(token),
            Cmd::DetachRecv(token) => self.detach_recv(token),
            #[cfg(test)]
            Cmd::Fail => Err(std::io::Error::other("injected failure")),
            #[cfg(test)]
            Cmd::Stall(d, began) => {
                let _ = began.send(());
                std::thread::sleep(d);
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
        conn_of(&mut self.conns, token)
    }

    /// A socket's queue may have work: send its batches unless one is in flight. With
    /// `direct`, a batch is first written with one non-blocking `sendmsg(2)` (a lone reply
    /// gains nothing from a ring submit); what does not fit goes through the ring.
    fn pump(&mut self, token: u64, direct: bool) -> std::io::Result<()> {
        let seq_prefix = self.seq_prefix;
        loop {
            let Some(conn) = conn_of(&mut self.conns, token) else {
                return Ok(());
            };
            if conn.flight.is_some() || conn.cancelled {
                return Ok(());
            }
            let mut f = self.spare.take();
            match conn.out.take_batch(&mut f.batch, MAX_BATCH_FRAMES) {
                Take::Empty => {
                    self.spare.give(f);
                    return Ok(());
                }
                Take::Finished => {
                    self.spare.give(f);
                    self.finish(token);
                    return Ok(());
                }
                Take::Items => {}
            }
            let fd = conn.wr.fd();
            f.frame(seq_prefix);
            if direct {
                let r = send_now(fd, &mut f);
                if r != Sent::Part {
                    conn.out.written(f.queued);
                    let end = r == Sent::Failed || f.last;
                    self.spare.give(f);
                    if end {
                        self.finish(token);
                        return Ok(());
                    }
                    continue;
                }
            }
            let e = send_entry(fd, &mut f, token);
            conn.flight = Some(f);
            self.shared.ring_sends.fetch_add(1, Ordering::Relaxed);
            return self.push_sqe(&e);
        }
    }

    /// Handle every completion there is; `false` when there was none.
    fn reap(&mut self) -> std::io::Result<bool> {
        let mut any = false;
        loop {
            let done: Vec<(u64, i32, u32)> = self
                .uring
                .completion()
                .map(|c| (c.user_data(), c.result(), c.flags()))
                .collect();
            if done.is_empty() {
                return Ok(any);
            }
            any = true;
            for (tag, res, flags) in done {
                if tag == CANCEL_TAG {
                    continue;
                }
                if tag & RECV_BIT != 0 {
                    self.received(tag, res, flags)?;
                } else {
                    self.sent(tag, res)?;
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
        let stalled = res == 0 && !f.done();
        if res < 0 || stalled || conn.cancelled {
            conn.out.written(f.queued);
            self.spare.give(f);
            self.finish(token);
            return Ok(());
        }
        advance(&mut f, res as usize);
        if !f.done() {
            let fd = conn.wr.fd();
            let e = send_entry(fd, &mut f, token);
            conn.flight = Some(f);
            self.shared.ring_sends.fetch_add(1, Ordering::Relaxed);
            return self.push_sqe(&e);
        }
        conn.out.written(f.queued);
        let last = f.last;
        self.spare.give(f);
        if last {
            self.finish(token);
            return Ok(());
        }
        self.pump(token, false)
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
        self.shared.free_token(token);
    }

    /// Stopping: cancel every send in flight, wait (bounded) for their completions, then
    /// let go of every socket.
    async fn shutdown(&mut self, event: &AsyncFd<OwnedFd>) {
        self.uring.completion().enable_eventfd();
        // Sockets attached after the last turn are let go of like the others.
        let cmds = std::mem::take(&mut self.shared.inbox.lock().cmds);
        for c in cmds {
            if matches!(c, Cmd::Attach { .. } | Cmd::AttachRecv { .. }) {
                let _ = self.command(c);
            }
        }
        self.stop_recvs();
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
        let deadline = tokio::time::Instant::now() + STOP_DEADLINE;
        loop {
            if self.submit().is_err() || self.reap().is_err() {
                break;
            }
            if !self.conns.iter().flatten().any(|c| c.flight.is_some()) && !self.recvs_armed() {
                break;
            }
            match tokio::time::timeout_at(deadline, event.readable()).await {
                Ok(Ok(mut g)) => {
                    drain_eventfd(event.get_ref());
                    g.clear_ready();
                }
                _ => break,
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
        // A RECV whose last completion never came keeps its fd open (and the ring's buffers,
        // which the kernel may still write): leaked with the ring, never freed under it.
        if self.recvs_armed() {
            for r in self.recvs.iter_mut() {
                if r.as_ref().is_some_and(|r| r.armed) {
                    std::mem::forget(r.take());
                }
            }
            self.bufs.leak();
        }
        self.release_recvs();
    }
}

/// The socket of `token` (its slot, if the slot has not been reused since).
fn conn_of(conns: &mut [Option<Conn>], token: u64) -> Option<&mut Conn> {
    let c = conns.get_mut(token as u32 as usize)?.as_mut()?;
    (c.token == token).then_some(c)
}

//! Reads on io_uring: one multishot RECV per socket, filled from a ring of provided buffers
//! shared by every socket of the ring, so an idle socket pins no buffer.
//!
//! The driver ([`super::ring`]) copies each completion's bytes into the socket's
//! [`RecvShared`] queue, gives the buffer straight back to the kernel and wakes the reader;
//! [`RingReader`] is what the frame decoder reads from (it knows no io_uring). Backpressure:
//! past [`RECV_HIGH_WATER`] queued bytes the driver cancels the socket's RECV, and the
//! reader asks for a new one once it has drained the queue. A RECV that ends for want of
//! buffers (ENOBUFS) is re-armed. The driver holds the socket open until its
//! RECV's last completion, so the kernel never writes for a closed fd.

use std::alloc::Layout;
use std::future::poll_fn;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;
use std::task::{Poll, Waker};

use std::os::fd::AsRawFd;

use bytes::BytesMut;
use io_uring::types::BufRingEntry;
use io_uring::{cqueue, opcode, types};
use parking_lot::Mutex;

use super::ring::{Ring, CANCEL_TAG};
use super::{Cmd, Shared};

/// Provided buffers per ring (a power of two).
pub const RECV_BUFFERS: u16 = 256;
/// Bytes per provided buffer.
pub const RECV_BUFFER_SIZE: usize = 4096;
/// Queued, unread bytes past which a socket's RECV is cancelled until its reader catches up.
pub const RECV_HIGH_WATER: usize = 256 * 1024;
/// The buffer group id of every ring's provided buffers.
pub(super) const BGID: u16 = 0;

/// A socket's received bytes, between the driver and the reader.
#[derive(Default)]
pub(crate) struct RecvState {
    pub(super) buf: BytesMut,
    /// The peer closed (or the socket failed, or the ring stopped).
    pub(super) eof: bool,
    /// No RECV is armed and the reader must ask for one once it has drained `buf`.
    pub(super) paused: bool,
    waker: Option<Waker>,
}

impl RecvState {
    /// Append bytes and wake the reader.
    pub(super) fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
        self.wake();
    }

    pub(super) fn wake(&mut self) {
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }
}

pub(crate) type RecvShared = Arc<Mutex<RecvState>>;

/// The connection task's read side of a socket whose reads the ring does.
pub(crate) struct RingReader {
    pub(super) ring: Arc<Shared>,
    pub(super) token: u64,
    pub(super) state: RecvShared,
}

impl std::fmt::Debug for RingReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RingReader")
            .field("token", &self.token)
            .finish()
    }
}

impl RingReader {
    /// Resolves once bytes are queued or the socket has ended. Cancel-safe.
    pub(crate) async fn readable(&self) -> std::io::Result<()> {
        poll_fn(|cx| {
            let mut s = self.state.lock();
            if !s.buf.is_empty() || s.eof {
                return Poll::Ready(Ok(()));
            }
            if !s.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                s.waker = Some(cx.waker().clone());
            }
            Poll::Pending
        })
        .await
    }

    /// Move the queued bytes to `dst`: `Ok(0)` at the end, `WouldBlock` when none are queued.
    pub(crate) fn try_read_buf(&self, dst: &mut BytesMut) -> std::io::Result<usize> {
        let mut s = self.state.lock();
        let n = s.buf.len();
        if n == 0 {
            return match s.eof {
                true => Ok(0),
                false => Err(std::io::ErrorKind::WouldBlock.into()),
            };
        }
        if dst.is_empty() {
            std::mem::swap(dst, &mut s.buf);
        } else {
            dst.extend_from_slice(&s.buf);
            s.buf.clear();
        }
        if s.paused && !s.eof {
            s.paused = false;
            drop(s);
            let token = self.token;
            self.ring.command(Cmd::Rearm(token));
        }
        Ok(n)
    }
}

impl Drop for RingReader {
    fn drop(&mut self) {
        let token = self.token;
        self.ring.command(Cmd::DetachRecv(token));
    }
}

/// A ring of provided buffers registered with one io_uring: the kernel takes a buffer per
/// completion; [`BufRing::recycle`] gives it back.
pub(super) struct BufRing {
    entries: *mut BufRingEntry,
    layout: Layout,
    bufs: Box<[u8]>,
    tail: u16,
    /// Left to the kernel (a RECV never completed): not freed.
    leaked: bool,
}

// SAFETY: the entries and buffers are owned by this value; only the driver task uses it.
unsafe impl Send for BufRing {}

impl BufRing {
    /// Allocate [`RECV_BUFFERS`] buffers and register them with `uring` as group [`BGID`].
    pub(super) fn register(uring: &io_uring::IoUring) -> std::io::Result<BufRing> {
        let n = usize::from(RECV_BUFFERS);
        let layout = Layout::from_size_align(n * std::mem::size_of::<BufRingEntry>(), 4096)
            .map_err(std::io::Error::other)?;
        // SAFETY: a non-zero size; zeroed entries are valid (tail 0, nothing provided).
        let entries = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<BufRingEntry>();
        if entries.is_null() {
            return Err(std::io::ErrorKind::OutOfMemory.into());
        }
        let mut ring = BufRing {
            entries,
            layout,
            bufs: vec![0u8; n * RECV_BUFFER_SIZE].into_boxed_slice(),
            tail: 0,
            leaked: false,
        };
        // SAFETY: page-aligned memory for `n` entries, alive until unregistered in Drop's
        // owner (the ring is dropped, which unregisters everything, before this memory).
        unsafe {
            uring
                .submitter()
                .register_buf_ring_with_flags(entries as u64, RECV_BUFFERS, BGID, 0)?
        };
        for bid in 0..RECV_BUFFERS {
            ring.recycle(bid);
        }
        Ok(ring)
    }

    /// The first `len` bytes the kernel wrote into buffer `bid`.
    pub(super) fn get(&self, bid: u16, len: usize) -> &[u8] {
        let at = usize::from(bid) * RECV_BUFFER_SIZE;
        &self.bufs[at..at + len.min(RECV_BUFFER_SIZE)]
    }

    /// Give buffer `bid` back to the kernel.
    pub(super) fn recycle(&mut self, bid: u16) {
        let mask = RECV_BUFFERS - 1;
        let at = usize::from(bid) * RECV_BUFFER_SIZE;
        // SAFETY: the slot index is masked into the ring; the buffer lies inside `bufs`.
        unsafe {
            let e = &mut *self.entries.add(usize::from(self.tail & mask));
            e.set_addr(self.bufs.as_ptr().add(at) as u64);
            e.set_len(RECV_BUFFER_SIZE as u32);
            e.set_bid(bid);
        }
        self.tail = self.tail.wrapping_add(1);
        // SAFETY: the tail field overlays the first entry's reserved field; the kernel reads
        // it with acquire semantics, so the entry's fields are visible first.
        unsafe {
            let tail = BufRingEntry::tail(self.entries).cast::<AtomicU16>();
            (*tail).store(self.tail, Ordering::Release);
        }
    }
}

impl BufRing {
    /// Never free this memory: a RECV the kernel did not complete may still write into it.
    pub(super) fn leak(&mut self) {
        self.leaked = true;
        std::mem::forget(std::mem::take(&mut self.bufs));
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        if self.leaked {
            return;
        }
        // SAFETY: allocated in `register` with this layout. The io_uring (dropped first by
        // field order in the driver) no longer uses it.
        unsafe { std::alloc::dealloc(self.entries.cast(), self.layout) };
    }
}

/// `user_data` bit of RECV completions (writer sends carry the bare token).
pub(super) const RECV_BIT: u64 = 1 << 63;

/// A socket whose reads this ring does.
pub(super) struct Recv {
    token: u64,
    /// Keeps the fd open until the RECV's last completion.
    rd: Arc<std::net::TcpStream>,
    state: RecvShared,
    pub(super) armed: bool,
    cancelling: bool,
    detached: bool,
}

impl Ring {
    /// Reads of a new socket: queue its first RECV.
    pub(super) fn attach_recv(
        &mut self,
        token: u64,
        rd: Arc<std::net::TcpStream>,
        state: RecvShared,
    ) -> std::io::Result<()> {
        super::put(
            &mut self.recvs,
            token,
            Recv {
                token,
                rd,
                state,
                armed: false,
                cancelling: false,
                detached: false,
            },
        );
        self.shared.recv.slots.fetch_add(1, Ordering::Relaxed);
        self.arm(token)
    }

    fn recv(&mut self, token: u64) -> Option<&mut Recv> {
        let r = self.recvs.get_mut(token as u32 as usize)?.as_mut()?;
        (r.token == token).then_some(r)
    }

    /// Queue a multishot RECV for the socket (unless one is armed or it is going away).
    pub(super) fn arm(&mut self, token: u64) -> std::io::Result<()> {
        let Some(r) = self.recv(token) else {
            return Ok(());
        };
        if r.armed || r.detached || r.state.lock().eof {
            return Ok(());
        }
        r.armed = true;
        r.cancelling = false;
        let fd = r.rd.as_raw_fd();
        let e = opcode::RecvMulti::new(types::Fd(fd), BGID)
            .build()
            .user_data(token | RECV_BIT);
        self.push_sqe(&e)
    }

    /// Stop the socket's RECV (its queue is full, or its reader is gone).
    fn cancel_recv(&mut self, token: u64) -> std::io::Result<()> {
        let Some(r) = self.recv(token) else {
            return Ok(());
        };
        if !r.armed || r.cancelling {
            return Ok(());
        }
        r.cancelling = true;
        let e = opcode::AsyncCancel::new(token | RECV_BIT)
            .build()
            .user_data(CANCEL_TAG);
        self.push_sqe(&e)
    }

    /// The reader is gone: cancel the RECV; the slot goes with its last completion.
    pub(super) fn detach_recv(&mut self, token: u64) -> std::io::Result<()> {
        let Some(r) = self.recv(token) else {
            return Ok(());
        };
        r.detached = true;
        if r.armed {
            return self.cancel_recv(token);
        }
        self.free_recv(token);
        Ok(())
    }

    fn free_recv(&mut self, token: u64) {
        let idx = token as u32 as usize;
        if self.recvs.get_mut(idx).and_then(Option::take).is_some() {
            self.shared.recv.slots.fetch_sub(1, Ordering::Relaxed);
            self.shared.free_token(token);
        }
    }

    /// A RECV completion: bytes (in provided buffer `bid`), the end, or -errno; without
    /// `more` the RECV is over and is re-armed, paused or released.
    pub(super) fn received(&mut self, tag: u64, res: i32, flags: u32) -> std::io::Result<()> {
        let token = tag & !RECV_BIT;
        let bid = cqueue::buffer_select(flags);
        let more = cqueue::more(flags);
        // A completion for a slot's earlier socket (none is expected: a slot is freed only
        // after its RECV's last completion) is dropped, its buffer given back.
        let Some(r) = self
            .recvs
            .get_mut(token as u32 as usize)
            .and_then(Option::as_mut)
            .filter(|r| r.token == token)
        else {
            if let Some(b) = bid {
                self.bufs.recycle(b);
            }
            return Ok(());
        };
        let queued = {
            let mut s = r.state.lock();
            match (res, bid) {
                (n, Some(b)) if n > 0 => s.push(self.bufs.get(b, n as usize)),
                (0, _) => {
                    s.eof = true;
                    s.wake();
                }
                (e, _) if e == -libc::ENOBUFS || e == -libc::ECANCELED => {}
                _ => {
                    s.eof = true;
                    s.wake();
                }
            }
            s.buf.len()
        };
        if let Some(b) = bid {
            self.bufs.recycle(b);
        }
        if more {
            if queued >= RECV_HIGH_WATER && !r.cancelling {
                self.shared.recv.pauses.fetch_add(1, Ordering::Relaxed);
                return self.cancel_recv(token);
            }
            return Ok(());
        }
        if res == -libc::ENOBUFS {
            self.shared.recv.nobufs.fetch_add(1, Ordering::Relaxed);
        }
        self.recv_over(token, queued)
    }

    /// The socket's RECV has ended: free a detached slot, pause a full queue, re-arm the rest.
    fn recv_over(&mut self, token: u64, queued: usize) -> std::io::Result<()> {
        let Some(r) = self.recv(token) else {
            return Ok(());
        };
        r.armed = false;
        r.cancelling = false;
        if r.detached {
            self.free_recv(token);
            return Ok(());
        }
        {
            let mut s = r.state.lock();
            if s.eof {
                return Ok(());
            }
            // The reader may have drained the queue since `queued` was read.
            if queued >= RECV_HIGH_WATER && !s.buf.is_empty() {
                s.paused = true;
                return Ok(());
            }
        }
        self.arm(token)
    }

    /// Stopping: cancel every RECV; the readers see the end.
    pub(super) fn stop_recvs(&mut self) {
        let tokens: Vec<u64> = self.recvs.iter().flatten().map(|r| r.token).collect();
        for t in tokens {
            if let Some(r) = self.recv(t) {
                r.detached = true;
                let mut s = r.state.lock();
                s.eof = true;
                s.wake();
            }
            let _ = self.cancel_recv(t);
        }
    }

    /// Whether a RECV still waits for its last completion.
    pub(super) fn recvs_armed(&self) -> bool {
        self.recvs.iter().flatten().any(|r| r.armed)
    }

    /// Let go of every socket's read half (after the stop's drain).
    pub(super) fn release_recvs(&mut self) {
        let tokens: Vec<u64> = self.recvs.iter().flatten().map(|r| r.token).collect();
        for t in tokens {
            self.free_recv(t);
        }
    }
}

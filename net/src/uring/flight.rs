//! One socket's send in flight on a ring: the batch taken from its queue, framed into iovecs
//! over the batch's own buffers, and what a completion (or a direct `sendmsg(2)`) moved.
//! Finished flights go back to a small per-ring pool with their buffers' capacity, so a
//! fan-out does not allocate and free four buffers per socket per event. When a flight is
//! sent, and by which socket, is the ring's ([`super::ring`]).

use std::os::fd::RawFd;

use io_uring::{opcode, types};

use crate::outbound::Item;
use crate::ws::writer::encode;

/// Finished flights a ring keeps for reuse (one turn's worth of sockets,
/// [`super::ring::TURN_SOCKETS`]).
pub const FLIGHT_POOL: usize = 1024;
/// A finished flight whose frame scratch grew beyond this is not kept (a rare large batch
/// must not pin its peak in the pool).
pub const POOLED_SCRATCH_MAX: usize = 4096;

/// One send in flight: everything the kernel reads from until its completion.
pub(super) struct Flight {
    /// Owns the payloads the iovecs point into (never read here, only kept alive).
    pub(super) batch: Vec<Item>,
    /// Owns the frame headers and spliced bytes the iovecs point into.
    scratch: Vec<u8>,
    pub(super) iov: Vec<libc::iovec>,
    /// First iovec not yet completely sent.
    pub(super) at: usize,
    msg: libc::msghdr,
    pub(super) queued: usize,
    pub(super) last: bool,
}

// SAFETY: the raw pointers in `iov` and `msg` point into this flight's own buffers (the
// batch's payloads and the scratch), which move with it; only the driver touches a flight.
unsafe impl Send for Flight {}

impl Flight {
    fn empty() -> Box<Flight> {
        Box::new(Flight {
            batch: Vec::new(),
            scratch: Vec::new(),
            iov: Vec::new(),
            at: 0,
            // SAFETY: msghdr is plain old data; zeroed is its empty value.
            msg: unsafe { std::mem::zeroed() },
            queued: 0,
            last: false,
        })
    }

    /// Frame the batch taken into `self.batch` (iovecs over its own buffers, nothing sent).
    pub(super) fn frame(&mut self, seq_prefix: &[u8]) {
        let enc = encode(&self.batch, &mut self.scratch, seq_prefix);
        (self.queued, self.last) = (enc.queued, enc.last);
        self.iov.clear();
        self.iov
            .extend(enc.slices(&self.scratch).map(|s| libc::iovec {
                iov_base: s.as_ptr() as *mut libc::c_void,
                iov_len: s.len(),
            }));
        self.at = 0;
    }

    /// Whether every byte has gone out.
    pub(super) fn done(&self) -> bool {
        self.at >= self.iov.len()
    }
}

/// Finished flights kept for reuse, boxed as they fly: a send's msghdr lives inside its
/// flight, so a flight keeps one heap address from its first send to its completion.
#[derive(Default)]
#[allow(clippy::vec_box)]
pub(super) struct Pool(Vec<Box<Flight>>);

impl Pool {
    /// A flight with an empty batch, reused when one is spare.
    pub(super) fn take(&mut self) -> Box<Flight> {
        self.0.pop().unwrap_or_else(Flight::empty)
    }

    /// Take back a flight the kernel no longer reads from: its payloads are let go of now,
    /// its buffers' capacity is kept while the pool has room.
    pub(super) fn give(&mut self, mut f: Box<Flight>) {
        f.batch.clear();
        f.iov.clear();
        if self.0.len() < FLIGHT_POOL && f.scratch.capacity() <= POOLED_SCRATCH_MAX {
            self.0.push(f);
        }
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.0.len()
    }
}

/// What a direct write did.
#[derive(PartialEq, Eq)]
pub(super) enum Sent {
    /// Everything went out.
    All,
    /// Some or none went out (the socket is full): the ring sends the rest.
    Part,
    /// The socket failed.
    Failed,
}

/// One non-blocking `sendmsg(2)` of the whole flight; advances it by what was sent.
pub(super) fn send_now(fd: RawFd, f: &mut Flight) -> Sent {
    f.msg.msg_iov = f.iov.as_mut_ptr();
    f.msg.msg_iovlen = f.iov.len() as _;
    // SAFETY: the msghdr and its iovecs point into live buffers owned by `f`.
    let n = unsafe { libc::sendmsg(fd, &f.msg, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) };
    if n < 0 {
        let e = std::io::Error::last_os_error().raw_os_error();
        return match e {
            Some(libc::EAGAIN) | Some(libc::EINTR) => Sent::Part,
            _ => Sent::Failed,
        };
    }
    advance(f, n as usize);
    match f.done() {
        false => Sent::Part,
        true => Sent::All,
    }
}

/// The SENDMSG for what is left of `f`, from iovec `f.at` on.
pub(super) fn send_entry(fd: RawFd, f: &mut Flight, token: u64) -> io_uring::squeue::Entry {
    f.msg.msg_iov = f.iov[f.at..].as_mut_ptr();
    f.msg.msg_iovlen = (f.iov.len() - f.at) as _;
    opcode::SendMsg::new(types::Fd(fd), &f.msg)
        .flags(libc::MSG_NOSIGNAL as u32)
        .build()
        .user_data(token)
}

/// Skip `n` sent bytes: whole iovecs, then part of the next.
pub(super) fn advance(f: &mut Flight, mut n: usize) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn a_pooled_flight_comes_back_empty_with_its_capacity_and_a_large_one_is_not_kept() {
        let mut pool = Pool::default();
        let mut f = pool.take();
        f.batch.push(Item::Text(Bytes::from_static(b"hello")));
        f.frame(b"");
        assert_eq!(f.iov.len(), 2, "header and payload");
        let scratch_cap = f.scratch.capacity();
        pool.give(f);
        assert_eq!(pool.len(), 1);
        let f = pool.take();
        assert!(f.batch.is_empty() && f.iov.is_empty());
        assert!(f.batch.capacity() >= 1 && f.scratch.capacity() == scratch_cap);
        let mut big = f;
        big.scratch.reserve(POOLED_SCRATCH_MAX + 1);
        pool.give(big);
        assert_eq!(pool.len(), 0, "a flight with a large scratch is dropped");
    }

    #[test]
    fn advance_skips_whole_iovecs_then_part_of_the_next() {
        let mut f = Flight::empty();
        f.batch.push(Item::Text(Bytes::from_static(b"abcdef")));
        f.frame(b"");
        let header = f.iov[0].iov_len;
        advance(&mut f, header + 2);
        assert_eq!((f.at, f.iov[1].iov_len), (1, 4));
        advance(&mut f, 4);
        assert!(f.done());
    }
}

//! The per-socket outbound queue: shared `Bytes` pushed by anyone (RPC replies, fan-out),
//! drained in batches by the socket's writer task.
//!
//! The budget counts bytes queued and not yet handed to the kernel. Over budget, a droppable
//! event is dropped (its `seq` is still consumed, so the client sees the gap) and anything
//! else marks the socket a slow consumer and closes it with 1008. Pushing never waits.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

use bytes::Bytes;
use tokio::sync::Notify;

/// Close code used for a socket whose outbound budget overflowed.
pub const SLOW_CONSUMER_CLOSE: u16 = 1008;
/// Close reason used for a socket whose outbound budget overflowed.
pub const SLOW_CONSUMER_REASON: &str = "slow consumer";

/// One queued frame.
#[derive(Debug)]
pub(crate) enum Item {
    /// A complete text message.
    Text(Bytes),
    /// A complete binary message.
    Binary(Bytes),
    /// A text message `head ++ prefix ++ seq ++ tail`, the seq rendered at write time.
    Seq { head: Bytes, tail: Bytes, seq: u64 },
    /// Pong reply to a ping.
    Pong(Bytes),
    /// Close frame; the writer stops after it.
    Close { code: u16, reason: Bytes },
    /// Echo of the peer's close frame payload (raw); the writer stops after it.
    CloseRaw(Bytes),
}

impl Item {
    fn len(&self) -> usize {
        match self {
            Item::Text(b) | Item::Binary(b) | Item::Pong(b) | Item::CloseRaw(b) => b.len(),
            Item::Seq { head, tail, .. } => head.len() + tail.len() + 24,
            Item::Close { reason, .. } => reason.len() + 2,
        }
    }
}

/// What became of a push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushResult {
    /// Queued for writing.
    Queued,
    /// Dropped: the socket is over budget and the frame was droppable.
    Dropped,
    /// The socket is closed or closing (now, possibly because of this push).
    Closed,
}

struct Queue {
    items: VecDeque<Item>,
    bytes: usize,
    next_seq: u64,
    /// A close frame has been queued: nothing else is accepted.
    closing: bool,
    /// Pongs queued and not yet taken by the writer (at most [`MAX_QUEUED_PONGS`]).
    pongs: usize,
}

/// Pongs a socket may have waiting; a ping beyond them replaces the last pong's payload
/// (RFC 6455 §5.5.3 allows answering only the latest ping), so a client that pings faster
/// than it reads cannot grow the queue. Autobahn 2.10 sends 10 and wants 10 answers.
pub const MAX_QUEUED_PONGS: usize = 16;

struct Shared {
    queue: Mutex<Queue>,
    /// Wakes the writer task when items arrive.
    wake: Notify,
    /// Set when an io_uring ring writes this socket: wakes go to it instead of `wake`.
    ring: OnceLock<Box<dyn RingWake>>,
    /// Wakes the reader loop when the socket starts closing (slow consumer, app close).
    close_wake: Notify,
    budget: usize,
    closed: AtomicBool,
    dropped: AtomicU64,
    slow: AtomicBool,
}

/// A writer that is not a task on this queue's [`Notify`]: an io_uring ring's driver.
pub(crate) trait RingWake: Send + Sync {
    /// The queue went from empty to non-empty, or it is closing: look at it.
    fn schedule(&self);
}

/// What [`Outbound::take_batch`] found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Take {
    /// Items moved into the batch.
    Items,
    /// Nothing queued yet.
    Empty,
    /// Closed and drained: the writer is done.
    Finished,
}

/// Queue storage kept when the queue drains (more is released).
const IDLE_QUEUE_CAPACITY: usize = 0;

/// Handle to one socket's outbound queue; cheap to clone, safe to share across threads.
#[derive(Clone)]
pub struct Outbound(Arc<Shared>);

impl std::fmt::Debug for Outbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbound")
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl Outbound {
    /// A queue with this byte budget.
    pub fn new(budget: usize) -> Self {
        Outbound(Arc::new(Shared {
            queue: Mutex::new(Queue {
                items: VecDeque::new(),
                bytes: 0,
                next_seq: 1,
                closing: false,
                pongs: 0,
            }),
            wake: Notify::new(),
            ring: OnceLock::new(),
            close_wake: Notify::new(),
            budget,
            closed: AtomicBool::new(false),
            dropped: AtomicU64::new(0),
            slow: AtomicBool::new(false),
        }))
    }

    /// Queue a complete text message that must not be dropped (a response).
    pub fn send_text(&self, data: Bytes) -> PushResult {
        self.push(Item::Text(data), false)
    }

    /// Queue a complete binary message that must not be dropped.
    pub fn send_binary(&self, data: Bytes) -> PushResult {
        self.push(Item::Binary(data), false)
    }

    /// Queue an event whose per-socket sequence number is spliced between `head` and `tail`
    /// at write time. Cloning the `Bytes` is the only per-socket cost.
    pub fn send_seq(&self, head: &Bytes, tail: &Bytes, droppable: bool) -> PushResult {
        let mut q = self.0.queue.lock();
        if q.closing {
            return PushResult::Closed;
        }
        let seq = q.next_seq;
        q.next_seq += 1;
        let item = Item::Seq {
            head: head.clone(),
            tail: tail.clone(),
            seq,
        };
        self.push_locked(&mut q, item, droppable)
    }

    /// Queue several events at once (one writer wake-up for all of them), each with its
    /// own spliced `seq`. Returns the first push result that is not `Queued`, else `Queued`.
    pub fn send_seq_batch(&self, parts: &[(&Bytes, &Bytes)], droppable: bool) -> PushResult {
        let mut q = self.0.queue.lock();
        if q.closing {
            return PushResult::Closed;
        }
        let was_empty = q.items.is_empty();
        let mut res = PushResult::Queued;
        for (head, tail) in parts {
            let seq = q.next_seq;
            q.next_seq += 1;
            let item = Item::Seq {
                head: (*head).clone(),
                tail: (*tail).clone(),
                seq,
            };
            let r = self.push_quiet(&mut q, item, droppable);
            if r != PushResult::Queued && res == PushResult::Queued {
                res = r;
            }
            if r == PushResult::Closed {
                return r;
            }
        }
        drop(q);
        if was_empty {
            self.wake_writer();
        }
        res
    }

    /// Queue a close frame; later pushes are refused. Idempotent.
    pub fn close(&self, code: u16, reason: &str) {
        let mut q = self.0.queue.lock();
        if q.closing {
            return;
        }
        q.closing = true;
        let mut r = reason.as_bytes();
        if r.len() > 123 {
            r = &r[..123];
        }
        q.items.push_back(Item::Close {
            code,
            reason: Bytes::copy_from_slice(r),
        });
        drop(q);
        self.wake_writer();
        self.0.close_wake.notify_waiters();
    }

    /// `true` once a close frame is queued or the socket is gone.
    pub fn is_closed(&self) -> bool {
        self.0.closed.load(Ordering::Acquire) || self.0.queue.lock().closing
    }

    /// `true` if this socket was closed for exceeding its budget.
    pub fn was_slow(&self) -> bool {
        self.0.slow.load(Ordering::Relaxed)
    }

    /// Events dropped for this socket so far.
    pub fn dropped(&self) -> u64 {
        self.0.dropped.load(Ordering::Relaxed)
    }

    /// Bytes queued and not yet written.
    pub fn queued_bytes(&self) -> usize {
        self.0.queue.lock().bytes
    }

    pub(crate) fn push_control(&self, item: Item) {
        let mut q = self.0.queue.lock();
        if q.closing {
            return;
        }
        if let Item::Pong(payload) = &item {
            if q.pongs >= MAX_QUEUED_PONGS {
                let new_len = payload.len();
                if let Some(Item::Pong(old)) = q
                    .items
                    .iter_mut()
                    .rev()
                    .find(|i| matches!(i, Item::Pong(_)))
                {
                    let old_len = old.len();
                    *old = payload.clone();
                    q.bytes = q.bytes + new_len - old_len;
                    return;
                }
            }
            q.pongs += 1;
        }
        let closing = matches!(item, Item::CloseRaw(_) | Item::Close { .. });
        q.closing |= closing;
        q.bytes += item.len();
        q.items.push_back(item);
        drop(q);
        self.wake_writer();
        if closing {
            self.0.close_wake.notify_waiters();
        }
    }

    fn push(&self, item: Item, droppable: bool) -> PushResult {
        let mut q = self.0.queue.lock();
        if q.closing {
            return PushResult::Closed;
        }
        self.push_locked(&mut q, item, droppable)
    }

    fn push_locked(&self, q: &mut Queue, item: Item, droppable: bool) -> PushResult {
        let len = item.len();
        if q.bytes + len > self.0.budget && !q.items.is_empty() {
            if droppable {
                self.0.dropped.fetch_add(1, Ordering::Relaxed);
                return PushResult::Dropped;
            }
            // Slow consumer: discard what is queued and close.
            self.0.slow.store(true, Ordering::Relaxed);
            crate::stats::count_slow_close();
            q.items.clear();
            q.bytes = 0;
            q.pongs = 0;
            q.closing = true;
            q.items.push_back(Item::Close {
                code: SLOW_CONSUMER_CLOSE,
                reason: Bytes::from_static(SLOW_CONSUMER_REASON.as_bytes()),
            });
            self.wake_writer();
            self.0.close_wake.notify_waiters();
            return PushResult::Closed;
        }
        q.bytes += len;
        let was_empty = q.items.is_empty();
        q.items.push_back(item);
        if was_empty {
            self.wake_writer();
        }
        PushResult::Queued
    }

    /// As [`push_locked`](Self::push_locked) without waking the writer for a normal push (the
    /// caller wakes it once for a batch); a slow-consumer close still wakes it.
    fn push_quiet(&self, q: &mut Queue, item: Item, droppable: bool) -> PushResult {
        let len = item.len();
        if q.bytes + len > self.0.budget && !q.items.is_empty() {
            return self.push_locked(q, item, droppable);
        }
        q.bytes += len;
        q.items.push_back(item);
        PushResult::Queued
    }

    /// Writer side: wait for work, then move up to `max` items into `batch`. Returns `false`
    /// when the queue is finished (closed and empty).
    pub(crate) async fn next_batch(&self, batch: &mut Vec<Item>, max: usize) -> bool {
        loop {
            match self.take_batch(batch, max) {
                Take::Items => return true,
                Take::Finished => return false,
                Take::Empty => self.0.wake.notified().await,
            }
        }
    }

    /// Writer side, without waiting: move up to `max` queued items into `batch`.
    pub(crate) fn take_batch(&self, batch: &mut Vec<Item>, max: usize) -> Take {
        let mut q = self.0.queue.lock();
        if q.items.is_empty() {
            return match self.0.closed.load(Ordering::Acquire) {
                true => Take::Finished,
                false => Take::Empty,
            };
        }
        let n = q.items.len().min(max);
        let from = batch.len();
        batch.extend(q.items.drain(..n));
        if q.pongs > 0 {
            let taken = batch[from..].iter().filter(|i| matches!(i, Item::Pong(_)));
            q.pongs = q.pongs.saturating_sub(taken.count());
        }
        if q.items.is_empty() && q.items.capacity() > IDLE_QUEUE_CAPACITY {
            // An idle socket keeps no queue storage (a burst at connect time would
            // otherwise pin its peak for the socket's life).
            q.items = VecDeque::new();
        }
        Take::Items
    }

    /// Hand this queue's writing to a ring (before anything is taken from it).
    #[cfg(all(target_os = "linux", feature = "io-uring"))]
    pub(crate) fn set_ring(&self, ring: Box<dyn RingWake>) {
        if self.0.ring.set(ring).is_ok() {
            self.wake_writer();
        }
    }

    fn wake_writer(&self) {
        match self.0.ring.get() {
            Some(r) => r.schedule(),
            None => self.0.wake.notify_one(),
        }
    }

    /// Writer side: these bytes reached the kernel.
    pub(crate) fn written(&self, n: usize) {
        let mut q = self.0.queue.lock();
        q.bytes = q.bytes.saturating_sub(n);
    }

    /// Mark the socket gone: pushes are refused and the writer exits once drained.
    pub(crate) fn mark_closed(&self) {
        self.0.closed.store(true, Ordering::Release);
        let mut q = self.0.queue.lock();
        q.closing = true;
        drop(q);
        self.wake_writer();
        self.0.close_wake.notify_waiters();
    }

    /// Resolves once the socket is closing or closed.
    pub async fn wait_closing(&self) {
        loop {
            let n = self.0.close_wake.notified();
            tokio::pin!(n);
            n.as_mut().enable();
            if self.is_closed() {
                return;
            }
            n.await;
        }
    }

    pub(crate) fn item_len(item: &Item) -> usize {
        item.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_ping_flood_leaves_a_bounded_number_of_pongs_the_last_answering_the_latest() {
        let out = Outbound::new(1 << 20);
        out.send_text(Bytes::from_static(b"event"));
        for i in 0..10_000u32 {
            out.push_control(Item::Pong(Bytes::from(format!("{i:05}"))));
        }
        {
            let q = out.0.queue.lock();
            assert_eq!(
                q.items.len(),
                1 + MAX_QUEUED_PONGS,
                "the text and the capped pongs"
            );
            assert_eq!(
                q.bytes,
                5 + 5 * MAX_QUEUED_PONGS,
                "bytes follow the replaced payload"
            );
        }
        let mut batch = Vec::new();
        assert!(out.next_batch(&mut batch, 64).await);
        assert!(
            matches!(&batch[1], Item::Pong(p) if &p[..] == b"00000"),
            "the first pings answered in order"
        );
        assert!(
            matches!(batch.last(), Some(Item::Pong(p)) if &p[..] == b"09999"),
            "the last answers the latest"
        );
        // Taken by the writer: new pings get pongs of their own again.
        out.push_control(Item::Pong(Bytes::from_static(b"next")));
        out.push_control(Item::Pong(Bytes::from_static(b"more")));
        assert_eq!(out.0.queue.lock().items.len(), 2);
    }

    #[test]
    fn droppable_events_are_dropped_over_budget_and_seq_advances() {
        // Each item costs head + tail + 24 bytes reserved for the seq splice: 65 here.
        let out = Outbound::new(140);
        let head = Bytes::from_static(&[b'x'; 40]);
        let tail = Bytes::from_static(b"}");
        assert_eq!(out.send_seq(&head, &tail, true), PushResult::Queued);
        assert_eq!(out.send_seq(&head, &tail, true), PushResult::Queued);
        assert_eq!(out.send_seq(&head, &tail, true), PushResult::Dropped);
        assert_eq!(out.dropped(), 1);
        let q = out.0.queue.lock();
        assert_eq!(q.next_seq, 4, "a dropped event still consumes its seq");
    }

    #[test]
    fn a_batch_is_queued_in_order_with_consecutive_seqs() {
        let out = Outbound::new(1 << 20);
        let (h1, h2, t) = (
            Bytes::from_static(b"{\"a\":1"),
            Bytes::from_static(b"{\"b\":2"),
            Bytes::from_static(b"}"),
        );
        assert_eq!(out.send_seq(&h1, &t, false), PushResult::Queued);
        assert_eq!(
            out.send_seq_batch(&[(&h1, &t), (&h2, &t)], false),
            PushResult::Queued
        );
        let q = out.0.queue.lock();
        let seqs: Vec<u64> = q
            .items
            .iter()
            .map(|i| match i {
                Item::Seq { seq, .. } => *seq,
                _ => 0,
            })
            .collect();
        assert_eq!(seqs, [1, 2, 3]);
        drop(q);
        // Over budget inside a batch: non-droppable closes the socket as a slow consumer.
        let small = Outbound::new(40);
        assert_eq!(small.send_seq(&h1, &t, false), PushResult::Queued);
        assert_eq!(
            small.send_seq_batch(&[(&h2, &t)], false),
            PushResult::Closed
        );
        assert!(small.was_slow());
    }

    #[test]
    fn non_droppable_over_budget_closes_as_slow_consumer() {
        let out = Outbound::new(10);
        assert_eq!(
            out.send_text(Bytes::from_static(b"12345678")),
            PushResult::Queued
        );
        assert_eq!(
            out.send_text(Bytes::from_static(b"12345678")),
            PushResult::Closed
        );
        assert!(out.was_slow());
        assert!(out.is_closed());
        assert_eq!(out.send_text(Bytes::from_static(b"1")), PushResult::Closed);
    }

    #[test]
    fn a_single_large_message_is_accepted_when_the_queue_is_empty() {
        let out = Outbound::new(4);
        assert_eq!(
            out.send_text(Bytes::from_static(b"123456789")),
            PushResult::Queued
        );
    }
}

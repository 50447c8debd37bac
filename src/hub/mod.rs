//! Fan-out, the one hub for every event: every authenticated socket is a subscriber of the
//! broadcasts, and may also subscribe to topics (the session list, one session's messages).
//! Publishing encodes the event once and pushes a cheap clone of the shared bytes into each
//! matching socket's queue. One scope gate, one drop policy ([`droppable`]), one `leave`.
//!
//! The subscriber list is an immutable snapshot behind `ArcSwap`: publishers never lock and
//! never wait on a client; a join or a leave copies one chunk of it ([`subs`]). Delivery
//! is gated by the event's required scope; `seq` is spliced per socket at write time.

mod subs;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use arc_swap::ArcSwap;
use openclaw_net::{Outbound, PushResult};
use openclaw_proto::encode::{event_parts, StateVersion};
use openclaw_proto::scope::{satisfies, GrantedScopes};
use serde::Serialize;
use serde_json::Value;
pub use subs::Subs;

/// One authenticated socket, as the hub sees it.
#[derive(Debug)]
pub struct Subscriber {
    /// Connection number (from the transport).
    pub conn: u64,
    /// The socket's outbound queue.
    pub out: Outbound,
    /// Scopes granted at connect, used to gate events.
    pub scopes: GrantedScopes,
    /// `true` for role `operator` (node sockets get only ungated events).
    pub operator: bool,
    /// The paired device the socket authenticated as, if any (so its sockets can be closed
    /// when its pairing or token goes).
    pub device: Option<String>,
    /// An approval client: may decide approvals (`operator.approvals` or admin) and is the
    /// Control UI or declares the `approvals` / `exec-approvals` cap.
    pub approval_client: bool,
}

/// What a socket can subscribe to besides the broadcasts every socket gets.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Topic {
    /// `sessions.changed` (`sessions.subscribe`).
    SessionList,
    /// One session's `agent`, `chat` and `session.message` events
    /// (`sessions.messages.subscribe {key}`), by canonical key.
    Session(String),
}

/// The drop policy: events a slow socket may miss (the next one supersedes them) versus
/// events it must get or be closed as a slow consumer.
pub fn droppable(event: &str) -> bool {
    matches!(
        event,
        "tick" | "presence" | "health" | "heartbeat" | "sessions.changed"
    )
}

/// The owner of a run: its events reach it whether or not it subscribed.
pub type Owner = (u64, Outbound);

/// Counters for diagnostics and tests.
#[derive(Debug, Default)]
pub struct HubStats {
    /// Events published.
    pub published: AtomicU64,
    /// Frames dropped at full queues.
    pub dropped: AtomicU64,
    /// Event frames queued to sockets.
    pub delivered: AtomicU64,
}

/// The subscriber registry and publisher.
#[derive(Debug, Default)]
pub struct Hub {
    subs: ArcSwap<Subs>,
    /// Serializes writers of the snapshot (readers never take it) and indexes it.
    write: Mutex<subs::Index>,
    /// Topic subscribers (a socket is in a topic only while it is in `subs`).
    topics: Mutex<HashMap<Topic, Vec<Arc<Subscriber>>>>,
    /// Publish counters.
    pub stats: HubStats,
}

impl Hub {
    /// Add a subscriber.
    pub fn join(&self, sub: Arc<Subscriber>) {
        let mut ix = self.write.lock();
        let next = ix.join(&self.subs.load(), sub);
        self.subs.store(Arc::new(next));
    }

    /// Remove a subscriber by connection number, from the broadcasts and every topic.
    pub fn leave(&self, conn: u64) {
        self.topics.lock().retain(|_, v| {
            v.retain(|s| s.conn != conn);
            !v.is_empty()
        });
        let mut ix = self.write.lock();
        if let Some(next) = ix.leave(&self.subs.load(), conn) {
            self.subs.store(Arc::new(next));
        }
    }

    /// Number of subscribers.
    pub fn len(&self) -> usize {
        self.subs.load().len()
    }

    /// `true` when nobody is subscribed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every subscriber, as of now.
    pub fn all(&self) -> Arc<Subs> {
        self.subs.load_full()
    }

    /// Encode `payload` once and deliver it to every subscriber allowed to see `event`.
    /// Returns how many sockets it was queued for.
    pub fn publish<T: Serialize + ?Sized>(
        &self,
        event: &str,
        payload: &T,
        state_version: Option<StateVersion>,
    ) -> usize {
        self.publish_filtered(event, payload, state_version, |_| true)
    }

    /// As [`publish`](Self::publish), also filtered by `keep`.
    pub fn publish_filtered<T: Serialize + ?Sized>(
        &self,
        event: &str,
        payload: &T,
        state_version: Option<StateVersion>,
        keep: impl Fn(&Subscriber) -> bool,
    ) -> usize {
        let droppable = droppable(event);
        let parts = event_parts(event, payload, state_version);
        let required = openclaw_proto::events::event_required_scope(event);
        self.stats.published.fetch_add(1, Ordering::Relaxed);
        let subs = self.subs.load();
        let mut n = 0;
        // Each io_uring ring is woken once, after the loop (no-op on tokio).
        let _batch = openclaw_net::WakeBatch::begin();
        for s in subs.iter() {
            if !allowed(s, required) || !keep(s) {
                continue;
            }
            match s.out.send_seq(&parts.head, &parts.tail, droppable) {
                PushResult::Queued => n += 1,
                PushResult::Dropped => {
                    self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                }
                PushResult::Closed => {}
            }
        }
        self.stats.delivered.fetch_add(n as u64, Ordering::Relaxed);
        n
    }

    /// Subscribe socket `conn` to `topic`. `false` if the socket is not (or no longer) here.
    pub fn subscribe(&self, conn: u64, topic: Topic) -> bool {
        let Some(sub) = self.write.lock().find(&self.subs.load(), conn) else {
            return false;
        };
        let mut t = self.topics.lock();
        let v = t.entry(topic).or_default();
        if !v.iter().any(|s| s.conn == conn) {
            v.push(sub);
        }
        true
    }

    /// Unsubscribe socket `conn` from `topic`.
    pub fn unsubscribe(&self, conn: u64, topic: &Topic) {
        let mut t = self.topics.lock();
        if let Some(v) = t.get_mut(topic) {
            v.retain(|s| s.conn != conn);
            if v.is_empty() {
                t.remove(topic);
            }
        }
    }

    /// Whether any socket subscribes to `topic` now (a publisher with no owner may skip
    /// building what nobody would receive).
    pub fn listening(&self, topic: &Topic) -> bool {
        self.topics.lock().get(topic).is_some_and(|v| !v.is_empty())
    }

    /// Publish `events` (each encoded once) to `topic`'s subscribers and to `owner`, queued
    /// together on each socket (one writer wake-up, usually one write). Nothing is encoded
    /// when nobody would receive it.
    pub fn publish_topic(&self, topic: &Topic, owner: Option<&Owner>, events: &[(&str, &Value)]) {
        self.stats.published.fetch_add(1, Ordering::Relaxed);
        if owner.is_none() && !self.listening(topic) {
            return;
        }
        let parts: Vec<_> = events
            .iter()
            .map(|(name, payload)| event_parts(name, *payload, None))
            .collect();
        let refs: Vec<(&bytes::Bytes, &bytes::Bytes)> =
            parts.iter().map(|p| (&p.head, &p.tail)).collect();
        // One drop policy and one gate for the batch: its first event decides (a batch is
        // always one kind of thing: a run's delta, a message, a list change).
        let first = events.first().map_or("", |(n, _)| *n);
        let drop = droppable(first);
        let required = openclaw_proto::events::event_required_scope(first);
        let mut n = 0;
        if let Some((_, out)) = owner {
            if out.send_seq_batch(&refs, drop) == PushResult::Queued {
                n += 1;
            }
        }
        let t = self.topics.lock();
        let _batch = openclaw_net::WakeBatch::begin();
        for s in t.get(topic).into_iter().flatten() {
            if owner.is_some_and(|o| o.0 == s.conn) || !allowed(s, required) {
                continue;
            }
            match s.out.send_seq_batch(&refs, drop) {
                PushResult::Queued => n += 1,
                PushResult::Dropped => {
                    self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                }
                PushResult::Closed => {}
            }
        }
        std::mem::drop(t);
        let frames = n * refs.len() as u64;
        self.stats.delivered.fetch_add(frames, Ordering::Relaxed);
    }
}

/// The scope gate: ungated events reach everyone, gated ones operators with the scope.
fn allowed(s: &Subscriber, required: Option<&str>) -> bool {
    match required {
        None => true,
        Some(scope) => s.operator && satisfies(&s.scopes, scope),
    }
}

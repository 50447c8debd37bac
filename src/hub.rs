//! Fan-out: every authenticated socket is a subscriber; publishing encodes the event once
//! and pushes a cheap clone of the shared bytes into each matching socket's queue.
//!
//! The subscriber list is an immutable snapshot behind `ArcSwap`: publishers never lock and
//! never wait on a client; joins and leaves copy the list (rare next to publishes). Delivery
//! is gated by the event's required scope; `seq` is spliced per socket at write time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use openclaw_net::{Outbound, PushResult};
use openclaw_proto::encode::{event_parts, StateVersion};
use openclaw_proto::scope::{satisfies, GrantedScopes};
use serde::Serialize;

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
}

/// Counters for diagnostics and tests.
#[derive(Debug, Default)]
pub struct HubStats {
    /// Events published.
    pub published: AtomicU64,
    /// Frames dropped at full queues.
    pub dropped: AtomicU64,
}

/// The subscriber registry and publisher.
#[derive(Debug, Default)]
pub struct Hub {
    subs: ArcSwap<Vec<Arc<Subscriber>>>,
    /// Serializes writers of the snapshot (readers never take it).
    write: Mutex<()>,
    /// Publish counters.
    pub stats: HubStats,
}

impl Hub {
    /// Add a subscriber.
    pub fn join(&self, sub: Arc<Subscriber>) {
        let _g = self.write.lock().expect("hub lock");
        let mut v = Vec::clone(&self.subs.load());
        v.push(sub);
        self.subs.store(Arc::new(v));
    }

    /// Remove a subscriber by connection number.
    pub fn leave(&self, conn: u64) {
        let _g = self.write.lock().expect("hub lock");
        let cur = self.subs.load();
        if !cur.iter().any(|s| s.conn == conn) {
            return;
        }
        let v: Vec<_> = cur.iter().filter(|s| s.conn != conn).cloned().collect();
        self.subs.store(Arc::new(v));
    }

    /// Number of subscribers.
    pub fn len(&self) -> usize {
        self.subs.load().len()
    }

    /// `true` when nobody is subscribed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every subscriber's queue (for shutdown).
    pub fn all(&self) -> Arc<Vec<Arc<Subscriber>>> {
        self.subs.load_full()
    }

    /// Encode `payload` once and deliver it to every subscriber allowed to see `event`.
    /// Returns how many sockets it was queued for.
    pub fn publish<T: Serialize + ?Sized>(
        &self,
        event: &str,
        payload: &T,
        state_version: Option<StateVersion>,
        droppable: bool,
    ) -> usize {
        self.publish_filtered(event, payload, state_version, droppable, |_| true)
    }

    /// As [`publish`](Self::publish), also filtered by `keep`.
    pub fn publish_filtered<T: Serialize + ?Sized>(
        &self,
        event: &str,
        payload: &T,
        state_version: Option<StateVersion>,
        droppable: bool,
        keep: impl Fn(&Subscriber) -> bool,
    ) -> usize {
        let parts = event_parts(event, payload, state_version);
        let required = openclaw_proto::events::event_required_scope(event);
        self.stats.published.fetch_add(1, Ordering::Relaxed);
        let subs = self.subs.load();
        let mut n = 0;
        for s in subs.iter() {
            let allowed = match required {
                None => true,
                Some(scope) => s.operator && satisfies(&s.scopes, scope),
            };
            if !allowed || !keep(s) {
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
        n
    }
}

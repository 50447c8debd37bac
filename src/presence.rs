//! Presence: who is connected (ui/webchat/node clients, `system-event` beacons, and the
//! gateway itself), versioned by the `presence` counter of `stateVersion`.
//!
//! Entries are kept in arrival order, the gateway's own `self` entry first. A disconnect
//! keeps the entry marked `reason:"disconnect"` (as the Node gateway does) until it ages out
//! after [`PRESENCE_TTL_MS`]; the list is capped at [`MAX_PRESENCE_ENTRIES`].

use parking_lot::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use openclaw_proto::encode::StateVersion;
use serde_json::{Map, Value};

/// Entries older than this (and not the gateway's own) are pruned.
pub const PRESENCE_TTL_MS: u64 = 5 * 60 * 1000;
/// At most this many entries; the oldest non-self entries go first.
pub const MAX_PRESENCE_ENTRIES: usize = 200;

/// The per-domain state counters sent as `stateVersion`.
#[derive(Debug)]
pub struct Versions {
    presence: AtomicU64,
    health: AtomicU64,
}

impl Default for Versions {
    fn default() -> Self {
        Self {
            presence: AtomicU64::new(1),
            health: AtomicU64::new(1),
        }
    }
}

impl Versions {
    /// Current versions.
    pub fn current(&self) -> StateVersion {
        StateVersion {
            presence: self.presence.load(Ordering::Acquire),
            health: self.health.load(Ordering::Acquire),
        }
    }

    /// Bump the presence counter and return the new versions.
    pub fn bump_presence(&self) -> StateVersion {
        self.presence.fetch_add(1, Ordering::AcqRel);
        self.current()
    }

    /// Bump the health counter and return the new versions.
    pub fn bump_health(&self) -> StateVersion {
        self.health.fetch_add(1, Ordering::AcqRel);
        self.current()
    }
}

struct Entry {
    key: String,
    value: Map<String, Value>,
    ts: u64,
}

/// The presence list.
pub struct Presence {
    entries: Mutex<Vec<Entry>>,
}

impl std::fmt::Debug for Presence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Presence").finish_non_exhaustive()
    }
}

impl Presence {
    /// A list holding only the gateway's own entry.
    pub fn new(self_entry: Map<String, Value>, now: u64) -> Self {
        Self {
            entries: Mutex::new(vec![Entry {
                key: "self".into(),
                value: self_entry,
                ts: now,
            }]),
        }
    }

    /// A connection's entry under `key` (case-insensitive): replaces the fields, but the text
    /// written when the entry was first made is kept (as on the Node gateway, whose connect
    /// path sends no text: a reconnect under another name keeps the first line).
    pub fn upsert(&self, key: &str, value: Map<String, Value>, now: u64) {
        self.put(key, value, now, |old, new| {
            let text = old.remove("text");
            *old = new;
            if let Some(t) = text {
                old.insert("text".into(), t);
            }
        });
    }

    /// A `system-event` entry under `key`: merged over the existing one, new fields (the text
    /// included) winning, as the Node gateway's system presence update does.
    pub fn merge(&self, key: &str, value: Map<String, Value>, now: u64) {
        self.put(key, value, now, |old, new| old.extend(new));
    }

    fn put(
        &self,
        key: &str,
        value: Map<String, Value>,
        now: u64,
        apply: impl FnOnce(&mut Map<String, Value>, Map<String, Value>),
    ) {
        let key = key.to_ascii_lowercase();
        let mut v = self.entries.lock();
        if let Some(e) = v.iter_mut().find(|e| e.key == key) {
            apply(&mut e.value, value);
            e.ts = now;
        } else {
            v.push(Entry {
                key,
                value,
                ts: now,
            });
        }
        prune(&mut v, now);
    }

    /// Mark `key` disconnected (entry kept with `reason:"disconnect"`).
    pub fn disconnect(&self, key: &str, now: u64) -> bool {
        let key = key.to_ascii_lowercase();
        let mut v = self.entries.lock();
        let Some(e) = v.iter_mut().find(|e| e.key == key) else {
            return false;
        };
        e.value.insert("reason".into(), Value::from("disconnect"));
        e.value.insert("ts".into(), Value::from(now));
        e.ts = now;
        true
    }

    /// The list as sent on the wire.
    pub fn list(&self) -> Vec<Value> {
        let v = self.entries.lock();
        v.iter().map(|e| Value::Object(e.value.clone())).collect()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.lock().len()
    }

    /// `true` if only… never: the self entry is always there.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn prune(v: &mut Vec<Entry>, now: u64) {
    v.retain(|e| e.key == "self" || now.saturating_sub(e.ts) <= PRESENCE_TTL_MS);
    while v.len() > MAX_PRESENCE_ENTRIES {
        if let Some(i) = v.iter().position(|e| e.key != "self") {
            v.remove(i);
        } else {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(text: &str) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("text".into(), text.into());
        m
    }

    #[test]
    fn upsert_disconnect_ttl_and_cap() {
        let p = Presence::new(entry("self"), 0);
        p.upsert("A", entry("a"), 10);
        p.upsert("a", entry("a2"), 20);
        assert_eq!(p.len(), 2, "keys are case-insensitive");
        assert!(p.disconnect("A", 30));
        assert_eq!(p.list()[1]["reason"], "disconnect");
        p.upsert("b", entry("b"), 30 + PRESENCE_TTL_MS + 1);
        assert_eq!(p.len(), 2, "a aged out, self stays");
        for i in 0..(MAX_PRESENCE_ENTRIES + 10) {
            p.upsert(&format!("k{i}"), entry("x"), 400_000);
        }
        assert_eq!(p.len(), MAX_PRESENCE_ENTRIES);
        assert_eq!(p.list()[0]["text"], "self");
    }
}

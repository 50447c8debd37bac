//! The stability record behind `diagnostics.stability`: a bounded ring of runtime events —
//! start-up phases, scheduler stalls, memory samples, run-queue movement, slow consumers,
//! restarts — each with a sequence number. Recording is a short lock and a push; nothing here
//! knows where the events come from or how they go on the wire beyond their JSON fields.

use std::collections::{BTreeMap, VecDeque};

use parking_lot::Mutex;
use serde_json::{json, Map, Value};

use crate::clock::now_ms;

/// Events kept (the Node gateway keeps 1000). `gateway.limits` does not override it: it only
/// bounds memory (~200 B an event).
pub const CAPACITY: usize = 1000;
/// Events answered when the caller names no `limit` (Node: 50).
pub const DEFAULT_LIMIT: usize = 50;

#[derive(Default)]
struct Ring {
    events: VecDeque<Value>,
    next_seq: u64,
    dropped: u64,
    max_rss: u64,
    latest_rss: u64,
}

/// The ring; one per gateway.
#[derive(Default)]
pub struct Diagnostics {
    ring: Mutex<Ring>,
}

impl std::fmt::Debug for Diagnostics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Diagnostics").finish_non_exhaustive()
    }
}

impl Diagnostics {
    /// Record one event of `kind` with `fields` (an object; `seq`, `ts`, `type` are added).
    pub fn record(&self, kind: &str, fields: Value) {
        let mut e = match fields {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        // Built before the lock; the sequence number is filled in under it. The event pushed
        // out of a full ring is dropped after the lock is released.
        e.insert("seq".into(), Value::Null);
        e.insert("ts".into(), json!(now_ms()));
        e.insert("type".into(), json!(kind));
        let evicted = {
            let mut r = self.ring.lock();
            r.next_seq += 1;
            if let Some(seq) = e.get_mut("seq") {
                *seq = json!(r.next_seq);
            }
            let evicted = if r.events.len() == CAPACITY {
                r.dropped += 1;
                r.events.pop_front()
            } else {
                None
            };
            r.events.push_back(Value::Object(e));
            evicted
        };
        drop(evicted);
    }

    /// Record a memory sample (also kept for the summary's latest and maximum).
    pub fn memory_sample(&self, rss_bytes: u64) {
        {
            let mut r = self.ring.lock();
            r.latest_rss = rss_bytes;
            r.max_rss = r.max_rss.max(rss_bytes);
        }
        self.record(
            "diagnostic.memory.sample",
            json!({ "memory": { "rssBytes": rss_bytes } }),
        );
    }

    /// The `diagnostics.stability` answer: the last `limit` events (of `kind`, when given),
    /// oldest first, with counts by type over everything kept.
    pub fn stability(&self, kind: Option<&str>, limit: usize) -> Value {
        let r = self.ring.lock();
        let matching: Vec<&Value> = r
            .events
            .iter()
            .filter(|e| kind.is_none_or(|k| e["type"] == k))
            .collect();
        let mut by_type: BTreeMap<&str, u64> = BTreeMap::new();
        for e in &matching {
            *by_type.entry(e["type"].as_str().unwrap_or("")).or_default() += 1;
        }
        let skip = matching.len().saturating_sub(limit);
        let events: Vec<&Value> = matching[skip..].to_vec();
        let seq = |e: Option<&&Value>| e.and_then(|e| e["seq"].as_u64());
        let mut summary = json!({ "byType": by_type });
        if kind.is_none() && r.latest_rss > 0 {
            summary["memory"] = json!({
                "latest": { "rssBytes": r.latest_rss },
                "maxRssBytes": r.max_rss,
                "pressureCount": 0,
            });
        }
        json!({
            "generatedAt": crate::config::clock::LocalTime::utc_from_epoch_ms(now_ms() as i64).utc_iso_string(),
            "capacity": CAPACITY,
            "count": matching.len(),
            "dropped": r.dropped,
            "firstSeq": seq(matching.first()),
            "lastSeq": seq(matching.last()),
            "events": events,
            "summary": summary,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_keeps_the_newest_and_counts_what_it_dropped() {
        let d = Diagnostics::default();
        for i in 0..(CAPACITY + 5) {
            d.record("queue.lane.enqueue", json!({ "queueSize": i }));
        }
        d.record("connection.slow_consumer", json!({ "conn": 7 }));
        let all = d.stability(None, 3);
        assert_eq!(all["count"], CAPACITY);
        assert_eq!(all["dropped"], 6);
        assert_eq!(all["events"].as_array().unwrap().len(), 3);
        assert_eq!(all["lastSeq"], (CAPACITY + 6) as u64);
        assert_eq!(all["events"][2]["type"], "connection.slow_consumer");
        assert_eq!(all["summary"]["byType"]["connection.slow_consumer"], 1);
        let slow = d.stability(Some("connection.slow_consumer"), DEFAULT_LIMIT);
        assert_eq!(slow["count"], 1);
        assert_eq!(slow["events"][0]["conn"], 7);
    }
}

//! Work queued for a node (`node.pending.enqueue` / `node.pending.drain`), as the Node
//! gateway keeps it: per node, in memory, at most one item per type (a repeat returns the
//! queued one unchanged), expiring lazily, drained by priority then age, with a revision that
//! moves once per change and a synthetic `baseline-status` item when no status request is
//! queued. Who may enqueue or drain is the RPC layer's business.

use std::collections::HashMap;

use parking_lot::Mutex;
use serde_json::{json, Value};

/// Default time to live of a queued item (24 h).
pub const DEFAULT_TTL_MS: u64 = 86_400_000;
/// Items a drain returns when it does not say.
pub const DEFAULT_DRAIN_ITEMS: usize = 4;
/// The most items one drain returns.
pub const MAX_DRAIN_ITEMS: usize = 10;
/// The id of the synthetic status request.
pub const BASELINE_ID: &str = "baseline-status";

/// One queued item.
#[derive(Clone, Debug)]
struct Item {
    id: String,
    kind: String,
    priority: &'static str,
    created_ms: u64,
    expires_ms: u64,
}

impl Item {
    fn json(&self) -> Value {
        json!({ "id": self.id, "type": self.kind, "priority": self.priority,
                "createdAtMs": self.created_ms, "expiresAtMs": self.expires_ms })
    }

    fn rank(&self) -> u8 {
        match self.priority {
            "high" => 3,
            "normal" => 2,
            _ => 1,
        }
    }
}

#[derive(Debug, Default)]
struct Queue {
    revision: u64,
    items: Vec<Item>,
}

impl Queue {
    /// Drop expired items; one revision step if any went.
    fn prune(&mut self, now: u64) {
        let before = self.items.len();
        self.items.retain(|i| i.expires_ms > now);
        if self.items.len() != before {
            self.revision += 1;
        }
    }
}

/// The queues of every node.
#[derive(Debug, Default)]
pub struct PendingWork {
    queues: Mutex<HashMap<String, Queue>>,
}

impl PendingWork {
    /// Queue `kind` for `node` (or return the item of that kind already queued): the
    /// `node.pending.enqueue` result without `wakeTriggered`.
    pub fn enqueue(&self, node: &str, kind: &str, high: bool, ttl_ms: u64, now: u64) -> Value {
        let mut qs = self.queues.lock();
        let q = qs.entry(node.to_string()).or_default();
        q.prune(now);
        let item = match q.items.iter().find(|i| i.kind == kind) {
            Some(i) => i.clone(),
            None => {
                let i = Item {
                    id: uuid::Uuid::new_v4().to_string(),
                    kind: kind.to_string(),
                    priority: if high { "high" } else { "normal" },
                    created_ms: now,
                    expires_ms: now + ttl_ms.max(1000),
                };
                q.items.push(i.clone());
                q.revision += 1;
                i
            }
        };
        json!({ "nodeId": node, "revision": q.revision, "queued": item.json() })
    }

    /// Take up to `max` items for `node`, highest priority then oldest first, plus the
    /// baseline status request when none is queued and there is room: the
    /// `node.pending.drain` result.
    pub fn drain(&self, node: &str, max: usize, now: u64) -> Value {
        let max = max.clamp(1, MAX_DRAIN_ITEMS);
        let mut qs = self.queues.lock();
        let (revision, mut items, left, has_status) = match qs.get_mut(node) {
            None => (0, Vec::new(), 0, false),
            Some(q) => {
                q.prune(now);
                q.items.sort_by(|a, b| {
                    (b.rank(), a.created_ms, &a.id).cmp(&(a.rank(), b.created_ms, &b.id))
                });
                let take = q.items.len().min(max);
                let taken: Vec<Item> = q.items.drain(..take).collect();
                if !taken.is_empty() {
                    q.revision += 1;
                }
                let has_status = taken
                    .iter()
                    .chain(&q.items)
                    .any(|i| i.kind == "status.request");
                (q.revision, taken, q.items.len(), has_status)
            }
        };
        // An emptied queue is forgotten after this answer: the next one starts again at 0.
        if left == 0 {
            qs.remove(node);
        }
        drop(qs);
        let mut out: Vec<Value> = items.drain(..).map(|i| i.json()).collect();
        let mut wants_baseline = !has_status;
        if wants_baseline && out.len() < max {
            out.push(
                json!({ "id": BASELINE_ID, "type": "status.request", "priority": "default",
                             "createdAtMs": now, "expiresAtMs": null }),
            );
            wants_baseline = false;
        }
        json!({ "nodeId": node, "revision": revision, "items": out,
                "hasMore": left > 0 || wants_baseline })
    }

    /// Forget `node`'s queue (its pairing went away).
    pub fn forget(&self, node: &str) {
        self.queues.lock().remove(node);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_dedupe_by_type_and_drains_go_by_priority_then_age() {
        let w = PendingWork::default();
        let a = w.enqueue("n", "status.request", true, 60_000, 1000);
        assert_eq!(a["revision"], 1);
        let again = w.enqueue("n", "status.request", false, 5_000, 1001);
        assert_eq!(again["queued"], a["queued"], "the queued item, unchanged");
        assert_eq!(again["revision"], 1);
        let b = w.enqueue("n", "location.request", false, DEFAULT_TTL_MS, 1002);
        assert_eq!(b["revision"], 2);
        let d = w.drain("n", 1, 1003);
        assert_eq!(d["items"][0]["id"], a["queued"]["id"]);
        assert_eq!(
            (d["revision"].as_u64(), d["hasMore"].as_bool()),
            (Some(3), Some(true))
        );
        // The last item, then the baseline; the emptied queue is forgotten afterwards.
        let d = w.drain("n", 4, 1004);
        assert_eq!(d["items"][1]["id"], BASELINE_ID);
        assert_eq!(
            (d["revision"].as_u64(), d["hasMore"].as_bool()),
            (Some(4), Some(false))
        );
        let d = w.drain("n", 4, 1005);
        assert_eq!(d["items"][0]["id"], BASELINE_ID);
        assert_eq!(d["revision"], 0);
    }

    #[test]
    fn expired_items_go_on_the_next_call_and_count_as_a_change() {
        let w = PendingWork::default();
        w.enqueue("n", "location.request", false, 1000, 0);
        let s = w.enqueue("n", "status.request", false, 1000, 1500);
        assert_eq!(s["revision"], 3, "the prune is one step, the add another");
        let d = w.drain("n", 4, 1600);
        assert_eq!(d["items"].as_array().unwrap().len(), 1);
        assert_eq!(d["revision"], 4);
        // Only expired items left: the prune is the change the drain reports.
        w.enqueue("m", "location.request", false, 1000, 0);
        let d = w.drain("m", 4, 1500);
        assert_eq!(
            (d["revision"].as_u64(), d["items"][0]["id"].as_str()),
            (Some(2), Some(BASELINE_ID))
        );
    }
}

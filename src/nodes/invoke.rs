//! Invocations in flight: each `node.invoke` waits here, keyed by its invoke id, until the
//! node answers (`node.invoke.result`), its socket goes, or the caller's deadline passes. The
//! table is bounded (`gateway.limits.maxPendingNodeInvokes`, default
//! [`crate::config::limits::DEFAULT_MAX_PENDING_NODE_INVOKES`])
//! and every exit removes the entry, so nothing outlives its caller.

use std::collections::HashMap;

use openclaw_net::Outbound;
use parking_lot::Mutex;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::oneshot;

/// `node.invoke` timeout when the caller gives none (the Node gateway's 30 s).
pub const DEFAULT_INVOKE_TIMEOUT_MS: u64 = 30_000;
/// Largest `node.invoke.result` payload accepted (the gateway's frame limit bounds it too).
pub const MAX_RESULT_BYTES: usize = 16 * 1024 * 1024;

/// How an invocation ended, as the node reported it.
#[derive(Debug)]
pub enum Outcome {
    /// `node.invoke.result`.
    Done {
        ok: bool,
        payload: Option<Value>,
        payload_json: Option<String>,
        error: Option<Value>,
    },
    /// The node's socket closed first.
    Disconnected,
}

#[derive(Debug)]
struct Pending {
    conn: u64,
    node_id: String,
    tx: oneshot::Sender<Outcome>,
}

/// The table of invocations in flight.
#[derive(Debug, Default)]
pub struct Invokes {
    map: Mutex<HashMap<String, Pending>>,
}

impl Invokes {
    /// Register invocation `id` sent to `node_id` on socket `conn`; `None` when `max` are
    /// already waiting.
    pub fn begin(
        &self,
        id: &str,
        conn: u64,
        node_id: &str,
        max: usize,
    ) -> Option<oneshot::Receiver<Outcome>> {
        let mut m = self.map.lock();
        if m.len() >= max.max(1) {
            return None;
        }
        let (tx, rx) = oneshot::channel();
        m.insert(
            id.to_string(),
            Pending {
                conn,
                node_id: node_id.to_string(),
                tx,
            },
        );
        Some(rx)
    }

    /// The node on `conn` answered `id`; `false` when nothing waits for it (late or foreign).
    pub fn finish(&self, id: &str, conn: u64, node_id: &str, outcome: Outcome) -> bool {
        let mut m = self.map.lock();
        match m.get(id) {
            Some(p) if p.conn == conn && p.node_id == node_id => {}
            _ => return false,
        }
        let p = m.remove(id).expect("checked above");
        drop(m);
        p.tx.send(outcome).is_ok()
    }

    /// The caller stopped waiting for `id` (deadline, or its socket left).
    pub fn forget(&self, id: &str) {
        self.map.lock().remove(id);
    }

    /// Socket `conn` closed: every invocation sent to it ends as disconnected.
    pub fn disconnected(&self, conn: u64) {
        let gone: Vec<Pending> = {
            let mut m = self.map.lock();
            let ids: Vec<String> = m
                .iter()
                .filter(|(_, p)| p.conn == conn)
                .map(|(k, _)| k.clone())
                .collect();
            ids.iter().filter_map(|k| m.remove(k)).collect()
        };
        for p in gone {
            let _ = p.tx.send(Outcome::Disconnected);
        }
    }

    /// Invocations waiting now.
    pub fn len(&self) -> usize {
        self.map.lock().len()
    }

    /// `true` when none waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Send event `name` to one node socket (point to point, never broadcast).
pub fn send_event<T: Serialize + ?Sized>(out: &Outbound, name: &str, payload: &T) -> bool {
    let parts = openclaw_proto::event_parts(name, payload, None);
    matches!(
        out.send_seq(&parts.head, &parts.tail, false),
        openclaw_net::PushResult::Queued
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_bounded_and_every_exit_empties_it() {
        let t = Invokes::default();
        let a = t.begin("a", 1, "n", 2).unwrap();
        let _b = t.begin("b", 2, "n", 2).unwrap();
        assert!(t.begin("c", 1, "n", 2).is_none(), "a full table refuses");
        assert!(
            !t.finish("a", 2, "n", Outcome::Disconnected),
            "wrong socket"
        );
        assert!(
            !t.finish("a", 1, "other", Outcome::Disconnected),
            "wrong node"
        );
        t.disconnected(1);
        assert!(matches!(a.blocking_recv(), Ok(Outcome::Disconnected)));
        t.forget("b");
        assert!(t.is_empty());
        assert!(!t.finish("b", 2, "n", Outcome::Disconnected), "late result");
    }
}

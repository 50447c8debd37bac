//! Exec approvals in flight: a request waits here until an operator decides, it expires, or
//! nobody could be asked; waiters (`exec.approval.waitDecision`, a blocking request) are told
//! once. In memory and bounded (pending approvals do not survive a restart, as on the Node
//! gateway); a decided approval is kept a little while so a late waiter still gets the answer.
//! Who is asked and what goes on the wire is `rpc/exec_approvals.rs`'s.

use std::collections::HashMap;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::{json, Value};
use tokio::sync::watch;

/// Exec approvals that may be pending at once; one more is refused.
pub const MAX_PENDING_APPROVALS: usize = 1024;
/// How long a request waits when it names no `timeoutMs` (the Node gateway's 30 min).
pub const DEFAULT_APPROVAL_TIMEOUT_MS: u64 = 30 * 60 * 1000;
/// How long a decided approval stays answerable by `waitDecision`.
pub const DECIDED_KEEP_MS: u64 = 60_000;
/// The decisions an operator may give.
pub const DECISIONS: &[&str] = &["allow-once", "allow-always", "deny"];

/// How an approval ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// `allow-once`, `allow-always`, `deny`, or none (expired / nobody to ask).
    pub decision: Option<String>,
    /// `user`, `timeout`, `no-route`.
    pub terminal: &'static str,
}

#[derive(Debug)]
struct Entry {
    request: Value,
    created_ms: u64,
    expires_ms: u64,
    tx: watch::Sender<Option<Decision>>,
}

/// The table of exec approvals.
#[derive(Debug, Default)]
pub struct ExecApprovals {
    map: Mutex<HashMap<String, Entry>>,
}

/// Why a request was not taken.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// The id is taken, or the table is full.
    Unavailable,
}

impl ExecApprovals {
    /// Record request `id`; `Refused` when the id exists or too many are pending.
    pub fn open(
        &self,
        id: &str,
        request: Value,
        created_ms: u64,
        timeout_ms: u64,
    ) -> Result<(), Refused> {
        let mut m = self.map.lock();
        let pending = m.values().filter(|e| e.tx.borrow().is_none()).count();
        if m.contains_key(id) || pending >= MAX_PENDING_APPROVALS {
            return Err(Refused::Unavailable);
        }
        let (tx, _) = watch::channel(None);
        m.insert(
            id.to_string(),
            Entry {
                request,
                created_ms,
                expires_ms: created_ms + timeout_ms,
                tx,
            },
        );
        Ok(())
    }

    /// Decide `id`; its request when it was pending (`None`: unknown or already decided).
    pub fn decide(&self, id: &str, d: Decision) -> Option<Value> {
        let m = self.map.lock();
        let e = m.get(id)?;
        if e.tx.borrow().is_some() {
            return None;
        }
        e.tx.send_replace(Some(d));
        Some(e.request.clone())
    }

    /// `(request, createdAtMs, expiresAtMs, decision so far)` of `id`.
    pub fn get(&self, id: &str) -> Option<(Value, u64, u64, Option<Decision>)> {
        let m = self.map.lock();
        let e = m.get(id)?;
        let d = e.tx.borrow().clone();
        Some((e.request.clone(), e.created_ms, e.expires_ms, d))
    }

    /// The pending approvals, oldest first, as `exec.approval.list` shows them.
    pub fn pending(&self) -> Vec<Value> {
        let m = self.map.lock();
        let mut v: Vec<(&String, &Entry)> =
            m.iter().filter(|(_, e)| e.tx.borrow().is_none()).collect();
        v.sort_by_key(|(id, e)| (e.created_ms, (*id).clone()));
        v.into_iter()
            .map(|(id, e)| {
                json!({ "id": id, "request": e.request, "createdAtMs": e.created_ms,
                        "expiresAtMs": e.expires_ms, "approvalKind": "exec" })
            })
            .collect()
    }

    /// Wait (up to `limit`) for `id`'s decision; `None` when `id` is unknown.
    pub async fn wait(&self, id: &str, limit: Duration) -> Option<Option<Decision>> {
        let mut rx = self.map.lock().get(id)?.tx.subscribe();
        let got = tokio::time::timeout(limit, rx.wait_for(Option::is_some)).await;
        Some(match got {
            Ok(Ok(d)) => d.clone(),
            _ => None,
        })
    }

    /// Drop decided approvals older than [`DECIDED_KEEP_MS`] past their expiry.
    pub fn prune(&self, now_ms: u64) {
        self.map.lock().retain(|_, e| {
            e.tx.borrow().is_none() || now_ms < e.expires_ms.max(e.created_ms) + DECIDED_KEEP_MS
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_decision_reaches_every_waiter_once() {
        let t = ExecApprovals::default();
        t.open("a", json!({"command": "ls"}), 0, 1000).unwrap();
        assert_eq!(t.open("a", json!({}), 0, 1000), Err(Refused::Unavailable));
        assert_eq!(t.pending().len(), 1);
        let waiting = t.wait("a", Duration::from_secs(5));
        let d = Decision {
            decision: Some("deny".into()),
            terminal: "user",
        };
        let (got, req) = tokio::join!(waiting, async { t.decide("a", d.clone()) });
        assert_eq!(got, Some(Some(d.clone())));
        assert_eq!(req.unwrap()["command"], "ls");
        assert!(t.decide("a", d.clone()).is_none(), "decided once");
        assert!(t.pending().is_empty());
        assert_eq!(
            t.wait("a", Duration::from_secs(5)).await,
            Some(Some(d)),
            "a late waiter"
        );
        assert_eq!(t.wait("b", Duration::from_secs(5)).await, None);
        t.prune(1000 + DECIDED_KEEP_MS);
        assert!(t.get("a").is_none());
    }
}

//! Pairing records, durable: approved node surfaces, pending node and device pairing
//! requests, device labels — kept as their wire JSON in `$STATE/state/openclaw.sqlite` (beside
//! the paired devices) with an in-memory view. What a record means — policy, events, who may
//! approve — is `nodes/`'s and `rpc/devices.rs`'s.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use parking_lot::RwLock;
use rusqlite::{params, Connection};
use serde_json::Value;

use super::group::{answer, Ack, Reply, Write, Writer};
use super::StoreError;

/// Writes a single group commit may gather.
const MAX_GROUP_COMMIT: usize = 64;

/// Which table a record lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// An approved node surface, keyed by node id.
    Paired,
    /// A pending node pairing request, keyed by request id.
    Pending,
    /// A pending device pairing request, keyed by request id.
    DevicePending,
    /// An operator's label for a paired device, keyed by device id.
    DeviceLabel,
    /// What a paired device said of itself when it asked (`displayName`, `deviceFamily`,
    /// `clientMode`, `remoteIp`), keyed by device id.
    DeviceMeta,
    /// Revoked device tokens, keyed by device id: `{role: revokedAtMs}`.
    DeviceRevoked,
    /// The gateway's exec-approvals policy document (`{raw}`), keyed `current`.
    ExecPolicy,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Paired => "paired",
            Kind::Pending => "pending",
            Kind::DevicePending => "device-pending",
            Kind::DeviceLabel => "device-label",
            Kind::DeviceMeta => "device-meta",
            Kind::DeviceRevoked => "device-revoked",
            Kind::ExecPolicy => "exec-policy",
        }
    }

    fn parse(s: &str) -> Option<Kind> {
        [
            Kind::Paired,
            Kind::Pending,
            Kind::DevicePending,
            Kind::DeviceLabel,
            Kind::DeviceMeta,
            Kind::DeviceRevoked,
            Kind::ExecPolicy,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

enum Op {
    Put(Kind, String, String, Ack<()>),
    Del(Kind, String, Ack<()>),
}

impl Write for Op {
    type Effect = ();

    fn apply(self, tx: &Connection, (): &mut ()) -> Reply {
        match self {
            Op::Put(k, id, json, ack) => answer(
                Some(ack),
                tx.execute(
                    "INSERT OR REPLACE INTO node_pairing (kind, id, record) VALUES (?1, ?2, ?3)",
                    params![k.as_str(), id, json],
                )
                .map(|_| ()),
            ),
            Op::Del(k, id, ack) => answer(
                Some(ack),
                tx.execute(
                    "DELETE FROM node_pairing WHERE kind = ?1 AND id = ?2",
                    params![k.as_str(), id],
                )
                .map(|_| ()),
            ),
        }
    }

    fn skip(self) -> Reply {
        match self {
            Op::Put(.., ack) | Op::Del(.., ack) => answer(Some(ack), Ok(())),
        }
    }
}

type Cache = BTreeMap<(Kind, String), Value>;

/// Handle to the node pairing records; cheap to clone.
#[derive(Clone)]
pub struct NodeStore {
    cache: Arc<RwLock<Cache>>,
    tx: Writer<Op>,
}

impl std::fmt::Debug for NodeStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeStore").finish_non_exhaustive()
    }
}

fn load(c: &Connection) -> Result<Cache, StoreError> {
    let mut st = c.prepare("SELECT kind, id, record FROM node_pairing")?;
    let rows = st.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
        ))
    })?;
    let mut m = Cache::new();
    for row in rows {
        let (kind, id, rec) = row?;
        let Some(kind) = Kind::parse(&kind) else {
            continue;
        };
        if let Ok(v) = serde_json::from_str(&rec) {
            m.insert((kind, id), v);
        }
    }
    Ok(m)
}

impl NodeStore {
    /// Open (creating) the records under `state_dir`. Blocking: call at start-up.
    ///
    /// # Errors
    /// The database cannot be created or read.
    pub fn open(state_dir: &Path) -> Result<Self, StoreError> {
        let dir = state_dir.join("state");
        std::fs::create_dir_all(&dir)?;
        let c = super::open_wal(&dir.join("openclaw.sqlite"))?;
        c.execute_batch(
            "CREATE TABLE IF NOT EXISTS node_pairing (
                kind TEXT NOT NULL, id TEXT NOT NULL, record TEXT NOT NULL,
                PRIMARY KEY (kind, id));",
        )?;
        let cache = load(&c)?;
        let tx = Writer::spawn("nodes", c, MAX_GROUP_COMMIT, |_, ()| {})?;
        Ok(Self {
            cache: Arc::new(RwLock::new(cache)),
            tx,
        })
    }

    /// One record.
    pub fn get(&self, kind: Kind, id: &str) -> Option<Value> {
        self.cache.read().get(&(kind, id.to_string())).cloned()
    }

    /// Every record of `kind`, by id.
    pub fn all(&self, kind: Kind) -> Vec<(String, Value)> {
        self.cache
            .read()
            .iter()
            .filter(|((k, _), _)| *k == kind)
            .map(|((_, id), v)| (id.clone(), v.clone()))
            .collect()
    }

    /// The first record of `kind` matching `hit`, without copying the others.
    pub fn find(&self, kind: Kind, hit: impl Fn(&Value) -> bool) -> Option<(String, Value)> {
        self.cache
            .read()
            .iter()
            .find(|((k, _), v)| *k == kind && hit(v))
            .map(|((_, id), v)| (id.clone(), v.clone()))
    }

    /// Insert or replace a record; resolves once committed.
    ///
    /// # Errors
    /// The commit failed; the in-memory view is unchanged then.
    pub async fn put(&self, kind: Kind, id: &str, v: Value) -> Result<(), StoreError> {
        let json = v.to_string();
        let key = id.to_string();
        self.tx.call(|ack| Op::Put(kind, key, json, ack)).await?;
        self.cache.write().insert((kind, id.to_string()), v);
        Ok(())
    }

    /// Delete a record; resolves once committed.
    ///
    /// # Errors
    /// The commit failed.
    pub async fn delete(&self, kind: Kind, id: &str) -> Result<(), StoreError> {
        let key = id.to_string();
        self.tx.call(|ack| Op::Del(kind, key, ack)).await?;
        self.cache.write().remove(&(kind, id.to_string()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn records_survive_reopen() {
        let dir = std::env::temp_dir().join(format!("oc-nodes-{}", uuid::Uuid::new_v4()));
        let s = NodeStore::open(&dir).unwrap();
        s.put(Kind::Paired, "n1", serde_json::json!({"nodeId": "n1"}))
            .await
            .unwrap();
        s.put(Kind::Pending, "r1", serde_json::json!({"requestId": "r1"}))
            .await
            .unwrap();
        s.delete(Kind::Pending, "r1").await.unwrap();
        drop(s);
        let s2 = NodeStore::open(&dir).unwrap();
        assert_eq!(s2.get(Kind::Paired, "n1").unwrap()["nodeId"], "n1");
        assert!(s2.all(Kind::Pending).is_empty());
        let _ = std::fs::remove_dir_all(dir);
    }
}

//! Paired devices and the gateway identity: the in-memory view plus the SQLite writer.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::RwLock;

use rusqlite::{params, Connection, OptionalExtension};

/// Writes a single group commit may gather.
const MAX_GROUP_COMMIT: usize = 256;

/// One approved device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceRecord {
    /// Lower-case hex SHA-256 of the public key.
    pub device_id: String,
    /// Base64url raw public key.
    pub public_key: String,
    /// Approved roles, comma-separated (`operator`, `node`, `operator,node`).
    pub role: String,
    /// Approved scopes.
    pub scopes: Vec<String>,
    /// The device token issued to it.
    pub token: String,
    /// When the token was issued.
    pub token_issued_ms: u64,
    /// When it was approved.
    pub approved_ms: u64,
    /// `client.id` at pairing.
    pub client_id: String,
    /// `client.platform` at pairing.
    pub platform: String,
    /// How it was approved (`silent` for local auto-approval).
    pub provenance: String,
}

enum Op {
    Upsert(DeviceRecord, Ack<()>),
    Remove(String, Ack<()>),
}

use super::group::{answer, Ack, Reply, Write, Writer};
use super::StoreError;

/// Handle to the device store; cheap to clone.
#[derive(Clone)]
pub struct DeviceStore {
    cache: Arc<RwLock<HashMap<String, DeviceRecord>>>,
    tx: Writer<Op>,
    path: PathBuf,
    identity: Arc<[u8; 32]>,
}

impl std::fmt::Debug for DeviceStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn open(path: &Path) -> Result<Connection, StoreError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
        }
    }
    let c = super::open_wal(path)?;
    c.execute_batch(
        "CREATE TABLE IF NOT EXISTS devices (
            device_id TEXT PRIMARY KEY,
            public_key TEXT NOT NULL,
            role TEXT NOT NULL,
            scopes TEXT NOT NULL,
            token TEXT NOT NULL,
            token_issued_ms INTEGER NOT NULL,
            approved_ms INTEGER NOT NULL,
            client_id TEXT NOT NULL,
            platform TEXT NOT NULL,
            provenance TEXT NOT NULL
        );
        CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);",
    )?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
    Ok(c)
}

fn load(c: &Connection) -> Result<HashMap<String, DeviceRecord>, StoreError> {
    let mut st = c.prepare(
        "SELECT device_id, public_key, role, scopes, token, token_issued_ms, approved_ms,
                client_id, platform, provenance FROM devices",
    )?;
    let rows = st.query_map([], |r| {
        let scopes: String = r.get(3)?;
        Ok(DeviceRecord {
            device_id: r.get(0)?,
            public_key: r.get(1)?,
            role: r.get(2)?,
            scopes: serde_json::from_str(&scopes).unwrap_or_default(),
            token: r.get(4)?,
            token_issued_ms: r.get::<_, i64>(5)? as u64,
            approved_ms: r.get::<_, i64>(6)? as u64,
            client_id: r.get(7)?,
            platform: r.get(8)?,
            provenance: r.get(9)?,
        })
    })?;
    let mut m = HashMap::new();
    for row in rows {
        let d = row?;
        m.insert(d.device_id.clone(), d);
    }
    Ok(m)
}

fn identity(c: &Connection) -> Result<[u8; 32], StoreError> {
    let cur: Option<Vec<u8>> = c
        .query_row(
            "SELECT value FROM meta WHERE key = 'gateway_identity_seed'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(v) = cur.and_then(|v| <[u8; 32]>::try_from(v).ok()) {
        return Ok(v);
    }
    let seed: [u8; 32] = rand::random();
    c.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES ('gateway_identity_seed', ?1)",
        params![seed.to_vec()],
    )?;
    Ok(seed)
}

impl Write for Op {
    type Effect = ();

    fn apply(self, tx: &Connection, (): &mut ()) -> Reply {
        match self {
            Op::Upsert(d, ack) => answer(Some(ack), upsert(tx, &d)),
            Op::Remove(id, ack) => answer(
                Some(ack),
                tx.execute("DELETE FROM devices WHERE device_id = ?1", params![id])
                    .map(|_| ()),
            ),
        }
    }

    fn skip(self) -> Reply {
        match self {
            Op::Upsert(_, ack) | Op::Remove(_, ack) => answer(Some(ack), Ok(())),
        }
    }
}

fn upsert(tx: &Connection, d: &DeviceRecord) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT OR REPLACE INTO devices (device_id, public_key, role, scopes, token,
            token_issued_ms, approved_ms, client_id, platform, provenance)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            d.device_id,
            d.public_key,
            d.role,
            serde_json::to_string(&d.scopes).unwrap_or_else(|_| "[]".into()),
            d.token,
            d.token_issued_ms as i64,
            d.approved_ms as i64,
            d.client_id,
            d.platform,
            d.provenance
        ],
    )?;
    Ok(())
}

impl DeviceStore {
    /// Open (creating) the store under `state_dir`. Blocking: call at start-up or from
    /// `spawn_blocking`.
    ///
    /// # Errors
    /// The database cannot be created or read.
    pub fn open(state_dir: &Path) -> Result<Self, StoreError> {
        let path = state_dir.join("state").join("openclaw.sqlite");
        let c = open(&path)?;
        let cache = load(&c)?;
        let seed = identity(&c)?;
        let tx = Writer::spawn("devices", c, MAX_GROUP_COMMIT, |_, ()| {})?;
        Ok(Self {
            cache: Arc::new(RwLock::new(cache)),
            tx,
            path,
            identity: Arc::new(seed),
        })
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The gateway's own Ed25519 seed (stable across restarts).
    pub fn identity_seed(&self) -> [u8; 32] {
        *self.identity
    }

    /// A paired device by id.
    pub fn get(&self, device_id: &str) -> Option<DeviceRecord> {
        self.cache.read().get(device_id).cloned()
    }

    /// Every paired device, oldest approval first.
    pub fn list(&self) -> Vec<DeviceRecord> {
        let mut v: Vec<DeviceRecord> = self.cache.read().values().cloned().collect();
        v.sort_by(|a, b| (a.approved_ms, &a.device_id).cmp(&(b.approved_ms, &b.device_id)));
        v
    }

    /// Number of paired devices.
    pub fn len(&self) -> usize {
        self.cache.read().len()
    }

    /// `true` when no device is paired.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Insert or replace a device; resolves once the write is committed.
    ///
    /// # Errors
    /// The commit failed; the in-memory view is unchanged then.
    pub async fn upsert(&self, d: DeviceRecord) -> Result<(), StoreError> {
        self.tx.call(|ack| Op::Upsert(d.clone(), ack)).await?;
        self.cache.write().insert(d.device_id.clone(), d);
        Ok(())
    }

    /// Remove a device; resolves once committed.
    ///
    /// # Errors
    /// The commit failed.
    pub async fn remove(&self, device_id: &str) -> Result<(), StoreError> {
        self.tx
            .call(|ack| Op::Remove(device_id.to_string(), ack))
            .await?;
        self.cache.write().remove(device_id);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: &str) -> DeviceRecord {
        DeviceRecord {
            device_id: id.into(),
            public_key: "pk".into(),
            role: "operator".into(),
            scopes: vec!["operator.read".into()],
            token: "tok".into(),
            token_issued_ms: 1,
            approved_ms: 2,
            client_id: "cli".into(),
            platform: "linux".into(),
            provenance: "silent".into(),
        }
    }

    #[tokio::test]
    async fn devices_survive_reopen_and_identity_is_stable() {
        let dir = std::env::temp_dir().join(format!("oc-store-{}", uuid::Uuid::new_v4()));
        let s = DeviceStore::open(&dir).unwrap();
        let seed = s.identity_seed();
        s.upsert(rec("a")).await.unwrap();
        s.upsert(rec("b")).await.unwrap();
        s.remove("b").await.unwrap();
        drop(s);
        let s2 = DeviceStore::open(&dir).unwrap();
        assert_eq!(s2.get("a"), Some(rec("a")));
        assert!(s2.get("b").is_none());
        assert_eq!(s2.identity_seed(), seed);
        let _ = std::fs::remove_dir_all(dir);
    }
}

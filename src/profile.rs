//! The gateway owner's profile: the one person a paired device (the Control UI, the CLI
//! with a device identity) speaks for here — creation time and UI preferences (theme, fonts,
//! …), kept in `$STATE/state/profile.json` and written atomically on the blocking pool.
//! The wire methods are `rpc::profile`'s; there are no multi-user accounts.

use std::path::{Path, PathBuf};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The owner's profile id (the Node gateway's name for it).
pub const OWNER_PROFILE_ID: &str = "gateway-owner";
/// Most preferences one `users.prefs.set` may carry (the schema's `maxProperties`).
pub const MAX_PREF_ENTRIES: usize = 32;
/// Longest preference key.
pub const MAX_PREF_KEY_CHARS: usize = 256;
/// Largest preference value, serialized.
pub const MAX_PREF_VALUE_BYTES: usize = 32 * 1024;

#[derive(Clone, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Doc {
    created_at: u64,
    updated_at: u64,
    prefs: Map<String, Value>,
}

/// Why a preference write was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum PrefError {
    /// `key`: `invalid-key` or `value-too-large`.
    Entry(String, &'static str),
    /// The file could not be written (the in-memory state is unchanged).
    Store(String),
}

/// The profile, cached in memory.
#[derive(Debug)]
pub struct Profile {
    path: PathBuf,
    doc: Mutex<Doc>,
    /// Serializes writers so the file ends with the last state.
    writing: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Doc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Doc")
            .field("prefs", &self.prefs.len())
            .finish()
    }
}

impl Profile {
    /// Load (or start) the profile of the state dir `state`. Blocking.
    pub fn open(state: &Path, now_ms: u64) -> Profile {
        let path = state.join("state").join("profile.json");
        let doc = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice::<Doc>(&b).ok())
            .unwrap_or(Doc {
                created_at: now_ms,
                updated_at: now_ms,
                prefs: Map::new(),
            });
        Profile {
            path,
            doc: Mutex::new(doc),
            writing: tokio::sync::Mutex::new(()),
        }
    }

    /// `(createdAt, updatedAt)`.
    pub fn times(&self) -> (u64, u64) {
        let d = self.doc.lock();
        (d.created_at, d.updated_at)
    }

    /// The preferences named in `keys` (all of them when `None`).
    pub fn prefs(&self, keys: Option<&[String]>) -> Map<String, Value> {
        let d = self.doc.lock();
        match keys {
            None => d.prefs.clone(),
            Some(keys) => keys
                .iter()
                .filter_map(|k| d.prefs.get(k).map(|v| (k.clone(), v.clone())))
                .collect(),
        }
    }

    /// Set (or, with `null`, remove) `entries` if every `expected` entry still holds
    /// (`null` = absent). `Ok(false)` on a conflict; nothing changes then.
    pub async fn set(
        &self,
        entries: &Map<String, Value>,
        expected: Option<&Map<String, Value>>,
        now_ms: u64,
    ) -> Result<bool, PrefError> {
        for (k, v) in entries {
            if k.is_empty() || k.chars().count() > MAX_PREF_KEY_CHARS {
                return Err(PrefError::Entry(k.clone(), "invalid-key"));
            }
            if v.to_string().len() > MAX_PREF_VALUE_BYTES {
                return Err(PrefError::Entry(k.clone(), "value-too-large"));
            }
        }
        let _w = self.writing.lock().await;
        let next = {
            let d = self.doc.lock();
            let holds = expected
                .into_iter()
                .flatten()
                .all(|(k, want)| d.prefs.get(k).unwrap_or(&Value::Null) == want);
            if !holds {
                return Ok(false);
            }
            let mut next = d.clone();
            for (k, v) in entries {
                if v.is_null() {
                    next.prefs.remove(k);
                } else {
                    next.prefs.insert(k.clone(), v.clone());
                }
            }
            next.updated_at = now_ms;
            next
        };
        let (path, text) = (self.path.clone(), serde_json::to_vec_pretty(&next));
        let text = text.map_err(|e| PrefError::Store(e.to_string()))?;
        tokio::task::spawn_blocking(move || write_atomic(&path, &text))
            .await
            .map_err(|e| PrefError::Store(e.to_string()))?
            .map_err(|e| PrefError::Store(e.to_string()))?;
        *self.doc.lock() = next;
        Ok(true)
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[tokio::test]
    async fn prefs_persist_with_conflicts_and_deletes() {
        let dir = std::env::temp_dir().join(format!("oc-prof-{}", uuid::Uuid::new_v4()));
        let p = Profile::open(&dir, 5);
        assert_eq!(p.times(), (5, 5));
        assert_eq!(
            p.set(&map(json!({"ui.theme": "knot"})), None, 6).await,
            Ok(true)
        );
        let stale = map(json!({"ui.theme": "claw"}));
        let wanted = map(json!({"ui.theme": "dash"}));
        assert_eq!(p.set(&wanted, Some(&stale), 7).await, Ok(false));
        let absent = map(json!({"num": null}));
        assert_eq!(
            p.set(&map(json!({"num": 5})), Some(&absent), 8).await,
            Ok(true)
        );
        assert_eq!(
            p.set(&map(json!({"ui.theme": null})), None, 9).await,
            Ok(true)
        );
        let bad = p.set(&map(json!({"": 1})), None, 10).await;
        assert_eq!(bad, Err(PrefError::Entry(String::new(), "invalid-key")));
        let again = Profile::open(&dir, 99);
        assert_eq!(Value::Object(again.prefs(None)), json!({"num": 5}));
        assert_eq!(again.times(), (5, 9));
        let some = again.prefs(Some(&["num".into(), "missing".into()]));
        assert_eq!(Value::Object(some), json!({"num": 5}));
        let _ = std::fs::remove_dir_all(dir);
    }
}

//! Config hot reload (`gateway.reload.mode`): a task polls the active config file (metadata on
//! the blocking pool), waits for writes to settle, re-validates, and then
//! - invalid: logs `config reload skipped (invalid config): …`, keeps the running snapshot;
//! - only hot keys changed: swaps the snapshot atomically and broadcasts `config.changed`;
//! - a key that needs a restart changed (`gateway.*` except `reload`/`remote`, `discovery`,
//!   `browser`, `plugins.load`, `plugins.installs`): in `restart`/`hybrid` mode asks for an
//!   in-process restart (sockets get `shutdown` first); in `hot` mode says it is not applied;
//! - `restart` mode restarts for every change, hot keys included. `off` starts no watcher.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::clock::now_ms;
use crate::config::{self, Env, GatewayConfig, LoadArgs, ReloadMode};
use crate::server::Gateway;

/// How often the config file's metadata is checked.
pub const RELOAD_POLL: Duration = Duration::from_millis(500);
/// Writes must be quiet this long before a reload (editors write in several steps).
pub const RELOAD_SETTLE: Duration = Duration::from_millis(300);

/// `gateway.*` keys that change without a restart.
const GATEWAY_HOT_KEYS: &[&str] = &["reload", "remote", "metrics"];
/// Top-level keys (or `a.b` paths) whose change needs a full restart.
const RESTART_PATHS: &[&str] = &["discovery", "browser", "plugins.load", "plugins.installs"];

/// Dotted paths (top level, plus second level under `gateway` and `plugins`) that differ.
pub fn changed_paths(old: &Value, new: &Value) -> Vec<String> {
    let empty = serde_json::Map::new();
    let o = old.as_object().unwrap_or(&empty);
    let n = new.as_object().unwrap_or(&empty);
    let mut out = Vec::new();
    let keys = o.keys().chain(n.keys().filter(|k| !o.contains_key(*k)));
    for k in keys {
        let (a, b) = (o.get(k), n.get(k));
        if a == b {
            continue;
        }
        if k == "gateway" || k == "plugins" {
            let sub = changed_paths(a.unwrap_or(&Value::Null), b.unwrap_or(&Value::Null));
            if sub.is_empty() {
                out.push(k.clone());
            }
            out.extend(sub.into_iter().map(|s| format!("{k}.{s}")));
        } else {
            out.push(k.clone());
        }
    }
    out
}

/// Does a change to `path` need a restart?
pub fn needs_restart(path: &str) -> bool {
    if let Some(rest) = path.strip_prefix("gateway.") {
        return !GATEWAY_HOT_KEYS.contains(&rest);
    }
    path == "gateway" || RESTART_PATHS.contains(&path)
}

fn stamp(path: &PathBuf) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

async fn stamp_async(path: PathBuf) -> Option<(SystemTime, u64)> {
    tokio::task::spawn_blocking(move || stamp(&path))
        .await
        .ok()
        .flatten()
}

/// Watch the config file until shutdown; send on `restart` when a restart is needed.
pub async fn watch(gw: Arc<Gateway>, args: LoadArgs, env: Env, restart: mpsc::Sender<String>) {
    let path = gw.cfg.load().path.clone();
    // No baseline stamp: the first check re-reads the file and compares it by content with
    // the snapshot actually loaded, so an edit made between load and now is not missed.
    let mut last: Option<Option<(SystemTime, u64)>> = None;
    let mut iv = tokio::time::interval(RELOAD_POLL);
    iv.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = iv.tick() => {}
            _ = gw.shutdown.wait() => return,
        }
        let now = stamp_async(path.clone()).await;
        if last == Some(now) {
            continue;
        }
        // Let the writer finish, then read what settled.
        tokio::time::sleep(RELOAD_SETTLE).await;
        let settled = stamp_async(path.clone()).await;
        if settled != now {
            continue;
        }
        last = Some(settled);
        let cur = gw.cfg.load_full();
        let (a, e) = (args.clone(), env.clone());
        let next =
            tokio::task::spawn_blocking(move || config::reload_from_disk(&cur, &a, &e)).await;
        let next = match next {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                tracing::warn!(target: "gateway/reload", "config reload skipped (invalid config): {e}");
                continue;
            }
            Err(_) => continue,
        };
        if let Some(reason) = apply(&gw, next) {
            if restart.send(reason).await.is_err() {
                return;
            }
        }
    }
}

/// Apply a validated snapshot. `Some(reason)` when the caller must restart.
pub fn apply(gw: &Gateway, next: GatewayConfig) -> Option<String> {
    let cur = gw.cfg.load_full();
    let changed = changed_paths(&cur.parsed, &next.parsed);
    if changed.is_empty() && cur.raw_sha256 == next.raw_sha256 {
        return None;
    }
    let mut restart: Vec<&String> = changed.iter().filter(|p| needs_restart(p)).collect();
    // `restart` mode applies every change by restarting, hot keys included (a formatting-only
    // edit changes no key and is just swapped in).
    if cur.reload_mode == ReloadMode::Restart {
        restart = changed.iter().collect();
    }
    let event = json!({
        "path": next.path.display().to_string(),
        "hash": next.raw_sha256,
        "ts": now_ms(),
    });
    if restart.is_empty() {
        tracing::info!(target: "gateway/reload", "config reloaded (hot): {}", changed.join(", "));
        gw.metrics.set(next.metrics_enabled);
        gw.cfg.store(Arc::new(next));
        gw.hub.publish("config.changed", &event, None);
        return None;
    }
    let keys = restart
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    match cur.reload_mode {
        ReloadMode::Restart | ReloadMode::Hybrid => {
            tracing::info!(target: "gateway/reload", "config change needs a restart ({keys}); restarting in-process");
            gw.hub.publish("config.changed", &event, None);
            Some(format!("config change: {keys}"))
        }
        ReloadMode::Hot | ReloadMode::Off => {
            tracing::warn!(target: "gateway/reload", "config change needs a restart ({keys}); not applied (gateway.reload.mode={})", cur.reload_mode.as_str());
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_changes() {
        let a = json!({ "gateway": { "mode": "local", "port": 1, "reload": { "mode": "hybrid" } }, "models": {} });
        let b = json!({ "gateway": { "mode": "local", "port": 2, "reload": { "mode": "hot" } }, "models": { "x": 1 }, "logging": {} });
        let mut c = changed_paths(&a, &b);
        c.sort();
        assert_eq!(c, ["gateway.port", "gateway.reload", "logging", "models"]);
        assert!(needs_restart("gateway.port"));
        assert!(needs_restart("gateway.auth"));
        assert!(!needs_restart("gateway.reload"));
        assert!(!needs_restart("models"));
        assert!(needs_restart("plugins.load"));
        assert!(!needs_restart("plugins.entries"));
    }
}

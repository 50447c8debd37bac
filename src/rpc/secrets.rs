//! `secrets.reload` (operator.admin): re-read the active config from disk with the overrides
//! and env it was first loaded with (as hot reload does), which resolves every env/file
//! SecretRef again (`gateway.auth.token`/`.password`, `models.providers.*.apiKey`, …), and swap
//! the new snapshot in atomically. Works whatever `gateway.reload.mode` says (also `off`).
//!
//! The listener cannot move without a restart, so the port and bind of the running snapshot
//! are kept. An invalid config is refused with `INVALID_REQUEST` and the reason; the running
//! snapshot stays. Result: `{ ok: true, warningCount }` (the new snapshot's warnings).

use std::sync::Arc;

use openclaw_proto::{ErrorCode, ErrorShape, RequestFrame};
use serde_json::{json, Value};

use super::Ctx;
use crate::clock::now_ms;
use crate::config;

/// `secrets.reload`.
pub async fn reload(c: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let gw = &c.gw;
    // `SecretsReloadParams` is empty; the Node gateway ignores any keys (observed).
    super::system::loose(req)?;
    let cur = gw.cfg.load_full();
    let prev = cur.clone();
    let next = tokio::task::spawn_blocking(move || config::reload_with_origin(&prev))
        .await
        .map_err(|_| ErrorShape::new(ErrorCode::Unavailable, "secrets.reload failed"))?;
    let mut next = match next {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(target: "gateway/secrets", "secrets.reload refused: {e}");
            return Err(ErrorShape::new(
                ErrorCode::InvalidRequest,
                format!("secrets.reload failed: {e}"),
            ));
        }
    };
    // The bound listener stays where it is until a restart.
    next.port = cur.port;
    next.port_source = cur.port_source;
    next.bind = cur.bind;
    next.bind_host = cur.bind_host;
    next.bind_reason = cur.bind_reason.clone();
    next.custom_bind_host = cur.custom_bind_host;
    let warning_count = next.warnings.len();
    let file_changed = next.raw_sha256 != cur.raw_sha256;
    let event = json!({
        "path": next.path.display().to_string(),
        "hash": next.raw_sha256,
        "ts": now_ms(),
    });
    // Swap only if nobody replaced the snapshot while we were reading the disk.
    let prev = gw.cfg.compare_and_swap(&cur, Arc::new(next));
    if !Arc::ptr_eq(&*prev, &cur) {
        return Err(ErrorShape::new(
            ErrorCode::Unavailable,
            "secrets.reload was superseded by a newer config reload; retry",
        )
        .retryable(true));
    }
    tracing::info!(target: "gateway/secrets", "secrets reloaded ({warning_count} warning(s))");
    if file_changed {
        gw.hub.publish("config.changed", &event, None);
    }
    Ok(json!({ "ok": true, "warningCount": warning_count }))
}

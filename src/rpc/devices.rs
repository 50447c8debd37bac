//! Paired devices as the Control UI's Devices page lists them: `device.pair.list` from the
//! device store (connected or not, per presence). Pairing requests from non-local devices,
//! approval and token rotation are not built yet, so `pending` is always empty.

use openclaw_proto::{ErrorShape, RequestFrame};
use serde_json::{json, Value};

use super::ui::strict;
use super::Ctx;

/// `device.pair.list {}`.
pub fn pair_list(c: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    strict(req, &[], &[])?;
    let online: Vec<Value> = c.gw.presence.list();
    let connected = |id: &str| {
        online
            .iter()
            .any(|p| p.get("deviceId").and_then(Value::as_str) == Some(id))
    };
    let paired: Vec<Value> =
        c.gw.devices
            .list()
            .into_iter()
            .map(|d| {
                let roles: Vec<&str> = d.role.split(',').filter(|r| !r.is_empty()).collect();
                json!({
                    "deviceId": d.device_id,
                    "publicKey": d.public_key,
                    "platform": d.platform,
                    "clientId": d.client_id,
                    "role": roles.first().copied().unwrap_or("operator"),
                    "roles": roles,
                    "scopes": d.scopes,
                    "approvedVia": d.provenance,
                    "createdAtMs": d.approved_ms,
                    "approvedAtMs": d.approved_ms,
                    "connected": connected(&d.device_id),
                    "tokens": [{
                        "role": roles.first().copied().unwrap_or("operator"),
                        "scopes": d.scopes,
                        "createdAtMs": d.token_issued_ms,
                    }],
                })
            })
            .collect();
    Ok(json!({ "pending": [], "paired": paired }))
}

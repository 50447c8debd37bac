//! Device pairing on the wire: a device that is not approved silently gets a durable pending
//! request (`device.pair.requested` to operators with `operator.pairing`), which an operator
//! approves, rejects, and later removes or renames (`device.pair.*`); `device.pair.list` shows
//! both. Verifying a device at connect is `connect.rs`'s; the device store is `store/devices.rs`.

use openclaw_proto::scope::satisfies;
use openclaw_proto::{close, ErrorCode, ErrorShape, RequestFrame};

use crate::auth::shared::{truncate_reason, ConnectFail};
use serde_json::{json, Value};

use super::ui::strict;
use super::Ctx;
use crate::auth::device::b64url;
use crate::clock::now_ms;
use crate::server::Gateway;
use crate::store::nodes::Kind;
use crate::store::{DeviceRecord, StoreError};

/// What a connecting device that needs approval asks for.
#[derive(Debug)]
pub struct Ask<'a> {
    pub device_id: &'a str,
    pub public_key: &'a [u8],
    pub display_name: Option<&'a str>,
    pub platform: &'a str,
    pub device_family: Option<&'a str>,
    pub client_id: &'a str,
    pub client_mode: &'a str,
    pub role: &'a str,
    pub scopes: &'a [String],
    /// The device is already paired (this asks for an upgrade).
    pub repair: bool,
    /// Where it connects from, when that is not this host.
    pub remote_ip: Option<String>,
}

/// Whether pending request `v` is still open at `now`: nobody decided on it within the
/// pending TTL (`gateway.limits.pairingPendingTtlMs`) since the device last asked.
pub fn pending_live(gw: &Gateway, v: &Value, now: u64) -> bool {
    let ttl = gw.cfg.load().limits.pairing_pending_ttl_ms;
    let asked = v["refreshedAtMs"]
        .as_u64()
        .or(v["ts"].as_u64())
        .unwrap_or(0);
    now.saturating_sub(asked) <= ttl
}

/// A pending request as the wire shows it (when it was last refreshed is the store's).
fn public_pending(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.remove("refreshedAtMs");
    }
    v
}

/// Record (or refresh) the pending request for `ask`; a new one is announced with
/// `device.pair.requested`. A request of this device that expired is dropped and a new one
/// made. Returns its request id.
pub async fn request_pairing(gw: &Gateway, ask: Ask<'_>) -> Result<String, StoreError> {
    let store = gw.nodes.records();
    let now = now_ms();
    let mine = store.all(Kind::DevicePending);
    let mine = mine.iter().filter(|(_, v)| v["deviceId"] == ask.device_id);
    let mut existing = None;
    for (rid, v) in mine {
        if pending_live(gw, v, now) {
            existing.get_or_insert((rid.clone(), v.clone()));
        } else {
            store.delete(Kind::DevicePending, rid).await?;
        }
    }
    let rid = existing
        .as_ref()
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), |(id, _)| id.clone());
    let first = existing.as_ref().map(|(_, v)| v);
    let mut rec = json!({
        "requestId": rid, "deviceId": ask.device_id, "publicKey": b64url(ask.public_key),
        "displayName": ask.display_name, "platform": ask.platform,
        "deviceFamily": ask.device_family, "clientId": ask.client_id,
        "clientMode": ask.client_mode, "role": ask.role, "roles": [ask.role],
        "scopes": ask.scopes, "remoteIp": ask.remote_ip, "silent": false,
        "isRepair": ask.repair || first.is_some_and(|v| v["isRepair"] == true),
        "ts": first.and_then(|v| v["ts"].as_u64()).unwrap_or(now),
        "refreshedAtMs": first.map(|_| now),
    });
    if let Some(o) = rec.as_object_mut() {
        o.retain(|_, v| !v.is_null());
    }
    store.put(Kind::DevicePending, &rid, rec.clone()).await?;
    if existing.is_none() {
        gw.hub.publish("device.pair.requested", &rec, None);
    }
    Ok(rid)
}

/// The refusal of a device that needs an operator's approval: its pending request is
/// recorded (and announced) first, and named in the error and the close reason.
pub async fn pairing_required(gw: &Gateway, ask: Ask<'_>, reason: &str) -> ConnectFail {
    let (requirement, hint) = match reason {
        "role-upgrade" => (
            "device is asking for a higher role than currently approved",
            "Review the requested role upgrade, then approve the pending request.",
        ),
        "scope-upgrade" => (
            "device is asking for more scopes than currently approved",
            "Review the requested scopes, then approve the pending upgrade.",
        ),
        _ => (
            "device is not approved yet",
            "Approve this device from the pending pairing requests.",
        ),
    };
    let (device_id, role) = (ask.device_id.to_string(), ask.role.to_string());
    let scopes = ask.scopes.to_vec();
    let rid = match request_pairing(gw, ask).await {
        Ok(rid) => rid,
        Err(e) => {
            crate::failure::Failure::Store(e).log("pairing");
            let e = ErrorShape::new(ErrorCode::Unavailable, crate::failure::STORE_UNAVAILABLE);
            return ConnectFail::new(e, close::TRY_AGAIN_LATER);
        }
    };
    let message = format!("pairing required: {requirement}");
    let mut details = json!({
        "code": "PAIRING_REQUIRED", "reason": reason, "requestId": rid,
        "remediationHint": hint, "deviceId": device_id, "requestedRole": role,
    });
    if role == "operator" {
        details["requestedScopes"] = json!(scopes);
    }
    if let Some(d) = gw.devices.get(&device_id) {
        details["approvedRoles"] = json!(d
            .role
            .split(',')
            .filter(|r| !r.is_empty())
            .collect::<Vec<_>>());
        details["approvedScopes"] = json!(d.scopes);
    }
    let e = ErrorShape::new(ErrorCode::NotPaired, message.clone()).with_details(details);
    let mut fail = ConnectFail::new(e, close::POLICY_VIOLATION);
    fail.reason = truncate_reason(&format!("{message} (requestId: {rid})"));
    fail
}

/// One paired device as `device.pair.list` and `device.pair.approve` show it.
fn paired_entry(gw: &Gateway, d: &DeviceRecord, connected: Option<bool>) -> Value {
    let roles: Vec<&str> = d.role.split(',').filter(|r| !r.is_empty()).collect();
    let role = roles.first().copied().unwrap_or("operator");
    let mut v = json!({
        "deviceId": d.device_id, "publicKey": d.public_key, "platform": d.platform,
        "clientId": d.client_id, "role": role, "roles": roles, "scopes": d.scopes,
        "approvedVia": d.provenance, "createdAtMs": d.approved_ms, "approvedAtMs": d.approved_ms,
        "tokens": roles.iter().map(|r| json!({
            "role": r, "scopes": if *r == "node" { json!([]) } else { json!(d.scopes) },
            "createdAtMs": d.token_issued_ms,
        })).collect::<Vec<_>>(),
    });
    if let Some(rv) = gw.nodes.records().get(Kind::DeviceRevoked, &d.device_id) {
        for t in v["tokens"].as_array_mut().into_iter().flatten() {
            if let Some(at) = t["role"].as_str().and_then(|r| rv.get(r)) {
                t["revokedAtMs"] = at.clone();
            }
        }
    }
    if let Some(l) = gw.nodes.records().get(Kind::DeviceLabel, &d.device_id) {
        v["label"] = l["label"].clone();
    }
    if let Some(Value::Object(m)) = gw.nodes.records().get(Kind::DeviceMeta, &d.device_id) {
        for (k, x) in m {
            v[k] = x;
        }
    }
    if let Some(c) = connected {
        v["connected"] = json!(c);
    }
    v
}

/// `device.pair.list {}`.
pub fn pair_list(c: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    strict(req, &[], &[])?;
    let online: Vec<Value> = c.gw.presence.list();
    let connected = |id: &str| {
        online
            .iter()
            .any(|p| p.get("deviceId").and_then(Value::as_str) == Some(id))
            || c.gw.nodes.live(id).is_some()
    };
    let paired: Vec<Value> =
        c.gw.devices
            .list()
            .iter()
            .map(|d| paired_entry(&c.gw, d, Some(connected(&d.device_id))))
            .collect();
    let now = now_ms();
    let mut pending: Vec<Value> =
        c.gw.nodes
            .records()
            .all(Kind::DevicePending)
            .into_iter()
            .filter(|(_, v)| pending_live(&c.gw, v, now))
            .map(|(_, v)| public_pending(v))
            .collect();
    pending.sort_by_key(|v| v["ts"].as_u64().unwrap_or(0));
    Ok(json!({ "pending": pending, "paired": paired }))
}

fn unknown_request() -> ErrorShape {
    ErrorShape::new(ErrorCode::InvalidRequest, "unknown requestId")
}

fn request(c: &Ctx, req: &RequestFrame<'_>) -> Result<(String, Value), ErrorShape> {
    let p = strict(req, &["requestId"], &["requestId"])?;
    let rid = p["requestId"].as_str().unwrap_or("").to_string();
    let rec =
        c.gw.nodes
            .records()
            .get(Kind::DevicePending, &rid)
            .filter(|v| pending_live(&c.gw, v, now_ms()))
            .ok_or_else(unknown_request)?;
    Ok((rid, public_pending(rec)))
}

fn resolved(c: &Ctx, rid: &str, device_id: &str, decision: &str) {
    let ev =
        json!({ "requestId": rid, "deviceId": device_id, "decision": decision, "ts": now_ms() });
    c.gw.hub.publish("device.pair.resolved", &ev, None);
}

/// `device.pair.approve {requestId}`: the approver must hold what it grants (a node role
/// needs `operator.admin`).
pub async fn pair_approve(c: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let (rid, r) = request(c, req)?;
    let role = r["role"].as_str().unwrap_or("operator").to_string();
    let scopes = crate::nodes::strings(&r["scopes"]);
    let may = if role == "node" {
        satisfies(&c.who.scopes, "operator.admin")
    } else {
        scopes.iter().all(|s| satisfies(&c.who.scopes, s))
    };
    if !may {
        return Err(ErrorShape::new(
            ErrorCode::InvalidRequest,
            "device pairing approval denied",
        ));
    }
    let id = r["deviceId"].as_str().unwrap_or("").to_string();
    let now = now_ms();
    let prev = c.gw.devices.get(&id);
    let mut all = prev.as_ref().map(|d| d.scopes.clone()).unwrap_or_default();
    for s in scopes {
        if !all.contains(&s) {
            all.push(s);
        }
    }
    let roles = match &prev {
        Some(d) if !d.role.split(',').any(|x| x == role) => format!("{},{role}", d.role),
        Some(d) => d.role.clone(),
        None => role.clone(),
    };
    let rec = DeviceRecord {
        device_id: id.clone(),
        public_key: r["publicKey"].as_str().unwrap_or("").to_string(),
        role: roles,
        scopes: all,
        token: prev
            .as_ref()
            .map_or_else(crate::auth::device::new_device_token, |d| d.token.clone()),
        token_issued_ms: prev.as_ref().map_or(now, |d| d.token_issued_ms),
        approved_ms: now,
        client_id: r["clientId"].as_str().unwrap_or("").to_string(),
        platform: r["platform"].as_str().unwrap_or("").to_string(),
        provenance: "owner".into(),
    };
    c.gw.devices.upsert(rec.clone()).await?;
    let store = c.gw.nodes.records();
    let mut meta = serde_json::Map::new();
    for k in ["displayName", "deviceFamily", "clientMode", "remoteIp"] {
        if let Some(v) = r.get(k) {
            meta.insert(k.into(), v.clone());
        }
    }
    store
        .put(Kind::DeviceMeta, &id, Value::Object(meta))
        .await?;
    store.delete(Kind::DevicePending, &rid).await?;
    unrevoke(&c.gw, &id, &role).await;
    resolved(c, &rid, &id, "approved");
    let device = paired_entry(&c.gw, &rec, None);
    Ok(json!({ "requestId": rid, "device": device }))
}

/// `device.pair.reject {requestId}`.
pub async fn pair_reject(c: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let (rid, r) = request(c, req)?;
    c.gw.nodes
        .records()
        .delete(Kind::DevicePending, &rid)
        .await?;
    let id = r["deviceId"].as_str().unwrap_or("");
    resolved(c, &rid, id, "rejected");
    Ok(json!({ "requestId": rid, "deviceId": id }))
}

fn device_param(
    c: &Ctx,
    req: &RequestFrame<'_>,
    extra: &[&str],
) -> Result<(Value, String), ErrorShape> {
    let mut keys = vec!["deviceId"];
    keys.extend_from_slice(extra);
    let p = strict(req, &keys, &keys)?;
    let id = p["deviceId"].as_str().unwrap_or("").to_string();
    if c.gw.devices.get(&id).is_none() {
        return Err(ErrorShape::new(
            ErrorCode::InvalidRequest,
            "unknown deviceId",
        ));
    }
    Ok((p, id))
}

/// `device.pair.remove {deviceId}`: its device token stops working at once.
pub async fn pair_remove(c: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let (_, id) = device_param(c, req, &[])?;
    c.gw.devices.remove(&id).await?;
    for kind in [Kind::DeviceLabel, Kind::DeviceMeta] {
        if c.gw.nodes.records().get(kind, &id).is_some() {
            c.gw.nodes.records().delete(kind, &id).await?;
        }
    }
    Ok(json!({ "deviceId": id }))
}

/// `device.pair.rename {deviceId, label}`.
pub async fn pair_rename(c: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let (p, id) = device_param(c, req, &["label"])?;
    let label = p["label"].as_str().unwrap_or("").trim().to_string();
    if label.is_empty() {
        return Err(ErrorShape::new(ErrorCode::InvalidRequest, "label required"));
    }
    let rec = json!({ "label": label });
    c.gw.nodes
        .records()
        .put(Kind::DeviceLabel, &id, rec)
        .await?;
    c.gw.hub.publish("device.pair.changed", &json!({}), None);
    Ok(json!({ "deviceId": id, "label": label }))
}

/// The roles of device `id` whose tokens are revoked (they need approving again).
pub fn revoked_roles(gw: &Gateway, id: &str) -> Vec<String> {
    gw.nodes
        .records()
        .get(Kind::DeviceRevoked, id)
        .and_then(|v| v.as_object().map(|o| o.keys().cloned().collect()))
        .unwrap_or_default()
}

/// Role `role` of device `id` is approved again: its revocation is forgotten.
pub async fn unrevoke(gw: &Gateway, id: &str, role: &str) {
    let store = gw.nodes.records();
    let Some(mut v) = store.get(Kind::DeviceRevoked, id) else {
        return;
    };
    if let Some(o) = v.as_object_mut() {
        o.remove(role);
    }
    let r = if v.as_object().is_some_and(|o| o.is_empty()) {
        store.delete(Kind::DeviceRevoked, id).await
    } else {
        store.put(Kind::DeviceRevoked, id, v).await
    };
    if let Err(e) = r {
        crate::failure::Failure::Store(e).log("pairing");
    }
}

/// Close every socket of device `id` (its pairing or token changed under it).
fn close_device(gw: &Gateway, id: &str) {
    for s in gw.hub.all().iter() {
        if s.device.as_deref() == Some(id) {
            s.out
                .close(super::nodes::DEVICE_REMOVED_CLOSE, "device removed");
        }
    }
}

/// The paired device `p.deviceId` when it holds role `p.role`, else `denied` (its
/// `(id, role, record)`).
fn device_role<'p>(
    c: &Ctx,
    p: &'p Value,
    denied: &str,
) -> Result<(&'p str, &'p str, DeviceRecord), ErrorShape> {
    let id = p["deviceId"].as_str().unwrap_or("");
    let role = p["role"].as_str().unwrap_or("");
    let d =
        c.gw.devices
            .get(id)
            .filter(|d| d.role.split(',').any(|r| r == role));
    let d = d.ok_or_else(|| ErrorShape::new(ErrorCode::InvalidRequest, denied))?;
    Ok((id, role, d))
}

/// `device.token.rotate {deviceId, role, scopes?}`: a new token (never wider than approved);
/// the device's sockets are closed, and only the device itself is told the new token.
pub async fn token_rotate(c: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let p = strict(req, &["deviceId", "role", "scopes"], &["deviceId", "role"])?;
    const DENIED: &str = "device token rotation denied";
    let denied = || ErrorShape::new(ErrorCode::InvalidRequest, DENIED);
    let (id, role, mut d) = device_role(c, &p, DENIED)?;
    if let Some(want) = p.get("scopes").filter(|v| !v.is_null()) {
        let want = crate::nodes::strings(want);
        if want.iter().any(|s| !d.scopes.contains(s)) {
            return Err(denied());
        }
        d.scopes = want;
    }
    let now = now_ms();
    d.token = crate::auth::device::new_device_token();
    d.token_issued_ms = now;
    c.gw.devices.upsert(d.clone()).await?;
    let scopes = if role == "node" {
        json!([])
    } else {
        json!(d.scopes)
    };
    let mut out = json!({ "deviceId": id, "role": role, "scopes": scopes, "rotatedAtMs": now });
    if c.who.device_id.as_deref() == Some(id) {
        out["token"] = json!(d.token);
    } else {
        out["tokenDelivery"] = json!("withheld-cross-device");
        close_device(&c.gw, id);
    }
    Ok(out)
}

/// `device.token.revoke {deviceId, role}`: the device token stops working (a fresh one,
/// told to no one, replaces it), the device's sockets are closed, and the role must be
/// approved again — silently on loopback, by an operator otherwise (`role-upgrade`).
pub async fn token_revoke(c: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let p = strict(req, &["deviceId", "role"], &["deviceId", "role"])?;
    let (id, role, mut d) = device_role(c, &p, "device token revocation denied")?;
    let now = now_ms();
    d.token = crate::auth::device::new_device_token();
    c.gw.devices.upsert(d).await?;
    let store = c.gw.nodes.records();
    let mut revoked = store
        .get(Kind::DeviceRevoked, id)
        .unwrap_or_else(|| json!({}));
    revoked[role] = json!(now);
    store.put(Kind::DeviceRevoked, id, revoked).await?;
    close_device(&c.gw, id);
    Ok(json!({ "deviceId": id, "role": role, "revokedAtMs": now }))
}

//! `device.scopes.requestUpgrade` / `waitUpgrade`: a paired operator device asks for more
//! scopes; the ask is an ordinary pending device pairing (an operator approves it with
//! `device.pair.approve`), and the asker waits for the verdict — approved (with the device
//! token to reconnect with), rejected, or expired after [`UPGRADE_TTL_MS`]. The live socket
//! keeps its scopes, as on the Node gateway. Pairing records are `devices.rs`'s.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use openclaw_proto::scope::satisfies;
use openclaw_proto::{is_known_scope, ErrorCode, ErrorShape, RequestFrame};
use parking_lot::Mutex;
use serde_json::{json, Value};

use super::devices::{request_pairing, Ask};
use super::pages::bad;
use super::registry::Answer;
use super::ui::strict;
use super::Ctx;
use crate::auth::device::decode_public_key;
use crate::clock::now_ms;
use crate::store::nodes::Kind;

/// How long an upgrade request waits for an operator.
pub const UPGRADE_TTL_MS: u64 = 300_000;
/// How long a verdict stays readable after it was given.
pub const VERDICT_KEEP_MS: u64 = 15_000;
/// How often a waiter looks at the pairing store.
const POLL: Duration = Duration::from_millis(250);

/// Verdicts already given: request id → (device id, answer, when).
type Verdicts = Mutex<HashMap<String, (String, Value, u64)>>;

fn verdicts() -> &'static Verdicts {
    static V: OnceLock<Verdicts> = OnceLock::new();
    V.get_or_init(Default::default)
}

fn operator_device(c: &Ctx) -> Result<String, ErrorShape> {
    if c.who.role != "operator" {
        return Err(ErrorShape::new(
            ErrorCode::InvalidRequest,
            format!("unauthorized role: {}", c.who.role),
        ));
    }
    match c.who.device_id.as_ref().filter(|id| c.gw.devices.get(id).is_some()) {
        Some(id) => Ok(id.clone()),
        None => Err(ErrorShape::new(
            ErrorCode::InvalidRequest,
            "device scope upgrade requires a paired browser identity; reopen the Control UI over HTTPS or localhost, then retry",
        )
        .with_details(json!({ "code": "DEVICE_IDENTITY_REQUIRED", "recommendedNextStep": "reopen_control_ui_securely" }))),
    }
}

/// Trimmed, implied scopes added (admin → read, write; write → read), sorted.
fn normalize(scopes: &[String]) -> Vec<String> {
    let mut out: Vec<String> = scopes.iter().map(|s| s.trim().to_string()).collect();
    let implied = [
        ("operator.admin", "operator.read"),
        ("operator.admin", "operator.write"),
        ("operator.write", "operator.read"),
    ];
    for (has, adds) in implied {
        if out.iter().any(|s| s == has) && !out.iter().any(|s| s == adds) {
            out.push(adds.to_string());
        }
    }
    out.sort();
    out.dedup();
    out
}

fn requested_scopes(req: &RequestFrame<'_>) -> Result<Vec<String>, ErrorShape> {
    let m = req.method();
    let p = strict(req, &["scopes"], &["scopes"])?;
    let Some(list) = p["scopes"].as_array() else {
        return Err(bad(m, "scopes", "must be array"));
    };
    if list.is_empty() {
        return Err(bad(m, "scopes", "must not have fewer than 1 items"));
    }
    if list.len() > 8 {
        return Err(bad(m, "scopes", "must not have more than 8 items"));
    }
    let mut out: Vec<String> = Vec::new();
    for (i, v) in list.iter().enumerate() {
        let Some(s) = v.as_str() else {
            return Err(bad(m, &format!("scopes/{i}"), "must be string"));
        };
        if out.iter().any(|x| x == s) {
            return Err(bad(m, "scopes", "must not have duplicate items"));
        }
        out.push(s.to_string());
    }
    Ok(out)
}

/// `device.scopes.requestUpgrade {scopes}`: the request id of the (new or same) pending ask.
pub async fn request_upgrade(c: &Ctx, req: &RequestFrame<'_>) -> Answer {
    let scopes = requested_scopes(req)?;
    let id = operator_device(c)?;
    let invalid = |m: &str| Err(ErrorShape::new(ErrorCode::InvalidRequest, m));
    if scopes.iter().any(|s| !is_known_scope(s.trim())) {
        return invalid("requested scopes contain an unknown operator scope");
    }
    let mut want = normalize(&scopes);
    let granted = openclaw_proto::GrantedScopes::new(want.clone());
    if c.who.scopes.list().iter().any(|s| !satisfies(&granted, s)) {
        return invalid("requested scopes must include the connection's current scopes");
    }
    let store = c.gw.nodes.records();
    let now = now_ms();
    let pending = store.find(Kind::DevicePending, |v| {
        v["deviceId"] == id.as_str() && super::devices::pending_live(&c.gw, v, now)
    });
    if let Some((rid, rec)) = &pending {
        let had = crate::nodes::strings(&rec["scopes"]);
        if normalize(&had) == want {
            return Ok(json!({ "requestId": rid }));
        }
        // Another ask supersedes it: the old one is rejected, its scopes carried over.
        store.delete(Kind::DevicePending, rid).await?;
        verdict(rid, &id, json!({ "status": "rejected", "requestId": rid }));
        let ev =
            json!({ "requestId": rid, "deviceId": id, "decision": "rejected", "ts": now_ms() });
        c.gw.hub.publish("device.pair.resolved", &ev, None);
        want = normalize(&[had, want].concat());
    }
    let Some(d) = c.gw.devices.get(&id) else {
        return Err(ErrorShape::new(ErrorCode::Unavailable, "device removed"));
    };
    let pk = decode_public_key(&d.public_key).unwrap_or_default();
    let ask = Ask {
        device_id: &id,
        public_key: &pk,
        display_name: None,
        platform: &d.platform,
        device_family: None,
        client_id: &d.client_id,
        client_mode: &c.who.client_mode,
        role: "operator",
        scopes: &want,
        repair: true,
        remote_ip: None,
    };
    let rid = request_pairing(&c.gw, ask).await?;
    Ok(json!({ "requestId": rid }))
}

fn verdict(rid: &str, device: &str, answer: Value) {
    let now = now_ms();
    let mut v = verdicts().lock();
    v.retain(|_, (_, _, at)| now.saturating_sub(*at) < VERDICT_KEEP_MS);
    v.insert(rid.to_string(), (device.to_string(), answer, now));
}

fn kept_verdict(rid: &str, device: &str) -> Option<Value> {
    let now = now_ms();
    let v = verdicts().lock();
    v.get(rid)
        .filter(|(d, _, at)| d == device && now.saturating_sub(*at) < VERDICT_KEEP_MS)
        .map(|(_, a, _)| a.clone())
}

/// `device.scopes.waitUpgrade {requestId}`: wait for the operator's verdict on the caller's
/// own upgrade request.
pub async fn wait_upgrade(c: &Ctx, req: &RequestFrame<'_>) -> Answer {
    let p = strict(req, &["requestId"], &["requestId"])?;
    let Some(rid) = p["requestId"].as_str().map(str::to_string) else {
        return Err(bad(req.method(), "requestId", "must be string"));
    };
    let id = operator_device(c)?;
    let gone = || {
        ErrorShape::new(
            ErrorCode::InvalidRequest,
            "scope upgrade expired or not found",
        )
    };
    if let Some(a) = kept_verdict(&rid, &id) {
        return Ok(a);
    }
    let store = c.gw.nodes.records();
    let rec = store
        .get(Kind::DevicePending, &rid)
        .filter(|r| r["deviceId"] == id.as_str());
    let rec = rec.ok_or_else(gone)?;
    let want = crate::nodes::strings(&rec["scopes"]);
    let expires = rec["ts"].as_u64().unwrap_or(0) + UPGRADE_TTL_MS;
    let mut tick = tokio::time::interval(POLL);
    loop {
        tick.tick().await;
        if let Some(a) = kept_verdict(&rid, &id) {
            return Ok(a);
        }
        if store.get(Kind::DevicePending, &rid).is_none() {
            // Decided: approved if the device now holds what it asked for.
            let answer = match c.gw.devices.get(&id) {
                Some(d) if want.iter().all(|s| d.scopes.contains(s)) => json!({
                    "status": "approved", "requestId": rid, "deviceToken": d.token,
                    "scopes": normalize(&d.scopes),
                }),
                _ => json!({ "status": "rejected", "requestId": rid }),
            };
            verdict(&rid, &id, answer.clone());
            return Ok(answer);
        }
        if now_ms() >= expires {
            store.delete(Kind::DevicePending, &rid).await?;
            let answer = json!({ "status": "expired", "requestId": rid });
            verdict(&rid, &id, answer.clone());
            return Ok(answer);
        }
    }
}

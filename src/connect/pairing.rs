//! A connecting device's standing: its signed identity checked, then whether its paired
//! record covers the role and scopes it asks for. On loopback a device is approved silently
//! (`gateway.nodes.pairing.autoApproveLocal`, default on); elsewhere it is refused with a
//! pairing request an operator decides on. Shared-secret auth and the rest of the handshake
//! are `super`'s; the pairing store and its events are [`crate::rpc::devices`]'.

use openclaw_net::ConnInfo;
use openclaw_proto::close;
use openclaw_proto::connect::ConnectParams;
use openclaw_proto::{ErrorCode, ErrorShape};
use serde_json::{json, Value};

use crate::auth::device::{self, b64url, new_device_token};
use crate::auth::shared::{refuse, ConnectFail};
use crate::server::Gateway;
use crate::store::DeviceRecord;

/// A device whose signature over the challenge checked out.
pub(super) struct Verified {
    /// Lower-cased device id.
    pub id: String,
    pub public_key: [u8; 32],
}

/// The connect's device block checked against the challenge `nonce` (none: `None`). The
/// Control UI must bring one.
pub(super) fn verify(
    p: &ConnectParams,
    nonce: &str,
    now: u64,
) -> Result<Option<Verified>, ConnectFail> {
    let Some(d) = p.device.as_ref() else {
        if p.client.mode == "ui" {
            return Err(refuse(
                ErrorCode::InvalidRequest,
                "control ui requires device identity (use a browser with WebCrypto or pair the device)",
                Some("CONTROL_UI_DEVICE_IDENTITY_REQUIRED"),
                close::POLICY_VIOLATION,
            ));
        }
        return Ok(None);
    };
    match device::verify(d, p, nonce, now) {
        Ok(public_key) => Ok(Some(Verified {
            id: d.id.to_ascii_lowercase(),
            public_key,
        })),
        Err(r) => {
            let e = ErrorShape::new(ErrorCode::InvalidRequest, r.message)
                .with_details(json!({ "code": r.code, "reason": r.reason }));
            Err(ConnectFail::new(e, close::POLICY_VIOLATION))
        }
    }
}

/// What pairing granted: the device's token for `hello-ok`, and whether it was paired just now.
#[derive(Default)]
pub(super) struct Grant {
    pub device_token: Option<(String, u64)>,
    pub newly_paired: Option<String>,
}

/// A verified device asking for `role` and `scopes`.
pub(super) struct Asking<'a> {
    pub gw: &'a Gateway,
    pub info: &'a ConnInfo,
    pub p: &'a ConnectParams,
    pub dev: &'a Verified,
    pub role: &'a str,
    pub scopes: &'a [String],
    /// Connected over loopback, with no forwarding headers.
    pub local: bool,
    /// The shared secret was the device's own token.
    pub device_token_ok: bool,
    pub now: u64,
}

/// Whether the device's record covers what it asks for; if not, pair it silently (loopback)
/// or refuse with a pairing request.
pub(super) async fn grant(a: Asking<'_>) -> Result<Grant, ConnectFail> {
    let existing = a.gw.devices.get(&a.dev.id);
    // `role` is stored as the comma-separated set of roles the device was approved for; a
    // role whose token was revoked no longer counts until it is approved again.
    let revoked = crate::rpc::devices::revoked_roles(a.gw, &a.dev.id);
    let has_role = |d: &DeviceRecord| {
        d.role.split(',').any(|r| r == a.role) && !revoked.iter().any(|r| r == a.role)
    };
    let covers = |d: &DeviceRecord| has_role(d) && a.scopes.iter().all(|s| d.scopes.contains(s));
    match existing {
        Some(d) if covers(&d) => Ok(Grant {
            device_token: Some((d.token.clone(), d.token_issued_ms)),
            newly_paired: None,
        }),
        Some(_) if a.device_token_ok => {
            let e = ErrorShape::new(ErrorCode::InvalidRequest, "unauthorized: device token scope mismatch")
                .with_details(json!({ "code": "AUTH_SCOPE_MISMATCH", "recommendedNextStep": "review_auth_configuration", "canRetryWithDeviceToken": false }));
            Err(ConnectFail::new(e, close::POLICY_VIOLATION))
        }
        prev => {
            let prev_has_role = prev.as_ref().is_some_and(has_role);
            if a.local && auto_approve_local(a.gw) {
                approve_silently(&a, prev, prev_has_role).await
            } else {
                Err(ask_operator(&a, prev.as_ref(), prev_has_role).await)
            }
        }
    }
}

/// Pair (or widen) the device on the spot: its token is kept unless it is new to the role.
async fn approve_silently(
    a: &Asking<'_>,
    prev: Option<DeviceRecord>,
    prev_has_role: bool,
) -> Result<Grant, ConnectFail> {
    let (token, issued) = match &prev {
        Some(d) if prev_has_role || d.role.split(',').all(|r| r != a.role) => {
            (d.token.clone(), d.token_issued_ms)
        }
        _ => (new_device_token(), a.now),
    };
    let mut all = prev.as_ref().map(|d| d.scopes.clone()).unwrap_or_default();
    for s in a.scopes {
        if !all.contains(s) {
            all.push(s.clone());
        }
    }
    let roles = match &prev {
        Some(d) if !prev_has_role => format!("{},{}", d.role, a.role),
        Some(d) => d.role.clone(),
        None => a.role.to_string(),
    };
    let rec = DeviceRecord {
        device_id: a.dev.id.clone(),
        public_key: b64url(&a.dev.public_key),
        role: roles,
        scopes: all,
        token: token.clone(),
        token_issued_ms: issued,
        approved_ms: a.now,
        client_id: a.p.client.id.clone(),
        platform: a.p.client.platform.clone(),
        provenance: "silent".into(),
    };
    a.gw.devices.upsert(rec).await.map_err(|e| {
        crate::failure::Failure::Store(e).log("pairing");
        refuse(
            ErrorCode::Unavailable,
            crate::failure::STORE_UNAVAILABLE,
            None,
            close::TRY_AGAIN_LATER,
        )
    })?;
    let repaired = prev.is_some() && !prev_has_role;
    if repaired {
        crate::rpc::devices::unrevoke(a.gw, &a.dev.id, a.role).await;
    }
    Ok(Grant {
        device_token: Some((token, issued)),
        newly_paired: (prev.is_none() || repaired).then(|| a.dev.id.clone()),
    })
}

/// Refuse with a pairing request (new device, or one asking for a role or scopes it lacks).
async fn ask_operator(
    a: &Asking<'_>,
    prev: Option<&DeviceRecord>,
    prev_has_role: bool,
) -> ConnectFail {
    let reason = match prev {
        None => "not-paired",
        Some(_) if !prev_has_role => "role-upgrade",
        Some(_) => "scope-upgrade",
    };
    let ask = crate::rpc::devices::Ask {
        device_id: &a.dev.id,
        public_key: &a.dev.public_key,
        display_name: a.p.client.display_name.as_deref(),
        platform: &a.p.client.platform,
        device_family: a.p.client.device_family.as_deref(),
        client_id: &a.p.client.id,
        client_mode: &a.p.client.mode,
        role: a.role,
        scopes: a.scopes,
        repair: prev.is_some(),
        remote_ip: super::remote_ip(a.info),
    };
    crate::rpc::devices::pairing_required(a.gw, ask, reason).await
}

/// `gateway.nodes.pairing.autoApproveLocal` (default on).
fn auto_approve_local(gw: &Gateway) -> bool {
    gw.cfg
        .load()
        .parsed
        .pointer("/gateway/nodes/pairing/autoApproveLocal")
        .and_then(Value::as_bool)
        .unwrap_or(true)
}

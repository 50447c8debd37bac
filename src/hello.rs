//! What a successful `connect` sends and records: the `hello-ok` payload (server, features,
//! snapshot, auth, policy) and the presence entry of a ui/webchat/node client.

use openclaw_net::ConnInfo;
use openclaw_proto::connect::ConnectParams;
use openclaw_proto::GrantedScopes;
use serde_json::{json, Map, Value};

use crate::server::{Gateway, VERSION};

/// The presence entry a ui/webchat/node client creates on connect.
pub fn presence_entry(
    p: &ConnectParams,
    info: &ConnInfo,
    role: &str,
    scopes: &GrantedScopes,
    device_id: Option<&str>,
    now: u64,
) -> Map<String, Value> {
    let c = &p.client;
    if role == "node" {
        return node_presence_entry(p, info, device_id, now);
    }
    let host = c.display_name.clone().unwrap_or_else(|| c.id.clone());
    let mut m = Map::new();
    m.insert("clientId".into(), json!(c.id));
    m.insert("host".into(), json!(host));
    if !info.peer.ip().is_loopback() {
        m.insert("ip".into(), json!(info.peer.ip().to_string()));
    }
    m.insert("version".into(), json!(c.version));
    m.insert("platform".into(), json!(c.platform));
    if let Some(f) = &c.device_family {
        m.insert("deviceFamily".into(), json!(f));
    }
    if let Some(mi) = &c.model_identifier {
        m.insert("modelIdentifier".into(), json!(mi));
    }
    m.insert("mode".into(), json!(c.mode));
    m.insert("reason".into(), json!("connect"));
    if let Some(d) = device_id {
        m.insert("deviceId".into(), json!(d));
        // A paired device speaks for the gateway owner (`users.self`).
        if role == "operator" {
            let owner = crate::profile::OWNER_PROFILE_ID;
            m.insert(
                "user".into(),
                json!({ "id": owner, "identity": { "type": "profile", "id": owner } }),
            );
        }
    }
    if let Some(i) = &c.instance_id {
        m.insert("instanceId".into(), json!(i));
    }
    m.insert("roles".into(), json!([role]));
    m.insert("scopes".into(), json!(scopes.list()));
    m.insert("onlineSince".into(), json!(now));
    m.insert(
        "text".into(),
        json!(format!("Node: {host} · mode {}", c.mode)),
    );
    m.insert("ts".into(), json!(now));
    m
}

/// A node's presence entry, in the Node gateway's shape and key order: the device id is its
/// instance id, no scopes, no owner.
fn node_presence_entry(
    p: &ConnectParams,
    info: &ConnInfo,
    device_id: Option<&str>,
    now: u64,
) -> Map<String, Value> {
    let c = &p.client;
    let id = device_id.unwrap_or(&c.id);
    let host = c.display_name.clone().unwrap_or_else(|| c.id.clone());
    let mut m = Map::new();
    m.insert("host".into(), json!(host));
    if !info.peer.ip().is_loopback() {
        m.insert("ip".into(), json!(info.peer.ip().to_string()));
    }
    m.insert("clientId".into(), json!(c.id));
    m.insert("version".into(), json!(c.version));
    m.insert("platform".into(), json!(c.platform));
    if let Some(f) = &c.device_family {
        m.insert("deviceFamily".into(), json!(f));
    }
    if let Some(mi) = &c.model_identifier {
        m.insert("modelIdentifier".into(), json!(mi));
    }
    m.insert("mode".into(), json!(c.mode));
    m.insert("deviceId".into(), json!(id));
    m.insert("roles".into(), json!(["node"]));
    m.insert("instanceId".into(), json!(id));
    m.insert("reason".into(), json!("connect"));
    m.insert("ts".into(), json!(now));
    m.insert(
        "text".into(),
        json!(format!("Node: {host} · mode {}", c.mode)),
    );
    m
}

#[allow(clippy::too_many_arguments)]
pub fn hello_ok(
    gw: &Gateway,
    protocol: u32,
    conn_id: &str,
    method: &str,
    role: &str,
    scopes: &GrantedScopes,
    device_token: Option<&(String, u64)>,
    new_pairing: bool,
) -> Value {
    let cfg = gw.cfg.load();
    let mut auth = json!({ "method": method, "role": role, "scopes": scopes.list() });
    if let Some((tok, issued)) = device_token {
        auth["deviceToken"] = json!(tok);
        auth["issuedAtMs"] = json!(issued);
        if new_pairing {
            auth["recoveryMigrationAllowed"] = json!(true);
        }
    }
    let agent = &cfg.default_agent_id;
    let mut server = json!({
        "version": VERSION,
        "buildId": gw.boot.build_id,
        "bootId": gw.boot.boot_id,
        "connId": conn_id,
    });
    // The stock Control UI compares this with where it was loaded from; ours serves a UI only
    // from `gateway.controlUi.root` (the built-in page is not the UI).
    if cfg.control_ui_root().is_some() {
        server["controlUiBuildSource"] = json!("configured");
    }
    json!({
        "type": "hello-ok",
        "protocol": protocol,
        "server": server,
        "features": {
            "methods": crate::rpc::registry::method_names(),
            "events": crate::rpc::registry::EVENTS,
            "capabilities": crate::rpc::registry::CAPABILITIES,
        },
        "snapshot": {
            "suspension": { "phase": "accepting" },
            "presence": gw.presence.list(),
            "health": gw.health_snapshot(false),
            "stateVersion": gw.versions.current(),
            "uptimeMs": gw.uptime_ms(),
            "appliedConfigHash": cfg.raw_sha256,
            "configPath": cfg.path.display().to_string(),
            "stateDir": cfg.state_dir.display().to_string(),
            "sessionDefaults": {
                "defaultAgentId": agent,
                "modelConfigured": !gw.agents.catalog().default_agent().models.is_empty(),
                "ownership": "sole",
                "selectionRequired": false,
                "mainKey": "main",
                "mainSessionKey": format!("agent:{agent}:main"),
                "scope": "per-sender",
            },
            "authMode": cfg.auth.mode.as_str(),
        },
        "auth": auth,
        "policy": {
            "maxPayload": cfg.limits.max_payload,
            "maxBufferedBytes": cfg.limits.max_buffered_bytes,
            "tickIntervalMs": cfg.limits.tick_interval_ms,
            "attachments": crate::config::limits::attachment_policy(&cfg.parsed),
        },
    })
}

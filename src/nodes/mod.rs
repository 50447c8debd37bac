//! Nodes: the connected `role:"node"` sockets, their pairing (an operator approves the command
//! surface a node declares; durable in the node store), and the rows `node.list`,
//! `node.describe` and `node.pair.list` answer. Invocations in flight are `invoke.rs`'s; the
//! allowlist is `policy.rs`'s; the wire handlers are `rpc/nodes.rs`'s.

pub mod invoke;
pub mod pending;
pub mod policy;

use std::collections::HashMap;
use std::sync::Arc;

use openclaw_net::Outbound;
use parking_lot::{Mutex, RwLock};
use serde_json::{json, Map, Value};

use crate::store::nodes::{Kind, NodeStore};
use crate::store::StoreError;

/// Pending node pairing requests expire this long after the node last asked (the Node
/// gateway's 5 minutes), unless the node is still connected.
pub const PENDING_TTL_MS: u64 = 5 * 60 * 1000;
/// How often a node connect may sweep expired pending requests.
pub const EXPIRE_EVERY_MS: u64 = 30_000;

/// What a node declared at connect.
#[derive(Clone, Debug, Default)]
pub struct NodeDecl {
    /// `device.id`, else `client.id`.
    pub node_id: String,
    pub client_id: String,
    pub client_mode: String,
    pub display_name: Option<String>,
    pub platform: String,
    pub version: String,
    pub device_family: Option<String>,
    pub model_identifier: Option<String>,
    pub caps: Vec<String>,
    pub commands: Vec<String>,
    pub path_env: Option<String>,
    pub permissions: Option<Value>,
    /// Connected direct from loopback.
    pub local: bool,
    /// The peer address, when it is not this host.
    pub remote_ip: Option<String>,
}

/// One connected node socket.
#[derive(Debug)]
pub struct NodeConn {
    pub decl: Arc<NodeDecl>,
    /// Transport connection number.
    pub conn: u64,
    pub(crate) out: Outbound,
    pub connected_ms: u64,
}

/// Where a node's pairing stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Approval {
    /// Its surface was approved (these commands).
    Approved(Vec<String>),
    /// Waiting for an operator: this request.
    Pending(String),
    /// Unknown to the gateway.
    Unknown,
}

/// The node registry.
#[derive(Debug)]
pub struct Nodes {
    store: NodeStore,
    live: RwLock<HashMap<String, Arc<NodeConn>>>,
    host_stats: Mutex<HashMap<String, Value>>,
    last_expire: Mutex<u64>,
    /// Invocations waiting for their node.
    pub invokes: invoke::Invokes,
    /// Work queued for nodes (`node.pending.*`).
    pub pending: pending::PendingWork,
}

fn s(v: &Option<String>) -> Value {
    v.as_ref().map_or(Value::Null, |x| Value::String(x.clone()))
}

/// The approver scopes a surface needs: command execution needs admin besides pairing.
fn approve_scopes(commands: &[String]) -> Vec<&'static str> {
    if commands
        .iter()
        .any(|c| c.starts_with("system.") || c == "browser.proxy" || c == "mcp.tools.call.v1")
    {
        vec!["operator.pairing", "operator.admin"]
    } else {
        vec!["operator.pairing"]
    }
}

fn strip_nulls(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.retain(|_, x| !x.is_null());
    }
    v
}

impl Nodes {
    /// Over the durable node records in `store`.
    pub fn new(store: NodeStore) -> Self {
        Self {
            store,
            live: RwLock::new(HashMap::new()),
            host_stats: Mutex::new(HashMap::new()),
            last_expire: Mutex::new(0),
            invokes: invoke::Invokes::default(),
            pending: pending::PendingWork::default(),
        }
    }

    /// The durable pairing records (node surfaces, device requests, labels).
    pub fn records(&self) -> &NodeStore {
        &self.store
    }

    /// How many node sockets are connected.
    pub fn live_count(&self) -> usize {
        self.live.read().len()
    }

    /// The live socket of `node_id`.
    pub fn live(&self, node_id: &str) -> Option<Arc<NodeConn>> {
        self.live.read().get(node_id).cloned()
    }

    /// Where `node_id`'s pairing stands.
    pub fn approval(&self, node_id: &str) -> Approval {
        if let Some(p) = self.store.get(Kind::Paired, node_id) {
            return Approval::Approved(strings(&p["commands"]));
        }
        match self.pending_for(node_id) {
            Some(rid) => Approval::Pending(rid),
            None => Approval::Unknown,
        }
    }

    fn pending_for(&self, node_id: &str) -> Option<String> {
        self.store
            .find(Kind::Pending, |v| v["nodeId"] == node_id)
            .map(|(id, _)| id)
    }

    /// The commands `node_id` may be invoked with now (approved ∩ declared on this socket).
    pub fn effective_commands(&self, node_id: &str) -> Vec<String> {
        let Some(p) = self.store.get(Kind::Paired, node_id) else {
            return Vec::new();
        };
        let approved = strings(&p["commands"]);
        match self.live(node_id) {
            Some(l) => approved
                .into_iter()
                .filter(|c| l.decl.commands.contains(c))
                .collect(),
            None => approved,
        }
    }

    /// A node socket finished its handshake: it is live from now on.
    pub fn register(&self, c: NodeConn) {
        let id = c.decl.node_id.clone();
        self.live.write().insert(id, Arc::new(c));
    }

    /// Check a freshly connected node's declared surface against its approval. Returns the
    /// pairing request to announce (`node.pair.requested`) when it needs an operator.
    pub async fn on_connect(
        &self,
        d: &NodeDecl,
        cfg: &Value,
        now: u64,
    ) -> Result<Option<Value>, StoreError> {
        let platform = policy::platform_id(&d.platform, d.device_family.as_deref().unwrap_or(""));
        let admitted = policy::admitted(cfg, platform, &d.commands);
        if let Some(mut p) = self.store.get(Kind::Paired, &d.node_id) {
            let approved = strings(&p["commands"]);
            p["lastSeenAtMs"] = json!(now);
            p["lastSeenReason"] = json!("connect");
            if let Some(ip) = &d.remote_ip {
                p["remoteIp"] = json!(ip);
            }
            self.store.put(Kind::Paired, &d.node_id, p).await?;
            if admitted.iter().all(|c| approved.contains(c)) {
                return Ok(None);
            }
        }
        let existing = self.pending_for(&d.node_id);
        let rid = existing.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let caps = {
            let mut v = d.caps.clone();
            v.sort();
            v.dedup();
            v
        };
        let req = strip_nulls(json!({
            "requestId": rid,
            "nodeId": d.node_id,
            "clientId": d.client_id,
            "clientMode": d.client_mode,
            "displayName": s(&d.display_name),
            "platform": d.platform,
            "version": d.version,
            "deviceFamily": s(&d.device_family),
            "modelIdentifier": s(&d.model_identifier),
            "caps": caps,
            "commands": admitted,
            "requiredApproveScopes": approve_scopes(&admitted),
            "remoteIp": s(&d.remote_ip),
            "silent": d.local.then_some(true),
            "ts": now,
        }));
        self.store.put(Kind::Pending, &rid, req.clone()).await?;
        Ok(Some(req))
    }

    /// The socket `conn` of `node_id` is gone: forget it and fail what waits on it.
    pub fn detach(&self, node_id: &str, conn: u64) {
        let mut live = self.live.write();
        if live.get(node_id).is_some_and(|l| l.conn == conn) {
            live.remove(node_id);
        }
        drop(live);
        self.invokes.disconnected(conn);
    }

    /// Keep the latest `node.host.stats` of a node.
    pub fn set_host_stats(&self, node_id: &str, stats: Value) {
        self.host_stats.lock().insert(node_id.to_string(), stats);
    }

    /// Pending requests older than [`PENDING_TTL_MS`] whose node is not connected.
    /// Runs at most every [`EXPIRE_EVERY_MS`] (it walks every pending request).
    pub async fn expire(&self, now: u64) {
        {
            let mut last = self.last_expire.lock();
            if now.saturating_sub(*last) < EXPIRE_EVERY_MS {
                return;
            }
            *last = now;
        }
        for (rid, v) in self.store.all(Kind::Pending) {
            let ts = v["ts"].as_u64().unwrap_or(0);
            let node = v["nodeId"].as_str().unwrap_or("");
            if now.saturating_sub(ts) > PENDING_TTL_MS && self.live(node).is_none() {
                let _ = self.store.delete(Kind::Pending, &rid).await;
            }
        }
    }

    /// `node.pair.list`.
    pub fn pair_list(&self) -> Value {
        let mut pending: Vec<Value> = self
            .store
            .all(Kind::Pending)
            .into_iter()
            .map(|(_, v)| v)
            .collect();
        pending.sort_by_key(|v| v["ts"].as_u64().unwrap_or(0));
        let paired: Vec<Value> = self
            .store
            .all(Kind::Paired)
            .into_iter()
            .map(|(id, mut v)| {
                if let Some(h) = self.host_stats.lock().get(&id) {
                    v["lastHostStats"] = h.clone();
                }
                v
            })
            .collect();
        json!({ "pending": pending, "paired": paired })
    }

    /// Approve request `rid`: the node's surface becomes its approved record.
    pub async fn approve(&self, rid: &str, now: u64) -> Result<Option<Value>, StoreError> {
        let Some(req) = self.store.get(Kind::Pending, rid) else {
            return Ok(None);
        };
        let node_id = req["nodeId"].as_str().unwrap_or("").to_string();
        let prev = self.store.get(Kind::Paired, &node_id);
        let mut rec = Map::new();
        rec.insert("nodeId".into(), json!(node_id));
        for k in [
            "clientId",
            "clientMode",
            "displayName",
            "platform",
            "version",
            "deviceFamily",
            "modelIdentifier",
            "caps",
            "commands",
            "remoteIp",
        ] {
            if let Some(v) = req.get(k) {
                rec.insert(k.into(), v.clone());
            }
        }
        if let Some(name) = prev.as_ref().and_then(|p| p.get("displayName")) {
            rec.insert("displayName".into(), name.clone());
        }
        let created = prev.as_ref().and_then(|p| p["createdAtMs"].as_u64());
        rec.insert("createdAtMs".into(), json!(created.unwrap_or(now)));
        rec.insert("approvedAtMs".into(), json!(now));
        let seen = self
            .live(&node_id)
            .map_or(req["ts"].clone(), |l| json!(l.connected_ms));
        rec.insert("lastSeenAtMs".into(), seen);
        rec.insert("lastSeenReason".into(), json!("connect"));
        let rec = Value::Object(rec);
        self.store.put(Kind::Paired, &node_id, rec.clone()).await?;
        self.store.delete(Kind::Pending, rid).await?;
        Ok(Some(rec))
    }

    /// Reject request `rid`; its node id when it existed.
    pub async fn reject(&self, rid: &str) -> Result<Option<String>, StoreError> {
        let Some(req) = self.store.get(Kind::Pending, rid) else {
            return Ok(None);
        };
        self.store.delete(Kind::Pending, rid).await?;
        Ok(req["nodeId"].as_str().map(str::to_string))
    }

    /// Forget an approved node (and its pending requests); `false` if it was not paired.
    pub async fn remove(&self, node_id: &str) -> Result<bool, StoreError> {
        for (rid, v) in self.store.all(Kind::Pending) {
            if v["nodeId"] == node_id {
                self.store.delete(Kind::Pending, &rid).await?;
            }
        }
        if self.store.get(Kind::Paired, node_id).is_none() {
            return Ok(false);
        }
        self.store.delete(Kind::Paired, node_id).await?;
        Ok(true)
    }

    /// Rename a known node; `false` when it is neither paired nor connected.
    pub async fn rename(&self, node_id: &str, name: &str) -> Result<bool, StoreError> {
        if let Some(mut p) = self.store.get(Kind::Paired, node_id) {
            p["displayName"] = json!(name);
            self.store.put(Kind::Paired, node_id, p).await?;
            return Ok(true);
        }
        for (rid, mut v) in self.store.all(Kind::Pending) {
            if v["nodeId"] == node_id {
                v["displayName"] = json!(name);
                self.store.put(Kind::Pending, &rid, v).await?;
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Every known node id: paired, pending, or connected.
    fn ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .store
            .all(Kind::Paired)
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        for (_, v) in self.store.all(Kind::Pending) {
            if let Some(id) = v["nodeId"].as_str() {
                ids.push(id.to_string());
            }
        }
        ids.extend(self.live.read().keys().cloned());
        ids.sort();
        ids.dedup();
        ids
    }

    /// `node.list`'s rows.
    pub fn list(&self, device_approved: impl Fn(&str) -> Option<u64>, pairing: bool) -> Vec<Value> {
        self.ids()
            .iter()
            .filter_map(|id| self.row(id, &device_approved, pairing))
            .collect()
    }

    /// One `node.list` row (`node.describe` adds `ts`); the pending request's details only
    /// for `pairing` viewers.
    pub fn row(
        &self,
        id: &str,
        device_approved: impl Fn(&str) -> Option<u64>,
        pairing: bool,
    ) -> Option<Value> {
        let paired = self.store.get(Kind::Paired, id);
        let pending = self
            .pending_for(id)
            .and_then(|r| self.store.get(Kind::Pending, &r));
        let live = self.live(id);
        if paired.is_none() && pending.is_none() && live.is_none() {
            return None;
        }
        let mut row = identity(id, paired.as_ref(), pending.as_ref(), live.as_deref());
        let approved = paired.is_some();
        let (caps, commands) = match (&paired, &live) {
            (Some(_), Some(l)) => {
                let mut caps = l.decl.caps.clone();
                caps.sort();
                caps.dedup();
                (json!(caps), json!(self.effective_commands(id)))
            }
            (Some(p), None) => (p["caps"].clone(), p["commands"].clone()),
            _ => (json!([]), json!([])),
        };
        row.insert("caps".into(), caps);
        row.insert("commands".into(), commands);
        row.insert("sessionHost".into(), json!(false));
        if let Some(h) = self.host_stats.lock().get(id) {
            row.insert("hostStats".into(), h.clone());
        }
        if let Some(l) = &live {
            row.insert("nodePluginTools".into(), json!([]));
            row.insert("pathEnv".into(), s(&l.decl.path_env));
            row.insert(
                "permissions".into(),
                l.decl.permissions.clone().unwrap_or(Value::Null),
            );
        }
        let state = if approved {
            "approved"
        } else if pending.is_some() {
            "pending-approval"
        } else {
            "unapproved"
        };
        row.insert("approvalState".into(), json!(state));
        if let (Some(req), true) = (&pending, pairing) {
            row.insert("pendingRequestId".into(), req["requestId"].clone());
            row.insert("pendingDeclaredCaps".into(), req["caps"].clone());
            row.insert("pendingDeclaredCommands".into(), req["commands"].clone());
        }
        last_seen(&mut row, paired.as_ref(), live.as_deref());
        let approved_at = paired
            .as_ref()
            .and_then(|p| p["approvedAtMs"].as_u64())
            .or_else(|| device_approved(id));
        row.insert("approvedAtMs".into(), json!(approved_at));
        row.insert(
            "paired".into(),
            json!(approved || device_approved(id).is_some()),
        );
        row.insert("connected".into(), json!(live.is_some()));
        Some(strip_nulls(Value::Object(row)))
    }
}

/// A node row's identity fields: the live connection's declaration first, else the paired
/// (or pending) record's; a paired record's own `displayName` always wins.
fn identity(
    id: &str,
    paired: Option<&Value>,
    pending: Option<&Value>,
    live: Option<&NodeConn>,
) -> Map<String, Value> {
    let base = paired.or(pending).cloned().unwrap_or(json!({}));
    let pick = |k: &str| -> Value {
        let from_live = live.map(|l| {
            let d = &l.decl;
            match k {
                "displayName" => s(&d.display_name),
                "platform" => json!(d.platform),
                "version" => json!(d.version),
                "clientId" => json!(d.client_id),
                "clientMode" => json!(d.client_mode),
                "deviceFamily" => s(&d.device_family),
                "modelIdentifier" => s(&d.model_identifier),
                "remoteIp" => s(&d.remote_ip),
                _ => Value::Null,
            }
        });
        match (k, paired) {
            ("displayName", Some(p)) if p.get("displayName").is_some() => p["displayName"].clone(),
            _ => from_live
                .filter(|v| !v.is_null())
                .unwrap_or_else(|| base.get(k).cloned().unwrap_or(Value::Null)),
        }
    };
    let mut row = Map::new();
    row.insert("nodeId".into(), json!(id));
    for k in [
        "displayName",
        "platform",
        "version",
        "clientId",
        "clientMode",
        "deviceFamily",
        "modelIdentifier",
        "remoteIp",
    ] {
        row.insert(k.into(), pick(k));
    }
    row
}

/// When the node was last seen: when it connected, if it is connected; else what its paired
/// record says.
fn last_seen(row: &mut Map<String, Value>, paired: Option<&Value>, live: Option<&NodeConn>) {
    if let Some(l) = live {
        row.insert("connectedAtMs".into(), json!(l.connected_ms));
        row.insert("lastConnectedAtMs".into(), json!(l.connected_ms));
        row.insert("lastSeenAtMs".into(), json!(l.connected_ms));
        row.insert("lastSeenReason".into(), json!("connect"));
    } else if let Some(p) = paired {
        row.insert("lastSeenAtMs".into(), p["lastSeenAtMs"].clone());
        row.insert("lastSeenReason".into(), p["lastSeenReason"].clone());
    }
}

/// A JSON array of strings as a `Vec` (anything else is empty).
pub fn strings(v: &Value) -> Vec<String> {
    crate::json::strings(Some(v))
}

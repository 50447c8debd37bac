//! The gateway's exec-approvals policy document (`exec.approvals.get` / `set`), kept as the
//! Node gateway keeps it: one JSON document (version 1, the approval socket's path and token,
//! defaults, per-agent allowlists) stored as its pretty-printed text, its SHA-256 the `hash`
//! a writer must present (`baseHash`). Created on first read; the socket token never leaves
//! the store. Here: shape checks, normalisation and the wire view; the RPC layer stores it.

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

/// The hash of a document that does not exist yet (`missing:` + SHA-256 of nothing).
pub const MISSING_HASH: &str =
    "missing:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

const SECURITY: [&str; 3] = ["deny", "allowlist", "full"];
const ASK: [&str; 3] = ["off", "on-miss", "always"];
/// Allowlist entry fields, in the order they are written.
const ENTRY_KEYS: [&str; 7] = [
    "pattern",
    "id",
    "source",
    "argPattern",
    "lastUsedAt",
    "lastUsedCommand",
    "lastResolvedPath",
];

/// The stored text of `file` (what its hash is taken over).
pub fn raw(file: &Value) -> String {
    let mut s = serde_json::to_string_pretty(file).unwrap_or_default();
    s.push('\n');
    s
}

/// SHA-256 (hex) of a stored text.
pub fn hash(raw: &str) -> String {
    hex::encode(Sha256::digest(raw.as_bytes()))
}

/// A new document: no defaults, no agents, a socket path under the state dir and a random
/// token.
pub fn fresh(socket_path: &str) -> Value {
    let token: [u8; 24] = rand::random();
    json!({ "version": 1,
            "socket": { "path": socket_path, "token": crate::auth::device::b64url(&token) },
            "defaults": {}, "agents": {} })
}

/// The document as the wire shows it: the socket's path only.
pub fn wire(file: &Value) -> Value {
    let mut f = file.clone();
    match file["socket"]["path"].as_str() {
        Some(p) => f["socket"] = json!({ "path": p }),
        None => {
            if let Some(o) = f.as_object_mut() {
                o.remove("socket");
            }
        }
    }
    f
}

/// The defaults in force: the document's, else the built-in ones.
pub fn resolved_defaults(file: &Value) -> Value {
    let d = &file["defaults"];
    json!({
        "security": d["security"].as_str().unwrap_or("full"),
        "ask": d["ask"].as_str().unwrap_or("off"),
        "askFallback": d["askFallback"].as_str().unwrap_or("deny"),
        "autoAllowSkills": d["autoAllowSkills"].as_bool().unwrap_or(false),
    })
}

/// The policy fields of `v` (defaults or one agent), unknown values dropped, in order.
fn policy_fields(v: &Value) -> Map<String, Value> {
    let mut m = Map::new();
    for (k, allowed) in [
        ("security", &SECURITY),
        ("ask", &ASK),
        ("askFallback", &SECURITY),
    ] {
        if let Some(s) = v[k].as_str().filter(|s| allowed.contains(s)) {
            m.insert(k.into(), json!(s));
        }
    }
    if let Some(b) = v["autoAllowSkills"].as_bool() {
        m.insert("autoAllowSkills".into(), json!(b));
    }
    m
}

/// Allowlist entries: blank patterns dropped, `commandText` stripped, an id given to each
/// entry that has none, fields in order.
fn entries(list: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    for e in list.as_array().into_iter().flatten() {
        if e["pattern"].as_str().is_none_or(|p| p.trim().is_empty()) {
            continue;
        }
        let mut m = Map::new();
        for k in ENTRY_KEYS {
            match (k, e.get(k)) {
                ("id", None) => {
                    m.insert(k.into(), json!(uuid::Uuid::new_v4().to_string()));
                }
                (_, Some(v)) => {
                    m.insert(k.into(), v.clone());
                }
                _ => {}
            }
        }
        out.push(Value::Object(m));
    }
    out
}

fn agent(v: &Value) -> Value {
    let mut m = policy_fields(v);
    if v.get("allowlist").is_some() {
        m.insert("allowlist".into(), json!(entries(&v["allowlist"])));
    }
    if let Some(t) = v.get("mcpTools") {
        m.insert("mcpTools".into(), t.clone());
    }
    Value::Object(m)
}

/// Fold a legacy `default` agent into `main`: main's entries first, then default's not
/// already there (same pattern, ignoring case, and argPattern); main's fields win.
fn merge_default(agents: &mut Map<String, Value>) {
    let Some(def) = agents.remove("default") else {
        return;
    };
    let main = agents.entry("main").or_insert_with(|| json!({}));
    let key = |e: &Value| {
        let p = e["pattern"].as_str().unwrap_or("").to_lowercase();
        (p, e["argPattern"].as_str().unwrap_or("").to_string())
    };
    let mut list = main["allowlist"].as_array().cloned().unwrap_or_default();
    for e in def["allowlist"].as_array().into_iter().flatten() {
        if !list.iter().any(|x| key(x) == key(e)) {
            list.push(e.clone());
        }
    }
    let mut merged = policy_fields(&def);
    merged.extend(policy_fields(main));
    if !list.is_empty() || main.get("allowlist").is_some() || def.get("allowlist").is_some() {
        merged.insert("allowlist".into(), json!(list));
    }
    *main = Value::Object(merged);
}

/// The document `set` writes from the caller's `file`, keeping the current socket where the
/// caller leaves it out.
pub fn normalize(file: &Value, current: &Value) -> Value {
    let mut socket = current["socket"].clone();
    if let Some(p) = file["socket"]["path"]
        .as_str()
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        socket["path"] = json!(p);
    }
    if let Some(t) = file["socket"]["token"]
        .as_str()
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        socket["token"] = json!(t);
    }
    let mut agents: Map<String, Value> = file["agents"]
        .as_object()
        .map(|o| o.iter().map(|(k, v)| (k.clone(), agent(v))).collect())
        .unwrap_or_default();
    merge_default(&mut agents);
    let mut out = json!({ "version": 1 });
    if socket.is_object() {
        out["socket"] = socket;
    }
    out["defaults"] = Value::Object(policy_fields(&file["defaults"]));
    out["agents"] = Value::Object(agents);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_normalises_as_the_node_gateway_does() {
        let cur = fresh("/s/exec-approvals.sock");
        let file = json!({ "version": 1,
            "defaults": { "security": "bogus", "ask": "always", "autoAllowSkills": true },
            "agents": {
                "default": { "security": "deny", "allowlist": [{ "pattern": "/bin/ls" }, { "pattern": "/USR/BIN/UNAME" }] },
                "main": { "ask": "nope", "allowlist": [
                    { "pattern": "/usr/bin/uname", "id": "my-id", "commandText": "uname -a" },
                    { "pattern": "   " }] } } });
        let n = normalize(&file, &cur);
        assert_eq!(n["socket"], cur["socket"], "socket kept");
        assert_eq!(
            n["defaults"],
            json!({ "ask": "always", "autoAllowSkills": true })
        );
        let main = &n["agents"]["main"];
        assert_eq!(main["security"], "deny", "taken from default");
        assert!(main.get("ask").is_none(), "invalid value dropped");
        let list = main["allowlist"].as_array().unwrap();
        assert_eq!(
            list.len(),
            2,
            "blank dropped, duplicate by case folded: {list:?}"
        );
        assert_eq!(
            list[0],
            json!({ "pattern": "/usr/bin/uname", "id": "my-id" })
        );
        assert!(list[1]["id"].as_str().is_some_and(|i| i.len() == 36));
        assert!(n["agents"].get("default").is_none());
        assert_eq!(
            wire(&n)["socket"],
            json!({ "path": "/s/exec-approvals.sock" })
        );
    }

    #[test]
    fn the_hash_is_over_the_stored_text() {
        let f = fresh("/x.sock");
        let r = raw(&f);
        assert!(r.ends_with("}\n") && r.contains("\n  \"version\": 1"));
        assert_eq!(hash(&r).len(), 64);
        assert_eq!(MISSING_HASH, format!("missing:{}", hash("")));
    }
}

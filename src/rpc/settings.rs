//! The settings pages' config schema: `config.schema` (the whole generated schema of
//! [`crate::config::schema`] with a UI hint per key) and `config.schema.lookup` (one node and
//! its children). Writing the config is [`super::config_write`]'s.

use std::sync::OnceLock;

use openclaw_proto::{ErrorCode, ErrorShape, RequestFrame};
use serde_json::{json, Map, Value};

use super::ui::strict;
use super::Ctx;
use crate::config::schema::config_schema;
use crate::reload::needs_restart;

/// Longest `config.schema.lookup` path (the 9.6 schema's `maxLength`).
pub const MAX_LOOKUP_PATH: usize = 1024;
/// Keys holding secrets: the UI masks them.
const SENSITIVE: &[&str] = &["token", "password", "apiKey"];

/// `"customBindHost"` → `"Custom Bind Host"`.
fn label(key: &str) -> String {
    let mut out = String::new();
    for (i, ch) in key.chars().enumerate() {
        if i == 0 {
            out.extend(ch.to_uppercase());
        } else {
            if ch.is_uppercase() {
                out.push(' ');
            }
            out.push(ch);
        }
    }
    out
}

fn hint(key: &str, node: &Value) -> Value {
    let mut h = json!({ "label": label(key) });
    if let Some(d) = node.get("description").and_then(Value::as_str) {
        h["help"] = json!(d);
    }
    if SENSITIVE.contains(&key) {
        h["sensitive"] = json!(true);
    }
    h
}

/// The children a node has: its properties, or the entries of a map (`*`) or a list (`[]`).
fn children(node: &Value) -> Vec<(String, &Value, bool)> {
    let required: Vec<&str> = node
        .get("required")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if let Some(props) = node.get("properties").and_then(Value::as_object) {
        return props
            .iter()
            .map(|(k, v)| (k.clone(), v, required.contains(&k.as_str())))
            .collect();
    }
    if let Some(v @ Value::Object(_)) = node.get("additionalProperties") {
        return vec![("*".into(), v, false)];
    }
    if let Some(v @ Value::Object(_)) = node.get("items") {
        return vec![("[]".into(), v, false)];
    }
    Vec::new()
}

fn join(path: &str, key: &str) -> String {
    match (path.is_empty(), key) {
        (true, _) => key.to_string(),
        (false, "[]") => format!("{path}[]"),
        _ => format!("{path}.{key}"),
    }
}

/// Every key's hint, by dotted path (`models.providers.*.apiKey`, `agents.list[].id`).
fn ui_hints() -> &'static Map<String, Value> {
    static HINTS: OnceLock<Map<String, Value>> = OnceLock::new();
    HINTS.get_or_init(|| {
        fn walk(path: &str, node: &Value, out: &mut Map<String, Value>) {
            for (k, child, _) in children(node) {
                let p = join(path, &k);
                if k != "*" && k != "[]" {
                    out.insert(p.clone(), hint(&k, child));
                }
                walk(&p, child, out);
            }
        }
        let mut out = Map::new();
        walk("", config_schema(), &mut out);
        out
    })
}

/// The node schema without its nested levels (the lookup lists those as children).
fn shallow(node: &Value) -> Value {
    let mut n = node.clone();
    if let Some(o) = n.as_object_mut() {
        for k in ["properties", "required"] {
            o.remove(k);
        }
        if o.get("additionalProperties").is_some_and(Value::is_object) {
            o.insert("additionalProperties".into(), json!(true));
        }
        if o.get("items").is_some_and(Value::is_object) {
            o.insert("items".into(), json!({}));
        }
    }
    n
}

fn reload_kind(path: &str) -> &'static str {
    let mut parts = path.split(['.', '[']);
    let top = parts.next().unwrap_or_default();
    let two = match parts.next() {
        Some(second) if matches!(top, "gateway" | "plugins") => format!("{top}.{second}"),
        _ => top.to_string(),
    };
    if needs_restart(&two) || (top == "gateway" && path == "gateway") {
        "restart"
    } else {
        "hot"
    }
}

/// `config.schema {}`.
pub fn schema(c: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    strict(req, &[], &[])?;
    Ok(json!({
        "schema": config_schema(),
        "uiHints": ui_hints(),
        "version": env!("CARGO_PKG_VERSION"),
        "generatedAt": crate::cron::schedule::iso(c.gw.boot.started_ms),
    }))
}

/// Walk `path` (`a.b`, `a[0]`, `a[]`, `a.*`, map keys) down the schema.
fn find<'s>(root: &'s Value, path: &str) -> Option<(&'s Value, String)> {
    let mut node = root;
    let mut hint_path = String::new();
    for seg in path.split('.') {
        let (name, idx) = match seg.find('[') {
            Some(i) => (&seg[..i], Some(&seg[i..])),
            None => (seg, None),
        };
        if !name.is_empty() {
            node = match node.get("properties").and_then(|p| p.get(name)) {
                Some(n) => {
                    hint_path = join(&hint_path, name);
                    n
                }
                None => {
                    let n = node.get("additionalProperties").filter(|v| v.is_object())?;
                    hint_path = join(&hint_path, "*");
                    n
                }
            };
        }
        if let Some(idx) = idx {
            for _ in idx.matches('[') {
                node = node.get("items").filter(|v| v.is_object())?;
                hint_path = join(&hint_path, "[]");
            }
        }
    }
    Some((node, hint_path))
}

/// `config.schema.lookup {path}`.
pub fn lookup(_: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let p = strict(req, &["path"], &["path"])?;
    let path = p.get("path").and_then(Value::as_str).unwrap_or_default();
    let valid = !path.is_empty()
        && path.len() <= MAX_LOOKUP_PATH
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./[]-*".contains(c));
    if !valid {
        return Err(ErrorShape::invalid_params(
            "config.schema.lookup",
            "at /path: must match pattern \"^[A-Za-z0-9_./\\[\\]\\-*]+$\"",
        ));
    }
    let Some((node, hint_path)) = find(config_schema(), path) else {
        return Err(ErrorShape::new(
            ErrorCode::InvalidRequest,
            "config schema path not found",
        ));
    };
    let hints = ui_hints();
    let kids: Vec<Value> = children(node)
        .into_iter()
        .map(|(k, child, required)| {
            let cp = join(path, &k);
            let hp = join(&hint_path, &k);
            let mut e = json!({
                "key": k,
                "path": cp,
                "required": required,
                "hasChildren": !children(child).is_empty(),
                "reloadKind": reload_kind(&cp),
                "hintPath": hp,
            });
            if let Some(t) = child.get("type") {
                e["type"] = t.clone();
            }
            if let Some(h) = hints.get(&hp) {
                e["hint"] = h.clone();
            }
            e
        })
        .collect();
    let mut out = json!({
        "path": path,
        "schema": shallow(node),
        "reloadKind": reload_kind(path),
        "hintPath": hint_path,
        "children": kids,
    });
    if let Some(h) = hints.get(&hint_path) {
        out["hint"] = h.clone();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_keys_maps_and_lists() {
        let root = config_schema();
        let (n, hp) = find(root, "gateway.port").unwrap();
        assert_eq!(n["type"], "integer");
        assert_eq!(hp, "gateway.port");
        let (n, hp) = find(root, "models.providers.openai.apiKey").unwrap();
        assert!(n.get("anyOf").is_some());
        assert_eq!(hp, "models.providers.*.apiKey");
        let (_, hp) = find(root, "agents.list[0].id").unwrap();
        assert_eq!(hp, "agents.list[].id");
        assert!(find(root, "gateway.nope").is_none());
        assert_eq!(reload_kind("gateway.port"), "restart");
        assert_eq!(reload_kind("gateway.reload.mode"), "hot");
        assert_eq!(reload_kind("models.providers"), "hot");
        let h = ui_hints();
        assert_eq!(h["gateway.customBindHost"]["label"], "Custom Bind Host");
        assert_eq!(h["models.providers.*.apiKey"]["sensitive"], true);
    }
}

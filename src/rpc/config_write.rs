//! `config.set` (the whole file), `config.patch` (a JSON merge patch) and `config.apply`
//! (the whole file, applied now): guarded by the `config.get` hash, validated, written
//! atomically with rotated backups ([`crate::config::write`]), then loaded and applied as a
//! hot reload would ([`crate::reload::apply`]): hot keys at once, restart keys by an
//! in-process restart. Anything refused leaves the file and the running config as they were.

use std::sync::Arc;

use openclaw_proto::{ErrorCode, ErrorShape, RequestFrame};
use serde_json::{json, Value};

use super::ui::strict;
use super::Ctx;
use crate::clock::now_ms;
use crate::config::write::{merge_patch, restore_config, write_config};
use crate::config::{self, parse_json5, validate, GatewayConfig};
use crate::reload;

const SET_KEYS: &[&str] = &["raw", "baseHash"];
const APPLY_KEYS: &[&str] = &[
    "raw",
    "baseHash",
    "sessionKey",
    "deliveryContext",
    "note",
    "restartDelayMs",
];
const PATCH_KEYS: &[&str] = &[
    "raw",
    "baseHash",
    "sessionKey",
    "deliveryContext",
    "note",
    "restartDelayMs",
    "replacePaths",
];

/// The hash `config.get` reports for `cfg` (and `baseHash` must repeat).
pub fn config_hash(cfg: &GatewayConfig) -> String {
    format!("sha256:{}", cfg.raw_sha256.trim_start_matches("sha256:"))
}

fn invalid(msg: impl Into<String>) -> ErrorShape {
    ErrorShape::new(ErrorCode::InvalidRequest, msg)
}

/// `invalid config: <path>: <message>; …` with `details.issues`, as the Node gateway words it.
fn invalid_config(issues: &[String]) -> ErrorShape {
    let list: Vec<Value> = issues
        .iter()
        .map(|i| {
            let (path, message) = i.split_once(": ").unwrap_or(("", i));
            json!({ "path": if path == "<root>" { "" } else { path }, "message": message })
        })
        .collect();
    let text = issues.join("; ");
    invalid(format!("invalid config: {text}")).with_details(json!({ "issues": list }))
}

fn syntax(e: String) -> ErrorShape {
    invalid(format!("SyntaxError: {e}"))
}

/// The params every write shares, checked in the Node gateway's order.
fn raw_and_hash<'p>(
    method: &str,
    p: &'p Value,
    cur: &GatewayConfig,
    changed: &str,
) -> Result<&'p str, ErrorShape> {
    let raw = match p.get("raw") {
        Some(Value::String(s)) if !s.is_empty() => s.as_str(),
        Some(Value::String(_)) => {
            return Err(ErrorShape::invalid_params(
                method,
                "at /raw: must not have fewer than 1 characters",
            ))
        }
        _ => {
            return Err(ErrorShape::invalid_params(
                method,
                "at /raw: must be string",
            ))
        }
    };
    if let Some(h) = p.get("baseHash") {
        if h.as_str() != Some(config_hash(cur).as_str()) {
            return Err(invalid(
                "config changed since last load; re-run config.get and retry",
            ));
        }
    } else if cur.exists {
        let what = if changed.is_empty() {
            String::new()
        } else {
            format!(" for {changed}")
        };
        return Err(invalid(format!(
            "config base hash required{what}; re-run config.get and retry{}",
            if changed.is_empty() {
                ""
            } else {
                " with baseHash"
            }
        )));
    }
    Ok(raw)
}

/// Validate `next` (the file's content to be) against the running config.
fn check(next: &Value, cur: &GatewayConfig) -> Result<(), ErrorShape> {
    if !next.is_object() {
        return Err(invalid_config(&[format!(
            "<root>: expected an object, got {}",
            if next.is_array() {
                "an array"
            } else {
                "a scalar"
            }
        )]));
    }
    let issues = validate(next);
    if !issues.is_empty() {
        return Err(invalid_config(&issues));
    }
    let had_mode = cur.parsed.pointer("/gateway/mode").is_some();
    if had_mode && next.pointer("/gateway/mode").is_none() {
        return Err(ErrorShape::new(
            ErrorCode::Unavailable,
            format!(
                "Config write rejected: {} (gateway-mode-removed): the gateway would not start without gateway.mode",
                cur.path.display()
            ),
        ));
    }
    Ok(())
}

/// Write `next`, load it as the running process would, and apply it; the old file comes
/// back if the new one does not load.
async fn commit(c: &Ctx, next: Value) -> Result<(Arc<GatewayConfig>, bool), ErrorShape> {
    let cur = c.gw.cfg.load_full();
    let text = serde_json::to_string_pretty(&next).unwrap_or_default() + "\n";
    let prev = cur.clone();
    let loaded = tokio::task::spawn_blocking(move || {
        let old = prev.exists.then(|| prev.raw.clone());
        write_config(&prev.path, &text).map_err(|e| format!("write failed: {e}"))?;
        match config::reload_with_origin(&prev) {
            Ok(n) => Ok(n),
            Err(e) => {
                if let Err(r) = restore_config(&prev.path, old.as_deref()) {
                    tracing::error!(target: "gateway/config", "restoring {} failed: {r}", prev.path.display());
                }
                Err(e.to_string())
            }
        }
    })
    .await
    .map_err(|_| ErrorShape::new(ErrorCode::Unavailable, "config write failed"))?;
    let next = loaded.map_err(|e| {
        tracing::warn!(target: "gateway/config", "config write refused: {e}");
        ErrorShape::new(ErrorCode::Unavailable, format!("config write refused: {e}"))
    })?;
    let next = Arc::new(next);
    let restart = reload::apply(&c.gw, (*next).clone());
    if let Some(reason) = &restart {
        c.gw.restarts.request(reason.clone());
    }
    Ok((next, restart.is_some()))
}

/// Validate and commit a whole new file content (for other writers of the config, such as
/// provider set-up).
pub(super) async fn write_value(
    c: &Ctx,
    next: Value,
) -> Result<(Arc<GatewayConfig>, bool), ErrorShape> {
    check(&next, &c.gw.cfg.load())?;
    commit(c, next).await
}

fn answer(cfg: &GatewayConfig, kind: &str, restart: bool, changed: Option<Vec<String>>) -> Value {
    let mut out = json!({
        "ok": true,
        "path": cfg.path.display().to_string(),
        "hash": config_hash(cfg),
        "config": cfg.redacted(),
    });
    if let Some(paths) = changed {
        out["changedPaths"] = json!(paths);
    }
    if kind != "config.set" {
        out["sentinel"] = json!({
            "persisted": true,
            "payload": {
                "kind": kind.replace('.', "-"),
                "status": "ok",
                "ts": now_ms(),
                "message": null,
                "stats": {
                    "mode": kind,
                    "root": cfg.path.display().to_string(),
                    "requiresRestart": restart,
                },
            },
        });
    }
    out
}

/// `config.set {raw, baseHash}` and `config.apply {raw, baseHash, …}`.
pub async fn set(c: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let method = req.method();
    let keys = if method == "config.set" {
        SET_KEYS
    } else {
        APPLY_KEYS
    };
    let p = strict(req, keys, &["raw"])?;
    let cur = c.gw.cfg.load_full();
    let raw = raw_and_hash(method, &p, &cur, "")?;
    let next = parse_json5(raw).map_err(syntax)?;
    check(&next, &cur)?;
    let (cfg, restart) = commit(c, next).await?;
    Ok(answer(&cfg, method, restart, None))
}

/// `config.patch {raw, baseHash, replacePaths?, …}`: `raw` is a JSON merge patch applied
/// to the file as written (before `${VAR}` substitution).
pub async fn patch(c: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let p = strict(req, PATCH_KEYS, &["raw"])?;
    let cur = c.gw.cfg.load_full();
    let patch_text = p.get("raw").and_then(Value::as_str).unwrap_or_default();
    let parsed = parse_json5(patch_text).ok();
    let raw = raw_and_hash("config.patch", &p, &cur, &leaf_paths(parsed.as_ref()))?;
    let patch = parse_json5(raw).map_err(syntax)?;
    if !patch.is_object() {
        return Err(invalid("config.patch raw must be an object"));
    }
    let replace: Vec<String> = p
        .get("replacePaths")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let mut next = if cur.exists {
        parse_json5(&cur.raw).map_err(syntax)?
    } else {
        json!({})
    };
    let before = next.clone();
    merge_patch(&mut next, &patch, "", &replace);
    check(&next, &cur)?;
    let paths = leaf_diff(&before, &next, "");
    let (cfg, restart) = commit(c, next).await?;
    Ok(answer(&cfg, "config.patch", restart, Some(paths)))
}

/// The dotted leaf paths a patch names (for the "base hash required for …" message).
fn leaf_paths(v: Option<&Value>) -> String {
    let mut out = Vec::new();
    if let Some(v) = v {
        leaves(v, "", &mut out);
    }
    out.join(", ")
}

fn leaves(v: &Value, path: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(o) if !o.is_empty() => {
            for (k, x) in o {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                leaves(x, &p, out);
            }
        }
        _ if !path.is_empty() => out.push(path.to_string()),
        _ => {}
    }
}

/// Dotted leaf paths whose value differs between `a` and `b`.
fn leaf_diff(a: &Value, b: &Value, path: &str) -> Vec<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut out = Vec::new();
            let keys = x.keys().chain(y.keys().filter(|k| !x.contains_key(*k)));
            for k in keys {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                let empty = Value::Object(Default::default());
                let (u, v) = match (x.get(k), y.get(k)) {
                    (Some(u), Some(v)) => (u, v),
                    (None, Some(v)) if v.is_object() => (&empty, v),
                    (Some(u), None) if u.is_object() => (u, &empty),
                    (u, v) => (u.unwrap_or(&Value::Null), v.unwrap_or(&Value::Null)),
                };
                if u != v {
                    out.extend(leaf_diff(u, v, &p));
                }
            }
            out
        }
        _ if a != b => vec![path.to_string()],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_and_leaves() {
        let a = json!({ "logging": { "level": "info", "file": "x" }, "ui": { "c": 1 } });
        let b = json!({ "logging": { "level": "debug", "file": "x" }, "n": { "m": true } });
        assert_eq!(leaf_diff(&a, &b, ""), ["logging.level", "ui.c", "n.m"]);
        assert_eq!(
            leaf_paths(Some(&json!({ "logging": { "level": "debug" } }))),
            "logging.level"
        );
        let e = invalid_config(&["gateway.port: expected an integer".into()]);
        assert_eq!(
            e.message,
            "invalid config: gateway.port: expected an integer"
        );
    }
}

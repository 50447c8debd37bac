//! Config and model catalogue reads: `config.get` (secrets redacted) and `models.list`.

use openclaw_proto::{ErrorShape, RequestFrame};
use serde::Deserialize;
use serde_json::{json, Value};

use super::params;
use crate::server::Gateway;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Empty {}

/// `config.get`: the active file, parsed and redacted, with its hash.
pub fn config_get(gw: &Gateway, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let _: Empty = params(req)?;
    let cfg = gw.cfg.load();
    let redacted = cfg.redacted();
    let raw = if cfg.exists {
        serde_json::to_string_pretty(&redacted).unwrap_or_default()
    } else {
        String::new()
    };
    let hash = format!("sha256:{}", cfg.raw_sha256.trim_start_matches("sha256:"));
    Ok(json!({
        "path": cfg.path.display().to_string(),
        "includedPaths": [],
        "exists": cfg.exists,
        "raw": raw,
        "parsed": redacted,
        "sourceConfig": redacted,
        "resolved": redacted,
        "valid": true,
        "runtimeConfig": redacted,
        "config": redacted,
        "hash": hash,
        "issues": [],
        "warnings": cfg.warnings,
        "legacyIssues": [],
        "configRevisionHash": hash,
        "appliedConfigHash": hash,
    }))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ModelsListParams {
    agent_id: Option<String>,
    include_provider_capabilities: Option<bool>,
    prepared_only: Option<bool>,
    refresh: Option<bool>,
    view: Option<String>,
}

/// `models.list`: the configured model catalogue (`models.providers.*.models`).
pub fn models_list(gw: &Gateway, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let p: ModelsListParams = params(req)?;
    let _ = (p.agent_id, p.include_provider_capabilities);
    if p.prepared_only == Some(true) && p.refresh == Some(true) {
        return Err(ErrorShape::invalid_params(
            "models.list",
            "preparedOnly and refresh are mutually exclusive",
        ));
    }
    if let Some(v) = p.view.as_deref() {
        if !matches!(v, "default" | "configured" | "provider-config" | "all") {
            return Err(ErrorShape::invalid_params("models.list", "unknown view"));
        }
    }
    let cfg = gw.cfg.load();
    let mut models = Vec::new();
    if let Some(providers) = cfg
        .parsed
        .pointer("/models/providers")
        .and_then(Value::as_object)
    {
        for (provider, body) in providers {
            for m in body
                .get("models")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let Some(id) = m.get("id").and_then(Value::as_str) else {
                    continue;
                };
                let mut e = json!({
                    "id": id,
                    "name": m.get("name").and_then(Value::as_str).unwrap_or(id),
                    "provider": provider,
                });
                if let Some(cw) = m.get("contextWindow").and_then(Value::as_u64) {
                    e["contextWindow"] = json!(cw);
                }
                models.push(e);
            }
        }
    }
    Ok(json!({ "models": models }))
}

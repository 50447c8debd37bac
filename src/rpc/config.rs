//! Config and model catalogue reads: `config.get` (secrets redacted) and `models.list`.

use openclaw_proto::{ErrorShape, RequestFrame};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{params, Ctx};

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Empty {}

/// `config.get`: the active file, parsed and redacted, with its hash.
pub fn config_get(c: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let gw = &c.gw;
    let _: Empty = params(req)?;
    let cfg = gw.cfg.load();
    let redacted = cfg.redacted();
    let raw = if cfg.exists {
        serde_json::to_string_pretty(&redacted).unwrap_or_default()
    } else {
        String::new()
    };
    let hash = super::config_write::config_hash(&cfg);
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
    /// Only this provider's models.
    provider: Option<String>,
    /// The catalogue as seen from a session: every session sees the configured catalogue
    /// here (no per-session model policies), so it only has to be a string.
    session_key: Option<String>,
    /// Auth profiles are not a feature of this gateway; the catalogue is the same.
    auth_profile_id: Option<String>,
    /// Details and built-in default models: we list exactly the configured models, which
    /// carry every detail we have (name, provider, context window).
    include_details: Option<bool>,
    include_default_models: Option<bool>,
}

/// The thinking levels a model, an agent or a new session offers: just `off`, because no
/// request here carries a thinking level to a provider (whatever the model could do).
/// `options`: also the flat `thinkingOptions` list (agents and session defaults carry it).
pub(crate) fn thinking_off(v: &mut Value, options: bool) {
    v["thinkingLevels"] = json!([{ "id": "off", "label": "off" }]);
    if options {
        v["thinkingOptions"] = json!(["off"]);
    }
    v["thinkingDefault"] = json!("off");
}

/// `models.list`: the configured model catalogue (`models.providers.*.models`).
pub fn models_list(c: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let gw = &c.gw;
    let p: ModelsListParams = params(req)?;
    let _ = p.include_provider_capabilities;
    let _ = (
        p.auth_profile_id,
        p.include_details,
        p.include_default_models,
    );
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
    let cat = gw.agents.catalog();
    // The default agent's first model is tagged `default`, as the Node gateway tags it.
    let default = cat
        .default_agent()
        .models
        .first()
        .and_then(|r| cat.target(r).ok())
        .map(|t| (t.provider.id.clone(), t.model));
    let mut models = Vec::new();
    if let Some(providers) = cfg
        .parsed
        .pointer("/models/providers")
        .and_then(Value::as_object)
    {
        for (provider, body) in providers {
            if p.provider.as_ref().is_some_and(|want| want != provider) {
                continue;
            }
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
                    "reasoning": m.get("reasoning").and_then(Value::as_bool).unwrap_or(false),
                });
                if default
                    .as_ref()
                    .is_some_and(|(p, d)| p == provider && d == id)
                {
                    e["tags"] = json!(["default"]);
                }
                thinking_off(&mut e, false);
                e["available"] = json!(cat.target(&format!("{provider}/{id}")).is_ok());
                if let Some(cw) = m.get("contextWindow").and_then(Value::as_u64) {
                    e["contextWindow"] = json!(cw);
                }
                models.push(e);
            }
        }
    }
    // Scoped to a session or an agent, the Node gateway also says which account answers;
    // this gateway has one key per provider, picked automatically.
    if p.session_key.is_some() || p.agent_id.is_some() {
        return Ok(json!({
            "models": models,
            "accountSelection": { "kind": "automatic", "label": "Automatic account selection" },
        }));
    }
    Ok(json!({ "models": models }))
}

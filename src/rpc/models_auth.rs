//! Provider set-up from the UI: `models.authStatus` (each configured provider and where
//! its key comes from; which providers take a pasted key) and `models.authSetApiKey`: the
//! key goes to a 0600 file under `$STATE/credentials/`, the config gets a file SecretRef to
//! it (the key itself is never in the config, a log line or an answer), a known provider
//! missing from the config is added with its public endpoint, an empty model list is filled
//! from the provider's `GET /models`, and the first model becomes the default when none is
//! set — so chat works without touching the config file. The write is `config_write`'s.

use std::path::PathBuf;
use std::time::Duration;

use openclaw_proto::{ErrorCode, ErrorShape, RequestFrame};
use serde_json::{json, Value};

use super::config_write::write_value;
use super::Ctx;
use crate::clock::now_ms;
use crate::config::GatewayConfig;

/// Providers a key can be pasted for without writing their config first: id, base URL, API.
pub const PRESETS: &[(&str, &str, &str)] = &[
    ("openai", "https://api.openai.com/v1", "openai-completions"),
    (
        "anthropic",
        "https://api.anthropic.com",
        "anthropic-messages",
    ),
    (
        "openrouter",
        "https://openrouter.ai/api/v1",
        "openai-completions",
    ),
    (
        "groq",
        "https://api.groq.com/openai/v1",
        "openai-completions",
    ),
    ("mistral", "https://api.mistral.ai/v1", "openai-completions"),
    (
        "deepseek",
        "https://api.deepseek.com/v1",
        "openai-completions",
    ),
    ("xai", "https://api.x.ai/v1", "openai-completions"),
];
/// How long model discovery (`GET <baseUrl>/models`) may take.
pub const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(8);
/// Most models taken from a discovery answer.
pub const MAX_DISCOVERED_MODELS: usize = 50;
/// Largest discovery answer read.
const MAX_DISCOVERY_BYTES: usize = 4 * 1024 * 1024;

fn providers(cfg: &GatewayConfig) -> serde_json::Map<String, Value> {
    cfg.parsed
        .pointer("/models/providers")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

fn unknown_agent(id: &str) -> ErrorShape {
    ErrorShape::new(
        ErrorCode::InvalidRequest,
        format!("unknown agent id {id:?}"),
    )
    .with_details(json!({ "code": "UNKNOWN_AGENT_ID", "agentId": id }))
}

fn check_agent(cfg: &GatewayConfig, p: &Value) -> Result<(), ErrorShape> {
    match p.get("agentId").and_then(Value::as_str) {
        Some(id) if !cfg.agents.agents.iter().any(|a| a.id == id) => Err(unknown_agent(id)),
        _ => Ok(()),
    }
}

/// Where a provider's `apiKey` comes from: `config`, `env`, `file`, or none.
fn key_source(v: Option<&Value>) -> Option<&'static str> {
    match v? {
        Value::String(s) if s.trim().starts_with("${") => Some("env"),
        Value::String(s) if !s.trim().is_empty() => Some("config"),
        Value::Object(o) => match o.get("source").and_then(Value::as_str) {
            Some("file") => Some("file"),
            Some("env") => Some("env"),
            _ if o.contains_key("$env") => Some("env"),
            _ => Some("config"),
        },
        _ => None,
    }
}

/// `models.authStatus {refresh?, agentId?}` (unknown params ignored, as observed).
pub fn status(c: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let p: Value = super::params(req)?;
    let cfg = c.gw.cfg.load();
    check_agent(&cfg, &p)?;
    let mut rows = Vec::new();
    let mut caps = Vec::new();
    for (id, body) in providers(&cfg) {
        let resolved = cfg
            .agents
            .providers
            .get(&id)
            .and_then(|pc| pc.api_key.as_ref());
        let mut row = json!({
            "provider": id, "authProvider": id, "displayName": id,
            "status": if resolved.is_some() { "static" } else { "missing" },
            "profiles": [],
        });
        if let Some(src) = key_source(body.get("apiKey")) {
            row["apiKey"] = json!({ "source": src });
        }
        rows.push(row);
        caps.push(json!({ "provider": id, "apiKeySupported": true, "quickApiKeySetup": true }));
    }
    for (id, _, _) in PRESETS {
        if !caps.iter().any(|c| c["provider"] == *id) {
            caps.push(json!({ "provider": id, "apiKeySupported": true, "quickApiKeySetup": true }));
        }
    }
    Ok(json!({ "ts": now_ms(), "providers": rows, "providerCapabilities": caps }))
}

fn text_param<'a>(p: &'a Value, key: &str) -> Result<&'a str, ErrorShape> {
    let method = "models.authSetApiKey";
    match p.get(key) {
        None => Err(ErrorShape::invalid_params(
            method,
            &format!("must have required property '{key}'"),
        )),
        Some(Value::String(s)) if s.chars().any(|c| !c.is_whitespace()) => Ok(s.trim()),
        Some(Value::String(_)) => Err(ErrorShape::invalid_params(
            method,
            &format!("at /{key}: must match pattern \"\\S\""),
        )),
        Some(_) => Err(ErrorShape::invalid_params(
            method,
            &format!("at /{key}: must be string"),
        )),
    }
}

fn key_path(state: &std::path::Path, provider: &str) -> PathBuf {
    let safe: String = provider
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    state.join("credentials").join(format!("{safe}.key"))
}

fn write_key(path: &std::path::Path, key: &str) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(path);
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    let tmp = path.with_extension("tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(&tmp)?;
    f.write_all(key.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// The model ids an OpenAI-compatible provider lists (`GET <baseUrl>/models`).
async fn discover(base_url: &str, key: &str) -> Result<Vec<String>, String> {
    let url = format!("{}/models", base_url.trim_end_matches('/'));
    let resp = crate::provider::http_client()
        .get(&url)
        .bearer_auth(key)
        .timeout(DISCOVERY_TIMEOUT)
        .send()
        .await
        .map_err(|e| format!("GET {url}: {}", e.without_url()))?;
    if !resp.status().is_success() {
        return Err(format!("GET {url}: HTTP {}", resp.status().as_u16()));
    }
    let body = resp
        .bytes()
        .await
        .map_err(|e| e.without_url().to_string())?;
    if body.len() > MAX_DISCOVERY_BYTES {
        return Err(format!("GET {url}: answer too large"));
    }
    let v: Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
    Ok(v.get("data")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| m.get("id").and_then(Value::as_str).map(String::from))
        .take(MAX_DISCOVERED_MODELS)
        .collect())
}

/// Set `path` in `v`, making every level on the way an object.
fn set_path(v: &mut Value, path: &[&str], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = v;
    for k in parents {
        if !cur.is_object() {
            *cur = json!({});
        }
        cur = cur
            .as_object_mut()
            .map(|o| o.entry(k.to_string()).or_insert_with(|| json!({})))
            .expect("object");
    }
    if !cur.is_object() {
        *cur = json!({});
    }
    if let Some(o) = cur.as_object_mut() {
        o.insert(last.to_string(), value);
    }
}

/// `models.authSetApiKey {provider, apiKey, agentId?}`.
pub async fn set_api_key(c: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let p: Value = super::params(req)?;
    let provider = text_param(&p, "provider")?.to_string();
    let key = text_param(&p, "apiKey")?.to_string();
    let cfg = c.gw.cfg.load_full();
    check_agent(&cfg, &p)?;
    let preset = PRESETS.iter().find(|(id, _, _)| *id == provider);
    let existing = providers(&cfg).get(&provider).cloned();
    let mut entry = match (existing, preset) {
        (Some(e), _) => e,
        (None, Some((_, url, api))) => json!({ "baseUrl": url, "api": api }),
        (None, None) => {
            return Err(ErrorShape::new(
                ErrorCode::InvalidRequest,
                format!("unknown provider {provider:?}: add models.providers.{provider}.baseUrl to the config first"),
            ))
        }
    };
    let path = key_path(&cfg.state_dir, &provider);
    let (wpath, wkey) = (path.clone(), key.clone());
    tokio::task::spawn_blocking(move || write_key(&wpath, &wkey))
        .await
        .map_err(|_| ErrorShape::new(ErrorCode::Unavailable, "storing the key failed"))?
        .map_err(|e| {
            tracing::warn!(target: "gateway/models", "storing the {provider} key failed: {e}");
            ErrorShape::new(ErrorCode::Unavailable, "storing the key failed")
        })?;
    entry["apiKey"] = json!({ "source": "file", "path": path.display().to_string() });
    let mut warning = None;
    let is_openai = entry.get("api").and_then(Value::as_str) != Some("anthropic-messages");
    let has_models = entry
        .get("models")
        .and_then(Value::as_array)
        .is_some_and(|m| !m.is_empty());
    if is_openai && !has_models {
        let base = entry
            .get("baseUrl")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        match discover(&base, &key).await {
            Ok(ids) if !ids.is_empty() => {
                entry["models"] = json!(ids.iter().map(|id| json!({ "id": id, "name": id })).collect::<Vec<_>>());
            }
            Ok(_) => warning = Some(format!("{provider} lists no models; add them under models.providers.{provider}.models")),
            Err(e) => warning = Some(format!("could not list {provider}'s models ({e}); add them under models.providers.{provider}.models")),
        }
    }
    let mut next = if cfg.exists {
        crate::config::parse_json5(&cfg.raw).unwrap_or(json!({}))
    } else {
        json!({})
    };
    let first = entry
        .pointer("/models/0/id")
        .and_then(Value::as_str)
        .map(|m| format!("{provider}/{m}"));
    set_path(&mut next, &["models", "providers", &provider], entry);
    if next.pointer("/agents/defaults/model").is_none() {
        if let Some(m) = first {
            set_path(&mut next, &["agents", "defaults", "model"], json!(m));
        }
    }
    if next.pointer("/gateway/mode").is_none() && !cfg.exists {
        // A fresh file: keep it startable.
        set_path(&mut next, &["gateway", "mode"], json!("local"));
    }
    write_value(c, next).await?;
    tracing::info!(target: "gateway/models", "API key stored for provider {provider}");
    let mut out = json!({ "provider": provider, "profileId": format!("{provider}:manual") });
    if let Some(w) = warning {
        out["warning"] = json!(w);
    }
    Ok(out)
}

/// The agent's ready model: its first model ref whose provider exists and has a key.
fn ready_model(cfg: &GatewayConfig, agent: &str) -> Option<String> {
    let def = cfg.agents.agent(agent)?;
    def.models.iter().find_map(|r| {
        let t = cfg.agents.target(r).ok()?;
        t.provider.api_key.as_ref()?;
        Some(format!("{}/{}", t.provider.id, t.model))
    })
}

fn agent_param(c: &Ctx, p: &Value) -> Result<String, ErrorShape> {
    let cfg = c.gw.cfg.load();
    check_agent(&cfg, p)?;
    Ok(p.get("agentId")
        .and_then(Value::as_str)
        .map_or_else(|| cfg.agents.default_agent().id.clone(), String::from))
}

/// `openclaw.setup.detect {agentId?}`: whether the agent has a working model, and the
/// providers a key can be pasted for (the UI's model set-up).
pub fn setup_detect(c: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let p = super::ui::strict(req, &["agentId"], &[])?;
    let agent = agent_param(c, &p)?;
    let cfg = c.gw.cfg.load();
    let ready = ready_model(&cfg, &agent);
    let candidates: Vec<Value> = ready
        .iter()
        .map(|m| {
            json!({ "kind": "existing-model", "label": m, "modelRef": m, "recommended": true,
                    "detail": "Configured in models.providers" })
        })
        .collect();
    let manual: Vec<Value> = PRESETS
        .iter()
        .map(|(id, _, _)| {
            json!({ "id": format!("{id}-api-key"), "brandId": id,
                    "label": format!("{id} API key"), "groupLabel": id })
        })
        .collect();
    let mut out = json!({
        "candidates": candidates, "unavailableCandidates": [], "manualProviders": manual,
        "authOptions": [], "prepareOptions": [], "recommendedInstalls": [],
        "nativeSessionCatalogs": [], "nativeSessionCatalogPreferenceRequired": false,
        "workspace": super::catalogs::workspace(&c.gw).display().to_string(),
        "setupComplete": ready.is_some(),
    });
    if let Some(m) = ready {
        out["configuredModel"] = json!(m);
    }
    Ok(out)
}

/// `chat.metadata {agentId?, sessionKey?, authProfileId?}`: the models a chat can use (the
/// configured catalogue, the agent's default tagged) and the slash commands (none here:
/// messages go to the model as typed).
pub fn chat_metadata(c: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let p = super::ui::strict(req, &["agentId", "authProfileId", "sessionKey"], &[])?;
    if p.get("sessionKey").is_some() && p.get("authProfileId").is_some() {
        return Err(ErrorShape::invalid_params(
            "chat.metadata",
            "must NOT be valid",
        ));
    }
    let agent = agent_param(c, &p)?;
    let cfg = c.gw.cfg.load();
    let default = cfg
        .agents
        .agent(&agent)
        .and_then(|a| a.models.first().cloned());
    let default = default.and_then(|r| cfg.agents.target(&r).ok());
    let mut models = Vec::new();
    for (pid, prov) in &cfg.agents.providers {
        for m in &prov.models {
            let is_default = default
                .as_ref()
                .is_some_and(|t| t.provider.id == *pid && t.model == m.id);
            models.push(json!({
                "id": m.id, "name": m.name.clone().unwrap_or_else(|| m.id.clone()),
                "provider": pid, "reasoning": false,
                "tags": if is_default { json!(["default"]) } else { json!([]) },
                "thinkingLevels": [{ "id": "off", "label": "off" }], "thinkingDefault": "off",
                "available": prov.api_key.is_some(),
            }));
        }
    }
    Ok(json!({
        "models": models, "commands": [], "swarmEnabled": false,
        "accountSelection": { "kind": "automatic", "label": "Automatic account selection" },
        "runtimeSelectionLocked": false,
    }))
}

//! The agent and provider catalogue resolved from config: `models.providers.<id>` and
//! `agents.defaults` / `agents.list` (or `agents.entries`). Built once per config snapshot,
//! with API keys resolved (env/file SecretRefs), so a run never touches the environment.
//! Plain data the run engine (`agents`) reads; the engine itself is not config's business.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::{parse_secret_input, resolve_secret_input, Env};

/// Longest silence tolerated between upstream bytes (headers or stream chunks) before the
/// call fails with [`ProviderErrorKind::Timeout`]. Config: `agents.defaults.timeoutSeconds`
/// bounds the whole run separately.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(120);

/// `models.providers.<id>.api`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Api {
    /// OpenAI-compatible `POST {baseUrl}/chat/completions` with `stream: true` (SSE).
    OpenAiCompletions,
    /// Anthropic `POST {baseUrl}/v1/messages` with `stream: true` (event stream).
    AnthropicMessages,
}

impl Api {
    /// Parse the config spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "openai-completions" | "openai" | "openai-chat" => Some(Api::OpenAiCompletions),
            "anthropic-messages" | "anthropic" => Some(Api::AnthropicMessages),
            _ => None,
        }
    }
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Api::OpenAiCompletions => "openai-completions",
            Api::AnthropicMessages => "anthropic-messages",
        }
    }
}

/// One configured model of a provider.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelConfig {
    pub id: String,
    pub name: Option<String>,
    pub context_window: Option<u64>,
    pub max_tokens: Option<u64>,
    /// `cost`: USD per million tokens, as OpenClaw configs carry it (for `usage.cost`).
    pub cost: Option<ModelCost>,
}

/// A model's price: USD per million tokens of each kind.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ModelCost {
    pub input: f64,
    pub output: f64,
    pub cache_read: f64,
    pub cache_write: f64,
}

impl ModelCost {
    fn parse(v: &Value) -> Option<Self> {
        let o = v.as_object()?;
        let f = |k: &str| o.get(k).and_then(Value::as_f64).unwrap_or(0.0);
        Some(Self {
            input: f("input"),
            output: f("output"),
            cache_read: f("cacheRead"),
            cache_write: f("cacheWrite"),
        })
    }
}

/// A resolved `models.providers.<id>` entry. `Debug` never prints the key.
#[derive(Clone, PartialEq)]
pub struct ProviderConfig {
    pub id: String,
    /// e.g. `http://127.0.0.1:11434/v1` (OpenAI) or `https://api.anthropic.com` (Anthropic).
    pub base_url: String,
    /// Resolved API key (env/file SecretRefs already resolved), if any.
    pub api_key: Option<String>,
    pub api: Api,
    /// Extra request headers.
    pub headers: Vec<(String, String)>,
    pub models: Vec<ModelConfig>,
}

impl std::fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderConfig")
            .field("id", &self.id)
            .field("base_url", &self.base_url)
            .field("api", &self.api)
            .field("has_key", &self.api_key.is_some())
            .finish_non_exhaustive()
    }
}

/// The default agent id when none is configured.
pub const DEFAULT_AGENT: &str = "main";
/// Run timeout when neither the request nor `agents.defaults.timeoutSeconds` sets one.
pub const DEFAULT_RUN_TIMEOUT_SECS: u64 = 600;

/// One agent.
#[derive(Clone, Debug, PartialEq)]
pub struct AgentDef {
    pub id: String,
    pub name: Option<String>,
    /// `"provider/model"` refs, primary first then fallbacks.
    pub models: Vec<String>,
    pub system_prompt: Option<String>,
    /// `identity` object as configured (`name`, `emoji`, `avatar`, `theme`).
    pub identity: Option<Value>,
}

impl AgentDef {
    /// A non-empty string of the agent's `identity` (`name`, `emoji`, `avatar`, …).
    pub fn identity_str(&self, key: &str) -> Option<&str> {
        self.identity
            .as_ref()?
            .get(key)?
            .as_str()
            .filter(|s| !s.is_empty())
    }

    /// The name it answers to: its identity's name, else "Assistant" (an agent's plain
    /// `name` is not its identity, as on the Node gateway).
    pub fn display_name(&self) -> &str {
        self.identity_str("name").unwrap_or("Assistant")
    }

    /// Its avatar when it has no picture: the identity's emoji, else the name's first letter.
    pub fn fallback_avatar(&self) -> String {
        match self.identity_str("emoji") {
            Some(e) => e.to_string(),
            None => self
                .display_name()
                .chars()
                .next()
                .map_or_else(|| "A".into(), |c| c.to_uppercase().to_string()),
        }
    }
}

/// Providers and agents of one config snapshot.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    pub providers: BTreeMap<String, Arc<ProviderConfig>>,
    pub agents: Vec<AgentDef>,
    pub default_agent: String,
    /// `agents.defaults.timeoutSeconds` (or the default).
    pub run_timeout_secs: u64,
    /// Longest upstream silence before a model call fails: `agents.defaults.idleTimeoutMs`
    /// (our extension; default [`IDLE_TIMEOUT`]).
    pub idle_timeout: std::time::Duration,
    /// Problems found while resolving (logged at start, never fatal).
    pub warnings: Vec<String>,
}

/// A resolved model target.
#[derive(Clone, Debug)]
pub struct Target {
    pub provider: Arc<ProviderConfig>,
    pub model: String,
    pub max_tokens: Option<u64>,
}

impl Target {
    /// The configured context window of this model (`contextWindow`), if any.
    pub fn context_window(&self) -> Option<u64> {
        self.provider
            .models
            .iter()
            .find(|m| m.id == self.model)
            .and_then(|m| m.context_window)
    }
}

fn model_refs(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) if !s.trim().is_empty() => vec![s.trim().to_string()],
        Some(Value::Object(o)) => {
            let mut out = Vec::new();
            if let Some(p) = o.get("primary").and_then(Value::as_str) {
                out.push(p.trim().to_string());
            }
            for f in o
                .get("fallbacks")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(s) = f.as_str() {
                    out.push(s.trim().to_string());
                }
            }
            out.retain(|s| !s.is_empty());
            out
        }
        _ => Vec::new(),
    }
}

/// A non-empty trimmed string field.
pub(crate) fn text(v: &Value, k: &str) -> Option<String> {
    v.get(k)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

impl Catalog {
    /// Resolve from the parsed config tree.
    pub fn from_config(parsed: &Value, env: &Env, config_dir: &Path, default_agent: &str) -> Self {
        let mut warnings = Vec::new();
        let mut providers = BTreeMap::new();
        if let Some(map) = parsed
            .pointer("/models/providers")
            .and_then(Value::as_object)
        {
            for (id, p) in map {
                match provider(id, p, env, config_dir, &mut warnings) {
                    Some(cfg) => {
                        providers.insert(id.clone(), Arc::new(cfg));
                    }
                    None => continue,
                }
            }
        }
        let defaults = parsed.pointer("/agents/defaults");
        let default_models = model_refs(defaults.and_then(|d| d.get("model")));
        let default_prompt = defaults.and_then(|d| text(d, "systemPrompt"));
        let mut agents = Vec::new();
        let make = |id: &str, e: &Value| {
            let own = model_refs(e.get("model"));
            AgentDef {
                id: id.to_string(),
                name: text(e, "name").or_else(|| e.get("identity").and_then(|i| text(i, "name"))),
                models: if own.is_empty() {
                    default_models.clone()
                } else {
                    own
                },
                system_prompt: text(e, "systemPrompt").or_else(|| default_prompt.clone()),
                identity: e.get("identity").filter(|v| v.is_object()).cloned(),
            }
        };
        if let Some(list) = parsed.pointer("/agents/list").and_then(Value::as_array) {
            for e in list {
                if let Some(id) = e.get("id").and_then(Value::as_str) {
                    agents.push(make(id, e));
                }
            }
        } else if let Some(map) = parsed.pointer("/agents/entries").and_then(Value::as_object) {
            for (id, e) in map {
                agents.push(make(id, e));
            }
        }
        if !agents.iter().any(|a| a.id == default_agent) {
            agents.push(make(default_agent, &json!({})));
        }
        let run_timeout_secs = defaults
            .and_then(|d| d.get("timeoutSeconds"))
            .and_then(Value::as_u64)
            .filter(|s| *s > 0)
            .unwrap_or(DEFAULT_RUN_TIMEOUT_SECS);
        let idle_timeout = defaults
            .and_then(|d| d.get("idleTimeoutMs"))
            .and_then(Value::as_u64)
            .filter(|ms| *ms > 0)
            .map_or(IDLE_TIMEOUT, std::time::Duration::from_millis);
        Self {
            providers,
            agents,
            default_agent: default_agent.to_string(),
            run_timeout_secs,
            idle_timeout,
            warnings,
        }
    }

    /// An agent by id (`openclaw/default` style aliases are resolved by callers).
    pub fn agent(&self, id: &str) -> Option<&AgentDef> {
        self.agents.iter().find(|a| a.id == id)
    }

    /// The default agent.
    pub fn default_agent(&self) -> &AgentDef {
        self.agent(&self.default_agent)
            .or_else(|| self.agents.first())
            .expect("catalog always has the default agent")
    }

    /// Resolve `"provider/model"` (or a bare model id found in exactly one provider).
    ///
    /// # Errors
    /// A clear message naming what is unknown.
    pub fn target(&self, model_ref: &str) -> Result<Target, String> {
        let found = match model_ref.split_once('/') {
            Some((p, m)) if self.providers.contains_key(p) => {
                Some((self.providers[p].clone(), m.to_string()))
            }
            _ => {
                let hits: Vec<_> = self
                    .providers
                    .values()
                    .filter(|p| p.models.iter().any(|m| m.id == model_ref))
                    .collect();
                match hits.as_slice() {
                    [one] => Some(((*one).clone(), model_ref.to_string())),
                    _ => None,
                }
            }
        };
        let Some((provider, model)) = found else {
            return Err(format!("Unknown model: {model_ref}"));
        };
        let max_tokens = provider
            .models
            .iter()
            .find(|m| m.id == model)
            .and_then(|m| m.max_tokens);
        Ok(Target {
            provider,
            model,
            max_tokens,
        })
    }
}

fn provider(
    id: &str,
    p: &Value,
    env: &Env,
    config_dir: &Path,
    warnings: &mut Vec<String>,
) -> Option<ProviderConfig> {
    let Some(base_url) = text(p, "baseUrl") else {
        warnings.push(format!(
            "models.providers.{id}: baseUrl is missing; provider ignored"
        ));
        return None;
    };
    let api = match p.get("api").and_then(Value::as_str) {
        None => Api::OpenAiCompletions,
        Some(s) => match Api::parse(s) {
            Some(a) => a,
            None => {
                warnings.push(format!(
                    "models.providers.{id}: api {s:?} is not supported (openai-completions, anthropic-messages); provider ignored"
                ));
                return None;
            }
        },
    };
    let api_key = match p.get("apiKey").and_then(parse_secret_input) {
        None => None,
        Some(input) => match resolve_secret_input(&input, env, config_dir) {
            Ok(k) => Some(k),
            Err(e) => {
                warnings.push(format!("models.providers.{id}.apiKey: {e}"));
                None
            }
        },
    };
    let headers = p
        .get("headers")
        .and_then(Value::as_object)
        .map(|h| {
            h.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect()
        })
        .unwrap_or_default();
    let models = p
        .get("models")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| {
            Some(ModelConfig {
                id: text(m, "id")?,
                name: text(m, "name"),
                context_window: m.get("contextWindow").and_then(Value::as_u64),
                max_tokens: m.get("maxTokens").and_then(Value::as_u64),
                cost: m.get("cost").and_then(ModelCost::parse),
            })
        })
        .collect();
    Some(ProviderConfig {
        id: id.to_string(),
        base_url,
        api_key,
        api,
        headers,
        models,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_providers_agents_and_targets() {
        let env = Env::from_pairs([("FAKE_KEY", "sk-env")]);
        let cfg = json!({
            "models": {"providers": {
                "fake": {"baseUrl": "http://127.0.0.1:1/v1", "apiKey": "${FAKE_KEY}", "api": "openai-completions",
                         "models": [{"id": "echo-1", "maxTokens": 99}]},
                "ant": {"baseUrl": "http://127.0.0.1:2", "apiKey": {"source": "env", "id": "MISSING"}, "api": "anthropic-messages",
                        "models": [{"id": "claude-x"}]},
                "bad": {"baseUrl": "http://x", "api": "grpc"}
            }},
            "agents": {"defaults": {"model": {"primary": "fake/echo-1", "fallbacks": ["ant/claude-x"]}, "timeoutSeconds": 30},
                       "list": [{"id": "main"}, {"id": "coder", "model": "ant/claude-x", "identity": {"name": "Cody", "emoji": "🤖"}}]}
        });
        let c = Catalog::from_config(&cfg, &env, Path::new("/"), "main");
        assert_eq!(c.providers.len(), 2);
        assert_eq!(c.providers["fake"].api_key.as_deref(), Some("sk-env"));
        assert_eq!(c.providers["ant"].api_key, None);
        assert_eq!(c.warnings.len(), 2, "{:?}", c.warnings);
        assert_eq!(c.default_agent().models, ["fake/echo-1", "ant/claude-x"]);
        assert_eq!(c.agent("coder").unwrap().name.as_deref(), Some("Cody"));
        assert_eq!(c.run_timeout_secs, 30);
        let t = c.target("fake/echo-1").unwrap();
        assert_eq!((t.model.as_str(), t.max_tokens), ("echo-1", Some(99)));
        assert_eq!(c.target("claude-x").unwrap().provider.id, "ant");
        assert!(c.target("nope/x").unwrap_err().contains("Unknown model"));
        let empty = Catalog::from_config(&json!({}), &env, Path::new("/"), "main");
        assert_eq!(empty.default_agent().id, "main");
        assert!(empty.default_agent().models.is_empty());
    }
}

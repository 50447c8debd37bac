//! The config file's JSON Schema, generated (schemars) from the typed description below of
//! every key this gateway reads; `config.schema` / `config.schema.lookup` serve it. The
//! enums come from the validator's own lists, so schema and validation cannot disagree on
//! them. Validation itself stays in [`super::validate`]; unknown keys are kept (not in the
//! schema's `additionalProperties: false`), as the loader keeps them.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use schemars::generate::SchemaSettings;
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde_json::Value;

use super::validate::{
    AUTH_MODES, BIND_MODES, CONSOLE_STYLES, GATEWAY_MODES, LOG_LEVELS, RELOAD_MODES, RUNTIMES,
    SECRET_SOURCES, TAILSCALE_MODES,
};

fn one_of(values: &[&str]) -> Schema {
    json_schema!({ "type": "string", "enum": values })
}
fn gateway_modes(_: &mut SchemaGenerator) -> Schema {
    one_of(GATEWAY_MODES)
}
fn bind_modes(_: &mut SchemaGenerator) -> Schema {
    one_of(BIND_MODES)
}
fn auth_modes(_: &mut SchemaGenerator) -> Schema {
    one_of(AUTH_MODES)
}
fn reload_modes(_: &mut SchemaGenerator) -> Schema {
    one_of(RELOAD_MODES)
}
fn runtimes(_: &mut SchemaGenerator) -> Schema {
    one_of(RUNTIMES)
}
fn tailscale_modes(_: &mut SchemaGenerator) -> Schema {
    one_of(TAILSCALE_MODES)
}
fn log_levels(_: &mut SchemaGenerator) -> Schema {
    one_of(LOG_LEVELS)
}
fn console_styles(_: &mut SchemaGenerator) -> Schema {
    one_of(CONSOLE_STYLES)
}
/// A secret: a plain string, `${ENV}`, or a SecretRef object.
fn secret_input(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "anyOf": [
        { "type": "string" },
        { "type": "object", "required": ["source"], "properties": {
            "source": { "type": "string", "enum": SECRET_SOURCES },
            "id": { "type": "string" }, "path": { "type": "string" },
            "provider": { "type": "string" } } }
    ] })
}
/// A model reference: `"provider/model"` or `{primary, fallbacks}`.
fn model_ref(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "anyOf": [
        { "type": "string" },
        { "type": "object", "properties": {
            "primary": { "type": "string" },
            "fallbacks": { "type": "array", "items": { "type": "string" } } } }
    ] })
}

/// OpenClaw configuration (the keys this gateway reads; others are kept as written).
#[derive(JsonSchema)]
#[schemars(rename_all = "camelCase")]
pub struct ConfigFile {
    /// The gateway's listener, authentication, Control UI, reload and limits.
    pub gateway: Option<Gateway>,
    /// Agents: defaults and the agent list.
    pub agents: Option<Agents>,
    /// Model providers and their models.
    pub models: Option<Models>,
    /// File and console logging.
    pub logging: Option<Logging>,
    /// Inbound webhooks (`/hooks/*`).
    pub hooks: Option<Hooks>,
    /// Operator commands.
    pub commands: Option<Commands>,
    /// Compatibility metadata.
    pub meta: Option<Meta>,
}

/// Gateway
#[derive(JsonSchema)]
#[schemars(rename_all = "camelCase")]
pub struct Gateway {
    /// `local` runs the gateway here; `remote` points clients at another gateway.
    #[schemars(schema_with = "gateway_modes")]
    pub mode: Option<String>,
    /// The one TCP port for the WebSocket control plane and HTTP (default 18789).
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<u32>,
    /// Who writes WebSocket sockets: `tokio` (default) or `io_uring` ring threads (Linux,
    /// an openclaw-rs extension).
    #[schemars(schema_with = "runtimes")]
    pub runtime: Option<String>,
    /// Which interfaces to listen on (default loopback).
    #[schemars(schema_with = "bind_modes")]
    pub bind: Option<String>,
    /// The IPv4 address to listen on when `bind` is `custom`.
    pub custom_bind_host: Option<String>,
    /// The public origin browsers use to reach the gateway.
    pub public_origin: Option<String>,
    /// Reverse proxies whose forwarded-for headers are trusted.
    pub trusted_proxies: Option<Vec<String>>,
    /// Use X-Real-IP when no forwarded-for header is present.
    pub allow_real_ip_fallback: Option<bool>,
    /// How clients authenticate.
    pub auth: Option<GatewayAuth>,
    /// TLS for the listener.
    pub tls: Option<Tls>,
    /// How config file changes are applied.
    pub reload: Option<Reload>,
    /// Tailscale exposure.
    pub tailscale: Option<Tailscale>,
    /// The browser Control UI.
    pub control_ui: Option<ControlUi>,
    /// The OpenAI-compatible HTTP surface.
    pub http: Option<Http>,
    /// Device and node pairing.
    pub nodes: Option<Nodes>,
    /// `/tools/invoke` policy.
    pub tools: Option<ToolsPolicy>,
    /// Every limit of this gateway (an openclaw-rs extension).
    pub limits: Option<Limits>,
    /// Prometheus metrics at `/metrics` (an openclaw-rs extension).
    pub metrics: Option<Metrics>,
}

/// Prometheus metrics
#[derive(JsonSchema)]
pub struct Metrics {
    /// Serve `/metrics` (token-protected like the other HTTP surfaces) and count what it
    /// shows (default off).
    pub enabled: Option<bool>,
}

/// Authentication
#[derive(JsonSchema)]
#[schemars(rename_all = "camelCase")]
pub struct GatewayAuth {
    /// `token`, `password`, `trusted-proxy`, or `none` (loopback only).
    #[schemars(schema_with = "auth_modes")]
    pub mode: Option<String>,
    /// The shared token clients present.
    #[schemars(schema_with = "secret_input")]
    pub token: Option<Value>,
    /// The shared password clients present.
    #[schemars(schema_with = "secret_input")]
    pub password: Option<Value>,
    /// Accept Tailscale identity headers.
    pub allow_tailscale: Option<bool>,
    /// Failed-auth limiter.
    pub rate_limit: Option<RateLimit>,
    /// Identity from a trusted reverse proxy.
    pub trusted_proxy: Option<TrustedProxy>,
}

/// Failed-auth rate limit
#[derive(JsonSchema)]
#[schemars(rename_all = "camelCase")]
pub struct RateLimit {
    /// Failed attempts allowed per window (default 10).
    #[schemars(range(min = 1))]
    pub max_attempts: Option<u32>,
    /// The window, in ms (default 60000).
    #[schemars(range(min = 1))]
    pub window_ms: Option<u64>,
    /// Lock-out after too many failures, in ms (default 300000).
    pub lockout_ms: Option<u64>,
    /// Never limit loopback clients (default true).
    pub exempt_loopback: Option<bool>,
}

/// Trusted proxy
#[derive(JsonSchema)]
#[schemars(rename_all = "camelCase")]
pub struct TrustedProxy {
    /// The header carrying the authenticated user.
    pub user_header: Option<String>,
    /// Headers that must be present.
    pub required_headers: Option<Vec<String>>,
    /// Users allowed in (empty: any).
    pub allow_users: Option<Vec<String>>,
    /// Accept the proxy on loopback.
    pub allow_loopback: Option<bool>,
}

/// TLS
#[derive(JsonSchema)]
#[schemars(rename_all = "camelCase")]
pub struct Tls {
    /// Serve TLS.
    pub enabled: Option<bool>,
    /// Generate a self-signed certificate.
    pub auto_generate: Option<bool>,
    /// Certificate file.
    pub cert_path: Option<String>,
    /// Key file.
    pub key_path: Option<String>,
    /// CA bundle.
    pub ca_path: Option<String>,
}

/// Config reload
#[derive(JsonSchema)]
pub struct Reload {
    /// `hybrid` (default): hot where possible, restart otherwise; `hot`, `restart`, `off`.
    #[schemars(schema_with = "reload_modes")]
    pub mode: Option<String>,
}

/// Tailscale
#[derive(JsonSchema)]
pub struct Tailscale {
    /// `off`, `serve` or `funnel`.
    #[schemars(schema_with = "tailscale_modes")]
    pub mode: Option<String>,
}

/// Control UI
#[derive(JsonSchema)]
#[schemars(rename_all = "camelCase")]
pub struct ControlUi {
    /// Serve the Control UI (default true).
    pub enabled: Option<bool>,
    /// URL prefix the UI is served under.
    pub base_path: Option<String>,
    /// A Control UI build directory (default: `$STATE/control-ui` when present).
    pub root: Option<String>,
    /// Browser origins allowed to connect (loopback origins always are).
    pub allowed_origins: Option<Vec<String>>,
    /// Accept the Host header as the origin when Origin is missing.
    pub dangerously_allow_host_header_origin_fallback: Option<bool>,
}

/// HTTP surface
#[derive(JsonSchema)]
pub struct Http {
    /// Endpoints.
    pub endpoints: Option<Endpoints>,
}

/// HTTP endpoints
#[derive(JsonSchema)]
#[schemars(rename_all = "camelCase")]
pub struct Endpoints {
    /// `POST /v1/chat/completions`.
    pub chat_completions: Option<Toggle>,
    /// `POST /v1/responses`.
    pub responses: Option<Toggle>,
}

/// On/off
#[derive(JsonSchema)]
pub struct Toggle {
    /// Enabled (default false).
    pub enabled: Option<bool>,
}

/// Nodes
#[derive(JsonSchema)]
pub struct Nodes {
    /// Pairing.
    pub pairing: Option<Pairing>,
    /// Which node commands operators may invoke, beyond the platform defaults.
    pub commands: Option<NodeCommands>,
}

/// Node commands
#[derive(JsonSchema)]
pub struct NodeCommands {
    /// Extra commands to allow (also the opt-in for dangerous ones such as `camera.snap`).
    pub allow: Option<Vec<String>>,
    /// Commands never invoked, whatever the node declares.
    pub deny: Option<Vec<String>>,
}

/// Pairing
#[derive(JsonSchema)]
#[schemars(rename_all = "camelCase")]
pub struct Pairing {
    /// Pair new devices silently on direct loopback (default true).
    pub auto_approve_local: Option<bool>,
}

/// Tools policy
#[derive(JsonSchema)]
pub struct ToolsPolicy {
    /// Tools `/tools/invoke` may run (empty: the built-in set).
    pub allow: Option<Vec<String>>,
    /// Tools `/tools/invoke` refuses.
    pub deny: Option<Vec<String>>,
}

/// Limits (an openclaw-rs extension; each overrides a named default)
#[derive(JsonSchema)]
#[schemars(rename_all = "camelCase")]
pub struct Limits {
    /// `handshakeTimeoutMs`.
    #[schemars(range(min = 1))]
    pub handshake_timeout_ms: Option<u64>,
    /// `maxPreauthPerIp`.
    #[schemars(range(min = 1))]
    pub max_preauth_per_ip: Option<u64>,
    /// `maxPreauthGlobal`.
    #[schemars(range(min = 1))]
    pub max_preauth_global: Option<u64>,
    /// `preauthMaxPayload`.
    #[schemars(range(min = 1))]
    pub preauth_max_payload: Option<u64>,
    /// `maxPayload`.
    #[schemars(range(min = 1))]
    pub max_payload: Option<u64>,
    /// `maxBufferedBytes`.
    #[schemars(range(min = 1))]
    pub max_buffered_bytes: Option<u64>,
    /// `tickIntervalMs`.
    #[schemars(range(min = 1))]
    pub tick_interval_ms: Option<u64>,
    /// `healthRefreshMs`.
    #[schemars(range(min = 1))]
    pub health_refresh_ms: Option<u64>,
    /// `shutdownDrainMs`.
    #[schemars(range(min = 1))]
    pub shutdown_drain_ms: Option<u64>,
    /// `httpMaxBodyBytes`.
    #[schemars(range(min = 1))]
    pub http_max_body_bytes: Option<u64>,
    /// `httpBodyTimeoutMs`.
    #[schemars(range(min = 1))]
    pub http_body_timeout_ms: Option<u64>,
    /// `maxInflightPerSocket`.
    #[schemars(range(min = 1))]
    pub max_inflight_per_socket: Option<u64>,
    /// `agentWaitMaxMs`.
    #[schemars(range(min = 1))]
    pub agent_wait_max_ms: Option<u64>,
    /// `httpHeaderTimeoutMs`.
    #[schemars(range(min = 1))]
    pub http_header_timeout_ms: Option<u64>,
    /// `closeLingerMs`.
    #[schemars(range(min = 1))]
    pub close_linger_ms: Option<u64>,
    /// `sniffMaxBytes`.
    #[schemars(range(min = 1))]
    pub sniff_max_bytes: Option<u64>,
    /// `maxHttpHeadBytes`.
    #[schemars(range(min = 1))]
    pub max_http_head_bytes: Option<u64>,
    /// `maxPendingNodeInvokes`.
    #[schemars(range(min = 1))]
    pub max_pending_node_invokes: Option<u64>,
    /// `pairingPendingTtlMs`.
    #[schemars(range(min = 1))]
    pub pairing_pending_ttl_ms: Option<u64>,
    /// `maxControlFramesPerSec` (0: no limit).
    pub max_control_frames_per_sec: Option<u64>,
    /// `maxControlFloodSecs`.
    #[schemars(range(min = 1))]
    pub max_control_flood_secs: Option<u64>,
}

/// Logging
#[derive(JsonSchema)]
#[schemars(rename_all = "camelCase")]
pub struct Logging {
    /// The JSON-lines log file `logs.tail` reads.
    pub file: Option<String>,
    /// File log level.
    #[schemars(schema_with = "log_levels")]
    pub level: Option<String>,
    /// Console log level.
    #[schemars(schema_with = "log_levels")]
    pub console_level: Option<String>,
    /// Console format.
    #[schemars(schema_with = "console_styles")]
    pub console_style: Option<String>,
    /// Rotate the file log at this size.
    #[schemars(range(min = 1))]
    pub max_file_bytes: Option<u64>,
}

/// Agents
#[derive(JsonSchema)]
pub struct Agents {
    /// Defaults every agent inherits.
    pub defaults: Option<AgentDefaults>,
    /// The agents (the default is `main` when none is configured).
    pub list: Option<Vec<AgentEntry>>,
}

/// Agent defaults
#[derive(JsonSchema)]
#[schemars(rename_all = "camelCase")]
pub struct AgentDefaults {
    /// The model, `"provider/model"` or `{primary, fallbacks}`.
    #[schemars(schema_with = "model_ref")]
    pub model: Option<Value>,
    /// The system prompt.
    pub system_prompt: Option<String>,
    /// Run timeout in seconds (default 600).
    #[schemars(range(min = 1))]
    pub timeout_seconds: Option<u64>,
    /// The agent workspace (default `$STATE/workspace`).
    pub workspace: Option<String>,
    /// Heartbeat.
    pub heartbeat: Option<Heartbeat>,
}

/// Heartbeat
#[derive(JsonSchema)]
pub struct Heartbeat {
    /// Interval, e.g. `30m`.
    pub every: Option<String>,
}

/// Agent
#[derive(JsonSchema)]
#[schemars(rename_all = "camelCase")]
pub struct AgentEntry {
    /// Agent id.
    pub id: String,
    /// The default agent.
    pub default: Option<bool>,
    /// Display name.
    pub name: Option<String>,
    /// The model, `"provider/model"` or `{primary, fallbacks}`.
    #[schemars(schema_with = "model_ref")]
    pub model: Option<Value>,
    /// The system prompt.
    pub system_prompt: Option<String>,
    /// Identity (name, emoji, avatar).
    pub identity: Option<BTreeMap<String, String>>,
}

/// Models
#[derive(JsonSchema)]
pub struct Models {
    /// Providers by id.
    pub providers: Option<BTreeMap<String, Provider>>,
}

/// Model provider
#[derive(JsonSchema)]
#[schemars(rename_all = "camelCase")]
pub struct Provider {
    /// The provider's base URL, e.g. `https://api.openai.com/v1`.
    pub base_url: Option<String>,
    /// The API key (plain, `${ENV}` or a SecretRef); never logged.
    #[schemars(schema_with = "secret_input")]
    pub api_key: Option<Value>,
    /// `openai-completions` or `anthropic-messages`.
    pub api: Option<String>,
    /// Extra request headers.
    pub headers: Option<BTreeMap<String, String>>,
    /// The provider's models.
    pub models: Option<Vec<ModelEntry>>,
}

/// Model
#[derive(JsonSchema)]
#[schemars(rename_all = "camelCase")]
pub struct ModelEntry {
    /// Model id, as the provider names it.
    pub id: String,
    /// Display name.
    pub name: Option<String>,
    /// Context window in tokens.
    pub context_window: Option<u64>,
    /// Output token cap.
    pub max_tokens: Option<u64>,
    /// Price in USD per million tokens.
    pub cost: Option<Cost>,
}

/// Cost
#[derive(JsonSchema)]
#[schemars(rename_all = "camelCase")]
pub struct Cost {
    /// Input.
    pub input: Option<f64>,
    /// Output.
    pub output: Option<f64>,
    /// Cache read.
    pub cache_read: Option<f64>,
    /// Cache write.
    pub cache_write: Option<f64>,
}

/// Webhooks
#[derive(JsonSchema)]
#[schemars(rename_all = "camelCase")]
pub struct Hooks {
    /// Serve `/hooks/*`.
    pub enabled: Option<bool>,
    /// The URL prefix (default `/hooks`).
    pub path: Option<String>,
    /// The hooks' own token.
    #[schemars(schema_with = "secret_input")]
    pub token: Option<Value>,
    /// Body size cap.
    pub max_body_bytes: Option<u64>,
    /// Mappings from a path or source to an agent action.
    pub mappings: Option<Vec<Value>>,
}

/// Commands
#[derive(JsonSchema)]
pub struct Commands {
    /// Allow in-process restarts on SIGUSR1 (default true).
    pub restart: Option<bool>,
}

/// Compatibility metadata
#[derive(JsonSchema)]
#[schemars(rename_all = "camelCase")]
pub struct Meta {
    /// The version that last wrote this file.
    pub last_touched_version: Option<String>,
}

/// The generated schema (draft-07, every subschema inline so paths can be walked).
pub fn config_schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let settings = SchemaSettings::draft07().with(|s| s.inline_subschemas = true);
        let schema = settings
            .into_generator()
            .into_root_schema_for::<ConfigFile>();
        let mut v = schema.to_value();
        drop_null(&mut v);
        v
    })
}

/// The only keys the file must have where their object appears (agent and model ids, a
/// SecretRef's source).
const REQUIRED: &[&str] = &["id", "source"];

/// An absent key is how a config file leaves a setting unset; `null` is not a value any key
/// here takes, so the `Option`s' null alternatives are removed.
fn drop_null(v: &mut Value) {
    match v {
        Value::Object(o) => {
            if let Some(Value::Array(types)) = o.get_mut("type") {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    let t = types.remove(0);
                    o.insert("type".into(), t);
                }
            }
            if let Some(Value::Array(alts)) = o.get("anyOf") {
                let kept: Vec<Value> = alts
                    .iter()
                    .filter(|a| a.get("type") != Some(&Value::from("null")))
                    .cloned()
                    .collect();
                if kept.len() == 1 {
                    o.remove("anyOf");
                    if let Value::Object(inner) = &kept[0] {
                        for (k, x) in inner {
                            o.entry(k.clone()).or_insert_with(|| x.clone());
                        }
                    }
                } else {
                    o.insert("anyOf".into(), Value::Array(kept));
                }
            }
            // `schema_with` hides a field's `Option` from the derive: only ids are required.
            if let Some(Value::Array(req)) = o.get_mut("required") {
                req.retain(|k| k.as_str().is_some_and(|k| REQUIRED.contains(&k)));
                if req.is_empty() {
                    o.remove("required");
                }
            }
            o.values_mut().for_each(drop_null);
        }
        Value::Array(a) => a.iter_mut().for_each(drop_null),
        _ => {}
    }
}

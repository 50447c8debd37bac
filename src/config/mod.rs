//! Gateway configuration: env snapshot, path resolution, JSON5 config loading with `${VAR}`
//! substitution, strict type validation of known keys, and one immutable resolved snapshot.
//!
//! This module is the sole reader of environment variables (see [`Env`]).

mod auth;
pub mod bind;
pub mod catalog;
pub mod clock;
mod duration;
mod env;
mod file;
mod guard;
pub mod hooks;
pub mod limits;
mod paths;
mod redact;
mod resolve;
pub mod schema;
mod types;
mod validate;
pub mod write;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_auth;

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

pub use auth::{
    parse_secret_input, resolve_secret_input, AuthConfig, AuthMode, AuthModeSource, Secret,
    SecretInput, TrustedProxyConfig,
};
pub use duration::{parse_duration_ms, parse_duration_ms_with_default, DurationUnit};
pub use env::Env;
pub use file::{parse_json5, raw_sha256, substitute_env, substitute_string};
pub use guard::startup_guard;
pub use limits::{Limits, RateLimitConfig};
pub use paths::{
    default_log_file, encode_log_profile_segment, is_valid_profile_name, resolve_paths,
    rolling_log_file_name, ResolvedPaths, CONFIG_FILE_NAME, DEFAULT_LOG_DIR,
};
pub use redact::{redact_value, REDACTED_SENTINEL};
pub use resolve::CONTROL_UI_DIR;
pub use types::{
    BindMode, ConsoleStyle, HttpEndpoints, LogLevel, LoggingConfig, NetRuntime, PortSource,
    ReloadMode,
};
pub use validate::validate;

/// Process exit code for invalid config / blocked start (systemd `RestartPreventExitStatus=78`).
pub const EXIT_CONFIG: i32 = 78;

/// Errors from config loading, auth resolution and startup guards.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Syntax or type errors. The caller logs `Invalid config at <path>: <issues>` and exits 78.
    #[error("Invalid config at {}: {}", path.display(), issues.join("; "))]
    Invalid { path: PathBuf, issues: Vec<String> },
    /// The config file exists but could not be read.
    #[error("failed to read config {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Auth cannot be resolved (ambiguous mode, missing password, unresolvable SecretRef, …).
    #[error("{0}")]
    Auth(String),
    /// A startup guard refused to start (mode not local, unsafe bind, …).
    #[error("{0}")]
    StartupBlocked(String),
    /// Bad command-line usage (e.g. invalid profile name).
    #[error("{0}")]
    Usage(String),
    /// Logging could not be initialised.
    #[error("logging: {0}")]
    Logging(String),
}

impl ConfigError {
    pub(crate) fn invalid(path: &Path, issue: impl Into<String>) -> Self {
        ConfigError::Invalid {
            path: path.to_path_buf(),
            issues: vec![issue.into()],
        }
    }

    /// Exit code the binary should use for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            ConfigError::Usage(_) => 2,
            ConfigError::Logging(_) | ConfigError::Io { .. } => 1,
            _ => EXIT_CONFIG,
        }
    }
}

/// Alias: startup guard failures are `ConfigError::StartupBlocked` / `ConfigError::Auth`.
pub type StartupError = ConfigError;

/// Command-line overrides that influence config resolution.
#[derive(Clone, Debug, Default)]
pub struct LoadArgs {
    pub port: Option<u16>,
    pub bind: Option<BindMode>,
    pub auth: Option<AuthMode>,
    pub token: Option<Secret>,
    pub password: Option<Secret>,
    pub password_file: Option<PathBuf>,
    /// Root `--dev` or `gateway --dev`: `dev` profile (isolated state, port 19001).
    pub dev: bool,
    pub profile: Option<String>,
    pub verbose: bool,
    /// `--no-color`.
    pub no_color: bool,
    /// `gateway run --io-uring`.
    pub io_uring: bool,
    /// Root `--log-level` (console level override).
    pub log_level: Option<String>,
}

/// How a snapshot was loaded (CLI overrides + env), so a reload from disk — hot reload,
/// `secrets.reload` — resolves exactly as the first load did.
#[derive(Clone, Debug, Default)]
pub struct LoadOrigin {
    pub args: LoadArgs,
    pub env: Env,
}

/// One immutable, fully resolved configuration snapshot.
#[derive(Clone)]
pub struct GatewayConfig {
    /// Active config file path.
    pub path: PathBuf,
    pub exists: bool,
    /// File text (`""` when missing). May contain secrets: never log it.
    pub raw: String,
    /// Parsed tree after `${VAR}` substitution; unknown keys preserved. May contain secrets.
    pub parsed: Value,
    /// `sha256:<hex>` of the raw file bytes.
    pub raw_sha256: String,
    pub state_dir: PathBuf,
    pub profile: Option<String>,
    pub dev: bool,
    /// `gateway.mode` (`local` | `remote`), `None` if unset.
    pub mode: Option<String>,
    pub port: u16,
    pub port_source: PortSource,
    pub bind: BindMode,
    pub bind_host: IpAddr,
    /// Why `bind_host` was chosen (logged at start: the Tailscale address found, a
    /// container detected, …).
    pub bind_reason: String,
    /// `gateway.customBindHost` (validated IPv4).
    pub custom_bind_host: Option<Ipv4Addr>,
    pub auth: AuthConfig,
    /// `gateway.trustedProxies` (IPs / CIDRs, unparsed).
    pub trusted_proxies: Vec<String>,
    pub allow_real_ip_fallback: bool,
    pub limits: Limits,
    pub logging: LoggingConfig,
    pub reload_mode: ReloadMode,
    pub heartbeat_every_ms: u64,
    pub http: HttpEndpoints,
    pub control_ui_enabled: bool,
    /// `gateway.metrics.enabled`: `/metrics` served and its counters kept (default off).
    pub metrics_enabled: bool,
    /// `--io-uring` → `OPENCLAW_GATEWAY_RUNTIME` → `gateway.runtime` → tokio.
    pub runtime: NetRuntime,
    /// Normalised `gateway.controlUi.basePath` (`""` or `/x`, no trailing slash).
    pub control_ui_base_path: String,
    /// `gateway.controlUi.allowedOrigins`, seeded with `http://localhost:<port>` and
    /// `http://127.0.0.1:<port>` for non-loopback binds when unset (as upstream does).
    pub control_ui_allowed_origins: Vec<String>,
    pub control_ui_host_header_fallback: bool,
    /// The Control UI build served: `gateway.controlUi.root`, else `$STATE/control-ui` when
    /// it holds an `index.html` (checked at load), else none (the built-in page).
    pub control_ui_dir: Option<PathBuf>,
    pub default_agent_id: String,
    /// Providers and agents resolved from `models.providers` / `agents.*` (keys resolved).
    pub agents: std::sync::Arc<catalog::Catalog>,
    pub allow_multi_gateway: bool,
    /// `OPENCLAW_SUPERVISOR_MODE=external`.
    pub supervisor_external: bool,
    /// `OPENCLAW_SERVICE_REPAIR_POLICY=external`.
    pub service_repair_external: bool,
    /// Started by systemd (`INVOCATION_ID` / `JOURNAL_STREAM`).
    pub under_systemd: bool,
    /// Non-fatal problems (missing `${VAR}`s, ignored env values, …).
    pub warnings: Vec<String>,
    /// The overrides and env this snapshot was resolved with (may hold secrets).
    pub origin: Arc<LoadOrigin>,
}

impl std::fmt::Debug for GatewayConfig {
    // `raw`/`parsed` can hold secrets; print only their size / hash.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayConfig")
            .field("path", &self.path)
            .field("exists", &self.exists)
            .field("raw_len", &self.raw.len())
            .field("raw_sha256", &self.raw_sha256)
            .field("state_dir", &self.state_dir)
            .field("profile", &self.profile)
            .field("mode", &self.mode)
            .field("port", &self.port)
            .field("port_source", &self.port_source)
            .field("bind", &self.bind)
            .field("bind_host", &self.bind_host)
            .field("auth", &self.auth)
            .field("limits", &self.limits)
            .field("logging", &self.logging)
            .field("reload_mode", &self.reload_mode)
            .field("warnings", &self.warnings)
            .finish_non_exhaustive()
    }
}

impl GatewayConfig {
    /// The Control UI build directory served, if any (see [`GatewayConfig::control_ui_dir`]).
    pub fn control_ui_root(&self) -> Option<PathBuf> {
        self.control_ui_dir.clone()
    }

    /// Directory containing the config file (anchor for relative paths in the config).
    pub fn config_dir(&self) -> &Path {
        self.path.parent().unwrap_or_else(|| Path::new("."))
    }

    /// `ws://<host>:<port>` for logs/probes (loopback for wildcard binds).
    pub fn local_ws_url(&self) -> String {
        let host = if self.bind_host.is_unspecified() {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            self.bind_host
        };
        format!("ws://{host}:{}", self.port)
    }

    /// The parsed tree with secrets replaced by [`REDACTED_SENTINEL`] (for `config.get`).
    pub fn redacted(&self) -> Value {
        let mut secrets: Vec<&str> = Vec::new();
        if let Some(t) = &self.auth.token {
            secrets.push(t.expose());
        }
        if let Some(p) = &self.auth.password {
            secrets.push(p.expose());
        }
        for p in self.agents.providers.values() {
            if let Some(k) = &p.api_key {
                secrets.push(k);
            }
            for (name, value) in &p.headers {
                let n = name.to_ascii_lowercase();
                if n == "authorization" || n.contains("key") || n.contains("token") {
                    secrets.push(value);
                }
            }
        }
        redact_value(&self.parsed, &secrets)
    }
}

/// Load and resolve the configuration: paths → file → JSON5 → `${VAR}` → validate → resolve.
pub fn load(args: &LoadArgs, env: &Env) -> Result<GatewayConfig, ConfigError> {
    let paths = resolve_paths(args, env)?;
    let raw = file::read_config_file(&paths.config_path)?;
    let mut parsed = parse_json5(&raw.text).map_err(|msg| ConfigError::Invalid {
        path: paths.config_path.clone(),
        issues: vec![msg],
    })?;
    let mut warnings = Vec::new();
    file::substitute_env(&mut parsed, env, "", &mut warnings);
    let issues = validate(&parsed);
    if !issues.is_empty() {
        return Err(ConfigError::Invalid {
            path: paths.config_path,
            issues,
        });
    }
    resolve::build(paths, raw.exists, raw.text, parsed, warnings, args, env)
}

/// Re-read the config from disk for hot reload. Same as [`load`], except that an ephemeral
/// runtime token is carried over so connected clients keep working.
pub fn reload_from_disk(
    prev: &GatewayConfig,
    args: &LoadArgs,
    env: &Env,
) -> Result<GatewayConfig, ConfigError> {
    let mut next = load(args, env)?;
    if next.auth.token_is_ephemeral && prev.auth.token_is_ephemeral {
        next.auth.token = prev.auth.token.clone();
    }
    Ok(next)
}

/// [`reload_from_disk`] with the overrides and env `prev` was itself loaded with
/// (`secrets.reload`: file and env SecretRefs are resolved again).
pub fn reload_with_origin(prev: &GatewayConfig) -> Result<GatewayConfig, ConfigError> {
    let origin = prev.origin.clone();
    reload_from_disk(prev, &origin.args, &origin.env)
}

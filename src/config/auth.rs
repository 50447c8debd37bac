//! Gateway auth resolution (config-and-cli.md §4.4), mirroring the stock gateway:
//! mode = `--auth` → `gateway.auth.mode` → inferred (password if one is configured, else
//! token); secret values = CLI flag → config (`gateway.auth.*`, SecretRefs resolved) → env
//! (`OPENCLAW_GATEWAY_TOKEN` / `_PASSWORD`) — upstream is config-first for the running gateway.

use std::path::{Path, PathBuf};

use rand::RngCore;
use serde_json::Value;

use super::env::Env;
use super::limits::{RateLimitConfig, EPHEMERAL_TOKEN_BYTES};
use super::{ConfigError, LoadArgs};

/// Largest secret file we read (`--password-file`, file SecretRefs): secrets are short.
pub const MAX_SECRET_FILE_BYTES: u64 = 64 * 1024;

const LEGACY_ENV_NOTE: &str =
    " Legacy CLAWDBOT_* and MOLTBOT_* environment variables are ignored; use OPENCLAW_* names.";

/// A secret string. `Debug` never prints the value.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The secret value. Call sites should be few and obvious.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret(s)
    }
}

/// `gateway.auth.mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum AuthMode {
    None,
    Token,
    Password,
    TrustedProxy,
}

impl AuthMode {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMode::None => "none",
            AuthMode::Token => "token",
            AuthMode::Password => "password",
            AuthMode::TrustedProxy => "trusted-proxy",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "none" => AuthMode::None,
            "token" => AuthMode::Token,
            "password" => AuthMode::Password,
            "trusted-proxy" => AuthMode::TrustedProxy,
            _ => return None,
        })
    }
}

/// Where the effective auth mode came from (stock `modeSource`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthModeSource {
    Override,
    Config,
    Password,
    Token,
    Default,
}

/// `gateway.auth.trustedProxy`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxyConfig {
    pub user_header: String,
    pub required_headers: Vec<String>,
    pub allow_users: Vec<String>,
    pub allow_loopback: bool,
}

/// Resolved gateway auth.
#[derive(Clone, Debug)]
pub struct AuthConfig {
    pub mode: AuthMode,
    pub mode_source: AuthModeSource,
    pub token: Option<Secret>,
    pub password: Option<Secret>,
    /// The token was generated in memory for this run (never written anywhere).
    pub token_is_ephemeral: bool,
    pub allow_tailscale: bool,
    pub rate_limit: RateLimitConfig,
    pub trusted_proxy: Option<TrustedProxyConfig>,
}

impl AuthConfig {
    /// A usable shared secret for the active mode (stock `hasSharedSecret`).
    pub fn has_shared_secret(&self) -> bool {
        match self.mode {
            AuthMode::Token => self
                .token
                .as_ref()
                .is_some_and(|t| !t.expose().trim().is_empty()),
            AuthMode::Password => self
                .password
                .as_ref()
                .is_some_and(|p| !p.expose().trim().is_empty()),
            _ => false,
        }
    }
}

/// A configured secret: literal or reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretInput {
    Plain(String),
    Env(String),
    File(PathBuf),
    Unsupported(String),
}

fn env_ref_name(s: &str) -> Option<&str> {
    let t = s.trim();
    let name = t
        .strip_prefix("${")
        .and_then(|r| r.strip_suffix('}'))
        .or_else(|| t.strip_prefix('$'))?;
    let mut chars = name.chars();
    (matches!(chars.next(), Some(c) if c.is_ascii_uppercase())
        && name.len() <= 128
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
    .then_some(name)
}

/// Interpret a config value as a secret input. Blank strings count as "not configured".
pub fn parse_secret_input(v: &Value) -> Option<SecretInput> {
    match v {
        Value::String(s) if s.trim().is_empty() => None,
        Value::String(s) => Some(match env_ref_name(s) {
            Some(name) => SecretInput::Env(name.to_string()),
            None => SecretInput::Plain(s.trim().to_string()),
        }),
        Value::Object(o) => {
            let text = |k: &str| {
                o.get(k)
                    .and_then(Value::as_str)
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
            };
            if let Some(name) = text("$env") {
                return Some(SecretInput::Env(name.to_string()));
            }
            match text("source")? {
                "env" => Some(SecretInput::Env(text("id")?.to_string())),
                "file" => Some(SecretInput::File(PathBuf::from(
                    text("path").or_else(|| text("id"))?,
                ))),
                other => Some(SecretInput::Unsupported(other.to_string())),
            }
        }
        _ => None,
    }
}

/// Read a small secret file, trimming surrounding whitespace.
pub fn read_secret_file(path: &Path) -> Result<String, String> {
    use std::io::Read;
    let mut buf = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_SECRET_FILE_BYTES).read_to_string(&mut buf))
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let v = buf.trim();
    if v.is_empty() {
        return Err(format!("{} is empty", path.display()));
    }
    Ok(v.to_string())
}

/// Resolve a secret input to its value. `base_dir` anchors relative file paths.
pub fn resolve_secret_input(
    input: &SecretInput,
    env: &Env,
    base_dir: &Path,
) -> Result<String, String> {
    match input {
        SecretInput::Plain(s) => Ok(s.clone()),
        SecretInput::Env(name) => env
            .get_trimmed(name)
            .map(str::to_string)
            .ok_or_else(|| format!("environment variable {name} is not set")),
        SecretInput::File(p) => read_secret_file(&if p.is_absolute() {
            p.clone()
        } else {
            base_dir.join(p)
        }),
        SecretInput::Unsupported(src) => Err(format!(
            "SecretRef source {src:?} is not supported by this gateway"
        )),
    }
}

fn unresolved(path: &str, reason: &str) -> ConfigError {
    ConfigError::Auth(format!(
        "{path} is configured as a secret reference but could not be resolved ({reason}); refusing to start. Fix: set OPENCLAW_GATEWAY_TOKEN/OPENCLAW_GATEWAY_PASSWORD or pass explicit --token/--password."
    ))
}

fn random_token() -> String {
    let mut bytes = [0u8; EPHEMERAL_TOKEN_BYTES];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Resolve auth from `gateway.auth` (type-validated), CLI overrides and env.
pub fn resolve_auth(
    auth_cfg: Option<&Value>,
    args: &LoadArgs,
    env: &Env,
    config_dir: &Path,
) -> Result<AuthConfig, ConfigError> {
    let field = |k: &str| auth_cfg.and_then(|a| a.get(k));
    let cfg_mode = field("mode")
        .and_then(Value::as_str)
        .and_then(AuthMode::parse);
    let cfg_token = field("token").and_then(parse_secret_input);
    let cfg_password = field("password").and_then(parse_secret_input);

    if args.auth.is_none() && cfg_mode.is_none() && cfg_token.is_some() && cfg_password.is_some() {
        return Err(ConfigError::Auth(
            "Invalid config: gateway.auth.token and gateway.auth.password are both configured, but gateway.auth.mode is unset. Set gateway.auth.mode to token or password.".into(),
        ));
    }
    let explicit_mode = args.auth.or(cfg_mode);

    let (cli_token, cli_password) = cli_secrets(args)?;

    // Config values (SecretRefs resolved; failures only matter if the credential can be used).
    let token_relevant = matches!(explicit_mode, None | Some(AuthMode::Token));
    let password_relevant = matches!(explicit_mode, None | Some(AuthMode::Password));
    let resolve_cfg =
        |input: Option<SecretInput>, path: &str, relevant: bool, overridden: bool| match input {
            None => Ok(None),
            Some(_) if overridden => Ok(None),
            Some(i) => match resolve_secret_input(&i, env, config_dir) {
                Ok(v) => Ok(Some(v)),
                Err(reason) if relevant => Err(unresolved(path, &reason)),
                Err(_) => Ok(None),
            },
        };
    let cfg_token_val = resolve_cfg(
        cfg_token,
        "gateway.auth.token",
        token_relevant,
        cli_token.is_some(),
    )?;
    let cfg_password_val = resolve_cfg(
        cfg_password,
        "gateway.auth.password",
        password_relevant,
        cli_password.is_some(),
    )?;

    let token = cli_token
        .or(cfg_token_val)
        .or_else(|| env.gateway_token().map(str::to_string));
    let password = cli_password
        .or(cfg_password_val)
        .or_else(|| env.gateway_password().map(str::to_string));

    let (mode, mode_source) = match (args.auth, cfg_mode) {
        (Some(m), _) => (m, AuthModeSource::Override),
        (None, Some(m)) => (m, AuthModeSource::Config),
        (None, None) if password.is_some() => (AuthMode::Password, AuthModeSource::Password),
        (None, None) if token.is_some() => (AuthMode::Token, AuthModeSource::Token),
        (None, None) => (AuthMode::Token, AuthModeSource::Default),
    };

    let trusted_proxy = field("trustedProxy")
        .and_then(Value::as_object)
        .map(trusted_proxy_of);

    let mut cfg = AuthConfig {
        mode,
        mode_source,
        token: token.map(Secret),
        password: password.map(Secret),
        token_is_ephemeral: false,
        allow_tailscale: field("allowTailscale")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        rate_limit: RateLimitConfig::resolve(field("rateLimit")),
        trusted_proxy,
    };

    check_mode(&mut cfg)?;
    Ok(cfg)
}

/// `--token`, and `--password` or `--password-file` (blank values count as unset).
fn cli_secrets(args: &LoadArgs) -> Result<(Option<String>, Option<String>), ConfigError> {
    let trimmed = |s: &Secret| Some(s.expose().trim().to_string()).filter(|t| !t.is_empty());
    let token = args.token.as_ref().and_then(trimmed);
    let mut password = args.password.as_ref().and_then(trimmed);
    if password.is_none() {
        if let Some(pf) = &args.password_file {
            let read = read_secret_file(pf)
                .map_err(|e| ConfigError::Auth(format!("--password-file: {e}")))?;
            password = Some(read);
        }
    }
    Ok((token, password))
}

/// `gateway.auth.trustedProxy`.
fn trusted_proxy_of(t: &serde_json::Map<String, Value>) -> TrustedProxyConfig {
    let strings = |k: &str| crate::json::strings(t.get(k));
    TrustedProxyConfig {
        user_header: t
            .get("userHeader")
            .and_then(Value::as_str)
            .unwrap_or("")
            .trim()
            .to_string(),
        required_headers: strings("requiredHeaders"),
        allow_users: strings("allowUsers"),
        allow_loopback: t
            .get("allowLoopback")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    }
}

/// What the resolved mode needs: token mode without a token gets an ephemeral one; password
/// mode needs a password; trusted-proxy needs its header and no shared token.
fn check_mode(cfg: &mut AuthConfig) -> Result<(), ConfigError> {
    match cfg.mode {
        AuthMode::Token => match cfg.token.as_ref().map(Secret::expose) {
            Some("undefined" | "null") => {
                return Err(ConfigError::Auth(
                    "Gateway token must not be blank or the literal string undefined/null. Run `openclaw doctor --fix --generate-gateway-token` for an inline token, or rotate its external secret source.".into(),
                ))
            }
            Some(_) => {}
            None => {
                cfg.token = Some(Secret(random_token()));
                cfg.token_is_ephemeral = true;
            }
        },
        AuthMode::Password if cfg.password.is_none() => {
            return Err(ConfigError::Auth(format!(
                "gateway auth mode is password, but no password was configured.{LEGACY_ENV_NOTE}"
            )))
        }
        AuthMode::TrustedProxy => {
            if cfg.token.is_some() {
                return Err(ConfigError::Auth(
                    "gateway auth mode is trusted-proxy, but a shared token is also configured; remove gateway.auth.token / OPENCLAW_GATEWAY_TOKEN because trusted-proxy and token auth are mutually exclusive".into(),
                ));
            }
            match &cfg.trusted_proxy {
                None => {
                    return Err(ConfigError::Auth(
                        "gateway auth mode is trusted-proxy, but no trustedProxy config was provided (set gateway.auth.trustedProxy)".into(),
                    ))
                }
                Some(tp) if tp.user_header.is_empty() => {
                    return Err(ConfigError::Auth(
                        "gateway auth mode is trusted-proxy, but trustedProxy.userHeader is empty (set gateway.auth.trustedProxy.userHeader)".into(),
                    ))
                }
                Some(_) => {}
            }
        }
        AuthMode::Password | AuthMode::None => {}
    }
    Ok(())
}

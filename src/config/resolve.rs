//! Turn a validated config tree + CLI overrides + env into a [`GatewayConfig`].

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::auth::resolve_auth;
use super::clock::LocalTime;
use super::duration::{parse_duration_ms_with_default, DurationUnit};
use super::env::Env;
use super::file::raw_sha256;
use super::limits::{
    Limits, DEFAULT_HEARTBEAT_EVERY_MS, DEFAULT_LOG_MAX_FILE_BYTES, DEFAULT_PORT, DEV_PORT,
};
use super::paths::{default_log_file, expand_home, ResolvedPaths};
use super::types::{
    BindMode, ConsoleStyle, HttpEndpoints, LogLevel, LoggingConfig, NetRuntime, PortSource,
    ReloadMode,
};
use super::{ConfigError, GatewayConfig, LoadArgs};

/// Where the stock Control UI build is looked for under the state dir when
/// `gateway.controlUi.root` is not set (README: two commands put it there).
pub const CONTROL_UI_DIR: &str = "control-ui";

/// Default agent id when the config names none.
pub const DEFAULT_AGENT_ID: &str = "main";

fn at<'v>(root: &'v Value, path: &[&str]) -> Option<&'v Value> {
    path.iter().try_fold(root, |v, k| v.get(*k))
}

fn str_at<'v>(root: &'v Value, path: &[&str]) -> Option<&'v str> {
    at(root, path).and_then(Value::as_str)
}

fn bool_at(root: &Value, path: &[&str]) -> Option<bool> {
    at(root, path).and_then(Value::as_bool)
}

fn strings_at(root: &Value, path: &[&str]) -> Vec<String> {
    at(root, path)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Port: `--port` → `OPENCLAW_GATEWAY_PORT` → `gateway.port` → 19001 (dev) / 18789.
pub fn resolve_port(
    args: &LoadArgs,
    env: &Env,
    parsed: &Value,
    dev: bool,
    warnings: &mut Vec<String>,
) -> (u16, PortSource) {
    if let Some(p) = args.port {
        // `--port 0`: the OS picks a free port (logged once bound).
        return (p, PortSource::Cli);
    }
    if let Some(raw) = env.gateway_port() {
        match raw.parse::<u16>() {
            Ok(p) if p != 0 => return (p, PortSource::Env),
            _ => warnings.push(format!(
                "ignoring OPENCLAW_GATEWAY_PORT={raw:?}: expected a port 1..65535"
            )),
        }
    }
    if let Some(p) = at(parsed, &["gateway", "port"])
        .and_then(Value::as_u64)
        .and_then(|p| u16::try_from(p).ok())
    {
        return (p, PortSource::Config);
    }
    (
        if dev { DEV_PORT } else { DEFAULT_PORT },
        PortSource::Default,
    )
}

/// Runtime: `--io-uring` → `OPENCLAW_GATEWAY_RUNTIME` → `gateway.runtime` → tokio.
fn resolve_runtime(
    args: &LoadArgs,
    env: &Env,
    parsed: &Value,
    warnings: &mut Vec<String>,
) -> NetRuntime {
    if args.io_uring {
        return NetRuntime::IoUring;
    }
    if let Some(raw) = env.gateway_runtime() {
        match NetRuntime::parse(raw) {
            Some(r) => return r,
            None => warnings.push(format!(
                "ignoring OPENCLAW_GATEWAY_RUNTIME={raw:?}: expected tokio or io_uring"
            )),
        }
    }
    str_at(parsed, &["gateway", "runtime"])
        .and_then(NetRuntime::parse)
        .unwrap_or_default()
}

/// Upstream `normalizeControlUiBasePath`.
pub fn normalize_base_path(raw: Option<&str>) -> String {
    let v = raw.unwrap_or("").trim();
    if v.is_empty() || v == "/" {
        return String::new();
    }
    let with_slash = if v.starts_with('/') {
        v.to_string()
    } else {
        format!("/{v}")
    };
    with_slash
        .strip_suffix('/')
        .map(str::to_string)
        .unwrap_or(with_slash)
}

fn normalize_agent_id(raw: &str) -> String {
    let lower = raw.trim().to_ascii_lowercase();
    let mapped: String = lower
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let id: String = mapped.trim_matches('-').chars().take(64).collect();
    if id.is_empty() {
        DEFAULT_AGENT_ID.to_string()
    } else {
        id
    }
}

/// Default agent: the single entry marked `default: true` in `agents.list` / `agents.entries`,
/// else the sole configured agent, else `main`.
pub fn resolve_default_agent_id(parsed: &Value) -> String {
    let mut entries: Vec<(String, bool)> = Vec::new();
    if let Some(list) = at(parsed, &["agents", "list"]).and_then(Value::as_array) {
        for e in list {
            if let Some(id) = e.get("id").and_then(Value::as_str) {
                entries.push((id.to_string(), e.get("default") == Some(&Value::Bool(true))));
            }
        }
    } else if let Some(map) = at(parsed, &["agents", "entries"]).and_then(Value::as_object) {
        for (id, e) in map {
            entries.push((id.clone(), e.get("default") == Some(&Value::Bool(true))));
        }
    }
    let marked: Vec<&String> = entries.iter().filter(|e| e.1).map(|e| &e.0).collect();
    match (marked.as_slice(), entries.as_slice()) {
        ([one], _) => normalize_agent_id(one),
        (_, [(only, _)]) => normalize_agent_id(only),
        _ => DEFAULT_AGENT_ID.to_string(),
    }
}

fn resolve_logging(
    parsed: &Value,
    args: &LoadArgs,
    env: &Env,
    profile: Option<&str>,
    warnings: &mut Vec<String>,
) -> LoggingConfig {
    let os_home = env.home();
    let configured_file = str_at(parsed, &["logging", "file"])
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let file = match configured_file {
        Some(f) => expand_home(f, os_home.as_deref()),
        None => default_log_file(profile, &LocalTime::now()),
    };
    let cfg_level = str_at(parsed, &["logging", "level"]).and_then(LogLevel::parse);
    let level = match env.log_level() {
        Some(raw) => LogLevel::parse(raw).unwrap_or_else(|| {
            warnings.push(format!(
                "ignoring OPENCLAW_LOG_LEVEL={raw:?}: unknown level"
            ));
            cfg_level.unwrap_or(LogLevel::Info)
        }),
        None => cfg_level.unwrap_or(LogLevel::Info),
    };
    let mut console_level = args
        .log_level
        .as_deref()
        .and_then(LogLevel::parse)
        .or_else(|| str_at(parsed, &["logging", "consoleLevel"]).and_then(LogLevel::parse))
        .unwrap_or(LogLevel::Info);
    if args.verbose && console_level < LogLevel::Debug {
        console_level = LogLevel::Debug;
    }
    let console_style = match str_at(parsed, &["logging", "consoleStyle"]) {
        Some("pretty") => Some(ConsoleStyle::Pretty),
        Some("json") => Some(ConsoleStyle::Json),
        Some("compact") => Some(ConsoleStyle::Compact),
        _ => None,
    };
    LoggingConfig {
        file,
        rolling: configured_file.is_none(),
        profile: profile.map(str::to_string),
        level,
        console_level,
        console_style,
        max_file_bytes: at(parsed, &["logging", "maxFileBytes"])
            .and_then(Value::as_u64)
            .filter(|n| *n > 0)
            .unwrap_or(DEFAULT_LOG_MAX_FILE_BYTES),
        no_color: args.no_color || env.no_color(),
        force_color: env.force_color(),
    }
}

/// Assemble the snapshot. `parsed` must already be substituted and validated.
pub(super) fn build(
    paths: ResolvedPaths,
    exists: bool,
    raw: String,
    parsed: Value,
    mut warnings: Vec<String>,
    args: &LoadArgs,
    env: &Env,
) -> Result<GatewayConfig, ConfigError> {
    let profile = paths.profile.clone();
    let dev = args.dev || profile.as_deref() == Some("dev");
    let (port, port_source) = resolve_port(args, env, &parsed, dev, &mut warnings);

    let bind = args
        .bind
        .or_else(|| str_at(&parsed, &["gateway", "bind"]).and_then(BindMode::parse))
        .unwrap_or(BindMode::Loopback);
    let custom_bind_host = str_at(&parsed, &["gateway", "customBindHost"])
        .and_then(|s| s.trim().parse::<Ipv4Addr>().ok());
    let (bind_host, bind_reason) = bind_address(bind, custom_bind_host);

    let config_dir = paths
        .config_path
        .parent()
        .map(|p| p.to_path_buf())
        .unwrap_or_default();
    let auth = resolve_auth(at(&parsed, &["gateway", "auth"]), args, env, &config_dir)?;

    let limits = Limits::resolve(at(&parsed, &["gateway", "limits"]), env, &mut warnings);
    let logging = resolve_logging(&parsed, args, env, profile.as_deref(), &mut warnings);

    // Runtime warnings come before the model catalog's (the order they are logged in).
    let runtime = resolve_runtime(args, env, &parsed, &mut warnings);
    let agents = {
        let cat = super::catalog::Catalog::from_config(
            &parsed,
            env,
            &config_dir,
            &resolve_default_agent_id(&parsed),
        );
        warnings.extend(cat.warnings.iter().cloned());
        std::sync::Arc::new(cat)
    };
    let reload_mode = str_at(&parsed, &["gateway", "reload", "mode"])
        .and_then(ReloadMode::parse)
        .unwrap_or(ReloadMode::Hybrid);
    let heartbeat_every_ms = str_at(&parsed, &["agents", "defaults", "heartbeat", "every"])
        .and_then(|s| parse_duration_ms_with_default(s, DurationUnit::M))
        .unwrap_or(DEFAULT_HEARTBEAT_EVERY_MS);
    let http = http_endpoints(&parsed);
    let control_ui_host_header_fallback = bool_at(
        &parsed,
        &[
            "gateway",
            "controlUi",
            "dangerouslyAllowHostHeaderOriginFallback",
        ],
    ) == Some(true);
    let control_ui_allowed_origins = allowed_origins(
        &parsed,
        bind,
        port,
        custom_bind_host,
        control_ui_host_header_fallback,
    );
    let control_ui_dir = control_ui_dir(&parsed, &paths.state_dir);

    Ok(GatewayConfig {
        control_ui_dir,
        path: paths.config_path,
        exists,
        raw_sha256: raw_sha256(&raw),
        raw,
        state_dir: paths.state_dir,
        profile,
        dev,
        mode: str_at(&parsed, &["gateway", "mode"]).map(str::to_string),
        port,
        port_source,
        bind,
        bind_host,
        bind_reason,
        custom_bind_host,
        auth,
        trusted_proxies: strings_at(&parsed, &["gateway", "trustedProxies"]),
        allow_real_ip_fallback: bool_at(&parsed, &["gateway", "allowRealIpFallback"])
            .unwrap_or(false),
        limits,
        logging,
        reload_mode,
        heartbeat_every_ms,
        http,
        control_ui_enabled: bool_at(&parsed, &["gateway", "controlUi", "enabled"]).unwrap_or(true),
        metrics_enabled: bool_at(&parsed, &["gateway", "metrics", "enabled"]).unwrap_or(false),
        runtime,
        control_ui_base_path: normalize_base_path(str_at(
            &parsed,
            &["gateway", "controlUi", "basePath"],
        )),
        control_ui_allowed_origins,
        control_ui_host_header_fallback,
        agents,
        default_agent_id: resolve_default_agent_id(&parsed),
        allow_multi_gateway: env.allow_multi_gateway(),
        supervisor_external: env.supervisor_external(),
        service_repair_external: env.service_repair_external(),
        under_systemd: env.is_systemd(),
        parsed,
        warnings,
        origin: std::sync::Arc::new(super::LoadOrigin {
            args: args.clone(),
            env: env.clone(),
        }),
    })
}

/// The address to listen on for `bind` (tailnet and auto look at the host's interfaces).
fn bind_address(bind: BindMode, custom: Option<Ipv4Addr>) -> (IpAddr, String) {
    let facts = match bind {
        BindMode::Tailnet | BindMode::Auto => super::bind::HostFacts::detect(),
        _ => super::bind::HostFacts::default(),
    };
    super::bind::resolve_bind(bind, custom, &facts)
}

/// `gateway.http.endpoints.*.enabled` (both off by default).
fn http_endpoints(parsed: &Value) -> HttpEndpoints {
    let on = |name: &str| {
        bool_at(parsed, &["gateway", "http", "endpoints", name, "enabled"]).unwrap_or(false)
    };
    HttpEndpoints {
        chat_completions: on("chatCompletions"),
        responses: on("responses"),
    }
}

/// `gateway.controlUi.allowedOrigins`; off loopback and with none set (and no Host-header
/// fallback), the gateway's own local origins.
fn allowed_origins(
    parsed: &Value,
    bind: BindMode,
    port: u16,
    custom_bind_host: Option<Ipv4Addr>,
    host_header_fallback: bool,
) -> Vec<String> {
    let mut origins = strings_at(parsed, &["gateway", "controlUi", "allowedOrigins"]);
    if bind != BindMode::Loopback && origins.is_empty() && !host_header_fallback {
        origins = vec![
            format!("http://localhost:{port}"),
            format!("http://127.0.0.1:{port}"),
        ];
        if let (BindMode::Custom, Some(h)) = (bind, custom_bind_host) {
            origins.push(format!("http://{h}:{port}"));
        }
    }
    origins
}

/// `gateway.controlUi.root`, else the build in the state dir if there is one.
fn control_ui_dir(parsed: &Value, state_dir: &Path) -> Option<PathBuf> {
    match str_at(parsed, &["gateway", "controlUi", "root"]) {
        Some(r) if !r.trim().is_empty() => Some(PathBuf::from(r.trim())),
        _ => Some(state_dir.join(CONTROL_UI_DIR)).filter(|d| d.join("index.html").is_file()),
    }
}

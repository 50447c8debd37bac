//! Startup guards (config-and-cli.md §4), with the stock gateway's operator-visible texts.

use super::types::BindMode;
use super::{AuthMode, ConfigError, GatewayConfig};

/// Refuse to start when the config is not meant for a local gateway, or when the effective
/// bind/auth combination is unsafe. Errors are `ConfigError::StartupBlocked` (exit 78).
pub fn startup_guard(cfg: &GatewayConfig, allow_unconfigured: bool) -> Result<(), ConfigError> {
    let blocked = |m: String| Err(ConfigError::StartupBlocked(m));

    // 1. gateway.mode must be local (a missing file is fine in dev, as upstream).
    let mode_ok = cfg.mode.as_deref() == Some("local") || (!cfg.exists && cfg.dev);
    if !allow_unconfigured && !mode_ok {
        return blocked(match (&cfg.mode, cfg.exists) {
            (_, false) => "Missing config. Run `openclaw setup` or set gateway.mode=local (or pass --allow-unconfigured).".into(),
            (None, true) => "Gateway start blocked: existing config is missing gateway.mode. Treat this as suspicious or clobbered config. Re-run `openclaw onboard --mode local` or `openclaw setup`, set gateway.mode=local manually, or pass --allow-unconfigured.".into(),
            (Some(m), true) => format!("Gateway start blocked: set gateway.mode=local (current: {m}) or pass --allow-unconfigured."),
        });
    }

    // 2. bind=custom needs a valid customBindHost.
    if cfg.bind == BindMode::Custom && cfg.custom_bind_host.is_none() {
        return blocked("gateway.bind=custom requires gateway.customBindHost".into());
    }

    // 3. Non-loopback bind needs a shared secret (or trusted-proxy).
    if !cfg.bind_host.is_loopback()
        && !cfg.auth.has_shared_secret()
        && cfg.auth.mode != AuthMode::TrustedProxy
    {
        return blocked(format!(
            "refusing to bind gateway to {}:{} without auth (set gateway.auth.token/password, or set OPENCLAW_GATEWAY_TOKEN/OPENCLAW_GATEWAY_PASSWORD; legacy CLAWDBOT_* and MOLTBOT_* environment variables are ignored)",
            cfg.bind_host, cfg.port
        ));
    }

    // 4. trusted-proxy needs at least one trusted proxy.
    if cfg.auth.mode == AuthMode::TrustedProxy && cfg.trusted_proxies.is_empty() {
        return blocked("gateway auth mode=trusted-proxy requires gateway.trustedProxies to be configured with at least one proxy IP".into());
    }
    Ok(())
}

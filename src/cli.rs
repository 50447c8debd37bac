//! Command-line surface of the `openclaw` binary (clap derive), mirroring the stock CLI.
//!
//! Only `gateway [run]` is wired to config loading here ([`GatewayRunArgs::load_args`]); the
//! other commands are parsed so the surface is complete.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::{AuthMode, BindMode, ConfigError, LoadArgs, Secret};

/// Default RPC/probe timeout of client commands (ms).
pub const DEFAULT_CLIENT_TIMEOUT_MS: u64 = 10_000;
/// `logs --limit` default.
pub const DEFAULT_LOGS_LIMIT: u32 = 200;
/// `logs --max-bytes` default.
pub const DEFAULT_LOGS_MAX_BYTES: u64 = 250_000;
/// `logs --follow` poll interval default (ms).
pub const DEFAULT_LOGS_INTERVAL_MS: u64 = 1_000;

fn parse_secret(s: &str) -> Result<Secret, String> {
    Ok(Secret::new(s))
}

fn parse_port(s: &str) -> Result<u16, String> {
    // 0 asks the OS for a free port (tests, side-by-side runs); the log line
    // `listening on ws://HOST:PORT` names the one chosen.
    s.trim()
        .parse::<u16>()
        .map_err(|_| format!("invalid port {s:?} (expected 0-65535)"))
}

/// `openclaw` — OpenClaw Gateway (Rust).
#[derive(Debug, Parser)]
#[command(name = "openclaw", version, about = "OpenClaw Gateway (openclaw-rs)")]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Root options accepted anywhere on the command line.
#[derive(Debug, Clone, Default, Args)]
pub struct GlobalArgs {
    /// Dev profile: isolated state under ~/.openclaw-dev, default port 19001
    #[arg(long, global = true)]
    pub dev: bool,
    /// Named profile: state under ~/.openclaw-<name>
    #[arg(long, global = true, value_name = "name")]
    pub profile: Option<String>,
    /// Disable ANSI colours
    #[arg(long = "no-color", global = true)]
    pub no_color: bool,
    /// Console log level (silent|fatal|error|warn|info|debug|trace)
    #[arg(long = "log-level", global = true, value_name = "level")]
    pub log_level: Option<String>,
    /// Container target (accepted for compatibility; ignored)
    #[arg(long, global = true, hide = true, value_name = "name")]
    pub container: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run and manage the Gateway (bare `gateway` == `gateway run`)
    Gateway(GatewayCommand),
    /// Gateway health (via the `health` RPC)
    Health(HealthArgs),
    /// Gateway status summary
    Status(StatusArgs),
    /// Tail the Gateway file log (via `logs.tail`)
    Logs(LogsArgs),
    /// Diagnose and repair config/state
    Doctor(DoctorArgs),
    /// Secrets runtime
    Secrets(SecretsCommand),
    /// Write a baseline local config (gateway.mode=local)
    Setup(SetupArgs),
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct GatewayCommand {
    #[command(subcommand)]
    pub command: Option<GatewaySubcommand>,
    #[command(flatten)]
    pub run: GatewayRunArgs,
}

#[derive(Debug, Subcommand)]
pub enum GatewaySubcommand {
    /// Run the Gateway in the foreground
    Run(GatewayRunArgs),
    /// Service state + connectivity probe
    Status(GatewayStatusArgs),
    /// Probe reachability and capability
    Probe(GatewayProbeArgs),
    /// Call the `health` RPC
    Health(GatewayHealthArgs),
    /// Install the Gateway as a user service
    Install(GatewayInstallArgs),
    /// Start the installed service
    Start(JsonFlag),
    /// Stop the installed service
    Stop(GatewayStopArgs),
    /// Restart the installed service
    Restart(GatewayRestartArgs),
    /// Remove the installed service
    Uninstall(JsonFlag),
    /// Call a raw Gateway RPC method
    Call(GatewayCallArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TailscaleMode {
    Off,
    Serve,
    Funnel,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum WsLogStyle {
    #[default]
    Auto,
    Compact,
    Full,
}

/// `openclaw gateway [run]` flags.
#[derive(Debug, Clone, Default, Args)]
pub struct GatewayRunArgs {
    /// Port for the gateway WebSocket
    #[arg(long, value_name = "port", value_parser = parse_port)]
    pub port: Option<u16>,
    /// Bind mode
    #[arg(long, value_enum, value_name = "mode")]
    pub bind: Option<BindMode>,
    /// Gateway auth mode
    #[arg(long, value_enum, value_name = "mode")]
    pub auth: Option<AuthMode>,
    /// Shared token required in connect.params.auth.token (default: OPENCLAW_GATEWAY_TOKEN)
    #[arg(long, value_name = "token", value_parser = parse_secret)]
    pub token: Option<Secret>,
    /// Password for auth mode=password
    #[arg(long, value_name = "password", value_parser = parse_secret)]
    pub password: Option<Secret>,
    /// Read gateway password from file
    #[arg(long = "password-file", value_name = "path")]
    pub password_file: Option<PathBuf>,
    /// Tailscale exposure mode (accepted; not implemented)
    #[arg(long, value_enum, value_name = "mode")]
    pub tailscale: Option<TailscaleMode>,
    /// Reset Tailscale serve/funnel on exit (accepted; not implemented)
    #[arg(long = "tailscale-reset-on-exit", hide = true)]
    pub tailscale_reset_on_exit: bool,
    /// Allow start without gateway.mode=local in config (does not repair config)
    #[arg(long = "allow-unconfigured")]
    pub allow_unconfigured: bool,
    /// Allow auto-configuring channels from ambient environment variables
    #[arg(long = "ambient-channels", alias = "dev-ambient-channels")]
    pub ambient_channels: bool,
    /// Reset dev config + credentials + sessions + workspace (requires --dev)
    #[arg(long)]
    pub reset: bool,
    /// Kill any existing listener on the target port before starting
    #[arg(long)]
    pub force: bool,
    /// Read and write WebSocket sockets through io_uring rings (Linux; falls back to tokio
    /// when the kernel refuses io_uring). Same as gateway.runtime = "io_uring".
    #[arg(long = "io-uring")]
    pub io_uring: bool,
    /// Verbose logging to stdout/stderr
    #[arg(long)]
    pub verbose: bool,
    /// Only show CLI backend logs in the console
    #[arg(long = "cli-backend-logs", alias = "claude-cli-logs")]
    pub cli_backend_logs: bool,
    /// WebSocket log style
    #[arg(long = "ws-log", value_enum, value_name = "style")]
    pub ws_log: Option<WsLogStyle>,
    /// Alias for --ws-log compact
    #[arg(long)]
    pub compact: bool,
    /// Log raw model stream events to jsonl
    #[arg(long = "raw-stream")]
    pub raw_stream: bool,
    /// Raw stream jsonl path
    #[arg(long = "raw-stream-path", value_name = "path")]
    pub raw_stream_path: Option<PathBuf>,
}

impl GatewayRunArgs {
    /// Effective WS log style (`--compact` wins).
    pub fn ws_log_style(&self) -> WsLogStyle {
        if self.compact {
            WsLogStyle::Compact
        } else {
            self.ws_log.unwrap_or_default()
        }
    }

    /// Config overrides for [`crate::config::load`].
    pub fn load_args(&self, global: &GlobalArgs) -> Result<LoadArgs, ConfigError> {
        let mut args = global.load_args()?;
        args.port = self.port;
        args.bind = self.bind;
        args.auth = self.auth;
        args.token = self.token.clone();
        args.password = self.password.clone();
        args.password_file = self.password_file.clone();
        args.verbose = self.verbose;
        args.io_uring = self.io_uring;
        if self.reset && !global.dev {
            return Err(ConfigError::Usage("--reset requires --dev".into()));
        }
        Ok(args)
    }
}

impl GlobalArgs {
    /// Profile/colour/log-level overrides shared by every command.
    pub fn load_args(&self) -> Result<LoadArgs, ConfigError> {
        if self.dev && self.profile.as_deref().is_some_and(|p| p != "dev") {
            return Err(ConfigError::Usage(
                "Cannot combine --dev with --profile".into(),
            ));
        }
        Ok(LoadArgs {
            dev: self.dev,
            profile: self.profile.clone(),
            no_color: self.no_color,
            log_level: self.log_level.clone(),
            ..LoadArgs::default()
        })
    }
}

/// `--url/--token/--password/--timeout` of client commands.
#[derive(Debug, Clone, Args)]
pub struct ConnectArgs {
    /// Gateway WebSocket URL (defaults to the local gateway from config)
    #[arg(long, value_name = "url")]
    pub url: Option<String>,
    /// Gateway token (if required)
    #[arg(long, value_name = "token", value_parser = parse_secret)]
    pub token: Option<Secret>,
    /// Gateway password (password auth)
    #[arg(long, value_name = "password", value_parser = parse_secret)]
    pub password: Option<Secret>,
    /// Timeout in ms
    #[arg(long, value_name = "ms", default_value_t = DEFAULT_CLIENT_TIMEOUT_MS)]
    pub timeout: u64,
}

#[derive(Debug, Clone, Args)]
pub struct JsonFlag {
    /// Output JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Args)]
pub struct GatewayStatusArgs {
    #[arg(long)]
    pub json: bool,
    /// Scan system-level services
    #[arg(long)]
    pub deep: bool,
    /// Exit non-zero when the RPC probe fails
    #[arg(long = "require-rpc")]
    pub require_rpc: bool,
    /// Skip RPC probe
    #[arg(long = "no-probe")]
    pub no_probe: bool,
    /// Local Gateway port
    #[arg(long, value_parser = parse_port)]
    pub port: Option<u16>,
    #[command(flatten)]
    pub conn: ConnectArgs,
}

#[derive(Debug, Clone, Args)]
pub struct GatewayProbeArgs {
    #[arg(long)]
    pub json: bool,
    #[arg(long, value_parser = parse_port)]
    pub port: Option<u16>,
    /// Probe through an SSH tunnel (accepted; not implemented)
    #[arg(long, value_name = "user@host")]
    pub ssh: Option<String>,
    #[command(flatten)]
    pub conn: ConnectArgs,
}

#[derive(Debug, Clone, Args)]
pub struct GatewayHealthArgs {
    #[arg(long)]
    pub json: bool,
    #[arg(long, value_parser = parse_port)]
    pub port: Option<u16>,
    #[command(flatten)]
    pub conn: ConnectArgs,
}

#[derive(Debug, Clone, Args)]
pub struct GatewayInstallArgs {
    #[arg(long, value_parser = parse_port)]
    pub port: Option<u16>,
    /// Reinstall if already installed
    #[arg(long)]
    pub force: bool,
    #[arg(long)]
    pub json: bool,
    /// Gateway token (token auth)
    #[arg(long, value_parser = parse_secret)]
    pub token: Option<Secret>,
    /// Daemon runtime (accepted for compatibility)
    #[arg(long, value_name = "runtime")]
    pub runtime: Option<String>,
    /// Executable wrapper for the service command
    #[arg(long, value_name = "path")]
    pub wrapper: Option<PathBuf>,
    /// Allow the service to start without gateway.mode=local
    #[arg(long = "allow-unconfigured")]
    pub allow_unconfigured: bool,
}

#[derive(Debug, Clone, Args)]
pub struct GatewayStopArgs {
    /// Allow stop from a non-interactive shell
    #[arg(long)]
    pub force: bool,
    /// Suppress respawn until next start (launchd only)
    #[arg(long)]
    pub disable: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Args)]
pub struct GatewayRestartArgs {
    /// Begin restart now; drain admitted work within the shutdown budget
    #[arg(long)]
    pub force: bool,
    /// Restart after active work drains
    #[arg(long)]
    pub safe: bool,
    /// Bypass the safe-restart deferral gate (requires --safe)
    #[arg(long = "skip-deferral")]
    pub skip_deferral: bool,
    /// Wait duration before restart (ms, 10s, 5m)
    #[arg(long, value_name = "duration")]
    pub wait: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Args)]
pub struct GatewayCallArgs {
    /// RPC method name, e.g. `health`
    pub method: String,
    /// Params as a JSON object
    #[arg(long, value_name = "json", default_value = "{}")]
    pub params: String,
    /// Wait for the final response of a streaming method
    #[arg(long = "expect-final")]
    pub expect_final: bool,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub conn: ConnectArgs,
}

#[derive(Debug, Clone, Args)]
pub struct HealthArgs {
    #[arg(long)]
    pub json: bool,
    /// Force a live probe and print details
    #[arg(long, alias = "debug")]
    pub verbose: bool,
    #[command(flatten)]
    pub conn: ConnectArgs,
}

#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    #[arg(long)]
    pub json: bool,
    /// Full local diagnosis
    #[arg(long)]
    pub all: bool,
    /// Probe channels/services
    #[arg(long)]
    pub deep: bool,
    /// Include usage
    #[arg(long)]
    pub usage: bool,
    #[command(flatten)]
    pub conn: ConnectArgs,
}

#[derive(Debug, Clone, Args)]
pub struct LogsArgs {
    /// Keep following (reconnects on gateway restart)
    #[arg(long)]
    pub follow: bool,
    /// Max lines
    #[arg(long, default_value_t = DEFAULT_LOGS_LIMIT)]
    pub limit: u32,
    /// Max bytes per read
    #[arg(long = "max-bytes", default_value_t = DEFAULT_LOGS_MAX_BYTES)]
    pub max_bytes: u64,
    /// Poll interval in ms
    #[arg(long, default_value_t = DEFAULT_LOGS_INTERVAL_MS)]
    pub interval: u64,
    /// Raw JSON lines
    #[arg(long)]
    pub json: bool,
    /// Plain text (no colours/pretty formatting)
    #[arg(long)]
    pub plain: bool,
    /// UTC timestamps
    #[arg(long)]
    pub utc: bool,
    #[command(flatten)]
    pub conn: ConnectArgs,
}

#[derive(Debug, Clone, Args)]
pub struct DoctorArgs {
    /// Apply safe repairs (state dir mode, retired reload modes, gateway token, unit drift)
    #[arg(long, alias = "repair")]
    pub fix: bool,
    /// Assume yes
    #[arg(long)]
    pub yes: bool,
    /// Never prompt (doctor never does; accepted for compatibility)
    #[arg(long = "non-interactive")]
    pub non_interactive: bool,
    /// Deeper scans (accepted; same checks)
    #[arg(long)]
    pub deep: bool,
    /// Generate and configure a gateway token if the config has none
    #[arg(long = "generate-gateway-token")]
    pub generate_gateway_token: bool,
    /// Lint only (exit 0/1/2)
    #[arg(long)]
    pub lint: bool,
    /// Output JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SecretsCommand {
    #[command(subcommand)]
    pub command: SecretsSubcommand,
}

#[derive(Debug, Subcommand)]
pub enum SecretsSubcommand {
    /// Re-resolve secrets in the running gateway (`secrets.reload`)
    Reload(SecretsReloadArgs),
}

#[derive(Debug, Clone, Args)]
pub struct SecretsReloadArgs {
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub conn: ConnectArgs,
}

#[derive(Debug, Clone, Args)]
pub struct SetupArgs {
    /// Write only the baseline config
    #[arg(long)]
    pub baseline: bool,
}

impl Cli {
    /// Run args if the command is `gateway` / `gateway run`.
    pub fn gateway_run(&self) -> Option<&GatewayRunArgs> {
        match &self.command {
            Some(Command::Gateway(g)) => match &g.command {
                None => Some(&g.run),
                Some(GatewaySubcommand::Run(r)) => Some(r),
                Some(_) => None,
            },
            _ => None,
        }
    }
}

#[cfg(test)]
#[path = "config/tests_cli.rs"]
mod tests;

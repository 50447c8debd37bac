//! Small enums and sub-structs of the resolved config (bind, port source, reload, logging).

use std::path::PathBuf;

/// `gateway.bind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum BindMode {
    Loopback,
    Lan,
    Tailnet,
    Auto,
    Custom,
}

impl BindMode {
    pub fn as_str(self) -> &'static str {
        match self {
            BindMode::Loopback => "loopback",
            BindMode::Lan => "lan",
            BindMode::Tailnet => "tailnet",
            BindMode::Auto => "auto",
            BindMode::Custom => "custom",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "loopback" => BindMode::Loopback,
            "lan" => BindMode::Lan,
            "tailnet" => BindMode::Tailnet,
            "auto" => BindMode::Auto,
            "custom" => BindMode::Custom,
            _ => return None,
        })
    }
}

/// Where the effective port came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortSource {
    Cli,
    Env,
    Config,
    Default,
}

impl PortSource {
    pub fn as_str(self) -> &'static str {
        match self {
            PortSource::Cli => "cli",
            PortSource::Env => "env",
            PortSource::Config => "config",
            PortSource::Default => "default",
        }
    }
}

/// `gateway.reload.mode` (`hot`/`restart` are retired upstream; doctor maps them to hybrid,
/// we keep them as parsed so callers can decide).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReloadMode {
    Off,
    Hot,
    Restart,
    Hybrid,
}

impl ReloadMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ReloadMode::Off => "off",
            ReloadMode::Hot => "hot",
            ReloadMode::Restart => "restart",
            ReloadMode::Hybrid => "hybrid",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "off" => ReloadMode::Off,
            "hot" => ReloadMode::Hot,
            "restart" => ReloadMode::Restart,
            "hybrid" => ReloadMode::Hybrid,
            _ => return None,
        })
    }
}

/// `gateway.runtime`: who does a WebSocket socket's I/O — tokio (a writer task per socket,
/// epoll for reads), the io_uring rings for reads and writes, or the rings for writes only
/// (Linux; probed at start, tokio when unavailable).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NetRuntime {
    #[default]
    Tokio,
    IoUring,
    IoUringWrites,
}

impl NetRuntime {
    pub fn as_str(self) -> &'static str {
        match self {
            NetRuntime::Tokio => "tokio",
            NetRuntime::IoUring => "io_uring",
            NetRuntime::IoUringWrites => "io_uring_writes",
        }
    }
    /// Whether the rings are wanted at all.
    pub fn uses_rings(self) -> bool {
        self != NetRuntime::Tokio
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "tokio" => NetRuntime::Tokio,
            "io_uring" => NetRuntime::IoUring,
            "io_uring_writes" => NetRuntime::IoUringWrites,
            _ => return None,
        })
    }
}

/// Upstream log levels (`silent` disables).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Silent,
    Fatal,
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Silent => "silent",
            LogLevel::Fatal => "fatal",
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "silent" | "off" => LogLevel::Silent,
            "fatal" => LogLevel::Fatal,
            "error" => LogLevel::Error,
            "warn" | "warning" => LogLevel::Warn,
            "info" => LogLevel::Info,
            "debug" => LogLevel::Debug,
            "trace" => LogLevel::Trace,
            _ => return None,
        })
    }
    /// Equivalent tracing filter (`fatal` maps to ERROR: tracing has no fatal level).
    pub fn to_filter(self) -> tracing::level_filters::LevelFilter {
        use tracing::level_filters::LevelFilter;
        match self {
            LogLevel::Silent => LevelFilter::OFF,
            LogLevel::Fatal | LogLevel::Error => LevelFilter::ERROR,
            LogLevel::Warn => LevelFilter::WARN,
            LogLevel::Info => LevelFilter::INFO,
            LogLevel::Debug => LevelFilter::DEBUG,
            LogLevel::Trace => LevelFilter::TRACE,
        }
    }
}

/// Console output style (`logging.consoleStyle`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsoleStyle {
    Pretty,
    Compact,
    Json,
}

/// Resolved logging settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggingConfig {
    /// Log file (`logging.file`, else `/tmp/openclaw/openclaw[-<profile>]-YYYY-MM-DD.log`).
    pub file: PathBuf,
    /// `true` when `file` is the dated default (the writer switches file at local midnight).
    pub rolling: bool,
    /// Profile used in rolling file names.
    pub profile: Option<String>,
    /// File level (`OPENCLAW_LOG_LEVEL` → `logging.level` → info).
    pub level: LogLevel,
    /// Console level (`--log-level` → `logging.consoleLevel` → info; `--verbose` ⇒ at least debug).
    pub console_level: LogLevel,
    pub console_style: Option<ConsoleStyle>,
    pub max_file_bytes: u64,
    /// `NO_COLOR` set or `--no-color`.
    pub no_color: bool,
    /// `FORCE_COLOR` set (colour even when stderr is not a TTY).
    pub force_color: bool,
}

/// `gateway.http.endpoints.*.enabled` (OpenAI-compatible HTTP surface; default off).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HttpEndpoints {
    pub chat_completions: bool,
    pub responses: bool,
}

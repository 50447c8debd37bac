//! The operator commands of the `openclaw` binary (`health`, `status`, `logs`, `gateway
//! status|probe|health|call`, `secrets reload`, local ones: `setup`, `doctor`, `gateway
//! install|…`): each resolves the gateway exactly as `gateway run` would
//! (config + env via [`crate::config::load`]), talks to it through [`crate::client`], and
//! prints what the stock CLI prints. Each returns the process exit code.

mod call;
mod doctor;
mod doctor_checks;
mod gateway_status;
mod health;
mod local;
mod logs;
mod probe;
mod secrets;
pub mod service;
pub mod setup;
mod status;

use std::io::Write;
use std::time::Duration;

use serde_json::Value;

use crate::cli::{Command, ConnectArgs, GatewaySubcommand, GlobalArgs, SecretsSubcommand};
use crate::client::{ConnectOptions, Flavour};
use crate::config::{self, AuthMode, Env, GatewayConfig};

pub use logs::format_line;

/// Run a non-`gateway run` command; the exit code.
pub fn run(global: &GlobalArgs, cmd: &Command) -> i32 {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("openclaw: cannot start the async runtime: {e}");
            return 1;
        }
    };
    use GatewaySubcommand as G;
    rt.block_on(async {
        match cmd {
            Command::Health(a) => health::run(global, &a.conn, None, a.json, a.verbose).await,
            Command::Status(a) => status::run(global, a).await,
            Command::Logs(a) => logs::run(global, a).await,
            Command::Gateway(g) => match &g.command {
                Some(G::Status(a)) => gateway_status::run(global, a).await,
                Some(G::Probe(a)) => probe::run(global, a).await,
                Some(G::Health(a)) => health::run(global, &a.conn, a.port, a.json, false).await,
                Some(G::Call(a)) => call::run(global, a).await,
                Some(G::Install(a)) => service::install(global, a),
                Some(G::Start(a)) => service::start(global, a),
                Some(G::Stop(a)) => service::stop(global, a),
                Some(G::Restart(a)) => service::restart(global, a),
                Some(G::Uninstall(a)) => service::uninstall(global, a),
                Some(G::Run(_)) | None => unavailable("gateway run"),
            },
            Command::Doctor(a) => doctor::run(global, a),
            Command::Secrets(s) => match &s.command {
                SecretsSubcommand::Reload(a) => secrets::reload(global, a).await,
            },
            Command::Setup(a) => setup::run(global, a),
        }
    })
}

fn unavailable(name: &str) -> i32 {
    eprintln!(
        "openclaw {name}: not available in this build yet (use the stock OpenClaw CLI against this gateway)"
    );
    2
}

/// Resolved config plus the process environment: where the gateway is and how to log in.
pub struct Ctx {
    pub cfg: GatewayConfig,
    pub env: Env,
}

/// Where a command connects, and why.
#[derive(Clone, Debug)]
pub struct Target {
    pub url: String,
    /// `cli --url`, `env OPENCLAW_GATEWAY_URL`, or `local` (config/port).
    pub source: &'static str,
}

impl Ctx {
    /// Load config as the gateway would (`port` = a command's own `--port`). On failure the
    /// message is printed and `Err(exit code)` returned.
    pub fn load(global: &GlobalArgs, port: Option<u16>) -> Result<Ctx, i32> {
        let env = Env::from_process();
        let mut args = global.load_args().map_err(|e| {
            eprintln!("{e}");
            e.exit_code()
        })?;
        args.port = port;
        match config::load(&args, &env) {
            Ok(cfg) => Ok(Ctx { cfg, env }),
            Err(e) => {
                eprintln!("{e}");
                Err(1)
            }
        }
    }

    /// `ws://127.0.0.1:<port>` (loopback for wildcard binds).
    pub fn local_url(&self) -> String {
        self.cfg.local_ws_url()
    }

    /// `--url` → `OPENCLAW_GATEWAY_URL` (when `env_url`) → the local gateway.
    pub fn target(&self, conn: &ConnectArgs, env_url: bool) -> Target {
        if let Some(u) = conn.url.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
            return Target {
                url: u.to_string(),
                source: "cli --url",
            };
        }
        if env_url {
            if let Some(u) = self.env.get_trimmed("OPENCLAW_GATEWAY_URL") {
                return Target {
                    url: u.to_string(),
                    source: "env OPENCLAW_GATEWAY_URL",
                };
            }
        }
        Target {
            url: self.local_url(),
            source: "local",
        }
    }

    /// Connect options: explicit `--token/--password`, else the credential the gateway
    /// itself resolved (never an ephemeral in-memory token, which only the gateway knows).
    pub fn options(&self, conn: &ConnectArgs, url: &str, flavour: Flavour) -> ConnectOptions {
        let mut o = ConnectOptions::new(url);
        o.flavour = flavour;
        o.timeout = Duration::from_millis(conn.timeout.max(1));
        let explicit_token = conn.token.as_ref().map(|t| t.expose().to_string());
        let explicit_password = conn.password.as_ref().map(|p| p.expose().to_string());
        if explicit_token.is_some() || explicit_password.is_some() {
            o.token = explicit_token;
            o.password = explicit_password;
            return o;
        }
        let auth = &self.cfg.auth;
        match auth.mode {
            AuthMode::Password => o.password = auth.password.as_ref().map(|p| p.expose().into()),
            _ if !auth.token_is_ephemeral => {
                o.token = auth.token.as_ref().map(|t| t.expose().into());
            }
            _ => {}
        }
        o
    }

    /// `auth token` / `auth password` / `auth none` as `openclaw status` shows it.
    pub fn auth_label(&self, o: &ConnectOptions) -> &'static str {
        if o.token.is_some() {
            "auth token"
        } else if o.password.is_some() {
            "auth password"
        } else if self.cfg.auth.mode == AuthMode::None {
            "auth none"
        } else {
            "auth missing"
        }
    }

    /// `http://127.0.0.1:<port>/<basePath>/` (the Control UI).
    pub fn dashboard_url(&self) -> String {
        let ws = self.local_url();
        let base = &self.cfg.control_ui_base_path;
        format!("http{}{base}/", ws.strip_prefix("ws").unwrap_or(&ws))
    }
}

/// Write lines to stdout; `false` once stdout is gone (closed pipe).
pub fn out(text: &str) -> bool {
    let mut o = std::io::stdout().lock();
    o.write_all(text.as_bytes())
        .and_then(|_| o.write_all(b"\n"))
        .and_then(|_| o.flush())
        .is_ok()
}

/// Pretty JSON to stdout.
pub fn out_json(v: &Value) -> bool {
    out(&serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string()))
}

/// `12ms` below a second, `2.07s` above (the stock CLI's latency format).
pub fn fmt_latency(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else {
        format!("{:.2}s", d.as_secs_f64())
    }
}

/// `s` at a JSON path (`a.b.c`), if a string.
pub fn str_at<'v>(v: &'v Value, path: &[&str]) -> Option<&'v str> {
    path.iter().try_fold(v, |v, k| v.get(*k))?.as_str()
}

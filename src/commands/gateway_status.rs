//! `openclaw gateway status`: service state, config/log paths, the resolved bind/port, a
//! WebSocket probe (flavour P: hello only; with `--require-rpc` flavour B + a `status`
//! read), and who listens on the port. Text lines and `--json` keys follow the stock CLI.

use serde_json::{json, Value};

use super::local::{self, Listener, Service};
use super::{out, out_json, Ctx};
use crate::cli::{GatewayStatusArgs, GlobalArgs};
use crate::client::{ClientError, Flavour, GatewayClient, Hello};
use crate::config::{BindMode, PortSource};

/// Outcome of the connectivity / read probe.
struct Probe {
    hello: Option<Hello>,
    connect_error: Option<ClientError>,
    /// `Some` only with `--require-rpc`: the `status` read result.
    read: Option<Result<Value, ClientError>>,
}

async fn probe(ctx: &Ctx, a: &GatewayStatusArgs, url: &str) -> Probe {
    let flavour = if a.require_rpc {
        Flavour::Backend("status".into())
    } else {
        Flavour::Probe
    };
    let opts = ctx.options(&a.conn, url, flavour);
    match GatewayClient::connect(&opts).await {
        Err(e) => Probe {
            hello: None,
            connect_error: Some(e),
            read: None,
        },
        Ok(mut c) => {
            let read = if a.require_rpc {
                Some(
                    c.call("status", json!({ "includeChannelSummary": false }))
                        .await,
                )
            } else {
                None
            };
            let hello = c.hello.clone();
            c.close().await;
            Probe {
                hello: Some(hello),
                connect_error: None,
                read,
            }
        }
    }
}

fn port_source(s: PortSource) -> &'static str {
    match s {
        PortSource::Cli => "cli",
        PortSource::Env | PortSource::Config => "env/config",
        PortSource::Default => "default",
    }
}

fn probe_note(bind: BindMode) -> &'static str {
    match bind {
        BindMode::Loopback | BindMode::Auto => {
            "Loopback-only gateway; only local clients can connect."
        }
        BindMode::Lan => "Gateway listens on all interfaces; probing via loopback.",
        BindMode::Tailnet => "Tailnet gateway; probing the loopback listener.",
        BindMode::Custom => "Custom bind host; probing via loopback.",
    }
}

/// Run the command. Exit 1 when the probe fails (unreachable, or `--require-rpc` read failed).
pub async fn run(global: &GlobalArgs, a: &GatewayStatusArgs) -> i32 {
    let ctx = match Ctx::load(global, a.port) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let st = gather(&ctx, a).await;
    let connected = st.pr.as_ref().is_some_and(|p| p.hello.is_some());
    let failed = match &st.pr {
        None => false,
        Some(_) if !connected => true,
        Some(_) => a.require_rpc && !st.read_ok(),
    };
    if a.json {
        out_json(&json_report(&ctx, a, &st));
    } else {
        out(&text_report(&ctx, a, &st));
    }
    i32::from(failed)
}

/// What the report says: the probe, the service, who listens, where things are.
struct State {
    target: super::Target,
    pr: Option<Probe>,
    service: Service,
    listeners: Vec<Listener>,
    /// Other gateway-like services (`--deep` only).
    extra: Vec<Value>,
    running: bool,
    pid: Option<u32>,
    exe: String,
    dashboard: String,
}

impl State {
    fn read_ok(&self) -> bool {
        self.pr
            .as_ref()
            .and_then(|p| p.read.as_ref())
            .is_some_and(|r| r.is_ok())
    }

    fn gw_version(&self) -> Option<&str> {
        self.pr
            .as_ref()
            .and_then(|p| p.hello.as_ref())
            .and_then(Hello::server_version)
    }
}

/// Probe the gateway while the service and the port's listeners are inspected.
async fn gather(ctx: &Ctx, a: &GatewayStatusArgs) -> State {
    let cfg = &ctx.cfg;
    // `gateway status` ignores OPENCLAW_GATEWAY_URL (cli.md): --url or config/port only.
    let target = ctx.target(&a.conn, false);
    let service = tokio::task::spawn_blocking({
        let profile = cfg.profile.clone();
        move || Service::inspect(profile.as_deref())
    });
    let port = cfg.port;
    let listeners = tokio::task::spawn_blocking(move || local::listeners(port));
    let pr = match a.no_probe {
        true => None,
        false => Some(probe(ctx, a, &target.url).await),
    };
    let service = service.await.unwrap_or_else(|_| Service::inspect(None));
    let listeners: Vec<Listener> = listeners.await.unwrap_or_default();
    let extra = match a.deep {
        true => {
            let own = service.unit.clone();
            let home = ctx.env.home();
            tokio::task::spawn_blocking(move || local::extra_services(&own, home.as_deref()))
                .await
                .unwrap_or_default()
        }
        false => Vec::new(),
    };
    let connected = pr.as_ref().is_some_and(|p| p.hello.is_some());
    State {
        running: connected || !listeners.is_empty(),
        pid: listeners.iter().find_map(|l| l.pid).or(service.main_pid),
        exe: std::env::current_exe()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| "openclaw".into()),
        dashboard: ctx.dashboard_url(),
        target,
        pr,
        service,
        listeners,
        extra,
    }
}

/// `gateway status --json`: the stock CLI's keys.
fn json_report(ctx: &Ctx, a: &GatewayStatusArgs, st: &State) -> Value {
    let cfg = &ctx.cfg;
    let url = &st.target.url;
    let rpc = st.pr.as_ref().map(|p| match (&p.hello, &p.connect_error) {
        (Some(h), _) => {
            let mut v = json!({
                "ok": !a.require_rpc || st.read_ok(),
                "kind": if a.require_rpc { "read" } else { "connect" },
                "capability": h.capability().json_key(),
                "auth": h.auth_summary(),
                "server": h.server_summary(),
                "version": h.server_version(),
                "url": url,
            });
            if let Some(Err(e)) = &p.read {
                v["error"] = json!(e.to_string());
            }
            v
        }
        (None, e) => json!({
            "ok": false,
            "kind": "connect",
            "error": e.as_ref().map(|e| e.to_string()),
            "url": url,
        }),
    });
    let cfg_path = cfg.path.display().to_string();
    let gw_version = st.gw_version();
    json!({
        "cli": { "version": crate::client::CLIENT_VERSION, "entrypoint": st.exe },
        "logFile": cfg.logging.file.display().to_string(),
        "service": st.service.to_json(),
        "config": {
            "cli": { "path": cfg_path, "exists": cfg.exists, "valid": true },
            "daemon": { "path": cfg_path, "exists": cfg.exists, "valid": true },
        },
        "gateway": {
            "bindMode": cfg.bind.as_str(),
            "bindHost": cfg.bind_host.to_string(),
            "port": cfg.port,
            "portSource": port_source(cfg.port_source),
            "probeUrl": url,
            "controlUiLinks": { "httpUrl": st.dashboard, "wsUrl": ctx.local_url() },
            "probeNote": probe_note(cfg.bind),
            "version": gw_version,
        },
        "hostDesktop": { "enabled": false, "state": "disabled", "port": 5900 },
        "port": {
            "port": cfg.port,
            "status": if st.listeners.is_empty() { "free" } else { "busy" },
            "listeners": st.listeners.iter().map(Listener::to_json).collect::<Vec<_>>(),
            "hints": [],
        },
        "runtime": { "status": if st.running { "running" } else { "stopped" }, "pid": st.pid },
        "rpc": rpc,
        "extraServices": st.extra,
        "pluginVersionDrift": { "gatewayVersion": gw_version, "drifts": [] },
    })
}

/// The text report, line by line as the stock CLI prints it.
fn text_report(ctx: &Ctx, a: &GatewayStatusArgs, st: &State) -> String {
    let cfg = &ctx.cfg;
    let cfg_path = cfg.path.display().to_string();
    let mut t: Vec<String> = vec![
        format!("Service: {}", st.service.label()),
        format!("File logs: {}", cfg.logging.file.display()),
        "Host desktop: disabled".into(),
        String::new(),
        format!("Config (cli): {cfg_path}"),
        format!("Config (service): {cfg_path}"),
        String::new(),
        format!(
            "Gateway: bind={} ({}), port={} ({})",
            cfg.bind.as_str(),
            cfg.bind_host,
            cfg.port,
            port_source(cfg.port_source)
        ),
        format!("Probe target: {}", st.target.url),
        format!("Dashboard: {}", st.dashboard),
        format!("Probe note: {}", probe_note(cfg.bind)),
        String::new(),
        format!(
            "CLI version: {} ({})",
            crate::client::CLIENT_VERSION,
            st.exe
        ),
    ];
    if let Some(v) = st.gw_version() {
        t.push(format!("Gateway version: {v}"));
    }
    t.push(String::new());
    t.push(match (st.running, st.pid) {
        (true, Some(pid)) => format!("Runtime: running (pid {pid})"),
        (true, None) => "Runtime: running".into(),
        (false, _) => "Runtime: stopped".into(),
    });
    t.extend(probe_lines(st.pr.as_ref()));
    if a.deep {
        t.push(String::new());
        t.push("Other gateway-like services detected (best effort):".into());
        if st.extra.is_empty() {
            t.push("- none".into());
        }
        t.extend(st.extra.iter().map(|e| {
            let label = e["label"].as_str().unwrap_or("?");
            format!("- {label} ({})", e["detail"].as_str().unwrap_or(""))
        }));
    }
    t.push(String::new());
    if st.listeners.is_empty() {
        t.push(format!("Listening: nothing on port {}", cfg.port));
    }
    t.extend(
        st.listeners
            .iter()
            .map(|l| format!("Listening: {}", l.address)),
    );
    t.push("Troubles: run openclaw status".into());
    t.push("Troubleshooting: https://docs.openclaw.ai/troubleshooting".into());
    t.join("\n")
}

/// What the probe found, as report lines.
fn probe_lines(pr: Option<&Probe>) -> Vec<String> {
    let Some(p) = pr else {
        return vec!["Connectivity probe: skipped (--no-probe)".into()];
    };
    let Some(h) = &p.hello else {
        let mut t = vec!["Connectivity probe: failed".to_string()];
        if let Some(e) = &p.connect_error {
            t.push(format!("Probe error: {e}"));
        }
        return t;
    };
    let read = match &p.read {
        None => "Connectivity probe: ok".to_string(),
        Some(Ok(_)) => "Read probe: ok".into(),
        Some(Err(e)) => match e.missing_scope() {
            Some(s) => format!("Read probe: limited - missing scope: {s}"),
            None => format!("Read probe: failed ({e})"),
        },
    };
    vec![read, format!("Capability: {}", h.capability().label())]
}

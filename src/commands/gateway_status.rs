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
    let cfg = &ctx.cfg;
    // `gateway status` ignores OPENCLAW_GATEWAY_URL (cli.md): --url or config/port only.
    let target = ctx.target(&a.conn, false);
    let service = tokio::task::spawn_blocking({
        let profile = cfg.profile.clone();
        move || Service::inspect(profile.as_deref())
    });
    let port = cfg.port;
    let listeners = tokio::task::spawn_blocking(move || local::listeners(port));
    let pr = if a.no_probe {
        None
    } else {
        Some(probe(&ctx, a, &target.url).await)
    };
    let service = service.await.unwrap_or_else(|_| Service::inspect(None));
    let listeners: Vec<Listener> = listeners.await.unwrap_or_default();
    let extra = if a.deep {
        let own = service.unit.clone();
        let home = ctx.env.home();
        tokio::task::spawn_blocking(move || local::extra_services(&own, home.as_deref()))
            .await
            .unwrap_or_default()
    } else {
        Vec::new()
    };

    let connected = pr.as_ref().is_some_and(|p| p.hello.is_some());
    let read_ok = pr
        .as_ref()
        .and_then(|p| p.read.as_ref())
        .is_some_and(|r| r.is_ok());
    let failed = match &pr {
        None => false,
        Some(_) if !connected => true,
        Some(_) => a.require_rpc && !read_ok,
    };
    let running = connected || !listeners.is_empty();
    let pid = listeners.iter().find_map(|l| l.pid).or(service.main_pid);
    let bind_host = cfg.bind_host.to_string();
    let log_file = cfg.logging.file.display().to_string();
    let cfg_path = cfg.path.display().to_string();
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "openclaw".into());
    let version = crate::client::CLIENT_VERSION;
    let dashboard = ctx.dashboard_url();
    let hello = pr.as_ref().and_then(|p| p.hello.as_ref());
    let gw_version = hello.and_then(Hello::server_version);

    if a.json {
        let rpc = pr.as_ref().map(|p| match (&p.hello, &p.connect_error) {
            (Some(h), _) => {
                let mut v = json!({
                    "ok": !a.require_rpc || read_ok,
                    "kind": if a.require_rpc { "read" } else { "connect" },
                    "capability": h.capability().json_key(),
                    "auth": h.auth_summary(),
                    "server": h.server_summary(),
                    "version": h.server_version(),
                    "url": target.url,
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
                "url": target.url,
            }),
        });
        let v = json!({
            "cli": { "version": version, "entrypoint": exe },
            "logFile": log_file,
            "service": service.to_json(),
            "config": {
                "cli": { "path": cfg_path, "exists": cfg.exists, "valid": true },
                "daemon": { "path": cfg_path, "exists": cfg.exists, "valid": true },
            },
            "gateway": {
                "bindMode": cfg.bind.as_str(),
                "bindHost": bind_host,
                "port": cfg.port,
                "portSource": port_source(cfg.port_source),
                "probeUrl": target.url,
                "controlUiLinks": { "httpUrl": dashboard, "wsUrl": ctx.local_url() },
                "probeNote": probe_note(cfg.bind),
                "version": gw_version,
            },
            "hostDesktop": { "enabled": false, "state": "disabled", "port": 5900 },
            "port": {
                "port": cfg.port,
                "status": if listeners.is_empty() { "free" } else { "busy" },
                "listeners": listeners.iter().map(Listener::to_json).collect::<Vec<_>>(),
                "hints": [],
            },
            "runtime": { "status": if running { "running" } else { "stopped" }, "pid": pid },
            "rpc": rpc,
            "extraServices": extra,
            "pluginVersionDrift": { "gatewayVersion": gw_version, "drifts": [] },
        });
        out_json(&v);
        return i32::from(failed);
    }

    let mut t: Vec<String> = vec![
        format!("Service: {}", service.label()),
        format!("File logs: {log_file}"),
        "Host desktop: disabled".into(),
        String::new(),
        format!("Config (cli): {cfg_path}"),
        format!("Config (service): {cfg_path}"),
        String::new(),
        format!(
            "Gateway: bind={} ({bind_host}), port={} ({})",
            cfg.bind.as_str(),
            cfg.port,
            port_source(cfg.port_source)
        ),
        format!("Probe target: {}", target.url),
        format!("Dashboard: {dashboard}"),
        format!("Probe note: {}", probe_note(cfg.bind)),
        String::new(),
        format!("CLI version: {version} ({exe})"),
    ];
    if let Some(v) = gw_version {
        t.push(format!("Gateway version: {v}"));
    }
    t.push(String::new());
    t.push(match (running, pid) {
        (true, Some(pid)) => format!("Runtime: running (pid {pid})"),
        (true, None) => "Runtime: running".into(),
        (false, _) => "Runtime: stopped".into(),
    });
    match &pr {
        None => t.push("Connectivity probe: skipped (--no-probe)".into()),
        Some(p) => match (&p.hello, &p.connect_error) {
            (Some(h), _) => {
                match &p.read {
                    None => t.push("Connectivity probe: ok".into()),
                    Some(Ok(_)) => t.push("Read probe: ok".into()),
                    Some(Err(e)) => match e.missing_scope() {
                        Some(s) => t.push(format!("Read probe: limited - missing scope: {s}")),
                        None => t.push(format!("Read probe: failed ({e})")),
                    },
                }
                t.push(format!("Capability: {}", h.capability().label()));
            }
            (None, e) => {
                t.push("Connectivity probe: failed".into());
                if let Some(e) = e {
                    t.push(format!("Probe error: {e}"));
                }
            }
        },
    }
    if a.deep {
        t.push(String::new());
        t.push("Other gateway-like services detected (best effort):".into());
        if extra.is_empty() {
            t.push("- none".into());
        }
        for e in &extra {
            t.push(format!(
                "- {} ({})",
                e["label"].as_str().unwrap_or("?"),
                e["detail"].as_str().unwrap_or("")
            ));
        }
    }
    t.push(String::new());
    if listeners.is_empty() {
        t.push(format!("Listening: nothing on port {}", cfg.port));
    }
    for l in &listeners {
        t.push(format!("Listening: {}", l.address));
    }
    t.push("Troubles: run openclaw status".into());
    t.push("Troubleshooting: https://docs.openclaw.ai/troubleshooting".into());
    out(&t.join("\n"));
    i32::from(failed)
}

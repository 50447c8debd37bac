//! `openclaw status`: the "OpenClaw status" overview (OS, dashboard, gateway reachability,
//! service, agents, heartbeat, sessions, channels). One connection (flavour C, operator.read)
//! serves `health`, `status` and `system-presence`; the stock CLI opens three.
//! An unreachable gateway is reported in the table, not as a failure (exit 0).

use std::time::Duration;

use serde_json::{json, Value};

use super::local::{self, Service};
use super::{fmt_latency, out, out_json, str_at, Ctx};
use crate::cli::{GlobalArgs, StatusArgs};
use crate::client::{ClientError, Flavour, GatewayClient, Hello};

struct Snapshot {
    hello: Hello,
    latency: Duration,
    health: Option<Value>,
    status: Option<Value>,
    presence: Option<Value>,
}

async fn fetch(opts: &crate::client::ConnectOptions) -> Result<Snapshot, ClientError> {
    let mut c = GatewayClient::connect(opts).await?;
    let health = c.call("health", json!({})).await;
    let status = c
        .call("status", json!({ "includeChannelSummary": false }))
        .await;
    let presence = c.call("system-presence", json!({})).await;
    let snap = Snapshot {
        hello: c.hello.clone(),
        latency: c.connect_latency,
        health: health.ok(),
        status: status.ok(),
        presence: presence.ok(),
    };
    c.close().await;
    Ok(snap)
}

/// Render `rows` as the stock CLI's boxed two-column table.
pub fn table(rows: &[(String, String)]) -> String {
    let w0 = rows
        .iter()
        .map(|r| r.0.chars().count())
        .max()
        .unwrap_or(0)
        .max(4);
    let w1 = rows
        .iter()
        .map(|r| r.1.chars().count())
        .max()
        .unwrap_or(0)
        .max(5);
    let line = |l: &str, m: &str, r: &str| {
        format!("{l}{}{m}{}{r}", "─".repeat(w0 + 2), "─".repeat(w1 + 2))
    };
    let row = |a: &str, b: &str| {
        let pa = w0 - a.chars().count();
        let pb = w1 - b.chars().count();
        format!("│ {a}{} │ {b}{} │", " ".repeat(pa), " ".repeat(pb))
    };
    let mut s = vec![
        line("┌", "┬", "┐"),
        row("Item", "Value"),
        line("├", "┼", "┤"),
    ];
    s.extend(rows.iter().map(|(a, b)| row(a, b)));
    s.push(line("└", "┴", "┘"));
    s.join("\n")
}

/// Run the command.
pub async fn run(global: &GlobalArgs, a: &StatusArgs) -> i32 {
    let ctx = match Ctx::load(global, None) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let target = ctx.target(&a.conn, true);
    let opts = ctx.options(&a.conn, &target.url, Flavour::Cli);
    let service = tokio::task::spawn_blocking({
        let profile = ctx.cfg.profile.clone();
        move || Service::inspect(profile.as_deref())
    });
    let snap = fetch(&opts).await;
    let service = service.await.unwrap_or_else(|_| Service::inspect(None));
    let f = Facts::of(&snap, &ctx.cfg.default_agent_id);
    let dashboard = ctx.dashboard_url();
    let os = local::os_summary();
    if a.json {
        out_json(&json_report(&snap, &target, &f, &service, dashboard, &os));
        return 0;
    }
    let local_label = if target.source == "local" && ctx.cfg.bind_host.is_loopback() {
        "local loopback"
    } else {
        target.source
    };
    let gateway = match &snap {
        Ok(s) => {
            let v = s.hello.server_version().unwrap_or("?");
            format!(
                "local · {} ({local_label}) · reachable {} · {} · v{v}",
                target.url,
                fmt_latency(s.latency),
                ctx.auth_label(&opts)
            )
        }
        Err(e) => format!(
            "local · {} ({local_label}) · unreachable ({e}) · {}",
            target.url,
            ctx.auth_label(&opts)
        ),
    };
    let mut rows: Vec<(String, String)> = vec![
        ("OS".into(), format!("{os} · openclaw-rs")),
        ("Dashboard".into(), dashboard),
        ("Tailscale exposure".into(), "off".into()),
        ("Gateway".into(), gateway),
        ("Gateway service".into(), service.label()),
    ];
    rows.extend(f.rows(snap.is_ok()));
    out(&text_report(&rows, &f));
    0
}

/// What `health` and `status` say, as the report shows it.
struct Facts {
    health: Value,
    status: Value,
    agents: Vec<Value>,
    default_agent: String,
    sessions_count: Option<u64>,
    sessions_path: Option<String>,
    heartbeat: Vec<String>,
    channels: Vec<String>,
    recent: Vec<Value>,
}

impl Facts {
    fn of(snap: &Result<Snapshot, ClientError>, default_agent: &str) -> Facts {
        let (health, status) = match snap {
            Ok(s) => (s.health.clone(), s.status.clone()),
            Err(_) => (None, None),
        };
        let health = health.unwrap_or(Value::Null);
        let array = |v: Option<&Value>| v.and_then(Value::as_array).cloned().unwrap_or_default();
        let agents = array(health.get("agents"));
        let heartbeat = agents.iter().filter_map(heartbeat_of).collect();
        Facts {
            default_agent: str_at(&health, &["defaultAgentId"])
                .unwrap_or(default_agent)
                .to_string(),
            sessions_count: health.pointer("/sessions/count").and_then(Value::as_u64),
            sessions_path: str_at(&health, &["sessions", "path"]).map(str::to_string),
            channels: crate::json::strings(health.get("channelOrder")),
            recent: array(health.pointer("/sessions/recent")),
            status: status.unwrap_or(Value::Null),
            agents,
            heartbeat,
            health,
        }
    }

    /// The overview rows after the gateway's: agents, events, tasks, heartbeat, sessions.
    fn rows(&self, reachable: bool) -> Vec<(String, String)> {
        let unknown = || "unknown".to_string();
        let count = |n: usize, what: &str| match n {
            0 => "none".to_string(),
            n => format!("{n} {what}"),
        };
        let events = self
            .status
            .get("queuedSystemEvents")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        let tasks = self
            .status
            .pointer("/tasks/active")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let agents = match reachable {
            true => format!(
                "{} · sessions {} · default {}",
                self.agents.len(),
                self.sessions_count.unwrap_or(0),
                self.default_agent
            ),
            false => unknown(),
        };
        let heartbeat = match self.heartbeat.is_empty() {
            true => unknown(),
            false => self.heartbeat.join(", "),
        };
        let sessions = match (self.sessions_count, &self.sessions_path) {
            (Some(n), Some(p)) => format!("{n} stored · {p}"),
            (Some(n), None) => format!("{n} stored"),
            _ => unknown(),
        };
        vec![
            ("Agents".into(), agents),
            ("Events".into(), count(events, "queued")),
            ("Tasks".into(), count(tasks as usize, "active")),
            ("Heartbeat".into(), heartbeat),
            ("Sessions".into(), sessions),
        ]
    }
}

/// An agent's heartbeat as the overview shows it (`30m (main)`, `disabled (main)`).
fn heartbeat_of(ag: &Value) -> Option<String> {
    let id = ag.get("agentId")?.as_str()?;
    let hb = ag.get("heartbeat")?;
    if hb.get("enabled").and_then(Value::as_bool) == Some(false) {
        return Some(format!("disabled ({id})"));
    }
    Some(format!("{} ({id})", hb.get("every")?.as_str()?))
}

/// `status --json`: the stock CLI's keys.
fn json_report(
    snap: &Result<Snapshot, ClientError>,
    target: &super::Target,
    f: &Facts,
    service: &Service,
    dashboard: String,
    os: &str,
) -> Value {
    let gateway = match snap {
        Ok(s) => json!({
            "mode": "local", "url": target.url, "urlSource": target.source,
            "reachable": true, "connectLatencyMs": s.latency.as_millis() as u64,
            "error": null, "auth": s.hello.auth_summary(), "self": s.hello.server_summary(),
        }),
        // As the stock CLI: a gateway that answered (even to refuse the connect, e.g. a
        // token mismatch) is reachable; `error` says why there is no snapshot.
        Err(e) => json!({
            "mode": "local", "url": target.url, "urlSource": target.source,
            "reachable": matches!(e, ClientError::Rpc { .. }), "connectLatencyMs": null,
            "error": e.to_string(),
        }),
    };
    json!({
        "os": { "platform": std::env::consts::OS, "arch": std::env::consts::ARCH, "label": os },
        "dashboard": dashboard,
        "gateway": gateway,
        "gatewayService": service.to_json(),
        "agents": { "defaultId": f.default_agent, "count": f.agents.len(), "agents": f.agents },
        "heartbeat": { "agents": f.heartbeat },
        "sessions": { "count": f.sessions_count, "path": f.sessions_path, "recent": f.recent },
        "channels": f.channels,
        "presence": snap.as_ref().ok().and_then(|s| s.presence.clone()),
        "health": f.health,
        "status": f.status,
    })
}

/// The text report: the overview table, channels, recent sessions, pointers.
fn text_report(rows: &[(String, String)], f: &Facts) -> String {
    let mut t = vec![
        "OpenClaw status".to_string(),
        String::new(),
        "Overview".into(),
        table(rows),
        String::new(),
        "Channels".into(),
    ];
    if f.channels.is_empty() {
        t.push("No channels configured".into());
    } else {
        t.extend(f.channels.iter().map(|c| format!("- {c}")));
    }
    t.push(String::new());
    t.push("Sessions".into());
    if f.recent.is_empty() {
        t.push("No sessions".into());
    } else {
        t.extend(
            f.recent
                .iter()
                .map(|s| format!("- {}", str_at(s, &["key"]).unwrap_or("?"))),
        );
    }
    t.push(String::new());
    t.push("FAQ: https://docs.openclaw.ai/faq".into());
    t.push("Troubleshooting: https://docs.openclaw.ai/troubleshooting".into());
    t.push("Next steps:".into());
    t.push("  Need to debug live? openclaw logs --follow".into());
    t.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_boxed_and_aligned() {
        let t = table(&[
            ("OS".into(), "linux".into()),
            ("Gateway".into(), "ok · ✓".into()),
        ]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "┌─────────┬────────┐");
        assert_eq!(lines[1], "│ Item    │ Value  │");
        assert_eq!(lines[3], "│ OS      │ linux  │");
        assert_eq!(lines[4], "│ Gateway │ ok · ✓ │");
        assert!(lines.iter().all(|l| l.chars().count() == 20));
    }
}

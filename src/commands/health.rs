//! `openclaw health` / `openclaw gateway health`: the `health` RPC, as five summary lines
//! (event loop, probe duration, agents, heartbeat, session store) or the raw payload.

use serde_json::{json, Value};

use super::{out, out_json, Ctx};
use crate::cli::{ConnectArgs, GlobalArgs};
use crate::client::{ClientError, Flavour, GatewayClient};

/// Run the command; exit code 1 when the gateway cannot be reached or the RPC fails.
pub async fn run(
    global: &GlobalArgs,
    conn: &ConnectArgs,
    port: Option<u16>,
    json_out: bool,
    verbose: bool,
) -> i32 {
    let ctx = match Ctx::load(global, port) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let target = ctx.target(conn, port.is_none());
    let opts = ctx.options(conn, &target.url, Flavour::Cli);
    let params = if verbose {
        json!({ "probe": true })
    } else {
        json!({})
    };
    let result: Result<Value, ClientError> = async {
        let mut c = GatewayClient::connect(&opts).await?;
        let h = c.call("health", params).await;
        c.close().await;
        h
    }
    .await;
    let health = match result {
        Ok(h) => h,
        Err(e) => {
            eprintln!("Health check failed: {e}");
            return 1;
        }
    };
    if json_out {
        out_json(&health);
    } else {
        for line in summary_lines(&health) {
            out(&line);
        }
    }
    if health.get("ok").and_then(Value::as_bool) == Some(false) {
        return 1;
    }
    0
}

/// The five text lines built from a health payload.
pub fn summary_lines(h: &Value) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(el) = h.get("eventLoop").filter(|v| v.is_object()) {
        lines.push(format!("Gateway event loop: {}", event_loop(el)));
    }
    if let Some(ms) = h.get("durationMs").and_then(Value::as_f64) {
        lines.push(format!("Gateway probe duration: {}ms", ms.round() as u64));
    }
    let agents = h
        .get("agents")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let names: Vec<String> = agents
        .iter()
        .filter_map(|a| {
            let id = a.get("agentId")?.as_str()?;
            Some(
                if a.get("isDefault").and_then(Value::as_bool) == Some(true) {
                    format!("{id} (default)")
                } else {
                    id.to_string()
                },
            )
        })
        .collect();
    lines.push(format!(
        "Agents: {}",
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join(", ")
        }
    ));
    let beats: Vec<String> = agents
        .iter()
        .filter_map(|a| {
            let id = a.get("agentId")?.as_str()?;
            let hb = a.get("heartbeat")?;
            let enabled = hb.get("enabled").and_then(Value::as_bool).unwrap_or(true);
            let every = hb.get("every").and_then(Value::as_str).unwrap_or("?");
            Some(if enabled {
                format!("{every} ({id})")
            } else {
                format!("disabled ({id})")
            })
        })
        .collect();
    let heartbeat = if beats.is_empty() {
        match h.get("heartbeatSeconds").and_then(Value::as_u64) {
            Some(s) => crate::health::every_string(s * 1000),
            None => "unknown".into(),
        }
    } else {
        beats.join(", ")
    };
    lines.push(format!("Heartbeat interval: {heartbeat}"));
    for a in &agents {
        let (Some(id), Some(s)) = (a.get("agentId").and_then(Value::as_str), a.get("sessions"))
        else {
            continue;
        };
        let path = s.get("path").and_then(Value::as_str).unwrap_or("?");
        let n = s.get("count").and_then(Value::as_u64).unwrap_or(0);
        lines.push(format!("Session store ({id}): {path} ({n} entries)"));
    }
    lines
}

/// `ok max=24ms p99=24ms util=0.004 cpu=0.006` (or `degraded (reasons) …`).
fn event_loop(el: &Value) -> String {
    let num = |k: &str| el.get(k).and_then(Value::as_f64);
    let mut s = if el.get("degraded").and_then(Value::as_bool) == Some(true) {
        let reasons: Vec<&str> = el
            .get("reasons")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if reasons.is_empty() {
            "degraded".to_string()
        } else {
            format!("degraded ({})", reasons.join(", "))
        }
    } else {
        "ok".to_string()
    };
    if let Some(m) = num("delayMaxMs") {
        s.push_str(&format!(" max={}ms", m.round() as u64));
    }
    if let Some(p) = num("delayP99Ms") {
        s.push_str(&format!(" p99={}ms", p.round() as u64));
    }
    if let Some(u) = num("utilization") {
        s.push_str(&format!(" util={u}"));
    }
    if let Some(c) = num("cpuCoreRatio") {
        s.push_str(&format!(" cpu={c}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_the_stock_sample() {
        let h = json!({
            "ok": true, "durationMs": 28, "heartbeatSeconds": 1800,
            "agents": [{ "agentId": "main", "isDefault": true,
                "heartbeat": { "enabled": true, "every": "30m" },
                "sessions": { "path": "/s/openclaw-agent.sqlite", "count": 0 } }],
            "eventLoop": { "degraded": false, "delayP99Ms": 24.0, "delayMaxMs": 24.2,
                "utilization": 0.004, "cpuCoreRatio": 0.006 },
        });
        assert_eq!(
            summary_lines(&h),
            vec![
                "Gateway event loop: ok max=24ms p99=24ms util=0.004 cpu=0.006",
                "Gateway probe duration: 28ms",
                "Agents: main (default)",
                "Heartbeat interval: 30m (main)",
                "Session store (main): /s/openclaw-agent.sqlite (0 entries)",
            ]
        );
    }
}

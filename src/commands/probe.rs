//! `openclaw gateway probe`: connect to each target (the local loopback gateway, plus an
//! explicit `--url`) as the stock CLI's probe client (flavour P), try the read RPCs it tries
//! (`health`, `status`, `system-presence`, `config.get`), and report reachability, capability
//! and whether reads were limited by scopes. Exit 1 only if no target is reachable.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{out, out_json, Ctx};
use crate::cli::{GatewayProbeArgs, GlobalArgs, DEFAULT_CLIENT_TIMEOUT_MS};
use crate::client::{Capability, ClientError, Flavour, GatewayClient};

/// The stock CLI's probe budget when `--timeout` is left at its default.
const DEFAULT_PROBE_BUDGET_MS: u64 = 3000;

const SCOPE_WARNING: &str = "Read-probe diagnostics are limited by gateway scopes (missing operator.read). Connection succeeded, but read-only status calls are incomplete. Hint: pair device identity or use credentials with operator.read.";

struct TargetResult {
    id: &'static str,
    label: &'static str,
    url: String,
    latency: Duration,
    error: Option<String>,
    capability: Option<Capability>,
    auth: Value,
    server: Value,
    /// Per RPC: payload, or `Err(missing scope)` / `Err(other failure)`.
    reads: Vec<(&'static str, Result<Value, ClientError>)>,
}

impl TargetResult {
    fn ok(&self) -> bool {
        self.error.is_none()
    }
    fn read(&self, m: &str) -> Option<&Result<Value, ClientError>> {
        self.reads.iter().find(|(k, _)| *k == m).map(|(_, r)| r)
    }
    fn rpc_ok(&self) -> bool {
        matches!(self.read("status"), Some(Ok(_)))
    }
    fn scope_limited(&self) -> bool {
        matches!(self.read("status"), Some(Err(e)) if e.missing_scope().is_some())
    }
    fn read_probe(&self) -> String {
        match self.read("status") {
            Some(Ok(_)) => "ok".into(),
            Some(Err(e)) => match e.missing_scope() {
                Some(s) => format!("limited - missing scope: {s}"),
                None => format!("failed ({e})"),
            },
            None => "failed".into(),
        }
    }
    fn to_json(&self) -> Value {
        let payload = |m: &str| match self.read(m) {
            Some(Ok(v)) => v.clone(),
            _ => Value::Null,
        };
        json!({
            "id": self.id,
            "kind": self.id,
            "label": self.label,
            "url": self.url,
            "connect": {
                "ok": self.ok(),
                "rpcOk": self.rpc_ok(),
                "scopeLimited": self.scope_limited(),
                "latencyMs": self.latency.as_millis() as u64,
                "error": self.error,
            },
            "auth": self.auth,
            "server": self.server,
            "capability": self.capability.map(Capability::json_key),
            "health": payload("health"),
            "status": payload("status"),
            "presence": payload("system-presence"),
            "configSummary": payload("config.get").get("hash").cloned(),
        })
    }
}

async fn probe_target(
    ctx: &Ctx,
    a: &GatewayProbeArgs,
    id: &'static str,
    label: &'static str,
    url: String,
    budget: Duration,
) -> TargetResult {
    let mut conn = a.conn.clone();
    conn.timeout = budget.as_millis() as u64;
    let opts = ctx.options(&conn, &url, Flavour::Probe);
    let t0 = Instant::now();
    let mut r = TargetResult {
        id,
        label,
        url,
        latency: Duration::ZERO,
        error: None,
        capability: None,
        auth: Value::Null,
        server: Value::Null,
        reads: Vec::new(),
    };
    let mut c = match GatewayClient::connect(&opts).await {
        Ok(c) => c,
        Err(e) => {
            r.latency = t0.elapsed();
            r.error = Some(e.to_string());
            return r;
        }
    };
    r.latency = c.connect_latency;
    r.capability = Some(c.hello.capability());
    r.auth = c.hello.auth_summary();
    r.server = c.hello.server_summary();
    // health + status pipelined, then presence and config (as the stock probe does).
    let ids = async {
        let h = c.send_request("health", json!({})).await?;
        let s = c
            .send_request("status", json!({ "includeChannelSummary": false }))
            .await?;
        Ok::<_, ClientError>((h, s))
    }
    .await;
    match ids {
        Ok((h, s)) => {
            let health = c.response("health", &h).await;
            r.reads.push(("health", health));
            let status = c.response("status", &s).await;
            r.reads.push(("status", status));
            for m in ["system-presence", "config.get"] {
                let res = c.call(m, json!({})).await;
                let dead = matches!(&res, Err(e) if e.is_disconnect());
                r.reads.push((m, res));
                if dead {
                    break;
                }
            }
        }
        Err(e) => r.reads.push(("status", Err(e))),
    }
    c.close().await;
    r
}

/// Run the command.
pub async fn run(global: &GlobalArgs, a: &GatewayProbeArgs) -> i32 {
    let ctx = match Ctx::load(global, a.port) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if a.ssh.is_some() {
        eprintln!("gateway probe: --ssh is not supported by this build; probing directly");
    }
    let budget_ms = if a.conn.timeout == DEFAULT_CLIENT_TIMEOUT_MS {
        DEFAULT_PROBE_BUDGET_MS
    } else {
        a.conn.timeout.max(1)
    };
    let budget = Duration::from_millis(budget_ms);
    let t0 = Instant::now();
    let mut targets = Vec::new();
    let local = ctx.local_url();
    if let Some(u) = a
        .conn
        .url
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty())
    {
        let t = probe_target(&ctx, a, "explicit", "URL (explicit)", u.to_string(), budget).await;
        targets.push(t);
    }
    if targets.iter().all(|t| t.url.trim_end_matches('/') != local) {
        let t = probe_target(&ctx, a, "localLoopback", "Local loopback", local, budget).await;
        targets.push(t);
    }
    let reachable: Vec<&TargetResult> = targets.iter().filter(|t| t.ok()).collect();
    let primary = reachable.first().copied();
    let capability = primary.and_then(|t| t.capability);
    let warnings = warnings(&targets, !reachable.is_empty());
    let ok = !reachable.is_empty();
    let code = i32::from(!ok);

    if a.json {
        out_json(&json!({
            "ok": ok,
            "degraded": ok && (!warnings.is_empty() || reachable.iter().any(|t| !t.rpc_ok())),
            "capability": capability.map(Capability::json_key),
            "primaryTargetId": primary.map(|t| t.id),
            "durationMs": t0.elapsed().as_millis() as u64,
            "budgetMs": budget_ms,
            "warnings": warnings,
            "discovery": { "skipped": true, "beacons": [] },
            "targets": targets.iter().map(TargetResult::to_json).collect::<Vec<_>>(),
        }));
        return code;
    }
    let head = [
        "Gateway Status".to_string(),
        format!("Reachable: {}", if ok { "yes" } else { "no" }),
        format!(
            "Capability: {}",
            capability.map(Capability::label).unwrap_or("unknown")
        ),
        format!("Probe budget: {budget_ms}ms"),
    ];
    let t = text_report(head.into(), &warnings, &targets);
    out(t.join("\n").trim_end());
    code
}

/// Scope-limited targets, and unreachable ones next to a reachable one.
fn warnings(targets: &[TargetResult], any_reachable: bool) -> Vec<Value> {
    let mut warnings = Vec::new();
    let limited: Vec<&str> = targets
        .iter()
        .filter(|t| t.scope_limited())
        .map(|t| t.id)
        .collect();
    if !limited.is_empty() {
        warnings.push(json!({
            "code": "probe_scope_limited",
            "message": SCOPE_WARNING,
            "targetIds": limited,
        }));
    }
    let unreachable: Vec<&str> = targets.iter().filter(|t| !t.ok()).map(|t| t.id).collect();
    if !unreachable.is_empty() && any_reachable {
        warnings.push(json!({
            "code": "probe_target_unreachable",
            "message": "Some probe targets could not be reached.",
            "targetIds": unreachable,
        }));
    }
    warnings
}

/// The text report after its head lines: warnings, discovery, each target.
fn text_report(mut t: Vec<String>, warnings: &[Value], targets: &[TargetResult]) -> Vec<String> {
    if !warnings.is_empty() {
        t.push(String::new());
        t.push("Warning:".into());
        for w in warnings {
            t.push(format!("- {}", w["message"].as_str().unwrap_or("")));
        }
    }
    t.push(String::new());
    t.push("Discovery (this machine)".into());
    t.push("Bonjour discovery: not supported by this build (skipped)".into());
    t.push(String::new());
    t.push("Targets".into());
    for r in targets {
        t.push(format!("{} {}", r.label, r.url));
        match &r.error {
            None => t.push(format!(
                "  Connect: ok ({}ms) · Capability: {} · Read probe: {}",
                r.latency.as_millis(),
                r.capability
                    .map(Capability::target_label)
                    .unwrap_or("unknown"),
                r.read_probe()
            )),
            Some(e) => t.push(format!("  Connect: failed · {e}")),
        }
        t.push(String::new());
    }
    t
}

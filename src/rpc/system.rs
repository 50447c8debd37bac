//! System methods: `health`, `status`, `system-presence`, `system-event`,
//! `last-heartbeat`, `set-heartbeats`, `gateway.identity.get`.

use std::sync::atomic::Ordering;

use openclaw_proto::{ErrorCode, ErrorShape, RequestFrame};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::{params, Ctx};
use crate::auth::device::{b64url, device_id};
use crate::clock::now_ms;
use crate::health::{every_string, rss_bytes};
use crate::server::{Gateway, VERSION};
use crate::store::sessions::SessionRow;

/// The params object of a method the Node gateway checks by hand: any object, unknown keys
/// ignored (observed for `health`, `status`, `system-presence`, `last-heartbeat`,
/// `set-heartbeats`, `gateway.identity.get`, `secrets.reload`, `sessions.get`).
pub(crate) fn loose(req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let v: Value = params(req)?;
    if v.is_object() {
        Ok(v)
    } else {
        Err(ErrorShape::invalid_params(req.method(), "must be object"))
    }
}

/// `health`: the cached snapshot, or a fresh one with `probe:true`.
pub fn health(c: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let gw = &c.gw;
    let p = loose(req)?;
    let mut v = gw.health_snapshot(p["probe"] == true);
    v["modelRuntime"] = crate::health::model_runtime();
    Ok(v)
}

/// `status` reads `includeCliProjection` (adds `cliProjection`, what `openclaw status --json`
/// prints about agents) and `includeChannelSummary` (we have no chat channels: the summary
/// is `[]` either way); other keys are ignored, as the Node gateway does.
/// `cliProjection`: the agents as the CLI lists them, the update channel, the memory plugin
/// (this gateway runs no plugins, so it reports the Node gateway's "plugins disabled").
fn cli_projection(gw: &Gateway) -> Value {
    let cat = gw.agents.catalog();
    let cfg = gw.cfg.load();
    let rows: Vec<Value> = cat
        .agents
        .iter()
        .map(|a| match &a.name {
            Some(n) => json!({ "id": a.id, "name": n }),
            None => json!({ "id": a.id }),
        })
        .collect();
    json!({
        "agents": {
            "defaultId": cat.default_agent,
            "ownership": "sole",
            "selectionRequired": false,
            "rows": rows,
        },
        "updateChannel": cfg.parsed.pointer("/update/channel").cloned().unwrap_or(Value::Null),
        "memoryPlugin": { "enabled": false, "slot": null, "reason": "plugins disabled" },
    })
}

/// `status.shutdownBudget`: how long a stop may drain (`gateway.limits.shutdownDrainMs`) and
/// the work it would wait for.
fn shutdown_budget(drain_ms: u64, active_runs: usize) -> Value {
    json!({
        "timeoutMs": drain_ms,
        "reserveMs": 0,
        // The budget is this gateway's own, not a service manager's stop timeout
        // (systemd `TimeoutStopUSec`, launchd `ExitTimeOut`).
        "nativeStopBudget": false,
        "activeWork": { "rootRequests": active_runs, "cronRuns": 0, "sessionMutations": 0,
                        "terminalPersistence": 0, "lifecycleWrites": 0 },
        "writeCustody": [],
    })
}

/// Rows listed under `sessions.recent` of `status` (the Node gateway's 10).
const STATUS_RECENT_SESSIONS: usize = crate::store::sessions::RECENT_SESSIONS;

/// `status`: runtime summary (same keys as the Node gateway, our own numbers).
pub async fn status(c: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let (gw, who) = (&c.gw, &c.who);
    let p = loose(req)?;
    let cfg = gw.cfg.load();
    let agent = &cfg.default_agent_id;
    let every = cfg.heartbeat_every_ms;
    let enabled = gw.heartbeats_enabled.load(Ordering::Relaxed);
    let sessions_path = gw.sessions_path();
    let store = &gw.agents.runs.store;
    let per_agent = store
        .read(crate::store::sessions::session_counts_by_agent)
        .await
        .map_err(|e| crate::failure::store("status", e))?;
    let (defaults, rows) = session_rows(gw, &store.recent());
    let mut by_agent: Vec<Value> = gw
        .agents
        .catalog()
        .agents
        .iter()
        .map(|a| {
            let count = per_agent.get(&a.id).copied().unwrap_or(0);
            let recent: Vec<&Value> = rows
                .iter()
                .filter(|r| r["agentId"] == a.id.as_str())
                .collect();
            json!({ "agentId": a.id, "path": sessions_path, "count": count, "recent": recent })
        })
        .collect();
    if by_agent.is_empty() {
        by_agent.push(json!({ "agentId": agent, "path": sessions_path, "count": store.count(), "recent": rows }));
    }
    let active_runs = gw.agents.runs.active_count();
    let mut v = json!({
        "runtimeVersion": VERSION,
        // No host desktop is served; the Node gateway reports it so, with its default port.
        "hostDesktop": { "enabled": false, "state": "disabled", "port": 5900 },
        "heartbeat": {
            "defaultAgentId": agent,
            // Heartbeat replies are delivered through a chat channel; with none configured
            // there is no route yet (the Node gateway's answer for the same situation).
            "agents": [{ "agentId": agent, "enabled": enabled, "every": every_string(every), "everyMs": every, "waitingForRoute": true }],
        },
        "modelRuntime": crate::health::model_runtime(),
        "channelSummary": [],
        "queuedSystemEvents": [],
        "degradedSecretOwners": [],
        "degradedPlugins": [],
        // Background tasks (subagent, ACP, CLI and cron runtimes): this gateway runs none, so
        // the registry is empty — the Node gateway's answer when it has no tasks.
        "tasks": {
            "total": 0, "active": 0, "terminal": 0, "failures": 0,
            "byStatus": { "queued": 0, "running": 0, "succeeded": 0, "failed": 0, "timed_out": 0, "cancelled": 0, "lost": 0 },
            "byRuntime": { "subagent": 0, "acp": 0, "cli": 0, "cron": 0 },
        },
        "taskAudit": {
            "total": 0, "warnings": 0, "errors": 0,
            "byCode": { "stale_queued": 0, "stale_running": 0, "lost": 0, "delivery_failed": 0, "missing_cleanup": 0, "inconsistent_timestamps": 0 },
        },
        "sessions": {
            "paths": [sessions_path],
            "count": store.count(),
            "defaults": defaults,
            "recent": rows,
            "byAgent": by_agent,
        },
        "eventLoop": gw.monitor.event_loop(),
        "processMemory": { "rssBytes": rss_bytes(), "heapUsedBytes": 0, "heapTotalBytes": 0, "externalBytes": 0, "arrayBuffersBytes": 0 },
        "connections": { "sockets": gw.hub.len(), "live": gw.shutdown.live() },
        "pid": std::process::id(),
        "shutdownBudget": shutdown_budget(cfg.limits.shutdown_drain_ms, active_runs),
    });
    if p["includeCliProjection"] == true {
        v["cliProjection"] = cli_projection(gw);
    }
    // Sensitive fields only for admins.
    if openclaw_proto::satisfies(&who.scopes, "operator.admin") {
        v["configPath"] = json!(cfg.path.display().to_string());
        v["stateDir"] = json!(cfg.state_dir.display().to_string());
    }
    Ok(v)
}

/// `sessions.defaults` (the default agent's primary model and its context window) and the
/// status rows of the most recently updated sessions.
fn session_rows(gw: &Gateway, recent: &[SessionRow]) -> (Value, Vec<Value>) {
    let cat = gw.agents.catalog();
    let primary = cat.default_agent().models.first().cloned();
    let window = |model_ref: &str| cat.target(model_ref).ok().and_then(|t| t.context_window());
    let default_model = primary
        .as_deref()
        .map(|r| r.rsplit_once('/').map_or(r, |(_, m)| m));
    let defaults = json!({
        "model": default_model,
        "contextTokens": primary.as_deref().and_then(window),
    });
    let now = now_ms();
    let rows = recent
        .iter()
        .take(STATUS_RECENT_SESSIONS)
        .map(|r| {
            let configured = cat
                .agent(&r.agent_id)
                .and_then(|a| a.models.first().cloned())
                .or_else(|| primary.clone());
            let selected = match (&r.provider, &r.model) {
                (Some(p), Some(m)) => Some(format!("{p}/{m}")),
                _ => None,
            };
            let context = selected.as_deref().or(configured.as_deref()).and_then(window);
            json!({
                "agentId": r.agent_id,
                "key": r.key,
                "sessionId": r.session_id,
                "updatedAt": r.updated_ms,
                "age": now.saturating_sub(r.updated_ms),
                "inputTokens": r.input_tokens,
                "outputTokens": r.output_tokens,
                "totalTokens": r.input_tokens + r.output_tokens,
                "totalTokensFresh": false,
                "remainingTokens": null,
                "percentUsed": null,
                "model": r.model.clone().or_else(|| configured.as_deref().map(|c| c.rsplit_once('/').map_or(c, |(_, m)| m).to_string())),
                "configuredModel": configured,
                "selectedModel": selected,
                "modelSelectionReason": null,
                "contextTokens": context,
                "flags": [],
            })
        })
        .collect();
    (defaults, rows)
}

/// `system-presence`: the presence list as a bare array.
pub fn presence(c: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let gw = &c.gw;
    loose(req)?;
    Ok(Value::Array(gw.presence.list()))
}

/// Properties of `system-event` (no published schema; as the Node gateway reads them).
pub const SYSTEM_EVENT_KEYS: &[&str] = &[
    "text",
    "mode",
    "sessionKey",
    "instanceId",
    "host",
    "reason",
    "deviceId",
    "ip",
    "version",
    "platform",
    "deviceFamily",
    "modelIdentifier",
    "lastInputSeconds",
    "tags",
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SystemEventParams {
    text: String,
    mode: Option<String>,
    session_key: Option<String>,
    instance_id: Option<String>,
    host: Option<String>,
    reason: Option<String>,
    device_id: Option<String>,
    ip: Option<String>,
    version: Option<String>,
    platform: Option<String>,
    device_family: Option<String>,
    model_identifier: Option<String>,
    last_input_seconds: Option<u64>,
    tags: Option<Vec<String>>,
}

/// `system-event`: the text becomes a presence entry, broadcast to every socket.
pub fn system_event(c: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let gw = &c.gw;
    let p: SystemEventParams = params(req)?;
    let text = p.text.trim().to_string();
    if text.is_empty() {
        return Err(ErrorShape::new(ErrorCode::InvalidRequest, "text required"));
    }
    let mode = p.mode.as_deref().unwrap_or("next-heartbeat");
    if mode != "now" && mode != "next-heartbeat" {
        return Err(ErrorShape::invalid_params(
            "system-event",
            "mode must be \"now\" or \"next-heartbeat\"",
        ));
    }
    let now = now_ms();
    let mut m = Map::new();
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            m.insert(k.into(), v);
        }
    };
    put("host", p.host.map(Value::from));
    put("ip", p.ip.map(Value::from));
    put("version", p.version.map(Value::from));
    put("platform", p.platform.map(Value::from));
    put("deviceFamily", p.device_family.map(Value::from));
    put("modelIdentifier", p.model_identifier.map(Value::from));
    put("lastInputSeconds", p.last_input_seconds.map(Value::from));
    put("deviceId", p.device_id.clone().map(Value::from));
    put("instanceId", p.instance_id.clone().map(Value::from));
    put("tags", p.tags.map(|t| json!(t)));
    m.insert(
        "reason".into(),
        json!(p.reason.unwrap_or_else(|| "event".into())),
    );
    m.insert("text".into(), json!(text));
    m.insert("ts".into(), json!(now));
    let key = p
        .device_id
        .or(p.instance_id)
        .unwrap_or_else(|| format!("event:{text}"));
    gw.presence.merge(&key, m, now);
    gw.publish_presence();
    if mode == "now" || p.session_key.is_some() {
        gw.scheduled_heartbeat();
    }
    Ok(json!({ "ok": true }))
}

/// `last-heartbeat`: the last heartbeat event, or null.
pub fn last_heartbeat(c: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let gw = &c.gw;
    loose(req)?;
    Ok(gw.last_heartbeat.lock().clone().unwrap_or(Value::Null))
}

/// `set-heartbeats {enabled}`.
pub fn set_heartbeats(c: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let gw = &c.gw;
    let Some(enabled) = loose(req)?["enabled"].as_bool() else {
        return Err(ErrorShape::invalid_params(
            "set-heartbeats",
            "enabled (boolean) required",
        ));
    };
    gw.heartbeats_enabled.store(enabled, Ordering::Relaxed);
    gw.publish_health();
    Ok(json!({ "ok": true, "enabled": enabled }))
}

/// `gateway.identity.get`: the gateway's own device identity.
pub fn identity(c: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let gw = &c.gw;
    loose(req)?;
    let pk = gw.identity.verifying_key().to_bytes();
    Ok(json!({
        "deviceId": device_id(&pk),
        "publicKey": b64url(&pk),
        "algorithm": "ed25519",
    }))
}

/// `wake {mode, text, sessionKey?, agentId?}` (other keys ignored, as on the Node gateway):
/// `now` starts a turn on the session (the agent's main session by default) with the text;
/// `next-heartbeat` stores it in that session for its next turn. The wake path is the one
/// `/hooks/wake` uses (`agents::wake`), without the untrusted-content wrapper: operators are
/// trusted.
pub async fn wake(c: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    use super::agent::{opt_str, req_str};
    let m = req.method();
    let p = loose(req)?;
    let mode = req_str(&p, "mode", m)?;
    if mode != "now" && mode != "next-heartbeat" {
        return Err(ErrorShape::invalid_params(
            m,
            "at /mode: must match a schema in anyOf",
        ));
    }
    let text = req_str(&p, "text", m)?.to_string();
    let key = opt_str(&p, "sessionKey", m)?;
    let agent = c.gw.agents.resolve_agent(opt_str(&p, "agentId", m)?, key)?;
    let session = match key {
        Some(k) => crate::agents::canonical_key(k, &agent),
        None => format!("agent:{agent}:main"),
    };
    let woken = crate::agents::wake::wake(&c.gw.agents, &session, &agent, text, mode == "now")
        .await
        .map_err(ErrorShape::from)?;
    if let crate::agents::wake::Woken::Started(run) = woken {
        c.gw.heartbeat_turn(&run);
    }
    Ok(json!({ "ok": true }))
}

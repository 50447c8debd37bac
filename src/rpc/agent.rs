//! Agent runs over the control plane: `agent` (ack, streamed events, final on the same
//! request id), `agent.wait`, `agent.identity.get`, `agents.list`.

use std::time::Duration;

use openclaw_proto::scope::satisfies;
use openclaw_proto::{ErrorCode, ErrorShape, RequestFrame};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{params, Ctx};
use crate::agents::runs::Lookup;
use crate::agents::{canonical_key, Submit};
use crate::responder::Responder;

/// `AgentParams` properties of the protocol schema (anything else is rejected).
const AGENT_KEYS: &[&str] = &[
    "message",
    "agentId",
    "provider",
    "model",
    "to",
    "replyTo",
    "sessionId",
    "sessionKey",
    "expectedExistingSessionId",
    "thinking",
    "deliver",
    "attachments",
    "channel",
    "replyChannel",
    "accountId",
    "replyAccountId",
    "threadId",
    "groupId",
    "groupChannel",
    "groupSpace",
    "timeout",
    "bestEffortDeliver",
    "lane",
    "cwd",
    "cleanupBundleMcpOnRunEnd",
    "modelRun",
    "promptMode",
    "extraSystemPrompt",
    "bootstrapContextMode",
    "bootstrapContextRunKind",
    "acpTurnSource",
    "internalRuntimeHandoffId",
    "internalExecutionIdentityRetry",
    "internalExecutionIdentityRecoveryAttempt",
    "execApprovalFollowupExpectedSessionId",
    "internalEvents",
    "inputProvenance",
    "suppressPromptPersistence",
    "sessionEffects",
    "sourceReplyDeliveryMode",
    "disableMessageTool",
    "swarmCollector",
    "swarmOutputSchema",
    "forceRestartSafeTools",
    "forceCodeModeTools",
    "voiceWakeTrigger",
    "idempotencyKey",
    "label",
];

/// Reject keys outside `allowed` (schema `additionalProperties: false`).
pub(crate) fn check_keys(v: &Value, allowed: &[&str], method: &str) -> Result<(), ErrorShape> {
    let Some(o) = v.as_object() else {
        return Err(ErrorShape::invalid_params(
            method,
            "params must be an object",
        ));
    };
    if let Some(k) = o.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(ErrorShape::invalid_params(
            method,
            &format!("at root: unexpected property '{k}'"),
        ));
    }
    Ok(())
}

/// A required non-empty string param.
pub(crate) fn req_str<'a>(v: &'a Value, key: &str, method: &str) -> Result<&'a str, ErrorShape> {
    match v.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        Some(Value::String(_)) => Err(ErrorShape::invalid_params(
            method,
            &format!("at /{key}: must NOT have fewer than 1 characters"),
        )),
        Some(_) => Err(ErrorShape::invalid_params(
            method,
            &format!("at /{key}: must be string"),
        )),
        None => Err(ErrorShape::invalid_params(
            method,
            &format!("must have required property '{key}'"),
        )),
    }
}

/// An optional string param (type-checked).
pub(crate) fn opt_str<'a>(
    v: &'a Value,
    key: &str,
    method: &str,
) -> Result<Option<&'a str>, ErrorShape> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ErrorShape::invalid_params(
            method,
            &format!("at /{key}: must be string"),
        )),
    }
}

/// `agent`: ack at once, then events, then the final response on the same id (answered
/// by the run engine through the responder it is handed).
pub async fn agent(c: &Ctx, req: &RequestFrame<'_>, resp: Responder) {
    if let Err(e) = start_agent(c, req, resp).await {
        // `start_agent` gives the responder back only when it failed before handing it on.
        let (resp, e) = *e;
        resp.reply(Err(super::reword(req, e)));
    }
}

/// Validate, then either answer (in flight / stored final) or start the run.
async fn start_agent(
    c: &Ctx,
    req: &RequestFrame<'_>,
    resp: Responder,
) -> Result<(), Box<(Responder, ErrorShape)>> {
    let fail = |resp, e| Err(Box::new((resp, e)));
    let gw = &c.gw;
    if !satisfies(&c.who.scopes, "operator.write") || c.who.role != "operator" {
        let e = if c.who.role != "operator" {
            ErrorShape::new(
                ErrorCode::InvalidRequest,
                format!("unauthorized role: {}", c.who.role),
            )
        } else {
            ErrorShape::missing_scope("operator.write", &["operator.write"])
        };
        return fail(resp, e);
    }
    let p = match agent_params(req) {
        Ok(p) => p,
        Err(e) => return fail(resp, e),
    };
    match gw.agents.runs.lookup(&p.key).await {
        Lookup::Running(run) => {
            let v =
                json!({ "runId": run.id, "status": "in_flight", "sessionKey": run.session_key });
            resp.reply(Ok(v));
            return Ok(());
        }
        Lookup::Done(reply) => {
            resp.stored(&reply);
            return Ok(());
        }
        Lookup::New => {}
    }
    let agent_id = match gw
        .agents
        .resolve_agent(p.agent_id.as_deref(), p.session_key.as_deref())
    {
        Ok(a) => a,
        Err(e) => return fail(resp, e),
    };
    let session_key = canonical_key(p.session_key.as_deref().unwrap_or(""), &agent_id);
    let submit = Submit {
        run_id: p.key.clone(),
        session_key: session_key.clone(),
        agent_id: agent_id.clone(),
        message: p.message,
        owner: Some((c.sock.conn, c.sock.out.clone())),
        caller_owned: true,
        model: p.model,
        timeout: p.timeout,
        extra_system_prompt: p.extra,
        tap: None,
        images: Vec::new(),
        new_session: false,
    };
    let accepted = match gw.agents.accept(submit).await {
        Ok(a) => a,
        Err(e) => return fail(resp, e),
    };
    resp.ack(&json!({
        "runId": accepted.run.id,
        "sessionKey": session_key,
        "agentId": agent_id,
        "status": "accepted",
        "acceptedAt": accepted.run.accepted_ms,
    }));
    accepted.start_replying(&gw.agents, resp);
    Ok(())
}

/// The parts of `AgentParams` a run uses.
struct AgentRequest {
    message: String,
    key: String,
    agent_id: Option<String>,
    session_key: Option<String>,
    timeout: Option<Duration>,
    model: Option<String>,
    extra: Option<String>,
}

fn agent_params(req: &RequestFrame<'_>) -> Result<AgentRequest, ErrorShape> {
    let p: Value = params(req)?;
    check_keys(&p, AGENT_KEYS, "agent")?;
    let message = req_str(&p, "message", "agent")?.to_string();
    let key = req_str(&p, "idempotencyKey", "agent")?.to_string();
    let agent_id = opt_str(&p, "agentId", "agent")?.map(str::to_string);
    let session_key = opt_str(&p, "sessionKey", "agent")?.map(str::to_string);
    let timeout = match p.get("timeout") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_u64() {
            Some(0) => None,
            Some(secs) => Some(Duration::from_secs(secs)),
            None => {
                return Err(ErrorShape::invalid_params(
                    "agent",
                    "at /timeout: must be integer >= 0",
                ))
            }
        },
    };
    let model = match (
        opt_str(&p, "provider", "agent")?,
        opt_str(&p, "model", "agent")?,
    ) {
        (Some(pr), Some(m)) if !pr.is_empty() && !m.is_empty() => Some(format!("{pr}/{m}")),
        (_, Some(m)) if !m.is_empty() => Some(m.to_string()),
        _ => None,
    };
    let extra = opt_str(&p, "extraSystemPrompt", "agent")?.map(str::to_string);
    Ok(AgentRequest {
        message,
        key,
        agent_id,
        session_key,
        timeout,
        model,
        extra,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct WaitParams {
    run_id: String,
    timeout_ms: Option<u64>,
}

/// Default `agent.wait` timeout.
pub const DEFAULT_WAIT_MS: u64 = 30_000;

/// `agent.wait`: the terminal snapshot, or `status: "timeout"`.
pub async fn wait(c: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let gw = &c.gw;
    let p: WaitParams = params(req)?;
    if p.run_id.is_empty() {
        return Err(ErrorShape::invalid_params(
            "agent.wait",
            "at /runId: must not have fewer than 1 characters",
        ));
    }
    // Capped: a wait runs beside the read loop and holds one of the socket's in-flight slots.
    let cap = gw.cfg.load().limits.agent_wait_max_ms;
    let timeout = Duration::from_millis(p.timeout_ms.unwrap_or(DEFAULT_WAIT_MS).min(cap));
    let Some(run) = gw.agents.runs.get(&p.run_id) else {
        if let Lookup::Done(reply) = gw.agents.runs.lookup(&p.run_id).await {
            return Ok(wait_from_reply(&p.run_id, &reply));
        }
        // Unknown run: like the Node gateway, the whole timeout passes (a run with this id
        // may still start and finish meanwhile), then `timeout`.
        tokio::select! {
            _ = tokio::time::sleep(timeout) => {}
            _ = gw.shutdown.wait() => {}
        }
        return match gw.agents.runs.lookup(&p.run_id).await {
            Lookup::Done(reply) => Ok(wait_from_reply(&p.run_id, &reply)),
            _ => Ok(json!({ "runId": p.run_id, "status": "timeout" })),
        };
    };
    let o = tokio::select! {
        o = run.finished() => o,
        _ = tokio::time::sleep(timeout) => return Ok(json!({ "runId": p.run_id, "status": "timeout" })),
        _ = gw.shutdown.wait() => return Ok(json!({ "runId": p.run_id, "status": "timeout" })),
    };
    let status = if o.status == "ok" { "ok" } else { "error" };
    let mut v = json!({
        "runId": run.id,
        "status": status,
        "startedAt": o.started_ms,
        "endedAt": o.ended_ms,
        "stopReason": o.stop_reason,
        "livenessState": "terminal",
        "terminalReply": { "disposition": if status == "ok" { "reply" } else { "none" }, "text": o.text },
    });
    if let Some(f) = &o.failure {
        v["error"] = json!(f.message());
    }
    Ok(v)
}

fn wait_from_reply(run_id: &str, reply: &Value) -> Value {
    let ok = reply["ok"] == true && reply["payload"]["status"] == "ok";
    let text = reply["payload"]["result"]["payloads"][0]["text"]
        .as_str()
        .unwrap_or("");
    json!({
        "runId": run_id,
        "status": if ok { "ok" } else { "error" },
        "stopReason": reply["payload"]["result"]["meta"]["stopReason"].as_str().unwrap_or(if ok { "stop" } else { "error" }),
        "livenessState": "terminal",
        "terminalReply": { "disposition": if ok { "reply" } else { "none" }, "text": text },
    })
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct IdentityParams {
    agent_id: Option<String>,
    session_key: Option<String>,
}

/// `agent.identity.get`.
pub fn identity(c: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let gw = &c.gw;
    let p: IdentityParams = params(req)?;
    let id = gw
        .agents
        .resolve_agent(p.agent_id.as_deref(), p.session_key.as_deref())?;
    let cat = gw.agents.catalog();
    let a = cat
        .agent(&id)
        .cloned()
        .unwrap_or_else(|| cat.default_agent().clone());
    let mut v = json!({ "agentId": a.id });
    let ident = |k: &str| a.identity_str(k);
    v["name"] = json!(a.display_name());
    v["nameSource"] = json!(if ident("name").is_some() {
        "agent"
    } else {
        "default"
    });
    if let Some(av) = ident("avatar") {
        v["avatar"] = json!(av);
        let (source, status) = if av.starts_with("http") {
            ("remote URL", "remote")
        } else if av.starts_with("data:") {
            ("config", "data")
        } else {
            ("config", "local")
        };
        v["avatarSource"] = json!(source);
        v["avatarStatus"] = json!(status);
    } else {
        // No picture (as the Node gateway shows it).
        v["avatar"] = json!(a.fallback_avatar());
    }
    if let Some(e) = ident("emoji") {
        v["emoji"] = json!(e);
    }
    Ok(v)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Empty {}

/// `agents.list` (beside the read loop: whether the workspace is a git checkout is a file
/// system look).
pub async fn list(c: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let gw = &c.gw;
    let _: Empty = params(req)?;
    let cat = gw.agents.catalog();
    let ws = super::catalogs::workspace(gw);
    let dot_git = ws.join(".git");
    let git = tokio::task::spawn_blocking(move || dot_git.exists())
        .await
        .unwrap_or(false);
    // The default agent first, then by id (the Node gateway's order).
    let mut order: Vec<&crate::config::catalog::AgentDef> = cat.agents.iter().collect();
    order.sort_by_key(|a| (a.id != cat.default_agent, a.id.clone()));
    let agents: Vec<Value> = order
        .into_iter()
        .map(|a| {
            let mut e = json!({ "id": a.id });
            if let Some(n) = &a.name {
                e["name"] = json!(n);
            }
            e["workspace"] = json!(ws.display().to_string());
            e["workspaceGit"] = json!(git);
            super::config::thinking_off(&mut e, true);
            if let Some(i) = &a.identity {
                let mut ident = serde_json::Map::new();
                for k in ["name", "theme", "emoji", "avatar", "avatarUrl"] {
                    if let Some(s) = i.get(k).and_then(Value::as_str).filter(|s| !s.is_empty()) {
                        ident.insert(k.into(), json!(s));
                    }
                }
                // A picture given as a URL is also its `avatarUrl`.
                if let Some(Value::String(u)) = ident.get("avatar").cloned() {
                    if u.starts_with("http") && !ident.contains_key("avatarUrl") {
                        ident.insert("avatarUrl".into(), json!(u));
                    }
                }
                e["identity"] = Value::Object(ident);
            }
            if let Some((primary, fallbacks)) = a.models.split_first() {
                e["model"] = json!({ "primary": primary });
                if !fallbacks.is_empty() {
                    e["model"]["fallbacks"] = json!(fallbacks);
                }
            }
            e
        })
        .collect();
    // One owner (the gateway's operators), and a default agent: no choice is required.
    Ok(json!({
        "defaultId": cat.default_agent,
        "ownership": "sole",
        "selectionRequired": false,
        "mainKey": "main",
        "scope": "per-sender",
        "agents": agents,
    }))
}

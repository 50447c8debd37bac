//! Agent runs over the control plane: `agent` (ack, streamed events, final on the same
//! request id), `agent.wait`, `agent.identity.get`, `agents.list`.

use std::sync::Arc;
use std::time::Duration;

use openclaw_proto::scope::satisfies;
use openclaw_proto::{res_ok, ErrorCode, ErrorShape, RequestFrame};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{params, Sock};
use crate::agents::runs::Lookup;
use crate::agents::{canonical_key, run::reply_frame, Submit};
use crate::connect::Authed;
use crate::server::Gateway;

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
            &format!("at root: must have required property '{key}'"),
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

/// `agent`: ack at once, then events, then the final response on the same id.
pub async fn agent(
    gw: &Arc<Gateway>,
    who: &Authed,
    req: &RequestFrame<'_>,
    sock: &Sock,
) -> Result<Option<Value>, ErrorShape> {
    if who.role != "operator" {
        return Err(ErrorShape::new(
            ErrorCode::Forbidden,
            format!("unauthorized role: {}", who.role),
        ));
    }
    if !satisfies(&who.scopes, "operator.write") {
        return Err(ErrorShape::missing_scope(
            "operator.write",
            &["operator.write"],
        ));
    }
    let p: Value = params(req)?;
    check_keys(&p, AGENT_KEYS, "agent")?;
    let message = req_str(&p, "message", "agent")?;
    let key = req_str(&p, "idempotencyKey", "agent")?;
    let agent_id = opt_str(&p, "agentId", "agent")?;
    let session_key = opt_str(&p, "sessionKey", "agent")?;
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

    match gw.agents.runs.lookup(key).await {
        Lookup::Running(run) => {
            return Ok(Some(
                json!({ "runId": run.id, "status": "in_flight", "sessionKey": run.session_key }),
            ))
        }
        Lookup::Done(reply) => {
            sock.out.send_text(reply_frame(req.id(), &reply));
            return Ok(None);
        }
        Lookup::New => {}
    }
    let agent_id = gw.agents.resolve_agent(agent_id, session_key)?;
    let session_key = canonical_key(session_key.unwrap_or(""), &agent_id);
    let accepted = gw
        .agents
        .accept(Submit {
            run_id: key.to_string(),
            session_key: session_key.clone(),
            agent_id: agent_id.clone(),
            message: message.to_string(),
            owner: Some((sock.conn, sock.out.clone())),
            caller_owned: true,
            model,
            timeout,
            extra_system_prompt: extra,
            reply_to: Some(req.id().to_string()),
            tap: None,
            images: Vec::new(),
        })
        .await?;
    sock.out.send_text(res_ok(
        req.id(),
        &json!({
            "runId": accepted.run.id,
            "sessionKey": session_key,
            "agentId": agent_id,
            "status": "accepted",
            "acceptedAt": accepted.run.accepted_ms,
        }),
    ));
    accepted.start(&gw.agents);
    Ok(None)
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
pub async fn wait(gw: &Arc<Gateway>, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let p: WaitParams = params(req)?;
    if p.run_id.is_empty() {
        return Err(ErrorShape::invalid_params(
            "agent.wait",
            "at /runId: must NOT have fewer than 1 characters",
        ));
    }
    let timeout = Duration::from_millis(p.timeout_ms.unwrap_or(DEFAULT_WAIT_MS));
    let Some(run) = gw.agents.runs.get(&p.run_id) else {
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
    if let Some(e) = &o.error {
        v["error"] = json!(e);
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
pub fn identity(gw: &Gateway, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
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
    match &a.name {
        Some(n) => {
            v["name"] = json!(n);
            v["nameSource"] = json!("config");
        }
        None => {
            v["name"] = json!("Assistant");
            v["nameSource"] = json!("default");
        }
    }
    if let Some(i) = &a.identity {
        if let Some(e) = i
            .get("emoji")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        {
            v["emoji"] = json!(e);
        }
        if let Some(av) = i
            .get("avatar")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        {
            v["avatar"] = json!(av);
            v["avatarSource"] = json!("config");
            v["avatarStatus"] = json!(if av.starts_with("http") {
                "remote"
            } else if av.starts_with("data:") {
                "data"
            } else {
                "local"
            });
        }
    }
    if v.get("avatar").is_none() {
        v["avatarStatus"] = json!("none");
    }
    Ok(v)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Empty {}

/// `agents.list`.
pub fn list(gw: &Gateway, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let _: Empty = params(req)?;
    let cat = gw.agents.catalog();
    let agents: Vec<Value> = cat
        .agents
        .iter()
        .map(|a| {
            let mut e = json!({ "id": a.id });
            if let Some(n) = &a.name {
                e["name"] = json!(n);
            }
            if let Some(i) = &a.identity {
                let mut ident = serde_json::Map::new();
                for k in ["name", "theme", "emoji", "avatar", "avatarUrl"] {
                    if let Some(s) = i.get(k).and_then(Value::as_str).filter(|s| !s.is_empty()) {
                        ident.insert(k.into(), json!(s));
                    }
                }
                e["identity"] = Value::Object(ident);
            }
            if let Some((primary, fallbacks)) = a.models.split_first() {
                e["model"] = json!({ "primary": primary, "fallbacks": fallbacks });
            }
            e
        })
        .collect();
    Ok(json!({
        "defaultId": cat.default_agent,
        "mainKey": "main",
        "scope": "per-sender",
        "agents": agents,
    }))
}

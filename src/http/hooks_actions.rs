//! The webhook actions shared by `/hooks/wake`, `/hooks/agent` and mapped hooks: `wake`
//! (mode `now` starts a run on the target session; `next-heartbeat` records the event in
//! that session's transcript for its next turn) and `agent` (a run, isolated by default).
//! Every text is wrapped as untrusted content first.

use std::time::Duration;

use hyper::StatusCode;
use serde_json::{json, Value};

use crate::agents::runs::Lookup;
use crate::agents::wake::{self, Woken};
use crate::agents::{canonical_key, key_agent, Submit};
use crate::config::hooks::{wrap_untrusted, HooksConfig};
use crate::failure::Failure;
use crate::server::Gateway;

/// Longest `idempotencyKey`.
pub const MAX_IDEMPOTENCY_KEY: usize = 256;
/// Largest `timeoutSeconds` (one day).
pub const MAX_TIMEOUT_SECS: u64 = 86_400;
/// Prefix of hook run ids derived from an `idempotencyKey` (keeps them apart from others).
pub const IDEMPOTENT_RUN_PREFIX: &str = "hook:";

/// Where the fields of an action come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// `/hooks/wake` or `/hooks/agent`: every field is the caller's.
    Request,
    /// A mapping (config, templated over the payload); `templated_key`: its `sessionKey`
    /// has placeholders, so the key is caller-controlled.
    Mapping { templated_key: bool },
}

/// An HTTP status and JSON body.
pub type Reply = (StatusCode, Value);

fn fail(status: StatusCode, error: impl Into<String>) -> Reply {
    (status, json!({ "ok": false, "error": error.into() }))
}

fn bad(error: impl Into<String>) -> Reply {
    fail(StatusCode::BAD_REQUEST, error)
}

/// An optional non-empty trimmed string field.
fn field(f: &Value, k: &str) -> Result<Option<String>, Reply> {
    match f.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_string()).filter(|s| !s.is_empty())),
        Some(_) => Err(bad(format!("{k} must be a string"))),
    }
}

fn one_of(f: &Value, k: &str, allowed: &[&str]) -> Result<String, Reply> {
    let v = field(f, k)?.unwrap_or_else(|| allowed[0].to_string());
    if allowed.contains(&v.as_str()) {
        Ok(v)
    } else {
        Err(bad(format!("{k} must be one of: {}", allowed.join(", "))))
    }
}

/// The agent of an action: explicit (`agentId`; unknown is an error for requests, the
/// default agent for mappings), from the session key, or the default; then the allowlist.
fn agent_of(
    gw: &Gateway,
    hc: &HooksConfig,
    explicit: Option<&str>,
    key: Option<&str>,
    origin: Origin,
) -> Result<String, Reply> {
    let cat = gw.agents.catalog();
    let explicit = match explicit {
        Some(a) if cat.agent(a).is_none() => match origin {
            Origin::Request => return Err(bad(format!("unknown agent id \"{a}\""))),
            Origin::Mapping { .. } => None,
        },
        a => a,
    };
    let from_key = key.filter(|k| k.starts_with("agent:")).and_then(key_agent);
    if let (Some(a), Some(k)) = (explicit, from_key) {
        if a != k {
            return Err(bad(format!(
                "agentId \"{a}\" conflicts with the agent of sessionKey"
            )));
        }
    }
    let agent = from_key.or(explicit).unwrap_or(&cat.default_agent);
    if cat.agent(agent).is_none() {
        return Err(bad(format!("unknown agent id \"{agent}\"")));
    }
    if !hc.agent_allowed(agent) {
        return Err(fail(
            StatusCode::FORBIDDEN,
            "agentId is not allowed by hooks.allowedAgentIds",
        ));
    }
    Ok(agent.to_string())
}

/// An explicit `sessionKey`, checked against the session policy.
fn explicit_key(hc: &HooksConfig, f: &Value, origin: Origin) -> Result<Option<String>, Reply> {
    let Some(k) = field(f, "sessionKey")? else {
        return Ok(None);
    };
    let external = matches!(
        origin,
        Origin::Request
            | Origin::Mapping {
                templated_key: true
            }
    );
    hc.check_key(&k, external).map_err(bad)?;
    Ok(Some(k))
}

/// Accept (user message durable) and start a run; `Err` is the refusal.
async fn start(gw: &Gateway, s: Submit) -> Result<String, (String, Reply)> {
    let run_id = s.run_id.clone();
    match gw.agents.accept(s).await {
        Ok(accepted) => {
            accepted.start(&gw.agents);
            Ok(run_id)
        }
        Err(e) => {
            let mut r = super::failure::hooks(&Failure::Refused(e));
            r.1["runId"] = json!(run_id);
            Err((run_id, r))
        }
    }
}

/// `wake {text, mode?, agentId?, sessionKey?}`.
pub async fn wake(
    gw: &Gateway,
    hc: &HooksConfig,
    f: &Value,
    origin: Origin,
    hook: Option<&str>,
) -> Reply {
    match wake_inner(gw, hc, f, origin, hook).await {
        Ok(r) | Err(r) => r,
    }
}

async fn wake_inner(
    gw: &Gateway,
    hc: &HooksConfig,
    f: &Value,
    origin: Origin,
    hook: Option<&str>,
) -> Result<Reply, Reply> {
    let text = field(f, "text")?.ok_or_else(|| bad("text required"))?;
    let mode = one_of(f, "mode", &["now", "next-heartbeat"])?;
    let key = explicit_key(hc, f, origin)?;
    if key.is_some() && mode != "now" {
        return Err(bad("sessionKey requires mode \"now\""));
    }
    let agent = agent_of(
        gw,
        hc,
        field(f, "agentId")?.as_deref(),
        key.as_deref(),
        origin,
    )?;
    let session = match (&key, &hc.default_session_key) {
        (Some(k), _) => canonical_key(k, &agent),
        (None, Some(d)) if mode == "now" => canonical_key(d, &agent),
        _ => format!("agent:{agent}:main"),
    };
    let message = wrap_untrusted(hook, &text);
    match wake::wake(&gw.agents, &session, &agent, message, mode == "now").await {
        Ok(Woken::Started(run_id)) => Ok((
            StatusCode::OK,
            json!({ "ok": true, "mode": mode, "runId": run_id }),
        )),
        Ok(Woken::Queued) => Ok((StatusCode::OK, json!({ "ok": true, "mode": mode }))),
        Err(f) => Err(super::failure::hooks(&f)),
    }
}

/// `agent {message, name?, agentId?, sessionKey?, sessionMode?, idempotencyKey?, wakeMode?,
/// deliver?, channel?, to?, accountId?, model?, thinking?, timeoutSeconds?}`.
pub async fn agent(gw: &Gateway, hc: &HooksConfig, f: &Value, origin: Origin) -> Reply {
    match agent_inner(gw, hc, f, origin).await {
        Ok(r) | Err(r) => r,
    }
}

/// Delivery coordinates: none (completion-only) is all this gateway can do; it has no
/// channels, so a concrete destination is refused before any run is scheduled.
fn check_delivery(f: &Value, origin: Origin) -> Result<(), Reply> {
    if f.get("deliver")
        .is_some_and(|d| !d.is_boolean() && !d.is_null())
    {
        return Err(bad("deliver must be a boolean"));
    }
    let channel = field(f, "channel")?;
    let to = field(f, "to")?;
    let account = field(f, "accountId")?;
    if f.get("deliver") == Some(&Value::Bool(false)) {
        return Ok(());
    }
    // Mappings may say `channel: "last"`; there is no last channel here: completion-only.
    let channel = channel.filter(|c| !(origin != Origin::Request && c == "last" && to.is_none()));
    match (channel, to) {
        (None, None) if account.is_none() => Ok(()),
        (None, None) => Err(bad("accountId requires channel and to")),
        (Some(_), None) | (None, Some(_)) => Err(bad("channel and to must be given together")),
        (Some(c), Some(_)) => Err(bad(format!(
            "delivery channel \"{c}\" is not configured on this gateway"
        ))),
    }
}

async fn agent_inner(
    gw: &Gateway,
    hc: &HooksConfig,
    f: &Value,
    origin: Origin,
) -> Result<Reply, Reply> {
    let text = field(f, "message")?.ok_or_else(|| bad("message required"))?;
    let name = field(f, "name")?;
    let mode = one_of(f, "sessionMode", &["isolated", "persistent"])?;
    one_of(f, "wakeMode", &["now", "next-heartbeat"])?;
    field(f, "thinking")?;
    check_delivery(f, origin)?;
    let timeout = timeout_of(f)?;
    let model = field(f, "model")?;
    if let Some(m) = &model {
        if gw.agents.catalog().target(m).is_err() {
            return Err(bad(format!("unknown model \"{m}\"")));
        }
    }
    let idem = field(f, "idempotencyKey")?;
    if idem.as_ref().is_some_and(|k| k.len() > MAX_IDEMPOTENCY_KEY) {
        return Err(bad(format!(
            "idempotencyKey must not exceed {MAX_IDEMPOTENCY_KEY} characters"
        )));
    }
    let key = session_key(hc, f, origin, mode == "persistent")?;
    let agent = agent_of(
        gw,
        hc,
        field(f, "agentId")?.as_deref(),
        key.as_deref(),
        origin,
    )?;
    let session = match &key {
        Some(k) => canonical_key(k, &agent),
        None => format!("agent:{agent}:hook:{}", uuid::Uuid::new_v4()),
    };
    let run_id = match &idem {
        Some(k) => format!("{IDEMPOTENT_RUN_PREFIX}{k}"),
        None => uuid::Uuid::new_v4().to_string(),
    };
    let same = |id: &str| (StatusCode::OK, json!({ "ok": true, "runId": id }));
    if idem.is_some() && !matches!(gw.agents.runs.lookup(&run_id).await, Lookup::New) {
        return Ok(same(&run_id));
    }
    let s = Submit {
        run_id,
        session_key: session,
        agent_id: agent,
        message: wrap_untrusted(Some(name.as_deref().unwrap_or("Hook")), &text),
        caller_owned: false,
        model,
        timeout,
        ..Submit::default()
    };
    match start(gw, s).await {
        Ok(id) => Ok(same(&id)),
        // Lost a race with the same idempotency key: that run answers.
        Err((id, _))
            if idem.is_some() && !matches!(gw.agents.runs.lookup(&id).await, Lookup::New) =>
        {
            Ok(same(&id))
        }
        Err((_, r)) => Err(r),
    }
}

/// `timeoutSeconds` (1..[`MAX_TIMEOUT_SECS`]), if given.
fn timeout_of(f: &Value) -> Result<Option<Duration>, Reply> {
    match f.get("timeoutSeconds") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_u64() {
            Some(s) if (1..=MAX_TIMEOUT_SECS).contains(&s) => Ok(Some(Duration::from_secs(s))),
            _ => Err(bad(format!(
                "timeoutSeconds must be an integer in 1..{MAX_TIMEOUT_SECS}"
            ))),
        },
    }
}

/// The session the run writes to: the allowed `sessionKey`; a persistent mapping without one
/// uses `hooks.defaultSessionKey`; `None`: a new isolated session.
fn session_key(
    hc: &HooksConfig,
    f: &Value,
    origin: Origin,
    persistent: bool,
) -> Result<Option<String>, Reply> {
    let key = explicit_key(hc, f, origin)?;
    if key.is_some() || !persistent {
        return Ok(key);
    }
    match origin {
        Origin::Request => Err(bad(
            "sessionMode \"persistent\" requires an allowed sessionKey",
        )),
        Origin::Mapping { .. } => match &hc.default_session_key {
            Some(d) => Ok(Some(d.clone())),
            None => Err(bad(
                "persistent mapping needs a sessionKey or hooks.defaultSessionKey",
            )),
        },
    }
}

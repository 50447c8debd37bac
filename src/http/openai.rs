//! The OpenAI-compatible surface: `/v1/models`, `/v1/models/{id}`, `/v1/chat/completions`
//! (JSON and SSE) and `/v1/embeddings`. A completion is an ordinary agent run (the same
//! engine as the WebSocket `agent` method), rendered as OpenAI JSON or chunks.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use hyper::{HeaderMap, Response, StatusCode};
use openclaw_net::HttpBody;
use serde_json::{json, Value};

use super::auth::{missing_scope, openai_error, Caller};
use super::body::{data_line, sse_response, SseBody, SseFormat, DONE};
use super::openai_input::{flatten_messages, validate};
use super::openai_out::{self as out, Delta, Head, UsageOut};
use super::{respond, JSON_UTF8};
use crate::agents::runs::{AbortReason, Outcome, Run};
use crate::agents::{Submit, Tap};
use crate::failure::Failure;
use crate::server::Gateway;

/// Session key prefixes a caller may not name.
pub const RESERVED_SESSION_PREFIXES: &[&str] = &["subagent:", "cron:", "acp:"];

pub(super) type Resp = Response<HttpBody>;

pub(super) fn bad(msg: &str) -> Resp {
    openai_error(StatusCode::BAD_REQUEST, "invalid_request_error", msg)
}

pub(super) fn json_ok(v: &Value) -> Resp {
    respond(StatusCode::OK, JSON_UTF8, v.to_string(), false)
}

fn now_s() -> u64 {
    crate::clock::now_ms() / 1000
}

/// The agent a `model` field names (`openclaw`, `openclaw/default`, `openclaw/<id>`,
/// `openclaw:<id>`, `agent:<id>`), if it exists.
pub fn agent_for_model(gw: &Gateway, model: &str) -> Option<String> {
    let cat = gw.agents.catalog();
    let id = match model.trim() {
        "openclaw" | "openclaw/default" | "openclaw:default" => {
            return Some(cat.default_agent.clone())
        }
        m => m
            .strip_prefix("openclaw/")
            .or_else(|| m.strip_prefix("openclaw:"))
            .or_else(|| m.strip_prefix("agent:"))?,
    };
    cat.agent(id).map(|a| a.id.clone())
}

fn model_entry(id: &str) -> Value {
    json!({ "id": id, "object": "model", "created": 0, "owned_by": "openclaw", "permission": [] })
}

/// `GET /v1/models`.
pub fn models(gw: &Gateway) -> Resp {
    let cat = gw.agents.catalog();
    let mut data = vec![model_entry("openclaw"), model_entry("openclaw/default")];
    for a in &cat.agents {
        data.push(model_entry(&format!("openclaw/{}", a.id)));
    }
    json_ok(&json!({ "object": "list", "data": data }))
}

/// `GET /v1/models/{id}` (URL-encoded id).
pub fn model(gw: &Gateway, raw: &str) -> Resp {
    let id = percent_decode(raw);
    let listed = id == "openclaw"
        || id == "openclaw/default"
        || id
            .strip_prefix("openclaw/")
            .is_some_and(|a| gw.agents.catalog().agent(a).is_some());
    if listed {
        json_ok(&model_entry(&id))
    } else {
        openai_error(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            &format!("The model `{id}` does not exist."),
        )
    }
}

/// Minimal `%XX` decoding for path segments.
pub fn percent_decode(s: &str) -> String {
    fn hex(c: u8) -> Option<u8> {
        (c as char).to_digit(16).map(|d| d as u8)
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(super) fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// Everything common to starting an HTTP run.
pub struct RunSpec {
    /// Images sent with the message (not stored in the transcript).
    pub images: Vec<crate::provider::ImagePart>,
    /// Run id (default `http-<uuid>`); `/v1/responses` uses the response id.
    pub run_id: Option<String>,
    pub agent_id: String,
    pub session_key: String,
    pub message: String,
    pub system: Option<String>,
    pub model_override: Option<String>,
    /// The session key was made up for this request ([`Target::new_session`]).
    pub new_session: bool,
}

/// Where a request runs: resolved from the body's `model`/`user` and the headers.
pub struct Target {
    pub agent: String,
    pub key: String,
    pub model_override: Option<String>,
    /// `key` was made up for this request (no session header, no `user`).
    pub new_session: bool,
}

/// Resolve agent, session and model override from the body's `model`/`user` and headers.
///
/// # Errors
/// The 400/403 response to send.
pub fn resolve(
    gw: &Gateway,
    caller: &Caller,
    h: &HeaderMap,
    model: Option<&str>,
    user: Option<&str>,
    session_tag: &str,
) -> Result<Target, Resp> {
    let invalid_model = || bad("Invalid `model`. Use `openclaw` or `openclaw/<agentId>`.");
    let mut agent = match model {
        Some(m) => agent_for_model(gw, m).ok_or_else(invalid_model)?,
        None => return Err(bad("Missing `model`.")),
    };
    if let Some(a) = header(h, "x-openclaw-agent-id") {
        agent = gw
            .agents
            .catalog()
            .agent(a)
            .map(|x| x.id.clone())
            .ok_or_else(|| bad(&format!("Unknown agent id `{a}`.")))?;
    }
    let model_override = match header(h, "x-openclaw-model") {
        Some(m) if !caller.has("operator.admin") => {
            let _ = m;
            return Err(missing_scope("operator.admin"));
        }
        Some(m) => Some(m.to_string()),
        None => None,
    };
    let mut new_session = false;
    let key = match header(h, "x-openclaw-session-key") {
        Some(k) => {
            if RESERVED_SESSION_PREFIXES.iter().any(|p| k.starts_with(p)) {
                return Err(bad(
                    "x-openclaw-session-key uses a reserved prefix (subagent:, cron:, acp:).",
                ));
            }
            crate::agents::canonical_key(k, &agent)
        }
        None => match user.map(str::trim).filter(|u| !u.is_empty()) {
            Some(u) => format!("agent:{agent}:openai-user:{u}"),
            None => {
                new_session = true;
                format!(
                    "agent:{agent}:{session_tag}:{}",
                    crate::clock::ordered_uuid()
                )
            }
        },
    };
    Ok(Target {
        agent,
        key,
        model_override,
        new_session,
    })
}

/// Aborts the run when the HTTP exchange is dropped before it finished.
pub struct AbortOnDrop(pub Arc<Run>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort(AbortReason::ClientGone);
    }
}

/// Accept and start a run whose deltas and outcome arrive on the returned receiver.
///
/// # Errors
/// The response to send when the run cannot be accepted.
pub async fn start_run(
    gw: &Gateway,
    spec: RunSpec,
) -> Result<(Arc<Run>, tokio::sync::mpsc::UnboundedReceiver<Tap>), Resp> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let accepted = gw
        .agents
        .accept(Submit {
            run_id: spec
                .run_id
                .unwrap_or_else(|| format!("http-{}", crate::clock::ordered_uuid())),
            session_key: spec.session_key,
            agent_id: spec.agent_id,
            message: spec.message,
            caller_owned: true,
            model: spec.model_override,
            extra_system_prompt: spec.system,
            images: spec.images,
            new_session: spec.new_session,
            tap: Some(tx),
            ..Submit::default()
        })
        .await
        .map_err(|e| super::failure::openai(&Failure::Refused(e)))?;
    let run = accepted.run.clone();
    accepted.start(&gw.agents);
    Ok((run, rx))
}

/// Wait for a non-streamed run's successful outcome (aborting it if the caller goes away
/// meanwhile).
///
/// # Errors
/// The HTTP error for a failed, aborted or timed-out run.
pub async fn finished(
    run: Arc<Run>,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<Tap>,
) -> Result<Arc<Outcome>, Resp> {
    let _guard = AbortOnDrop(run);
    loop {
        match rx.recv().await {
            Some(Tap::Done(o)) if o.status == "ok" => return Ok(o),
            Some(Tap::Done(o)) => return Err(run_error(&o)),
            Some(Tap::Delta(_)) => continue,
            None => {
                return Err(openai_error(
                    StatusCode::BAD_GATEWAY,
                    "api_error",
                    "run ended without a result",
                ))
            }
        }
    }
}

/// Map a failed run to the HTTP error the caller sees.
pub fn run_error(o: &Outcome) -> Resp {
    super::failure::openai(&o.failed().unwrap_or(Failure::Aborted))
}

/// SSE chunks of `/v1/chat/completions`.
struct ChatChunks {
    id: String,
    created: u64,
    model: String,
    usage: bool,
}

impl ChatChunks {
    fn head(&self) -> Head<'_> {
        Head {
            id: &self.id,
            created: self.created,
            model: &self.model,
        }
    }
}

impl SseFormat for ChatChunks {
    fn frames(&mut self, item: Tap, out: &mut VecDeque<Bytes>) -> bool {
        match item {
            Tap::Delta(d) => {
                let delta = Delta {
                    role: None,
                    content: Some(&d),
                };
                out.push_back(out::chunk(&self.head(), delta, None));
                false
            }
            Tap::Done(o) => {
                if o.status == "ok" {
                    let delta = Delta {
                        role: None,
                        content: None,
                    };
                    let finish = finish_reason(&o.stop_reason);
                    out.push_back(out::chunk(&self.head(), delta, Some(finish)));
                } else {
                    let msg = o.error_text();
                    out.push_back(data_line(
                        &json!({ "error": { "message": msg, "type": "api_error" } }),
                    ));
                }
                if self.usage {
                    out.push_back(out::usage_chunk(&self.head(), UsageOut::of(&o)));
                }
                out.push_back(Bytes::from_static(DONE));
                true
            }
        }
    }
}

fn finish_reason(stop: &str) -> &str {
    match stop {
        "length" | "max_tokens" => "length",
        "tool_calls" => "tool_calls",
        _ => "stop",
    }
}

/// `POST /v1/chat/completions`.
pub async fn chat_completions(gw: &Gateway, caller: &Caller, h: &HeaderMap, body: Value) -> Resp {
    if let Err(r) = validate(&body) {
        return r;
    }
    let model = body["model"].as_str().map(str::to_string);
    let target = match resolve(
        gw,
        caller,
        h,
        model.as_deref(),
        body["user"].as_str(),
        "openai",
    ) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let flat = match flatten_messages(&body["messages"]) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let spec = RunSpec {
        run_id: None,
        agent_id: target.agent,
        session_key: target.key,
        message: flat.message,
        system: flat.system,
        model_override: target.model_override,
        images: flat.images,
        new_session: target.new_session,
    };
    let (run, rx) = match start_run(gw, spec).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let id = format!("chatcmpl_{}", uuid::Uuid::new_v4());
    let model = model.unwrap_or_default();
    if body["stream"] == true {
        let fmt = ChatChunks {
            id,
            created: now_s(),
            model,
            usage: body["stream_options"]["include_usage"] == true,
        };
        let role = Delta {
            role: Some("assistant"),
            content: None,
        };
        let prelude = vec![out::chunk(&fmt.head(), role, None)];
        let r2 = run.clone();
        let on_drop = Box::new(move || {
            r2.abort(AbortReason::ClientGone);
        });
        return sse_response(SseBody::new(rx, fmt, prelude, on_drop));
    }
    let outcome = match finished(run, rx).await {
        Ok(o) => o,
        Err(r) => return r,
    };
    let head = Head {
        id: &id,
        created: now_s(),
        model: &model,
    };
    let finish = finish_reason(&outcome.stop_reason);
    let body = out::completion(&head, &outcome.text, finish, UsageOut::of(&outcome));
    respond(StatusCode::OK, JSON_UTF8, body, false)
}

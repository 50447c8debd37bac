//! Chat over the control plane: `chat.send` (durable ack, then the run), `chat.history`
//! (display-normalized, paged, delta cursors), `chat.abort`, `chat.inject`.

use std::time::Duration;

use openclaw_proto::{ErrorCode, ErrorShape, RequestFrame};
use serde_json::{json, Value};

use super::agent::{check_keys, opt_str, req_str};
use super::{params, Ctx};
use crate::agents::runs::{AbortReason, Lookup};
use crate::agents::{canonical_key, Accepted, Submit};
use crate::clock::now_ms;
use crate::responder::Responder;
use crate::server::Gateway;
use crate::store::sessions::MessageRow;

/// `chat.history` page size when `limit` is absent.
pub const DEFAULT_HISTORY_LIMIT: u64 = 200;
/// Largest `chat.history` page.
pub const MAX_HISTORY_LIMIT: u64 = 1000;
/// A delta cursor further behind than this many rows gets `{kind:"reset"}`.
pub const MAX_DELTA_ROWS: u64 = 200;
pub use crate::config::limits::MAX_SESSION_KEY;

const SEND_KEYS: &[&str] = &[
    "sessionKey",
    "agentId",
    "sessionId",
    "message",
    "intent",
    "thinking",
    "fastMode",
    "fastAutoOnSeconds",
    "queueMode",
    "deliver",
    "originatingChannel",
    "originatingTo",
    "originatingAccountId",
    "originatingThreadId",
    "replyToId",
    "attachments",
    "toolBindings",
    "timeoutMs",
    "systemInputProvenance",
    "systemProvenanceReceipt",
    "suppressCommandInterpretation",
    "expectedLeafEntryId",
    "expectedSessionRoutingContract",
    "expectedPermissionMode",
    "expectedToolOverrides",
    "idempotencyKey",
    // Mentions of people/agents and a work context only steer features we do not have
    // (routing to mentioned agents, project context); the message itself is sent as is.
    "mentions",
    "workContext",
];

/// `chat.send`: the user message is durable before the ack; the run follows as events.
pub async fn send(c: &Ctx, req: &RequestFrame<'_>, resp: Responder) {
    match prepare_send(c, req).await {
        Ok(Sent::Answer(v)) => resp.reply(Ok(v)),
        Ok(Sent::Started(accepted)) => {
            // The ack is queued before the run can emit its first event.
            resp.reply(Ok(json!({ "runId": accepted.run.id, "status": "started" })));
            accepted.start(&c.gw.agents);
        }
        Err(e) => resp.reply(Err(super::reword(req, e))),
    }
}

/// What a `chat.send` comes to.
enum Sent {
    /// An answer without a new run (a repeated idempotency key).
    Answer(Value),
    /// An accepted run, to start once the ack is queued.
    Started(Accepted),
}

async fn prepare_send(c: &Ctx, req: &RequestFrame<'_>) -> Result<Sent, ErrorShape> {
    let (gw, sock) = (&c.gw, &c.sock);
    let p: Value = params(req)?;
    let sp = SendParams::parse(&p)?;
    let images = attachment_images(gw, p.get("attachments"))?;
    let timeout = timeout_of(&p)?;
    match gw.agents.runs.lookup(sp.idem).await {
        Lookup::Running(run) => {
            return Ok(Sent::Answer(
                json!({ "runId": run.id, "status": "in_flight" }),
            ))
        }
        Lookup::Done(reply) => {
            let status = reply["payload"]["status"].as_str().unwrap_or("error");
            return Ok(Sent::Answer(json!({ "runId": sp.idem, "status": status })));
        }
        Lookup::New => {}
    }
    let agent_id = gw
        .agents
        .resolve_agent(opt_str(&p, "agentId", "chat.send")?, Some(sp.raw_key))?;
    let key = canonical_key(sp.raw_key, &agent_id);
    if sp.queue_mode == Some("interrupt") {
        for r in gw.agents.runs.active_runs(&key, None) {
            r.abort(AbortReason::Rpc);
        }
    }
    let accepted = gw
        .agents
        .accept(Submit {
            run_id: sp.idem.to_string(),
            session_key: key,
            agent_id,
            message: sp.message.to_string(),
            owner: Some((sock.conn, sock.out.clone())),
            caller_owned: false,
            timeout,
            images,
            ..Submit::default()
        })
        .await?;
    Ok(Sent::Started(accepted))
}

/// `chat.send`'s params up to `queueMode`, checked in order.
struct SendParams<'a> {
    raw_key: &'a str,
    message: &'a str,
    idem: &'a str,
    queue_mode: Option<&'a str>,
}

impl<'a> SendParams<'a> {
    fn parse(p: &'a Value) -> Result<SendParams<'a>, ErrorShape> {
        // Before the schema, as the Node gateway does: a send needs a session to write to.
        if p["sessionKey"].as_str().is_none_or(str::is_empty) {
            return Err(ErrorShape::new(
                ErrorCode::InvalidRequest,
                "session mutation target is unavailable",
            )
            .with_details(
                json!({ "code": "SESSION_MUTATION_TARGET_REQUIRED", "method": "chat.send" }),
            ));
        }
        check_keys(p, SEND_KEYS, "chat.send")?;
        let invalid = |m: &str| ErrorShape::invalid_params("chat.send", m);
        let raw_key = req_str(p, "sessionKey", "chat.send")?;
        if raw_key.len() > MAX_SESSION_KEY {
            return Err(invalid(
                "at /sessionKey: must NOT have more than 512 characters",
            ));
        }
        let message = match p.get("message") {
            Some(Value::String(s)) => s.as_str(),
            Some(_) => return Err(invalid("at /message: must be string")),
            None => return Err(invalid("must have required property 'message'")),
        };
        let idem = req_str(p, "idempotencyKey", "chat.send")?;
        if message.trim().is_empty() {
            return Err(ErrorShape::new(
                ErrorCode::InvalidRequest,
                "message or attachment required",
            ));
        }
        let queue_mode = opt_str(p, "queueMode", "chat.send")?;
        if queue_mode.is_some_and(|m| !matches!(m, "steer" | "followup" | "collect" | "interrupt"))
        {
            return Err(invalid(
                "at /queueMode: must be equal to one of the allowed values",
            ));
        }
        Ok(SendParams {
            raw_key,
            message,
            idem,
            queue_mode,
        })
    }
}

/// `timeoutMs` (0: none). Checked after the attachments: a send with both wrong reports the
/// attachments first.
fn timeout_of(p: &Value) -> Result<Option<Duration>, ErrorShape> {
    match p.get("timeoutMs").map(Value::as_u64) {
        None | Some(Some(0)) => Ok(None),
        Some(Some(ms)) => Ok(Some(Duration::from_millis(ms))),
        Some(None) => Err(ErrorShape::invalid_params(
            "chat.send",
            "at /timeoutMs: must be integer >= 0",
        )),
    }
}

/// Image attachments of `chat.send` (`{type, mimeType, content}` with base64 `content` or a
/// `data:` URL) as parts sent upstream with the message, checked against
/// `hello-ok.policy.attachments` (`maxImageBytes` each, `maxBytes` in all). Other
/// attachment types are accepted and not forwarded (no file runtime here).
fn attachment_images(
    gw: &Gateway,
    v: Option<&Value>,
) -> Result<Vec<crate::provider::ImagePart>, ErrorShape> {
    let Some(list) = v.and_then(Value::as_array) else {
        return Ok(Vec::new());
    };
    let policy = crate::config::limits::attachment_policy(&gw.cfg.load().parsed);
    let max_image = policy["maxImageBytes"].as_u64().unwrap_or(u64::MAX) as usize;
    let max_total = policy["maxBytes"].as_u64().unwrap_or(u64::MAX) as usize;
    let mut out = Vec::new();
    let mut total = 0usize;
    for a in list {
        let Some(content) = a["content"].as_str() else {
            continue;
        };
        let (mime, b64) = match content
            .strip_prefix("data:")
            .and_then(|r| r.split_once(";base64,"))
        {
            Some((m, d)) => (m.to_string(), d),
            None => (a["mimeType"].as_str().unwrap_or("").to_string(), content),
        };
        let mime = mime.to_ascii_lowercase();
        if !(a["type"] == "image" || mime.starts_with("image/")) {
            continue;
        }
        if !crate::config::limits::IMAGE_MIMES.contains(&mime.as_str()) {
            return Err(ErrorShape::new(
                ErrorCode::InvalidRequest,
                format!("unsupported image type: {mime}"),
            ));
        }
        let size = b64.len() / 4 * 3;
        total += size;
        if size > max_image || total > max_total {
            return Err(ErrorShape::new(
                ErrorCode::InvalidRequest,
                "attachment exceeds policy.attachments limits",
            ));
        }
        out.push(crate::provider::ImagePart {
            mime,
            data_b64: b64.to_string(),
        });
    }
    Ok(out)
}

/// Strip what a chat display never shows: directive tags (`[[…]]`), tool-call XML and
/// model control tokens (`<|…|>`).
pub fn display_text(s: &str) -> String {
    let mut out = s.to_string();
    for (open, close) in [("[[", "]]"), ("<|", "|>")] {
        while let Some(a) = out.find(open) {
            let Some(b) = out[a..].find(close) else { break };
            out.replace_range(a..a + b + close.len(), "");
        }
    }
    for tag in ["tool_call", "function_call", "tool_use"] {
        let (o, c) = (format!("<{tag}>"), format!("</{tag}>"));
        while let Some(a) = out.find(&o) {
            let end = out[a..].find(&c).map_or(out.len(), |b| a + b + c.len());
            out.replace_range(a..end, "");
        }
    }
    out.trim().to_string()
}

/// One transcript row as `chat.history` shows it, or `None` to hide it (`NO_REPLY`).
pub fn display_row(r: &MessageRow, max_chars: Option<usize>) -> Option<Value> {
    let mut m = r.body.clone();
    let clip = |s: String| match max_chars {
        Some(n) if s.chars().count() > n => s.chars().take(n).collect(),
        _ => s,
    };
    match m.get_mut("content") {
        Some(Value::String(s)) => {
            let t = display_text(s);
            if t == "NO_REPLY" {
                return None;
            }
            *s = clip(t);
        }
        Some(Value::Array(parts)) => {
            for part in parts.iter_mut() {
                if let Some(Value::String(t)) = part.get_mut("text") {
                    *t = clip(display_text(t));
                }
            }
            let all: String = parts.iter().filter_map(|p| p["text"].as_str()).collect();
            if all.trim() == "NO_REPLY" {
                return None;
            }
        }
        _ => {}
    }
    // A user message carries the key of the send that wrote it (`<runId>:user`), as the
    // Node gateway's do.
    if let (Some("user"), Some(run)) = (m["role"].as_str(), &r.run_id) {
        if m.get("idempotencyKey").is_none() {
            m["idempotencyKey"] = json!(format!("{run}:user"));
        }
    }
    let mut meta = json!({ "id": r.id.to_string() });
    if let Some(s) = r.seq {
        meta["seq"] = json!(s);
    } else {
        meta["kind"] = json!("queued");
    }
    m["__openclaw"] = meta;
    Some(m)
}

pub use super::chat_history::history;

/// `chat.abort {sessionKey, runId?}` (also `sessions.abort {key?, runId?}`).
pub fn abort(c: &Ctx, req: &RequestFrame<'_>, sessions_abort: bool) -> Result<Value, ErrorShape> {
    let gw = &c.gw;
    let method = if sessions_abort {
        "sessions.abort"
    } else {
        "chat.abort"
    };
    let p: Value = params(req)?;
    let allowed: &[&str] = if sessions_abort {
        &["key", "runId", "agentId", "clearQueued"]
    } else {
        &["sessionKey", "agentId", "runId", "preserveSideRuns"]
    };
    check_keys(&p, allowed, method)?;
    let run_id = opt_str(&p, "runId", method)?;
    let raw_key = if sessions_abort {
        // The schema has no required key; the Node gateway's handler insists (observed).
        match opt_str(&p, "key", method)? {
            Some(k) if !k.is_empty() => Some(k),
            _ => return Err(ErrorShape::new(ErrorCode::InvalidRequest, "key required")),
        }
    } else {
        Some(req_str(&p, "sessionKey", method)?)
    };
    let runs = match raw_key {
        Some(k) => {
            let agent_id = gw
                .agents
                .resolve_agent(opt_str(&p, "agentId", method)?, Some(k))?;
            gw.agents
                .runs
                .active_runs(&canonical_key(k, &agent_id), run_id)
        }
        None => match run_id.and_then(|id| gw.agents.runs.get(id)) {
            Some(r) if r.outcome().is_none() => vec![r],
            _ => Vec::new(),
        },
    };
    let ids: Vec<String> = runs
        .iter()
        .filter(|r| r.abort(AbortReason::Rpc))
        .map(|r| r.id.clone())
        .collect();
    Ok(json!({ "ok": true, "aborted": !ids.is_empty(), "runIds": ids }))
}

/// `chat.inject {sessionKey, message, label?}`: an assistant note without a run.
pub async fn inject(c: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let gw = &c.gw;
    let p: Value = params(req)?;
    check_keys(
        &p,
        &["sessionKey", "agentId", "message", "label"],
        "chat.inject",
    )?;
    let raw_key = req_str(&p, "sessionKey", "chat.inject")?;
    let text = req_str(&p, "message", "chat.inject")?;
    let label = opt_str(&p, "label", "chat.inject")?;
    if label.is_some_and(|l| l.chars().count() > 100) {
        return Err(ErrorShape::invalid_params(
            "chat.inject",
            "at /label: must NOT have more than 100 characters",
        ));
    }
    let agent_id = gw
        .agents
        .resolve_agent(opt_str(&p, "agentId", "chat.inject")?, Some(raw_key))?;
    let key = canonical_key(raw_key, &agent_id);
    let ts = now_ms();
    let mut body = json!({ "role": "assistant", "content": [{ "type": "text", "text": text }], "timestamp": ts, "injected": true });
    if let Some(l) = label {
        body["label"] = json!(l);
    }
    let run_id = format!("inject-{}", uuid::Uuid::new_v4());
    let a = gw
        .agents
        .runs
        .store
        .append(&key, &agent_id, Some(&run_id), &body, false)
        .await
        .map_err(|e| crate::failure::store(req.method(), e))?;
    let chat = json!({ "runId": run_id, "sessionKey": key, "agentId": agent_id, "seq": 0, "state": "final", "message": body });
    gw.agents.runs.emit(&key, None, "chat", &chat, true);
    gw.agents.runs.emit(
        &key,
        None,
        "session.message",
        &json!({ "sessionKey": key, "message": body }),
        true,
    );
    gw.agents.session_changed(&key);
    Ok(json!({ "ok": true, "messageId": a.id.to_string(), "sessionKey": key }))
}

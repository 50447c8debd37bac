//! `POST /v1/responses` (OpenResponses): `input` as a string or items, `instructions`,
//! `previous_response_id` continuing the earlier response's session; JSON or named SSE
//! events (`response.created` … `response.completed`, then `data: [DONE]`).

use std::collections::VecDeque;

use bytes::Bytes;
use hyper::{HeaderMap, Response, StatusCode};
use openclaw_net::HttpBody;
use serde_json::{json, Value};

use super::auth::{openai_error, Caller};
use super::body::{event_line, sse_response, SseBody, SseFormat, DONE};
use super::openai::{finished, resolve, start_run, RunSpec, Target};
use super::{respond, JSON_UTF8};
use crate::agents::runs::{AbortReason, Outcome};
use crate::agents::{key_agent, Tap};
use crate::server::Gateway;

type Resp = Response<HttpBody>;

fn bad(msg: &str) -> Resp {
    openai_error(StatusCode::BAD_REQUEST, "invalid_request_error", msg)
}

fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// (system additions, current message with flattened history).
fn flatten_input(input: &Value) -> Result<(Vec<String>, String), Resp> {
    match input {
        Value::String(s) if !s.trim().is_empty() => Ok((Vec::new(), s.clone())),
        Value::Array(items) => {
            let mut system = Vec::new();
            let mut turns: Vec<(&str, String)> = Vec::new();
            for it in items {
                let kind = it["type"].as_str().unwrap_or("message");
                match kind {
                    "message" => match it["role"].as_str().unwrap_or("user") {
                        "system" | "developer" => system.push(text_of(&it["content"])),
                        "assistant" => turns.push(("Assistant", text_of(&it["content"]))),
                        _ => turns.push(("User", text_of(&it["content"]))),
                    },
                    "function_call_output" => {
                        let out = it["output"]
                            .as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| it["output"].to_string());
                        turns.push(("Tool", out));
                    }
                    "reasoning" | "item_reference" | "input_image" | "input_file" => {}
                    other => return Err(bad(&format!("Unsupported input item type `{other}`."))),
                }
            }
            let Some(last) = turns
                .iter()
                .rposition(|(r, _)| *r == "User" || *r == "Tool")
            else {
                return Err(bad("Missing user message in `input`."));
            };
            if last == 0 {
                return Ok((system, turns[0].1.clone()));
            }
            let mut s = String::from("[Chat messages since your last reply - for context]\n");
            for (who, text) in &turns[..last] {
                s.push_str(&format!("{who}: {text}\n"));
            }
            s.push_str(&format!(
                "\n[Current message - respond to this]\n{}: {}",
                turns[last].0, turns[last].1
            ));
            Ok((system, s))
        }
        _ => Err(bad(
            "`input` must be a non-empty string or an array of items.",
        )),
    }
}

fn usage(o: &Outcome) -> Value {
    json!({
        "input_tokens": o.input_tokens,
        "input_tokens_details": { "cached_tokens": 0, "cache_write_tokens": 0 },
        "output_tokens": o.output_tokens,
        "output_tokens_details": { "reasoning_tokens": 0 },
        "total_tokens": o.input_tokens + o.output_tokens,
    })
}

fn message_item(id: &str, text: &str, done: bool) -> Value {
    let content = if done || !text.is_empty() {
        json!([{ "type": "output_text", "text": text, "annotations": [] }])
    } else {
        json!([])
    };
    json!({
        "type": "message", "id": id, "role": "assistant", "content": content,
        "phase": "final_answer", "status": if done { "completed" } else { "in_progress" },
    })
}

struct Shell {
    id: String,
    msg_id: String,
    model: String,
    created: u64,
}

impl Shell {
    fn response(&self, status: &str, output: Value, usage: Value) -> Value {
        let mut r = json!({
            "id": self.id, "object": "response", "created_at": self.created, "status": status,
            "model": self.model, "output": output,
        });
        if !usage.is_null() {
            r["usage"] = usage;
        }
        r
    }
}

struct Events {
    shell: Shell,
    text: String,
}

impl SseFormat for Events {
    fn frames(&mut self, item: Tap, out: &mut VecDeque<Bytes>) -> bool {
        let s = &self.shell;
        let part = |t: &str| json!({ "type": "output_text", "text": t, "annotations": [] });
        match item {
            Tap::Delta(d) => {
                self.text.push_str(&d);
                out.push_back(event_line("response.output_text.delta", &json!({
                    "type": "response.output_text.delta", "item_id": s.msg_id, "output_index": 0,
                    "content_index": 0, "delta": d,
                })));
                false
            }
            Tap::Done(o) => {
                if o.status != "ok" {
                    let msg = o.error_text();
                    let mut r = s.response("failed", json!([]), Value::Null);
                    r["error"] = json!({ "code": "server_error", "message": msg });
                    out.push_back(event_line(
                        "response.failed",
                        &json!({ "type": "response.failed", "response": r }),
                    ));
                    out.push_back(Bytes::from_static(DONE));
                    return true;
                }
                let text = o.text.clone();
                out.push_back(event_line(
                    "response.output_text.done",
                    &json!({
                        "type": "response.output_text.done", "item_id": s.msg_id, "output_index": 0,
                        "content_index": 0, "text": text,
                    }),
                ));
                out.push_back(event_line("response.content_part.done", &json!({
                    "type": "response.content_part.done", "item_id": s.msg_id, "output_index": 0,
                    "content_index": 0, "part": part(&text),
                })));
                let item = message_item(&s.msg_id, &text, true);
                out.push_back(event_line(
                    "response.output_item.done",
                    &json!({
                        "type": "response.output_item.done", "output_index": 0, "item": item,
                    }),
                ));
                let r = s.response("completed", json!([item]), usage(&o));
                out.push_back(event_line(
                    "response.completed",
                    &json!({ "type": "response.completed", "response": r }),
                ));
                out.push_back(Bytes::from_static(DONE));
                true
            }
        }
    }
}

/// `POST /v1/responses`.
pub async fn create(gw: &Gateway, caller: &Caller, h: &HeaderMap, body: Value) -> Resp {
    if let Err(r) = check_sampling(&body) {
        return r;
    }
    let model = body["model"].as_str().map(str::to_string);
    let mut target = match resolve(
        gw,
        caller,
        h,
        model.as_deref(),
        body["user"].as_str(),
        "openresponses",
    ) {
        Ok(x) => x,
        Err(r) => return r,
    };
    if let Some(prev) = body["previous_response_id"]
        .as_str()
        .filter(|s| !s.is_empty())
    {
        if let Err(r) = continue_from(gw, h, prev, &mut target).await {
            return r;
        }
    }
    let (mut system, message) = match flatten_input(&body["input"]) {
        Ok(x) => x,
        Err(r) => return r,
    };
    if let Some(i) = body["instructions"]
        .as_str()
        .filter(|s| !s.trim().is_empty())
    {
        system.insert(0, i.to_string());
    }
    let id = format!("resp_{}", uuid::Uuid::new_v4());
    let spec = RunSpec {
        run_id: Some(id.clone()),
        agent_id: target.agent,
        session_key: target.key,
        message,
        system: (!system.is_empty()).then(|| system.join("\n\n")),
        model_override: target.model_override,
        images: Vec::new(),
        new_session: target.new_session,
    };
    let (run, rx) = match start_run(gw, spec).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let shell = Shell {
        id,
        msg_id: format!("msg_{}", uuid::Uuid::new_v4()),
        model: model.unwrap_or_default(),
        created: crate::clock::now_ms() / 1000,
    };
    if body["stream"] == true {
        let prelude = prelude(&shell);
        let on_drop = Box::new(move || {
            run.abort(AbortReason::ClientGone);
        });
        let events = Events {
            shell,
            text: String::new(),
        };
        return sse_response(SseBody::new(rx, events, prelude, on_drop));
    }
    let outcome = match finished(run, rx).await {
        Ok(o) => o,
        Err(r) => return r,
    };
    let item = message_item(&shell.msg_id, &outcome.text, true);
    let v = shell.response("completed", json!([item]), usage(&outcome));
    respond(StatusCode::OK, JSON_UTF8, v.to_string(), false)
}

/// `temperature`, `top_p` and `max_output_tokens` in range (or absent).
fn check_sampling(body: &Value) -> Result<(), Resp> {
    for (k, lo, hi) in [("temperature", 0.0, 2.0), ("top_p", 0.0, 1.0)] {
        if let Some(v) = body.get(k).filter(|v| !v.is_null()) {
            if !v.as_f64().is_some_and(|x| (lo..=hi).contains(&x)) {
                return Err(bad(&format!(
                    "`{k}` must be a number between {lo} and {hi}."
                )));
            }
        }
    }
    if let Some(v) = body.get("max_output_tokens").filter(|v| !v.is_null()) {
        if v.as_u64().unwrap_or(0) == 0 {
            return Err(bad("`max_output_tokens` must be a positive integer."));
        }
    }
    Ok(())
}

/// `previous_response_id`: continue in that response's session, which must be the agent's
/// (and the one named by `x-openclaw-session-key`, if any).
async fn continue_from(
    gw: &Gateway,
    h: &HeaderMap,
    prev: &str,
    target: &mut Target,
) -> Result<(), Resp> {
    let id = prev.to_string();
    let in_memory = gw.agents.runs.get(prev).map(|r| r.session_key.clone());
    let found = match in_memory {
        Some(k) => Some(k),
        None => gw
            .agents
            .runs
            .store
            .read(move |c| {
                use rusqlite::OptionalExtension;
                c.query_row(
                    "SELECT session_key FROM runs WHERE run_id = ?1",
                    [&id],
                    |r| r.get::<_, String>(0),
                )
                .optional()
            })
            .await
            .ok()
            .flatten(),
    };
    let explicit = h.get("x-openclaw-session-key").is_some();
    match found {
        Some(k)
            if key_agent(&k) == Some(target.agent.as_str()) && (!explicit || k == target.key) =>
        {
            target.key = k;
            target.new_session = false;
            Ok(())
        }
        Some(_) => Err(bad(
            "`previous_response_id` belongs to another agent or session.",
        )),
        None => Err(bad(&format!("Unknown `previous_response_id` {prev}."))),
    }
}

/// The events a streamed response opens with: created, in progress, the message item and
/// its empty text part.
fn prelude(shell: &Shell) -> Vec<Bytes> {
    let started = shell.response("in_progress", json!([]), Value::Null);
    let item = message_item(&shell.msg_id, "", false);
    vec![
        event_line(
            "response.created",
            &json!({ "type": "response.created", "response": started }),
        ),
        event_line(
            "response.in_progress",
            &json!({ "type": "response.in_progress", "response": started }),
        ),
        event_line(
            "response.output_item.added",
            &json!({ "type": "response.output_item.added", "output_index": 0, "item": item }),
        ),
        event_line(
            "response.content_part.added",
            &json!({
                "type": "response.content_part.added", "item_id": shell.msg_id, "output_index": 0, "content_index": 0,
                "part": { "type": "output_text", "text": "", "annotations": [] },
            }),
        ),
    ]
}

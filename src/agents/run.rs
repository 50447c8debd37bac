//! Driving one run: wait for the session's lane, build the context from the transcript,
//! stream the model (fallbacks in order), forward every delta as `agent` + `chat` events,
//! persist the reply (progress at least every second; the final row queued before the final
//! reply, which transcript reads wait for), and finish with the final response on the
//! caller's request id.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use openclaw_proto::ErrorShape;
use serde_json::{json, Value};

use super::runs::{AbortReason, Outcome, Run};
use super::{Agents, Tap};
use crate::clock::now_ms;
use crate::failure::Failure;
use crate::provider::{self, ChatMessage, ModelRequest, ProviderError, ProviderErrorKind, Role};
use crate::responder::Responder;
use crate::store::sessions::{body_text, transcript, RunTotals};

/// Most transcript messages sent upstream as context.
pub const MAX_CONTEXT_MESSAGES: u64 = 200;
/// Streamed assistant text is persisted at least this often.
pub const PERSIST_INTERVAL: Duration = Duration::from_secs(1);

/// Everything a run needs once accepted.
pub struct Input {
    pub run: Arc<Run>,
    /// The user message row (queued rows are activated when the run starts); 0 when it was
    /// queued unawaited (a fresh session's run never looks it up).
    pub user_row: i64,
    /// The user message (the whole context when the session was created by this run).
    pub message: String,
    /// The session was created by this run's message: no transcript to read.
    pub fresh_session: bool,
    pub queued: bool,
    /// Model refs to try, in order.
    pub models: Vec<String>,
    pub system_prompt: Option<String>,
    pub timeout: Duration,
    /// Where the run's final reply goes (`agent`: the request that started it), if anywhere.
    pub responder: Option<Responder>,
    /// Extra consumer of deltas and the outcome (HTTP).
    pub tap: Option<tokio::sync::mpsc::UnboundedSender<Tap>>,
    /// Images for the current user message.
    pub images: Vec<provider::ImagePart>,
}

fn agent_payload(run: &Run, stream: &str, data: Value) -> Value {
    let seq = run.agent_seq.fetch_add(1, Ordering::Relaxed);
    json!({ "runId": run.id, "seq": seq, "stream": stream, "ts": now_ms(), "data": data })
}

fn chat_payload(run: &Run, mut fields: Value) -> Value {
    let seq = run.chat_seq.fetch_add(1, Ordering::Relaxed);
    let head = json!({
        "runId": run.id, "sessionKey": run.session_key, "agentId": run.agent_id, "seq": seq,
    });
    if let (Value::Object(f), Value::Object(h)) = (&mut fields, head) {
        for (k, v) in h {
            f.entry(k).or_insert(v);
        }
    }
    fields
}

/// Whether the run's events reach anyone now; when not, only their `seq` advances (a
/// subscriber joining mid-run sees the run's own numbering).
fn watched(agents: &Agents, run: &Run) -> bool {
    agents.runs.watched(&run.session_key, run.owner.as_ref())
}

fn agent_event(agents: &Agents, run: &Run, stream: &str, data: impl FnOnce() -> Value) {
    if !watched(agents, run) {
        run.agent_seq.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let payload = agent_payload(run, stream, data());
    agents.runs.emit(
        &run.session_key,
        run.owner.as_ref(),
        "agent",
        &payload,
        true,
    );
}

fn chat_event(agents: &Agents, run: &Run, fields: impl FnOnce() -> Value) {
    if !watched(agents, run) {
        run.chat_seq.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let payload = chat_payload(run, fields());
    agents
        .runs
        .emit(&run.session_key, run.owner.as_ref(), "chat", &payload, true);
}

fn assistant_body(text: &str, ts: u64) -> Value {
    json!({ "role": "assistant", "content": [{ "type": "text", "text": text }], "timestamp": ts })
}

fn failover_reason(e: &ProviderError) -> &'static str {
    match e.kind {
        ProviderErrorKind::Connect => "network",
        ProviderErrorKind::Auth => "auth",
        ProviderErrorKind::RateLimit { .. } => "rate_limit",
        ProviderErrorKind::BadRequest => "format",
        ProviderErrorKind::Server => "server",
        ProviderErrorKind::Malformed => "format",
        ProviderErrorKind::Timeout => "timeout",
    }
}

/// Why the run failed, and the (provider, model) that failed last.
type LastError = (Failure, Option<(String, String)>);

enum Ended {
    Done(provider::Completion, String, String),
    Failed(Failure, Option<(String, String)>),
    Aborted(AbortReason),
    TimedOut,
}

/// Run to completion (spawned by [`super::Accepted::start`]).
pub async fn drive(agents: Arc<Agents>, mut input: Input) {
    let responder = input.responder.take();
    let run = input.run.clone();
    let mut cancel = run.cancelled();
    let lane = agents.runs.lane(&run.session_key);
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + input.timeout;
    // Queue behind the session's active run (FIFO), unless aborted meanwhile.
    let source = format!("session:{}", run.session_key);
    agents
        .diag
        .record("queue.lane.enqueue", json!({ "source": source }));
    let guard = tokio::select! {
        g = lane.lock_owned() => Some(g),
        _ = cancel.wait_for(Option::is_some) => None,
    };
    if guard.is_some() {
        run.running
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let waited = started.elapsed().as_millis() as u64;
        agents.diag.record(
            "queue.lane.dequeue",
            json!({ "source": source, "waitMs": waited }),
        );
    }
    let started_ms = now_ms();
    let ended = match guard {
        None => Ended::Aborted(cancel.borrow().unwrap_or(AbortReason::Rpc)),
        Some(_) => match activate(&agents, &input).await {
            Err(e) => Ended::Failed(Failure::Store(e), None),
            Ok(()) => {
                agents.session_changed(&run.session_key);
                agent_event(
                    &agents,
                    &run,
                    "lifecycle",
                    || json!({ "phase": "start", "startedAt": started_ms }),
                );
                chat_event(
                    &agents,
                    &run,
                    || json!({ "state": "status", "phase": "preparing_context" }),
                );
                tokio::select! {
                    e = attempt(&agents, &input) => e,
                    r = cancel.wait_for(Option::is_some) => Ended::Aborted(r.ok().and_then(|v| *v).unwrap_or(AbortReason::Rpc)),
                    _ = tokio::time::sleep_until(deadline) => Ended::TimedOut,
                }
            }
        },
    };
    let took = started.elapsed();
    finish(&agents, &input, ended, started_ms, took, responder).await;
}

/// A queued input gets its transcript position once its run starts.
async fn activate(agents: &Agents, input: &Input) -> Result<(), crate::store::StoreError> {
    if input.queued {
        let r = agents
            .runs
            .store
            .activate(input.user_row, &input.run.session_key);
        r.await.map_err(|e| {
            tracing::error!(target: "store", "run {}: activate failed: {e}", input.run.id);
            e
        })?;
    }
    Ok(())
}

async fn context(agents: &Agents, run: &Run, user_row: i64) -> Vec<ChatMessage> {
    let key = run.session_key.clone();
    let rows = agents
        .runs
        .store
        .read(move |c| {
            let Some(s) = crate::store::sessions::get_session(c, &key)? else {
                return Ok(Vec::new());
            };
            transcript(c, &s.session_id, MAX_CONTEXT_MESSAGES + 1, 0).map(|(r, _)| r)
        })
        .await
        .unwrap_or_default();
    let upto = rows
        .iter()
        .find(|r| r.id == user_row)
        .and_then(|r| r.seq)
        .unwrap_or(u64::MAX);
    rows.into_iter()
        .filter(|r| r.id == user_row || r.seq.is_some_and(|s| s <= upto))
        .filter_map(|r| {
            let role = match r.body.get("role").and_then(Value::as_str) {
                Some("user") => Role::User,
                Some("assistant") => Role::Assistant,
                _ => return None,
            };
            let content = body_text(&r.body);
            (!content.is_empty()).then_some(ChatMessage { role, content })
        })
        .collect()
}

async fn attempt(agents: &Agents, input: &Input) -> Ended {
    let run = &input.run;
    let messages = if input.fresh_session {
        vec![ChatMessage {
            role: Role::User,
            content: input.message.clone(),
        }]
    } else {
        context(agents, run, input.user_row).await
    };
    chat_event(
        agents,
        run,
        || json!({ "state": "status", "phase": "starting_model" }),
    );
    let cfg = agents.catalog();
    let mut last: Option<LastError> = None;
    if input.models.is_empty() {
        let message = "No model configured: set agents.defaults.model to \"<provider>/<model>\"";
        return Ended::Failed(model_failure(message.into(), None), None);
    }
    for (i, model_ref) in input.models.iter().enumerate() {
        let target = match cfg.target(model_ref) {
            Ok(t) => t,
            Err(e) => {
                last = Some((model_failure(e, None), None));
                continue;
            }
        };
        let pm = (target.provider.id.clone(), target.model.clone());
        agent_event(
            agents,
            run,
            "lifecycle",
            || json!({ "phase": "model", "provider": pm.0, "model": pm.1 }),
        );
        let req = ModelRequest {
            model: target.model.clone(),
            system: input.system_prompt.clone(),
            messages: messages.clone(),
            max_tokens: target.max_tokens,
            images: input.images.clone(),
        };
        let called = Instant::now();
        let mut st = Streamed {
            text: String::new(),
            last_persist: called,
            called,
        };
        let mut on_delta = |d: &str| st.delta(agents, input, d);
        let r = provider::stream_completion(
            &agents.client,
            &target.provider,
            &req,
            cfg.idle_timeout,
            &mut on_delta,
        )
        .await;
        crate::metrics::provider_call(r.is_ok(), called.elapsed());
        let streamed = !st.text.is_empty();
        match r {
            Ok(c) => return Ended::Done(c, pm.0, pm.1),
            Err(e) => {
                tracing::warn!(target: "agents", "run {} {}/{} failed: {e}", run.id, pm.0, pm.1);
                let more = i + 1 < input.models.len();
                last = Some((model_failure(e.message.clone(), Some(e)), Some(pm)));
                if streamed || !more {
                    break;
                }
            }
        }
    }
    let (f, pm) = last.unwrap_or_else(|| (model_failure("no usable model".into(), None), None));
    Ended::Failed(f, pm)
}

/// What one model call has streamed so far.
struct Streamed {
    text: String,
    last_persist: Instant,
    called: Instant,
}

impl Streamed {
    /// A text delta: into the run's text, out as `agent` + `chat` events to whoever watches
    /// (together: one writer wake-up per socket), to the tap; the text so far is persisted on
    /// the first delta after each [`PERSIST_INTERVAL`].
    fn delta(&mut self, agents: &Agents, input: &Input, d: &str) {
        let run = &input.run;
        if self.text.is_empty() {
            crate::metrics::provider_ttft(self.called.elapsed());
        }
        self.text.push_str(d);
        run.text.lock().push_str(d);
        let ts = now_ms();
        if watched(agents, run) {
            let a = agent_payload(run, "assistant", json!({ "text": self.text, "delta": d }));
            let c = chat_payload(
                run,
                json!({ "state": "delta", "deltaText": d, "message": assistant_body(&self.text, ts) }),
            );
            agents.runs.emit_many(
                &run.session_key,
                run.owner.as_ref(),
                &[("agent", &a), ("chat", &c)],
            );
        } else {
            run.agent_seq.fetch_add(1, Ordering::Relaxed);
            run.chat_seq.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(tap) = &input.tap {
            let _ = tap.send(Tap::Delta(d.to_string()));
        }
        if self.last_persist.elapsed() >= PERSIST_INTERVAL {
            self.last_persist = Instant::now();
            agents.runs.store.assistant_progress(
                &run.session_key,
                &run.agent_id,
                &run.id,
                &assistant_body(&self.text, ts),
            );
        }
    }
}

fn model_failure(message: String, cause: Option<ProviderError>) -> Failure {
    Failure::Model { message, cause }
}

async fn finish(
    agents: &Arc<Agents>,
    input: &Input,
    ended: Ended,
    started_ms: u64,
    took: Duration,
    responder: Option<Responder>,
) {
    let run = &input.run;
    let ended_ms = now_ms();
    let mut o = outcome(run, ended, started_ms, ended_ms);
    crate::metrics::run_ended(o.status, took);
    persist_reply(agents, run, &o, ended_ms).await;
    emit_end(agents, run, &o, ended_ms);
    o.reply = reply(run, &o, took);
    agents
        .runs
        .store
        .run_done(&run.id, &run.session_key, &o.reply);
    let o = run.finish(o);
    agents.runs.retire(run);
    agents.session_changed(&run.session_key);
    if let Some(resp) = responder {
        resp.stored(&o.reply);
    }
    if let Some(tap) = &input.tap {
        let _ = tap.send(Tap::Done(o));
    }
}

/// How the run ended, as its outcome (text, status, usage; the reply is built later).
fn outcome(run: &Run, ended: Ended, started_ms: u64, ended_ms: u64) -> Outcome {
    let mut o = Outcome {
        status: "ok",
        text: run.text.lock().clone(),
        stop_reason: "stop".into(),
        failure: None,
        error_detail: None,
        provider: None,
        model: None,
        input_tokens: 0,
        output_tokens: 0,
        started_ms,
        ended_ms,
        reply: Value::Null,
    };
    match ended {
        Ended::Done(c, p, m) => {
            o.text = c.text;
            o.stop_reason = c.stop_reason;
            o.input_tokens = c.usage.input;
            o.output_tokens = c.usage.output;
            o.provider = Some(p);
            o.model = Some(m);
        }
        Ended::Failed(f, pm) => {
            o.status = "error";
            o.stop_reason = "error".into();
            let mut detail = json!({});
            if let Some((p, m)) = &pm {
                detail["provider"] = json!(p);
                detail["model"] = json!(m);
                o.provider = Some(p.clone());
                o.model = Some(m.clone());
            }
            if let Failure::Model { cause: Some(e), .. } = &f {
                detail["failoverReason"] = json!(failover_reason(e));
                if let Some(s) = e.status {
                    detail["httpStatus"] = json!(s);
                }
                detail["providerErrorMessagePreview"] =
                    json!(e.message.chars().take(300).collect::<String>());
            }
            o.error_detail = Some(detail);
            o.failure = Some(f);
        }
        Ended::Aborted(why) => {
            o.status = "aborted";
            o.stop_reason = why.as_str().into();
        }
        Ended::TimedOut => {
            o.status = "timeout";
            o.stop_reason = "timeout".into();
        }
    }
    o
}

/// Persist what the assistant said (complete, or partial when aborted or failed mid-stream).
async fn persist_reply(agents: &Arc<Agents>, run: &Run, o: &Outcome, ended_ms: u64) {
    if o.text.is_empty() {
        return;
    }
    let api = o.provider.as_deref().and_then(|p| {
        let cat = agents.catalog();
        cat.providers.get(p).map(|p| p.api.as_str())
    });
    let body = json!({
        "role": "assistant",
        "content": [{ "type": "text", "text": o.text }],
        "timestamp": ended_ms,
        "api": api,
        "provider": o.provider,
        "model": o.model,
        "usage": { "input": o.input_tokens, "output": o.output_tokens, "totalTokens": o.input_tokens + o.output_tokens },
        "stopReason": o.stop_reason,
    });
    let totals = RunTotals {
        provider: o.provider.clone().unwrap_or_default(),
        model: o.model.clone().unwrap_or_default(),
        input_tokens: o.input_tokens,
        output_tokens: o.output_tokens,
    };
    // Queued, not awaited: the caller is answered while it commits, and every transcript
    // read waits for writes queued before it (`SessionStore::read`).
    if let Err(e) = agents
        .runs
        .store
        .assistant(
            &run.session_key,
            &run.agent_id,
            &run.id,
            &body,
            Some(totals),
            false,
        )
        .await
    {
        tracing::error!(target: "agents", "run {}: persisting the reply failed: {e}", run.id);
    }
    if agents.runs.watched(&run.session_key, None) {
        agents.runs.emit(
            &run.session_key,
            None,
            "session.message",
            &json!({
                "sessionKey": run.session_key, "runId": run.id, "message": body,
            }),
            true,
        );
    }
}

/// The run's end as events: usage, lifecycle end, the chat's terminal state.
fn emit_end(agents: &Arc<Agents>, run: &Run, o: &Outcome, ended_ms: u64) {
    let message = || assistant_body(&o.text, ended_ms);
    match o.status {
        "ok" => {
            agent_event(agents, run, "usage", || {
                json!({
                    "input": o.input_tokens, "output": o.output_tokens,
                    "total": o.input_tokens + o.output_tokens,
                    "provider": o.provider, "model": o.model,
                })
            });
            agent_event(
                agents,
                run,
                "lifecycle",
                || json!({ "phase": "end", "status": "ok", "endedAt": ended_ms }),
            );
            chat_event(
                agents,
                run,
                || json!({ "state": "final", "stopReason": o.stop_reason, "message": message() }),
            );
        }
        "error" => {
            let msg = o.failure.as_ref().map(Failure::message).unwrap_or_default();
            agent_event(
                agents,
                run,
                "lifecycle",
                || json!({ "phase": "end", "status": "error", "endedAt": ended_ms }),
            );
            agent_event(
                agents,
                run,
                "lifecycle",
                || json!({ "phase": "error", "error": msg }),
            );
            let kind = match o.failure.as_ref().and_then(Failure::provider_kind) {
                Some(ProviderErrorKind::RateLimit { .. }) => "rate_limit",
                Some(ProviderErrorKind::Timeout) => "timeout",
                _ => "unknown",
            };
            chat_event(agents, run, || {
                json!({
                    "state": "error", "errorMessage": msg, "errorKind": kind,
                    "errorDetail": o.error_detail.clone().unwrap_or(json!({})), "stopReason": "error",
                })
            });
        }
        _ => {
            agent_event(agents, run, "lifecycle", || {
                json!({
                    "phase": "end", "status": "cancelled", "aborted": true, "endedAt": ended_ms,
                    "stopReason": o.stop_reason,
                })
            });
            chat_event(
                agents,
                run,
                || json!({ "state": "aborted", "stopReason": o.stop_reason, "message": message() }),
            );
        }
    }
}

/// The run's reply (what `agent` answers, and what `agent.wait` and a reload see).
fn reply(run: &Run, o: &Outcome, took: Duration) -> Value {
    match (o.status, &o.failure) {
        ("ok", _) => json!({ "ok": true, "payload": {
            "runId": run.id, "status": "ok", "summary": "completed",
            "result": {
                "payloads": [{ "text": o.text, "mediaUrl": null }],
                "meta": {
                    "durationMs": took.as_millis() as u64,
                    "agentMeta": {
                        "sessionKey": run.session_key, "provider": o.provider, "model": o.model,
                        "usage": { "input": o.input_tokens, "output": o.output_tokens,
                                   "total": o.input_tokens + o.output_tokens },
                    },
                    "aborted": false,
                    "stopReason": o.stop_reason,
                },
            },
        }}),
        ("error", Some(f)) => json!({
            "ok": false,
            "payload": { "runId": run.id, "status": "error", "summary": f.message() },
            "error": ErrorShape::from(f),
        }),
        ("timeout", _) => json!({ "ok": true, "payload": {
            "runId": run.id, "status": "timeout", "summary": "timeout", "stopReason": "timeout",
        }}),
        _ => json!({ "ok": true, "payload": {
            "runId": run.id, "status": "timeout", "summary": "aborted", "stopReason": o.stop_reason,
        }}),
    }
}

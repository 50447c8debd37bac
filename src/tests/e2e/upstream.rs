//! A scripted upstream model server on 127.0.0.1:0 for the provider and agent tests:
//! OpenAI chat completions (stream and not), Anthropic messages, embeddings and models.
//!
//! It echoes the last user message word by word; words in that message script failures:
//! `FAIL400`, `FAIL401`, `FAIL429` (`Retry-After: 7`), `FAIL500`, `MALFORMED` (bad JSON
//! in the stream), `HANG` (headers + first event, then held open forever), `SLOWSTART`
//! (headers after [`SLOWSTART_DELAY`]), `DROP` (two content chunks, then the connection is
//! aborted), `STALL` (every content chunk, then held open without finishing, like
//! `HANG`), `NOSTREAM` (OpenAI: a JSON completion although `stream: true` was asked).
//! Every request is recorded; held requests and client disconnects are observable through
//! watch counters, so tests synchronise on events, never on sleeps.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

mod reply;

pub use reply::embed;
use reply::{last_user_text, prompt_words, reply_words, Reply};

/// How long a `SLOWSTART` request waits before its response headers.
pub const SLOWSTART_DELAY: Duration = Duration::from_secs(5);
/// Dimensions of the fake embeddings.
pub const EMBEDDING_DIMS: usize = 8;
/// The one model `GET /v1/models` lists.
pub const MODEL_ID: &str = "echo-1";

/// How the upstream behaves.
#[derive(Clone, Debug, Default)]
pub struct UpstreamOpts {
    /// Pause between streamed chunks (not before the first one).
    pub chunk_delay: Duration,
    /// When set, requests without `Authorization: Bearer <key>` (OpenAI paths) or
    /// `x-api-key: <key>` (`/v1/messages`) get a 401.
    pub require_key: Option<String>,
}

/// One request as the upstream saw it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    /// All request headers, names lower-case, in arrival order.
    pub headers: Vec<(String, String)>,
    pub authorization: Option<String>,
    pub x_api_key: Option<String>,
    /// The JSON body (`Null` when empty or not JSON).
    pub body: Value,
}

impl Recorded {
    /// First value of a header (name case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What the upstream observed; shared with the tests.
pub struct UpstreamState {
    requests: Mutex<Vec<Recorded>>,
    /// How many `HANG`/`STALL` responses have reached their hold point (headers and first event
    /// handed to the connection).
    pub held: watch::Sender<usize>,
    /// How many responses were dropped before their body finished: the client went away
    /// (a held request, or one cut mid-stream).
    pub disconnects: watch::Sender<usize>,
}

impl UpstreamState {
    fn new() -> Self {
        UpstreamState {
            requests: Mutex::new(Vec::new()),
            held: watch::Sender::new(0),
            disconnects: watch::Sender::new(0),
        }
    }

    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    /// How many requests hit `path`.
    pub fn count(&self, path: &str) -> usize {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path == path)
            .count()
    }

    /// The latest request to `path`.
    pub fn last(&self, path: &str) -> Option<Recorded> {
        let reqs = self.requests.lock().unwrap();
        reqs.iter().rev().find(|r| r.path == path).cloned()
    }

    /// Wait until at least `n` requests are being held (fails the test after `util::WAIT`).
    pub async fn wait_held(&self, n: usize) {
        let mut rx = self.held.subscribe();
        let what = format!("{n} held upstream requests");
        let _ = crate::util::bounded(&what, rx.wait_for(|v| *v >= n)).await;
    }

    /// Wait until at least `n` client disconnects were observed (fails the test after `util::WAIT`).
    pub async fn wait_disconnects(&self, n: usize) {
        let mut rx = self.disconnects.subscribe();
        let what = format!("{n} upstream client disconnects");
        let _ = crate::util::bounded(&what, rx.wait_for(|v| *v >= n)).await;
    }
}

/// A running upstream; dropping it stops the server and every connection.
pub struct Upstream {
    pub addr: SocketAddr,
    pub state: Arc<UpstreamState>,
    task: JoinHandle<()>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Upstream {
    /// Listen on 127.0.0.1:0 and serve.
    pub async fn start(opts: UpstreamOpts) -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind upstream");
        let addr = listener.local_addr().expect("upstream addr");
        let state = Arc::new(UpstreamState::new());
        let task = tokio::spawn(accept_loop(listener, state.clone(), Arc::new(opts)));
        Upstream { addr, state, task }
    }

    /// `http://addr/v1` — an OpenAI-compatible `baseUrl`.
    pub fn openai_base(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// `http://addr` — an Anthropic `baseUrl`.
    pub fn anthropic_base(&self) -> String {
        format!("http://{}", self.addr)
    }
}

async fn accept_loop(listener: TcpListener, state: Arc<UpstreamState>, opts: Arc<UpstreamOpts>) {
    // Connections live in the set: aborting this task aborts them all.
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            acc = listener.accept() => {
                let Ok((stream, _)) = acc else { continue };
                let (state, opts) = (state.clone(), opts.clone());
                conns.spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        handle(state.clone(), opts.clone(), req)
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

async fn handle(
    state: Arc<UpstreamState>,
    opts: Arc<UpstreamOpts>,
    req: Request<Incoming>,
) -> Result<Response<Script>, Infallible> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let raw = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let rec = Recorded {
        method: method.to_string(),
        path: path.clone(),
        authorization: find(&headers, "authorization"),
        x_api_key: find(&headers, "x-api-key"),
        headers,
        body: serde_json::from_slice(&raw).unwrap_or(Value::Null),
    };
    state.requests.lock().unwrap().push(rec.clone());
    let r = Responder { state, opts };
    Ok(match (method, path.as_str()) {
        (Method::POST, "/v1/chat/completions") => r.chat(&rec, Dialect::OpenAi).await,
        (Method::POST, "/v1/messages") => r.chat(&rec, Dialect::Anthropic).await,
        (Method::POST, "/v1/embeddings") => r.embeddings(&rec),
        (Method::GET, "/v1/models") => r.models(&rec),
        _ => r.error(
            Dialect::OpenAi,
            404,
            "fake upstream: no such route",
            "not_found_error",
        ),
    })
}

fn find(headers: &[(String, String)], name: &str) -> Option<String> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Dialect {
    OpenAi,
    Anthropic,
}

/// Builds responses whose bodies report back to the shared state.
struct Responder {
    state: Arc<UpstreamState>,
    opts: Arc<UpstreamOpts>,
}

impl Responder {
    fn json(&self, status: u16, v: &Value) -> Response<Script> {
        let body = Script::new(
            &self.state,
            vec![Bytes::from(v.to_string())],
            Tail::End,
            Duration::ZERO,
        );
        Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(body)
            .unwrap()
    }

    fn error(&self, d: Dialect, status: u16, msg: &str, ty: &str) -> Response<Script> {
        let v = match d {
            Dialect::OpenAi => json!({ "error": { "message": msg, "type": ty } }),
            Dialect::Anthropic => {
                json!({ "type": "error", "error": { "type": ty, "message": msg } })
            }
        };
        self.json(status, &v)
    }

    fn sse(&self, chunks: Vec<String>, tail: Tail) -> Response<Script> {
        let chunks = chunks.into_iter().map(Bytes::from).collect();
        let body = Script::new(&self.state, chunks, tail, self.opts.chunk_delay);
        Response::builder()
            .header("content-type", "text/event-stream")
            .header("cache-control", "no-cache")
            .body(body)
            .unwrap()
    }

    /// 401 unless the dialect's key header carries the required key.
    fn check_key(&self, rec: &Recorded, d: Dialect) -> Option<Response<Script>> {
        let want = self.opts.require_key.as_deref()?;
        let ok = match d {
            Dialect::OpenAi => rec.authorization.as_deref() == Some(&format!("Bearer {want}")),
            Dialect::Anthropic => rec.x_api_key.as_deref() == Some(want),
        };
        let got = match d {
            Dialect::OpenAi => rec.authorization.as_deref().unwrap_or(""),
            Dialect::Anthropic => rec.x_api_key.as_deref().unwrap_or(""),
        };
        let got = got.strip_prefix("Bearer ").unwrap_or(got);
        // Quotes the key it got, as OpenAI does: callers must keep it out of their messages.
        let msg = format!("fake upstream: invalid api key {got}");
        (!ok).then(|| self.error(d, 401, &msg, "authentication_error"))
    }

    fn scripted_failure(&self, d: Dialect, text: &str) -> Option<Response<Script>> {
        let (status, msg, ty) = if text.contains("FAIL400") {
            (
                400,
                "fake upstream bad request (FAIL400)",
                "invalid_request_error",
            )
        } else if text.contains("FAIL401") {
            (
                401,
                "fake upstream unauthorized (FAIL401)",
                "authentication_error",
            )
        } else if text.contains("FAIL429") {
            (
                429,
                "fake upstream rate limited (FAIL429)",
                "rate_limit_error",
            )
        } else if text.contains("FAIL500") {
            (
                500,
                "fake upstream internal error (FAIL500)",
                "server_error",
            )
        } else {
            return None;
        };
        let mut resp = self.error(d, status, msg, ty);
        if status == 429 {
            resp.headers_mut()
                .insert("retry-after", "7".parse().unwrap());
        }
        Some(resp)
    }

    async fn chat(&self, rec: &Recorded, d: Dialect) -> Response<Script> {
        if let Some(r) = self.check_key(rec, d) {
            return r;
        }
        let b = &rec.body;
        let text = last_user_text(&b["messages"]);
        if let Some(r) = self.scripted_failure(d, &text) {
            return r;
        }
        if text.contains("MALFORMED") {
            let bad = match d {
                Dialect::OpenAi => "data: {not json\n\n",
                Dialect::Anthropic => "event: message_start\ndata: {not json\n\n",
            };
            return self.sse(vec![bad.to_string(), bad.to_string()], Tail::End);
        }
        if text.contains("SLOWSTART") {
            tokio::time::sleep(SLOWSTART_DELAY).await;
        }
        let model = b["model"].as_str().unwrap_or(MODEL_ID).to_string();
        let words = reply_words(&text);
        let prompt = prompt_words(b);
        let stream = b["stream"] == true && !text.contains("NOSTREAM");
        let reply = Reply {
            model,
            words,
            prompt,
        };
        match (d, stream) {
            (Dialect::OpenAi, false) => self.json(200, &reply.openai_completion()),
            (Dialect::Anthropic, false) => self.json(200, &reply.anthropic_message()),
            (Dialect::OpenAi, true) => {
                let usage = b["stream_options"]["include_usage"] == true;
                let (chunks, tail) = reply.openai_stream(&text, usage);
                self.sse(chunks, tail)
            }
            (Dialect::Anthropic, true) => {
                let (chunks, tail) = reply.anthropic_stream(&text);
                self.sse(chunks, tail)
            }
        }
    }

    fn embeddings(&self, rec: &Recorded) -> Response<Script> {
        if let Some(r) = self.check_key(rec, Dialect::OpenAi) {
            return r;
        }
        let inputs: Vec<String> = match &rec.body["input"] {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a
                .iter()
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                .collect(),
            _ => {
                let msg = "fake upstream: input must be a string or an array";
                return self.error(Dialect::OpenAi, 400, msg, "invalid_request_error");
            }
        };
        let tokens: usize = inputs.iter().map(|t| t.split_whitespace().count()).sum();
        let data: Vec<Value> = inputs
            .iter()
            .enumerate()
            .map(|(i, t)| json!({ "object": "embedding", "index": i, "embedding": embed(t) }))
            .collect();
        let model = rec.body["model"].as_str().unwrap_or(MODEL_ID);
        self.json(
            200,
            &json!({
                "object": "list",
                "data": data,
                "model": model,
                "usage": { "prompt_tokens": tokens, "total_tokens": tokens },
            }),
        )
    }

    fn models(&self, rec: &Recorded) -> Response<Script> {
        if let Some(r) = self.check_key(rec, Dialect::OpenAi) {
            return r;
        }
        let m =
            json!({ "id": MODEL_ID, "object": "model", "created": 0, "owned_by": "fake-upstream" });
        self.json(200, &json!({ "object": "list", "data": [m] }))
    }
}

/// What a scripted body does after its chunks.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tail {
    /// End the body cleanly.
    End,
    /// Never end; signal `held`.
    Hold,
    /// Fail the body: hyper aborts the connection (no terminating chunk).
    Abort,
}

/// Counts a disconnect when dropped before the body finished.
struct Guard {
    state: Arc<UpstreamState>,
    finished: bool,
    holding: bool,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if !self.finished {
            self.state.disconnects.send_modify(|n| *n += 1);
        }
    }
}

/// A response body that plays a script: chunks (with a delay between them), then a tail.
pub struct Script {
    chunks: VecDeque<Bytes>,
    delay: Duration,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    sent_any: bool,
    tail: Tail,
    abort_armed: bool,
    /// Announce the length (a one-piece JSON body gets a `Content-Length`).
    exact: bool,
    guard: Guard,
}

impl Script {
    fn new(state: &Arc<UpstreamState>, chunks: Vec<Bytes>, tail: Tail, delay: Duration) -> Self {
        let exact = tail == Tail::End && delay.is_zero() && chunks.len() <= 1;
        Script {
            guard: Guard {
                state: state.clone(),
                finished: tail == Tail::End && chunks.is_empty(),
                holding: false,
            },
            chunks: chunks.into(),
            delay,
            sleep: None,
            sent_any: false,
            tail,
            abort_armed: false,
            exact,
        }
    }
}

impl Body for Script {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let this = self.get_mut();
        if !this.chunks.is_empty() {
            if this.sent_any && !this.delay.is_zero() {
                let delay = this.delay;
                let sleep = this
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(delay)));
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                this.sleep = None;
            }
            if let Some(c) = this.chunks.pop_front() {
                this.sent_any = true;
                if this.chunks.is_empty() && this.tail == Tail::End {
                    // The last bytes are handed over: hyper may drop us without polling on.
                    this.guard.finished = true;
                }
                return Poll::Ready(Some(Ok(Frame::data(c))));
            }
        }
        match this.tail {
            Tail::End => {
                this.guard.finished = true;
                Poll::Ready(None)
            }
            Tail::Hold => {
                if !this.guard.holding {
                    this.guard.holding = true;
                    this.guard.state.held.send_modify(|n| *n += 1);
                }
                Poll::Pending
            }
            Tail::Abort if !this.abort_armed => {
                // Return Pending once (waking ourselves) so hyper flushes what it buffered;
                // an error right away would discard the chunks before the abort.
                this.abort_armed = true;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            Tail::Abort => {
                this.guard.finished = true;
                let e = std::io::Error::new(std::io::ErrorKind::ConnectionAborted, "scripted DROP");
                Poll::Ready(Some(Err(e)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.chunks.is_empty() && self.tail == Tail::End
    }

    fn size_hint(&self) -> SizeHint {
        if self.exact {
            SizeHint::with_exact(self.chunks.iter().map(|c| c.len() as u64).sum())
        } else {
            SizeHint::default()
        }
    }
}

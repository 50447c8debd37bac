//! Synthetic OpenAI-compatible model server (hyper 1): `POST /v1/chat/completions` streamed as
//! SSE (`stream: true`) or one JSON completion, and `GET /v1/models`. Each reply is `--tokens`
//! self-identifying tokens (` t0`, ` t1`, …) paced at `--tokens-per-sec` per stream with
//! `--jitter-ms` of uniform ± jitter per token. When recording, the monotonic instant each
//! token is handed to the connection is stored under the request's marker (see [`crate::marks`]).
//!
//! It runs on its own tokio runtime (`--upstream-threads` OS threads), so its token timing is
//! not queued behind the measuring client's work. `openclaw-loadtest upstream` serves it alone.

use std::convert::Infallible;
use std::future::Future;
use std::net::Ipv4Addr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result};
use bytes::Bytes;
use clap::Args;
use http_body_util::{BodyExt, Limited};
use hyper::body::{Body, Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rand::Rng;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::watch;
use tokio::time::Sleep;

use crate::marks::{find_marker, token_text, Sends, Table};

/// Largest request body read (the Node gateway sends a ~50 KB system prompt).
pub const MAX_REQUEST_BODY: usize = 16 * 1024 * 1024;
/// Most simultaneous upstream connections; more are closed at once.
pub const MAX_UPSTREAM_CONNS: usize = 60_000;
/// Most tokens per reply.
pub const MAX_TOKENS: u32 = 100_000;
/// The model id served.
pub const MODEL_ID: &str = "echo-1";

/// Shape and pace of every reply.
#[derive(Args, Clone, Debug)]
pub struct Pacing {
    /// Tokens per reply (each ` t<idx>`).
    #[arg(long, default_value_t = 50)]
    pub tokens: u32,
    /// Tokens per second per stream (0: as fast as the connection takes them).
    #[arg(long, default_value_t = 20.0)]
    pub tokens_per_sec: f64,
    /// Uniform ± jitter per token (ms); the order of tokens is kept.
    #[arg(long, default_value_t = 0)]
    pub jitter_ms: u64,
    /// OS threads of the upstream's own tokio runtime.
    #[arg(long, default_value_t = 1)]
    pub upstream_threads: usize,
}

impl Pacing {
    /// Gap between two tokens of a stream.
    pub fn interval(&self) -> Duration {
        if self.tokens_per_sec > 0.0 {
            Duration::from_secs_f64(1.0 / self.tokens_per_sec)
        } else {
            Duration::ZERO
        }
    }

    /// Nominal length of one stream (all gaps plus one jitter).
    pub fn interval_total(&self) -> Duration {
        self.interval() * self.tokens.min(MAX_TOKENS) + Duration::from_millis(self.jitter_ms)
    }

    /// JSON description.
    pub fn to_json(&self) -> serde_json::Value {
        json!({"tokens": self.tokens, "tokens_per_sec": self.tokens_per_sec,
            "jitter_ms": self.jitter_ms, "upstream_threads": self.upstream_threads})
    }
}

/// Counters of the upstream.
#[derive(Debug, Default)]
pub struct Stats {
    pub conns: AtomicUsize,
    pub requests: AtomicU64,
    /// Chat requests without a marker (not matched by the harness).
    pub unmarked: AtomicU64,
    pub streams_done: AtomicU64,
    pub tokens_sent: AtomicU64,
}

impl Stats {
    /// JSON snapshot.
    pub fn to_json(&self) -> serde_json::Value {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        json!({"requests": g(&self.requests), "unmarked": g(&self.unmarked),
            "streams_done": g(&self.streams_done), "tokens_sent": g(&self.tokens_sent)})
    }
}

struct Shared {
    pacing: Pacing,
    table: Option<Arc<Table>>,
    stats: Arc<Stats>,
    next_id: AtomicU64,
}

/// A running upstream; [`Upstream::stop`] closes its port.
pub struct Upstream {
    pub port: u16,
    pub table: Arc<Table>,
    pub stats: Arc<Stats>,
    stop: watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Upstream {
    /// Bind 127.0.0.1:`port` (0: any) and serve on a dedicated runtime. `record`: keep the
    /// send instants of marked requests in [`Upstream::table`].
    pub fn start(port: u16, pacing: &Pacing, record: bool) -> Result<Upstream> {
        let l = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port))
            .with_context(|| format!("upstream: bind 127.0.0.1:{port}"))?;
        l.set_nonblocking(true)?;
        let port = l.local_addr()?.port();
        let table = Arc::new(Table::default());
        let stats = Arc::new(Stats::default());
        let mut pacing = pacing.clone();
        pacing.tokens = pacing.tokens.min(MAX_TOKENS);
        let sh = Arc::new(Shared {
            table: record.then(|| table.clone()),
            stats: stats.clone(),
            next_id: AtomicU64::new(0),
            pacing,
        });
        let threads = sh.pacing.upstream_threads.max(1);
        let (stop, stop_rx) = watch::channel(false);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("lt-upstream")
            .enable_all()
            .build()
            .context("upstream runtime")?;
        let thread = std::thread::Builder::new()
            .name("lt-upstream-main".into())
            .spawn(move || {
                rt.block_on(async move {
                    match tokio::net::TcpListener::from_std(l) {
                        Ok(l) => serve(l, sh, stop_rx).await,
                        Err(e) => eprintln!("upstream: {e}"),
                    }
                });
                rt.shutdown_timeout(Duration::from_millis(500));
            })?;
        Ok(Upstream {
            port,
            table,
            stats,
            stop,
            thread: Some(thread),
        })
    }

    /// Stop accepting, drop every connection, release the port.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

async fn serve(l: tokio::net::TcpListener, sh: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            r = l.accept() => {
                let Ok((tcp, _)) = r else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                if sh.stats.conns.load(Ordering::Relaxed) >= MAX_UPSTREAM_CONNS {
                    continue;
                }
                let _ = tcp.set_nodelay(true);
                sh.stats.conns.fetch_add(1, Ordering::Relaxed);
                let sh = sh.clone();
                tokio::spawn(async move {
                    let s2 = sh.clone();
                    let svc = service_fn(move |req| handle(req, s2.clone()));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), svc)
                        .await;
                    sh.stats.conns.fetch_sub(1, Ordering::Relaxed);
                });
            }
            _ = stop.changed() => break,
        }
    }
}

/// A response body: fixed bytes or a paced token stream.
pub enum UpBody {
    Full(Option<Bytes>),
    Stream(Box<TokenStream>),
}

impl Body for UpBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            UpBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            UpBody::Stream(s) => s.poll_next(cx).map(|o| o.map(|b| Ok(Frame::data(b)))),
        }
    }
}

fn json_response(status: StatusCode, v: serde_json::Value) -> Response<UpBody> {
    let mut r = Response::new(UpBody::Full(Some(Bytes::from(v.to_string()))));
    *r.status_mut() = status;
    r.headers_mut()
        .insert("content-type", "application/json".parse().expect("static"));
    r
}

async fn handle(req: Request<Incoming>, sh: Arc<Shared>) -> Result<Response<UpBody>, Infallible> {
    let path = req.uri().path().trim_end_matches('/');
    Ok(match (req.method(), path) {
        (&Method::GET, "/v1/models" | "/models") => json_response(
            StatusCode::OK,
            json!({"object": "list", "data": [{"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "openclaw-loadtest"}]}),
        ),
        (&Method::POST, "/v1/chat/completions" | "/chat/completions") => chat(req, &sh).await,
        _ => json_response(
            StatusCode::NOT_FOUND,
            json!({"error": {"message": "not found", "type": "invalid_request_error"}}),
        ),
    })
}

#[derive(Deserialize)]
struct ChatReq {
    #[serde(default)]
    stream: bool,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
}

#[derive(Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: bool,
}

fn unix_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

async fn chat(req: Request<Incoming>, sh: &Shared) -> Response<UpBody> {
    sh.stats.requests.fetch_add(1, Ordering::Relaxed);
    let body = match Limited::new(req.into_body(), MAX_REQUEST_BODY)
        .collect()
        .await
    {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            return json_response(
                StatusCode::BAD_REQUEST,
                json!({"error": {"message": format!("body: {e}"), "type": "invalid_request_error"}}),
            )
        }
    };
    let got = Instant::now();
    let r: ChatReq = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return json_response(
                StatusCode::BAD_REQUEST,
                json!({"error": {"message": format!("invalid JSON: {e}"), "type": "invalid_request_error"}}),
            )
        }
    };
    let marker = find_marker(&body);
    if marker.is_none() {
        sh.stats.unmarked.fetch_add(1, Ordering::Relaxed);
    }
    let sends = match (&sh.table, &marker) {
        (Some(t), Some(m)) => t.begin(m, got),
        _ => None,
    };
    let id = format!(
        "chatcmpl-lt{}",
        sh.next_id.fetch_add(1, Ordering::Relaxed) + 1
    );
    let model = r.model.unwrap_or_else(|| MODEL_ID.to_string());
    let p = &sh.pacing;
    if !r.stream {
        let think = p.interval() * p.tokens;
        // A zero sleep still waits for the timer's next 1 ms tick: answer at once instead.
        if !think.is_zero() {
            tokio::time::sleep(think).await;
        }
        let text: String = (0..p.tokens).map(token_text).collect();
        let at = Instant::now();
        if let Some(s) = &sends {
            (0..p.tokens).for_each(|_| s.push(at));
        }
        sh.stats
            .tokens_sent
            .fetch_add(u64::from(p.tokens), Ordering::Relaxed);
        sh.stats.streams_done.fetch_add(1, Ordering::Relaxed);
        return json_response(
            StatusCode::OK,
            json!({"id": id, "object": "chat.completion", "created": unix_s(), "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": usage(p.tokens)}),
        );
    }
    let head = format!(
        r#"data: {{"id":"{id}","object":"chat.completion.chunk","created":{},"model":{},"choices":[{{"index":0,"delta":"#,
        unix_s(),
        serde_json::Value::String(model)
    );
    let now = tokio::time::Instant::now();
    let stream = TokenStream {
        head,
        tokens: p.tokens,
        next: 0,
        phase: Phase::Role,
        t0: now,
        interval: p.interval(),
        jitter_us: p.jitter_ms.saturating_mul(1000) as i64,
        last: now,
        sleep: Box::pin(tokio::time::sleep_until(now)),
        sends,
        include_usage: r.stream_options.is_some_and(|o| o.include_usage),
        stats: sh.stats.clone(),
    };
    let mut resp = Response::new(UpBody::Stream(Box::new(stream)));
    let h = resp.headers_mut();
    h.insert(
        "content-type",
        "text/event-stream; charset=utf-8".parse().expect("static"),
    );
    h.insert("cache-control", "no-cache".parse().expect("static"));
    resp
}

fn usage(tokens: u32) -> serde_json::Value {
    json!({"prompt_tokens": 10, "completion_tokens": tokens, "total_tokens": 10 + tokens})
}

enum Phase {
    Role,
    Tokens,
    Tail,
    Done,
}

/// One SSE reply: role chunk, paced token chunks, finish chunk (+ usage), `[DONE]`.
pub struct TokenStream {
    /// `data: {"id":…,"choices":[{"index":0,"delta":` — each chunk continues it.
    head: String,
    tokens: u32,
    next: u32,
    phase: Phase,
    t0: tokio::time::Instant,
    interval: Duration,
    jitter_us: i64,
    /// Scheduled time of the previous token (tokens stay in order under jitter).
    last: tokio::time::Instant,
    sleep: Pin<Box<Sleep>>,
    sends: Option<Arc<Sends>>,
    include_usage: bool,
    stats: Arc<Stats>,
}

impl TokenStream {
    /// When token `i` is due: `t0 + i·interval ± jitter`, never before the previous one.
    fn due(&self, i: u32) -> tokio::time::Instant {
        let base = self.t0 + self.interval * i;
        let at = if self.jitter_us > 0 {
            let j = rand::thread_rng().gen_range(-self.jitter_us..=self.jitter_us);
            if j >= 0 {
                base + Duration::from_micros(j as u64)
            } else {
                base.checked_sub(Duration::from_micros(j.unsigned_abs()))
                    .unwrap_or(base)
                    .max(self.t0)
            }
        } else {
            base
        };
        at.max(self.last)
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        match self.phase {
            Phase::Role => {
                self.phase = if self.tokens > 0 {
                    Phase::Tokens
                } else {
                    Phase::Tail
                };
                let due = self.due(0);
                self.last = due;
                self.sleep.as_mut().reset(due);
                let s = format!(
                    "{}{{\"role\":\"assistant\",\"content\":\"\"}},\"finish_reason\":null}}]}}\n\n",
                    self.head
                );
                Poll::Ready(Some(Bytes::from(s)))
            }
            Phase::Tokens => {
                // A deadline already past would still wait for the timer's next 1 ms tick.
                if self.sleep.deadline() > tokio::time::Instant::now() {
                    ready!(self.sleep.as_mut().poll(cx));
                }
                let i = self.next;
                let s = format!(
                    "{}{{\"content\":\"{}\"}},\"finish_reason\":null}}]}}\n\n",
                    self.head,
                    token_text(i)
                );
                if let Some(sends) = &self.sends {
                    sends.push(Instant::now());
                }
                self.stats.tokens_sent.fetch_add(1, Ordering::Relaxed);
                self.next += 1;
                if self.next >= self.tokens {
                    self.phase = Phase::Tail;
                } else {
                    let due = self.due(self.next);
                    self.last = due;
                    self.sleep.as_mut().reset(due);
                }
                Poll::Ready(Some(Bytes::from(s)))
            }
            Phase::Tail => {
                self.phase = Phase::Done;
                let mut s = format!("{}{{}},\"finish_reason\":\"stop\"}}]}}\n\n", self.head);
                if self.include_usage {
                    let head = self.head.trim_end_matches(r#"{"index":0,"delta":"#);
                    s.push_str(&format!("{head}],\"usage\":{}}}\n\n", usage(self.tokens)));
                }
                s.push_str("data: [DONE]\n\n");
                self.stats.streams_done.fetch_add(1, Ordering::Relaxed);
                Poll::Ready(Some(Bytes::from(s)))
            }
            Phase::Done => Poll::Ready(None),
        }
    }
}

/// `openclaw-loadtest upstream`: the synthetic model server alone, for a gateway to use while
/// other tools run (nothing is matched: send instants are only kept in-process).
#[derive(Args, Debug)]
pub struct UpstreamArgs {
    /// Port on 127.0.0.1 (0: any free port; the chosen one is printed).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    #[command(flatten)]
    pub pacing: Pacing,
    /// Exit after this many seconds.
    #[arg(long, default_value_t = 3600)]
    pub max_secs: u64,
}

/// Serve until `--max-secs`, SIGTERM or Ctrl-C.
pub async fn run(a: &UpstreamArgs) -> Result<()> {
    let up = Upstream::start(a.port, &a.pacing, false)?;
    println!(
        "upstream listening on http://127.0.0.1:{}/v1 (model {MODEL_ID}, {} tokens at {}/s ±{} ms)",
        up.port, a.pacing.tokens, a.pacing.tokens_per_sec, a.pacing.jitter_ms
    );
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::time::sleep(Duration::from_secs(a.max_secs)) => {}
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    let stats = up.stats.to_json();
    up.stop().await;
    eprintln!("upstream: stopping; {stats}");
    Ok(())
}

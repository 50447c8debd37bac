//! `http --chat-stream`: streamed `POST /v1/chat/completions` (OpenAI SSE) through the gateway,
//! whose model provider is the in-process synthetic upstream (`--upstream-port`). `--conc`
//! keep-alive connections, each a closed loop for `--secs`. Each request's user message carries
//! a unique marker; every content chunk's tokens are matched to their upstream send instants:
//! per-chunk added latency, time to first content chunk, and the whole request.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use serde_json::json;
use tokio::task::JoinSet;
use tokio::time::timeout;

use super::http::HttpArgs;
use crate::client::ClientCfg;
use crate::marks::{self, token_ids, Seen, Sends, Table};
use crate::progress;
use crate::report::{
    self, hist_headers, hist_json, hist_row, new_hist, r3, Outcome, Table as TextTable,
};
use crate::upstream::Upstream;

/// Longest SSE line kept while waiting for its end.
pub const MAX_SSE_LINE: usize = 1024 * 1024;

#[derive(Deserialize)]
struct Chunk<'a> {
    #[serde(default, borrow)]
    choices: Vec<Choice<'a>>,
    #[serde(default, borrow)]
    error: Option<&'a serde_json::value::RawValue>,
}

#[derive(Deserialize)]
struct Choice<'a> {
    #[serde(default, borrow)]
    delta: Option<Delta<'a>>,
}

#[derive(Deserialize)]
struct Delta<'a> {
    #[serde(default, borrow)]
    content: Option<Cow<'a, str>>,
}

/// What one connection measured (latencies in µs).
#[derive(Default)]
struct Tally {
    total: Vec<u64>,
    ttft: Vec<u64>,
    added: Vec<u64>,
    to_upstream: Vec<u64>,
    non200: u64,
    failed: u64,
    no_done: u64,
    tokens: u64,
    unmatched: u64,
    statuses: Vec<u16>,
    errors: Vec<String>,
}

impl Tally {
    fn fail(&mut self, e: anyhow::Error) {
        self.failed += 1;
        progress::fail();
        if self.errors.len() < 5 {
            self.errors.push(format!("{e:#}"));
        }
    }
}

fn us(d: Duration) -> u64 {
    d.as_micros() as u64
}

/// One streamed response in progress.
struct Stream<'t> {
    marker: String,
    sends: Option<Arc<Sends>>,
    seen: Seen,
    first: Option<Instant>,
    done: bool,
    line: Vec<u8>,
    table: &'t Table,
}

impl Stream<'_> {
    /// Bytes of the body received at `at`.
    fn feed(&mut self, data: &[u8], at: Instant, t: &mut Tally) -> Result<()> {
        for &b in data {
            if b != b'\n' {
                if self.line.len() >= MAX_SSE_LINE {
                    bail!("SSE line longer than {MAX_SSE_LINE} bytes");
                }
                self.line.push(b);
                continue;
            }
            let line = std::mem::take(&mut self.line);
            let text = String::from_utf8_lossy(&line);
            let Some(data) = text.trim_end_matches('\r').strip_prefix("data:") else {
                continue;
            };
            let data = data.trim_start();
            if data == "[DONE]" {
                self.done = true;
                continue;
            }
            let chunk: Chunk = serde_json::from_str(data).context("SSE chunk")?;
            if let Some(e) = chunk.error {
                bail!("error in stream: {}", e.get());
            }
            for c in &chunk.choices {
                let Some(content) = c.delta.as_ref().and_then(|d| d.content.as_deref()) else {
                    continue;
                };
                token_ids(content, |idx| {
                    if !self.seen.insert(idx) {
                        return;
                    }
                    t.tokens += 1;
                    self.first.get_or_insert(at);
                    if self.sends.is_none() {
                        self.sends = self.table.get(&self.marker);
                    }
                    match self.sends.as_ref().and_then(|s| s.at(idx)) {
                        Some(sent) => t.added.push(us(at.saturating_duration_since(sent))),
                        None => t.unmatched += 1,
                    }
                });
            }
        }
        Ok(())
    }
}

struct Job {
    cfg: ClientCfg,
    path: String,
    auth: Option<String>,
    model: String,
    tag: String,
    next: Arc<AtomicU64>,
    table: Arc<Table>,
    limit: Duration,
    end: Instant,
}

/// One keep-alive connection: streamed completions until `end`; reconnect after a failure.
async fn conn_loop(j: Job) -> Tally {
    let mut t = Tally::default();
    'outer: while Instant::now() < j.end {
        let sender = async {
            let tcp = j.cfg.tcp().await?;
            let (s, conn) = http1::handshake(TokioIo::new(tcp)).await?;
            tokio::spawn(conn);
            anyhow::Ok(s)
        };
        let mut sender = match timeout(j.cfg.timeout, sender).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                t.fail(e);
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            Err(_) => {
                t.fail(anyhow!("connect timed out"));
                continue;
            }
        };
        while Instant::now() < j.end {
            let marker = marks::marker(&j.tag, 'h', j.next.fetch_add(1, Ordering::Relaxed));
            let body = json!({"model": j.model, "stream": true,
                "messages": [{"role": "user", "content": format!("{marker} stream please")}]});
            let mut req = Request::post(j.path.as_str())
                .header("host", format!("127.0.0.1:{}", j.cfg.port))
                .header("user-agent", "openclaw-loadtest")
                .header("content-type", "application/json");
            if let Some(a) = &j.auth {
                req = req.header("authorization", a.as_str());
            }
            let req = match req.body(Full::new(Bytes::from(body.to_string()))) {
                Ok(r) => r,
                Err(e) => {
                    t.fail(e.into());
                    break 'outer;
                }
            };
            let mut s = Stream {
                marker,
                sends: None,
                seen: Seen::default(),
                first: None,
                done: false,
                line: Vec::new(),
                table: &j.table,
            };
            let t0 = Instant::now();
            let one = async {
                sender.ready().await?;
                let res = sender.send_request(req).await?;
                let status = res.status().as_u16();
                let mut body = res.into_body();
                while let Some(f) = body.frame().await {
                    let f = f?;
                    let at = Instant::now();
                    if let Some(d) = f.data_ref() {
                        if status == 200 {
                            s.feed(d, at, &mut t)?;
                        }
                    }
                }
                anyhow::Ok(status)
            };
            match timeout(j.limit, one).await {
                Ok(Ok(status)) => {
                    let done = Instant::now();
                    progress::inc(1);
                    t.total.push(us(done - t0));
                    if status != 200 {
                        t.non200 += 1;
                        if !t.statuses.contains(&status) {
                            t.statuses.push(status);
                        }
                        continue;
                    }
                    t.ttft.extend(s.first.map(|f| us(f - t0)));
                    if let Some(x) = j.table.get(&s.marker) {
                        t.to_upstream
                            .push(us(x.request_at.saturating_duration_since(t0)));
                    }
                    if !s.done {
                        t.no_done += 1;
                    }
                }
                Ok(Err(e)) => {
                    t.fail(e.context("request"));
                    continue 'outer;
                }
                Err(_) => {
                    t.fail(anyhow!("request timed out after {:?}", j.limit));
                    continue 'outer;
                }
            }
        }
    }
    t
}

fn hist_of(v: &[u64]) -> hdrhistogram::Histogram<u64> {
    let mut h = new_hist();
    for &x in v {
        h.saturating_record(x.max(1));
    }
    h
}

pub async fn run(a: &HttpArgs) -> Result<Outcome> {
    let Some(up_port) = a.upstream_port else {
        bail!("--chat-stream needs --upstream-port (the gateway's provider baseUrl port)");
    };
    let path = if a.path == "/healthz" {
        "/v1/chat/completions".to_string()
    } else {
        a.path.clone()
    };
    let up = Upstream::start(up_port, &a.pacing, true)?;
    let r = measure(a, &path, up.table.clone()).await;
    let stats = up.stats.to_json();
    up.stop().await;
    let mut o = r?;
    o.json["upstream"] = stats;
    Ok(o)
}

async fn measure(a: &HttpArgs, path: &str, table: Arc<Table>) -> Result<Outcome> {
    let cfg = a.common.client_cfg();
    let auth = (!a.common.token.is_empty()).then(|| format!("Bearer {}", a.common.token));
    let secs = a.secs.min(a.common.max_secs).max(1);
    let stream_time = a.pacing.interval_total();
    let limit = cfg.timeout + stream_time;
    progress::phase(&format!("POST {path} (stream)"), 0);
    let t0 = Instant::now();
    let end = t0 + Duration::from_secs(secs);
    let (tag, next) = (marks::run_tag(), Arc::new(AtomicU64::new(0)));
    let mut set = JoinSet::new();
    for _ in 0..a.conc.max(1) {
        set.spawn(conn_loop(Job {
            cfg: cfg.clone(),
            path: path.to_string(),
            auth: auth.clone(),
            model: a.model.clone(),
            tag: tag.clone(),
            next: next.clone(),
            table: table.clone(),
            limit,
            end,
        }));
    }
    let mut all = Tally::default();
    while let Some(r) = set.join_next().await {
        let x = r.context("http worker")?;
        all.total.extend(x.total);
        all.ttft.extend(x.ttft);
        all.added.extend(x.added);
        all.to_upstream.extend(x.to_upstream);
        all.non200 += x.non200;
        all.failed += x.failed;
        all.no_done += x.no_done;
        all.tokens += x.tokens;
        all.unmatched += x.unmatched;
        all.errors.extend(x.errors);
        for s in x.statuses {
            if !all.statuses.contains(&s) {
                all.statuses.push(s);
            }
        }
    }
    let wall = t0.elapsed().as_secs_f64();
    progress::clear();
    let named = [
        ("chunk added", hist_of(&all.added)),
        ("TTFT (1st content)", hist_of(&all.ttft)),
        ("send→upstream request", hist_of(&all.to_upstream)),
        ("whole request", hist_of(&all.total)),
    ];
    let mut tb = TextTable::new(hist_headers("chat stream"));
    for (n, h) in &named {
        tb.row(hist_row(n, h));
    }
    tb.print();
    let responses = all.total.len() as u64;
    let ok = responses - all.non200;
    let expected = ok * u64::from(a.pacing.tokens);
    let rate = responses as f64 / wall;
    println!(
        "{responses} responses ({} non-200{}), {} failed, {} without [DONE], {rate:.1} req/s over {wall:.2} s, \
         {} connections; tokens {}/{expected} ({} unmatched)",
        all.non200,
        if all.statuses.is_empty() {
            String::new()
        } else {
            format!(": {:?}", all.statuses)
        },
        all.failed,
        all.no_done,
        a.conc,
        all.tokens,
        all.unmatched
    );
    report::print_errors(&all.errors, all.failed);
    if responses == 0 {
        bail!("no response at all");
    }
    let json = json!({
        "path": path,
        "mode": "chat-stream",
        "model": a.model,
        "conc": a.conc,
        "secs": secs,
        "pacing": a.pacing.to_json(),
        "responses": responses,
        "non_200": all.non200,
        "statuses": all.statuses,
        "failed": all.failed,
        "missing": all.no_done,
        "errors": all.errors,
        "tokens": {"received": all.tokens, "expected": expected, "unmatched": all.unmatched},
        "elapsed_s": r3(wall),
        "req_per_s": r3(rate),
        "chunk_added": hist_json(&named[0].1),
        "ttft": hist_json(&named[1].1),
        "to_upstream": hist_json(&named[2].1),
        "latency": hist_json(&named[3].1),
    });
    let mut o = Outcome::new(json);
    o.ops = Some(responses);
    o.hists = named.into_iter().map(|(n, h)| (n.to_string(), h)).collect();
    Ok(o)
}

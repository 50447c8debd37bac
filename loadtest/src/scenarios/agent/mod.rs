//! `agent-streams`: N concurrent agent runs over C sockets against the built-in synthetic upstream
//! (started here on `--upstream-port`, so the gateway's provider config points at it first).
//!
//! Each run's message carries a unique marker; the upstream streams self-identifying tokens and
//! records when it sent each one. For every `agent` event of stream `assistant`, each new token
//! in its `delta` (or the new part of its cumulative `text`) is matched to its send instant:
//! receive − send is the latency the gateway added to that token (same process, same clock).
//! Also: time to first token, send → accepted, send → upstream request, and run wall time.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use clap::Args;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::{open_many, Common};

mod measure;
use crate::client::{Conn, Head};
use crate::marks::{self, token_ids, Seen, Sends, Table};
use crate::report::{
    self, hist_headers, hist_json, hist_row, ms, new_hist, r3, Outcome, Table as TextTable,
};
use crate::upstream::{Pacing, Upstream};
use crate::{progress, sys};
use measure::measure;

/// Default (and cap of the default) number of client sockets.
pub const DEFAULT_MAX_CONNS: usize = 1000;
/// Bound on each warm-up run (the Node gateway's first run bootstraps a workspace: 4–10 s).
pub const WARMUP_LIMIT: Duration = Duration::from_secs(60);
/// How often the gateway's RSS is sampled during the runs.
pub const RSS_SAMPLE_EVERY: Duration = Duration::from_millis(100);
/// File descriptors the harness needs beyond its sockets.
const FD_SLACK: u64 = 256;

#[derive(Args, Debug)]
pub struct AgentArgs {
    #[command(flatten)]
    pub common: Common,
    /// Concurrent agent runs (distinct sessions), all sent at once.
    #[arg(long, default_value_t = 100)]
    pub runs: usize,
    /// Client sockets the runs are spread over evenly (default: min(runs, 1000)).
    #[arg(long)]
    pub conns: Option<usize>,
    /// Handshakes in flight while connecting.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Port on 127.0.0.1 for the in-process synthetic upstream (the gateway's provider baseUrl
    /// must be http://127.0.0.1:PORT/v1).
    #[arg(long)]
    pub upstream_port: u16,
    #[command(flatten)]
    pub pacing: Pacing,
    /// Unmeasured runs first, one after another (first-run bootstrap, connection pools).
    #[arg(long, default_value_t = 1)]
    pub warmup_runs: usize,
}

#[derive(Deserialize)]
struct ResPayload<'a> {
    #[serde(default, borrow)]
    status: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct AgentEvent<'a> {
    #[serde(rename = "runId", borrow)]
    run_id: Cow<'a, str>,
    #[serde(borrow)]
    stream: Cow<'a, str>,
    #[serde(default, borrow)]
    data: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct AssistantData<'a> {
    #[serde(default, borrow)]
    delta: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    text: Option<Cow<'a, str>>,
}

/// One run on a connection.
struct RunSt {
    /// Global run index (request id `r<idx+1>`).
    idx: usize,
    marker: String,
    session: String,
    sent: Option<Instant>,
    accepted: Option<Instant>,
    first: Option<Instant>,
    ended: Option<Instant>,
    ok: bool,
    sends: Option<Arc<Sends>>,
    seen: Seen,
    text_len: usize,
    tokens: u64,
}

/// What one connection measured (latencies in µs).
#[derive(Default)]
struct Tally {
    /// (upstream send instant, added µs) per token.
    added: Vec<(Instant, u64)>,
    /// Latest upstream request arrival of this connection's runs: from then on every run streams.
    last_request: Option<Instant>,
    ttft: Vec<u64>,
    accept: Vec<u64>,
    to_upstream: Vec<u64>,
    wall: Vec<u64>,
    ok: u64,
    failed: u64,
    missing: u64,
    tokens: u64,
    unmatched: u64,
    cut_short: bool,
    errors: Vec<String>,
}

fn us(d: Duration) -> u64 {
    d.as_micros() as u64
}

impl Tally {
    fn err(&mut self, e: String) {
        if self.errors.len() < 5 {
            self.errors.push(e);
        }
    }

    fn merge(&mut self, o: Tally) {
        self.added.extend(o.added);
        self.last_request = self.last_request.max(o.last_request);
        self.ttft.extend(o.ttft);
        self.accept.extend(o.accept);
        self.to_upstream.extend(o.to_upstream);
        self.wall.extend(o.wall);
        self.ok += o.ok;
        self.failed += o.failed;
        self.missing += o.missing;
        self.tokens += o.tokens;
        self.unmatched += o.unmatched;
        self.cut_short |= o.cut_short;
        for e in o.errors {
            self.err(e);
        }
    }
}

/// One frame: a response to one of `runs`, or an assistant delta of one of them.
fn on_frame(
    buf: &[u8],
    at: Instant,
    runs: &mut [RunSt],
    by_req: &HashMap<String, usize>,
    by_run: &HashMap<String, usize>,
    table: &Table,
    t: &mut Tally,
) -> Result<Option<usize>> {
    let head = Head::parse(buf)?;
    match (head.kind, head.event) {
        ("res", _) => {
            let Some(&li) = head.id.and_then(|id| by_req.get(id)) else {
                return Ok(None);
            };
            let r = &mut runs[li];
            if r.ended.is_some() {
                return Ok(None);
            }
            let status = head
                .payload
                .and_then(|p| serde_json::from_str::<ResPayload>(p.get()).ok())
                .and_then(|p| p.status.map(Cow::into_owned));
            if head.ok == Some(true) && matches!(status.as_deref(), Some("accepted" | "in_flight"))
            {
                r.accepted.get_or_insert(at);
                return Ok(None);
            }
            r.ended = Some(at);
            r.ok = head.ok == Some(true) && status.as_deref() == Some("ok");
            if !r.ok {
                t.err(if head.ok == Some(true) {
                    format!("run {}: status {:?}", r.idx, status)
                } else {
                    format!("run {}: {}", r.idx, head.error_text())
                });
            }
            Ok(Some(li))
        }
        ("event", Some("agent")) => {
            let Some(p) = head.payload else {
                return Ok(None);
            };
            let ev: AgentEvent = serde_json::from_str(p.get())?;
            if ev.stream != "assistant" {
                return Ok(None);
            }
            let (Some(&li), Some(d)) = (by_run.get(ev.run_id.as_ref()), ev.data) else {
                return Ok(None);
            };
            let d: AssistantData = serde_json::from_str(d.get())?;
            let r = &mut runs[li];
            let fresh: Option<&str> = match (&d.delta, &d.text) {
                (Some(delta), _) => Some(delta),
                (None, Some(text)) => {
                    let n = text.get(r.text_len..);
                    r.text_len = text.len();
                    n
                }
                _ => None,
            };
            let Some(fresh) = fresh else {
                return Ok(None);
            };
            token_ids(fresh, |idx| {
                if !r.seen.insert(idx) {
                    return;
                }
                r.tokens += 1;
                r.first.get_or_insert(at);
                if r.sends.is_none() {
                    r.sends = table.get(&r.marker);
                }
                match r.sends.as_ref().and_then(|s| s.at(idx)) {
                    Some(sent) => t.added.push((sent, us(at.saturating_duration_since(sent)))),
                    None => t.unmatched += 1,
                }
            });
            Ok(None)
        }
        _ => Ok(None),
    }
}

/// Send every run of this connection, then read until all have their final response or
/// `deadline` passes. Returns the connection (to close later) and what it measured.
async fn drive(
    mut conn: Conn,
    mut runs: Vec<RunSt>,
    table: Arc<Table>,
    deadline: Instant,
) -> (Conn, Tally) {
    let mut t = Tally::default();
    let by_req: HashMap<String, usize> = runs
        .iter()
        .enumerate()
        .map(|(li, r)| (format!("r{}", r.idx + 1), li))
        .collect();
    // runId == idempotencyKey == marker on both gateways.
    let by_run: HashMap<String, usize> = runs
        .iter()
        .enumerate()
        .map(|(li, r)| (r.marker.clone(), li))
        .collect();
    let work = async {
        for r in runs.iter_mut() {
            let params = json!({"message": format!("{} stream please", r.marker),
                "idempotencyKey": r.marker, "sessionKey": r.session});
            r.sent = Some(Instant::now());
            conn.send_req(r.idx as u64 + 1, "agent", &params.to_string())
                .await?;
        }
        let mut pending = runs.len();
        while pending > 0 {
            let buf = conn.next_text().await?;
            let at = Instant::now();
            if on_frame(&buf, at, &mut runs, &by_req, &by_run, &table, &mut t)?.is_some() {
                pending -= 1;
                progress::inc(1);
            }
        }
        anyhow::Ok(())
    };
    match tokio::time::timeout_at(deadline.into(), work).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => t.err(format!("connection: {e:#}")),
        Err(_) => t.cut_short = true,
    }
    for r in &runs {
        t.tokens += r.tokens;
        let Some(sent) = r.sent else {
            t.missing += 1;
            continue;
        };
        let since = |x: Instant| us(x.saturating_duration_since(sent));
        t.accept.extend(r.accepted.map(since));
        t.ttft.extend(r.first.map(since));
        if let Some(s) = table.get(&r.marker) {
            t.to_upstream.push(since(s.request_at));
            t.last_request = t.last_request.max(Some(s.request_at));
        }
        match r.ended {
            Some(e) if r.ok => {
                t.ok += 1;
                t.wall.push(since(e));
            }
            Some(_) => t.failed += 1,
            None => t.missing += 1,
        }
    }
    (conn, t)
}

fn hist_of(v: &[u64]) -> hdrhistogram::Histogram<u64> {
    let mut h = new_hist();
    for &x in v {
        h.saturating_record(x.max(1));
    }
    h
}

fn new_run(tag: &str, kind: char, idx: usize) -> RunSt {
    RunSt {
        idx,
        marker: marks::marker(tag, kind, idx as u64),
        session: format!("agent:main:lt-{tag}-{kind}{idx}"),
        sent: None,
        accepted: None,
        first: None,
        ended: None,
        ok: false,
        sends: None,
        seen: Seen::default(),
        text_len: 0,
        tokens: 0,
    }
}

/// Peak RSS (KiB, process + children) of `pid` until `stop` flips.
async fn rss_peak(pid: u32, mut stop: watch::Receiver<bool>, deadline: Instant) -> u64 {
    let mut peak = 0;
    while !*stop.borrow() && Instant::now() < deadline {
        peak = peak.max(sys::rss(pid).map_or(0, |r| r.1));
        let _ = tokio::time::timeout(RSS_SAMPLE_EVERY, stop.changed()).await;
    }
    peak.max(sys::rss(pid).map_or(0, |r| r.1))
}

pub async fn run(a: &AgentArgs) -> Result<Outcome> {
    if a.runs == 0 {
        bail!("--runs must be at least 1");
    }
    let conns = a
        .conns
        .unwrap_or(a.runs.min(DEFAULT_MAX_CONNS))
        .clamp(1, a.runs);
    sys::raise_nofile(conns as u64 + a.runs as u64 + FD_SLACK)?;
    let cfg = a.common.client_cfg();
    let start = Instant::now();
    let deadline = a.common.deadline(start);
    let up = Upstream::start(a.upstream_port, &a.pacing, true)?;
    let table = up.table.clone();
    let tag = marks::run_tag();
    let out = measure(a, &cfg, conns, &tag, table, deadline).await;
    let stats = up.stats.to_json();
    up.stop().await;
    let (mut json, hists, tokens) = out?;
    json["upstream"] = stats;
    let mut o = Outcome::new(json);
    o.hists = hists;
    o.ops = Some(tokens);
    Ok(o)
}

type Measured = (Value, Vec<(String, hdrhistogram::Histogram<u64>)>, u64);

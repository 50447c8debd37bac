//! `chat-rate`: `POST /v1/chat/completions` open loop at a fixed rate (one JSON completion, or
//! `--stream` read to `[DONE]`), first straight to the in-process synthetic upstream, then
//! through the gateway whose model provider is that upstream — same run, same client, same
//! connections. Latency runs from each request's scheduled send time (no coordinated omission)
//! and, again, from the moment it was handed to its connection (free of the harness's 1 ms
//! timer lag); the gateway's added latency is the difference of the two distributions'
//! quantiles, both ways; gateway
//! CPU per request is read from `--pid` over the gateway phase only. Each message carries a
//! marker, so the upstream's receive and last-token instants split every request's time into
//! the way in (send → upstream has the request) and the way out (last token → response read):
//! where the gateway's share of a slow request went.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};
use bytes::Bytes;
use clap::Args;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::sync::{mpsc, Mutex};
use tokio::task::JoinSet;
use tokio::time::timeout;

use super::Common;
use crate::client::ClientCfg;
use crate::marks::{marker, run_tag, Table as Marks};
use crate::report::{self, hist_json, new_hist, r3, record, Outcome, Table};
use crate::upstream::{Pacing, Upstream, MODEL_ID};
use crate::{progress, sys};

#[derive(Args, Debug)]
pub struct ChatRateArgs {
    #[command(flatten)]
    pub common: Common,
    /// Requests per second, open loop.
    #[arg(long, default_value_t = 500)]
    pub rate: u64,
    /// Seconds of measured load per phase (after the warm-up).
    #[arg(long, default_value_t = 5)]
    pub secs: u64,
    /// Seconds of unmeasured load at the same rate before each phase.
    #[arg(long, default_value_t = 1)]
    pub warmup_secs: u64,
    /// Keep-alive connections the requests share; a request waits for a free one.
    #[arg(long, default_value_t = 64)]
    pub conns: usize,
    /// Streamed responses (`stream: true`), read to `[DONE]`.
    #[arg(long)]
    pub stream: bool,
    /// `model` asked of the gateway (an agent target).
    #[arg(long, default_value = "openclaw/default")]
    pub model: String,
    /// Port of the in-process synthetic upstream; the gateway's provider baseUrl must be
    /// http://127.0.0.1:PORT/v1.
    #[arg(long)]
    pub upstream_port: u16,
    /// Skip the direct phase (gateway only).
    #[arg(long)]
    pub no_direct: bool,
    #[command(flatten)]
    pub pacing: Pacing,
}

/// Where one phase sends its requests.
struct Target {
    name: &'static str,
    port: u16,
    auth: Option<String>,
    model: String,
    /// Marker kind letter of this phase's requests (`marker(tag, kind, n)`).
    kind: char,
    tag: String,
    marks: Arc<Marks>,
}

/// What one phase measured.
struct Phase {
    /// Latency from each request's scheduled send time (includes the harness's own timer lag).
    hist: Histogram<u64>,
    /// Latency from the moment the request was handed to its connection (no timer lag).
    sent: Histogram<u64>,
    /// Send → the upstream has read the request body.
    way_in: Histogram<u64>,
    /// The upstream handed over its last token → the whole response was read.
    way_out: Histogram<u64>,
    ok: u64,
    non200: u64,
    failed: u64,
    errors: Vec<String>,
    wall: f64,
    /// Gateway CPU seconds over the phase (gateway phase with `--pid`).
    cpu_s: Option<f64>,
    /// Percent of the host's CPU time the hypervisor took away over the phase.
    steal_pct: Option<f64>,
}

impl Phase {
    fn new() -> Self {
        Phase {
            hist: new_hist(),
            sent: new_hist(),
            way_in: new_hist(),
            way_out: new_hist(),
            ok: 0,
            non200: 0,
            failed: 0,
            errors: Vec::new(),
            wall: 0.0,
            cpu_s: None,
            steal_pct: None,
        }
    }
}

/// One request: `Ok(status)` once the whole body (or the stream to `[DONE]`) arrived.
async fn one(
    sender: &mut http1::SendRequest<Full<Bytes>>,
    t: &Target,
    stream: bool,
    port: u16,
    mark: &str,
) -> Result<u16> {
    let body = json!({"model": t.model, "stream": stream,
        "messages": [{"role": "user", "content": format!("hello from chat-rate {mark}")}]});
    let mut req = Request::post("/v1/chat/completions")
        .header("host", format!("127.0.0.1:{port}"))
        .header("content-type", "application/json");
    if let Some(a) = &t.auth {
        req = req.header("authorization", a.as_str());
    }
    let req = req.body(Full::new(Bytes::from(body.to_string())))?;
    sender.ready().await?;
    let res = sender.send_request(req).await?;
    let status = res.status().as_u16();
    let body = res.into_body().collect().await?.to_bytes();
    if status == 200 {
        let done = if stream {
            body.windows(6).any(|w| w == b"[DONE]")
        } else {
            body.windows(9).any(|w| w == b"\"choices\"")
        };
        if !done {
            bail!("200 without a complete answer ({} bytes)", body.len());
        }
    }
    Ok(status)
}

/// One keep-alive connection taking scheduled requests from the shared queue.
async fn worker(
    cfg: ClientCfg,
    t: Arc<Target>,
    stream: bool,
    limit: Duration,
    rx: Arc<Mutex<mpsc::UnboundedReceiver<(Instant, bool, u64)>>>,
) -> Phase {
    let mut p = Phase::new();
    let mut sender: Option<http1::SendRequest<Full<Bytes>>> = None;
    loop {
        let Some((at, measured, n)) = rx.lock().await.recv().await else {
            return p;
        };
        if sender.is_none() {
            let c = async {
                let (s, conn) = http1::handshake(TokioIo::new(cfg.tcp().await?)).await?;
                tokio::spawn(conn);
                anyhow::Ok(s)
            };
            sender = timeout(cfg.timeout, c).await.ok().and_then(Result::ok);
        }
        let mark = marker(&t.tag, t.kind, n);
        let sent = Instant::now();
        let r = match sender.as_mut() {
            Some(s) => timeout(limit, one(s, &t, stream, cfg.port, &mark))
                .await
                .unwrap_or_else(|_| Err(anyhow!("timed out after {limit:?}"))),
            None => Err(anyhow!("connect failed")),
        };
        let done = Instant::now();
        match r {
            Ok(status) if measured => {
                progress::inc(1);
                if status == 200 {
                    p.ok += 1;
                    record(&mut p.hist, done.saturating_duration_since(at));
                    record(&mut p.sent, done.saturating_duration_since(sent));
                    split(&mut p, &t.marks, &mark, sent, done);
                } else {
                    p.non200 += 1;
                }
            }
            Ok(_) => {}
            Err(e) => {
                sender = None;
                if measured {
                    p.failed += 1;
                    progress::fail();
                    if p.errors.len() < 5 {
                        p.errors.push(format!("{e:#}"));
                    }
                }
            }
        }
    }
}

/// Record where one request's time went, when the upstream saw its marker.
fn split(p: &mut Phase, marks: &Marks, mark: &str, sent: Instant, done: Instant) {
    let Some(s) = marks.get(mark) else { return };
    record(&mut p.way_in, s.request_at.saturating_duration_since(sent));
    if let Some(last) = s.last() {
        record(&mut p.way_out, done.saturating_duration_since(last));
    }
}

/// Run one phase against `t`: warm-up, then `secs` measured, at `rate`.
async fn phase(a: &ChatRateArgs, t: Target, pid: Option<u32>) -> Result<Phase> {
    let mut cfg = a.common.client_cfg();
    cfg.port = t.port;
    let limit = cfg.timeout + a.pacing.interval_total();
    let interval = Duration::from_secs_f64(1.0 / a.rate.max(1) as f64);
    let warm = a.warmup_secs * a.rate;
    let n = a.secs.min(a.common.max_secs).max(1) * a.rate;
    let (tx, rx) = mpsc::unbounded_channel();
    let rx = Arc::new(Mutex::new(rx));
    let t = Arc::new(t);
    let mut set = JoinSet::new();
    for _ in 0..a.conns.max(1) {
        set.spawn(worker(cfg.clone(), t.clone(), a.stream, limit, rx.clone()));
    }
    progress::phase(&format!("{} at {}/s", t.name, a.rate), n);
    let start = Instant::now() + Duration::from_millis(20);
    let (mut cpu0, mut host0) = (None, None);
    let mut measured_from = start;
    for i in 0..warm + n {
        let at = start + interval * i as u32;
        if i == warm {
            measured_from = at;
            cpu0 = pid.and_then(sys::cpu_total);
            host0 = sys::HostCpu::now();
        }
        tokio::time::sleep_until(at.into()).await;
        if tx.send((at, i >= warm, i)).is_err() {
            break;
        }
    }
    drop(tx);
    let mut all = Phase::new();
    while let Some(r) = set.join_next().await {
        let w = r?;
        all.hist.add(&w.hist)?;
        all.sent.add(&w.sent)?;
        all.way_in.add(&w.way_in)?;
        all.way_out.add(&w.way_out)?;
        all.ok += w.ok;
        all.non200 += w.non200;
        all.failed += w.failed;
        all.errors.extend(w.errors);
    }
    all.wall = measured_from.elapsed().as_secs_f64();
    let ticks = sys::clk_tck() as f64;
    all.cpu_s = cpu0
        .zip(pid.and_then(sys::cpu_total))
        .map(|(a0, a1)| a1.saturating_sub(a0) as f64 / ticks);
    all.steal_pct = host0
        .zip(sys::HostCpu::now())
        .and_then(|(h0, h1)| h0.steal_pct_until(&h1));
    progress::clear();
    Ok(all)
}

fn q(h: &Histogram<u64>, p: f64) -> f64 {
    h.value_at_quantile(p) as f64 / 1000.0
}

const QS: [(&str, f64); 4] = [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p99.9", 0.999)];

/// The difference per quantile (ms) between the gateway's and the direct histograms.
fn added_of(gw: &Histogram<u64>, d: &Histogram<u64>) -> Value {
    let m: serde_json::Map<String, Value> = QS
        .iter()
        .map(|(n, x)| (n.to_string(), json!(r3(q(gw, *x) - q(d, *x)))))
        .collect();
    Value::Object(m)
}

/// Print both phases and their difference, timed from the schedule and from the send; the
/// differences per quantile (ms), when there was a direct phase.
fn print_table(direct: Option<&Phase>, gw: &Phase) -> Option<(Value, Value)> {
    let mut tb = Table::with(&[
        "phase", "ok", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms", "req/s", "non-200",
        "failed",
    ]);
    let row = |name: &str, p: &Phase, h: &Histogram<u64>| {
        let mut r = vec![name.to_string(), p.ok.to_string()];
        r.extend(QS.iter().map(|(_, x)| format!("{:.3}", q(h, *x))));
        r.push(format!("{:.3}", h.max() as f64 / 1000.0));
        r.push(format!("{:.0}", p.ok as f64 / p.wall.max(1e-9)));
        r.push(p.non200.to_string());
        r.push(p.failed.to_string());
        r
    };
    let added_row = |name: &str, ad: &Value| {
        let mut r = vec![name.to_string(), String::new()];
        r.extend(
            QS.iter()
                .map(|(n, _)| format!("{:.3}", ad[*n].as_f64().unwrap_or(0.0))),
        );
        r.extend(["", "", "", ""].map(String::from));
        r
    };
    for (label, pick) in [("", 0), (", from send", 1)] {
        let h = |p: &Phase| {
            if pick == 0 {
                p.hist.clone()
            } else {
                p.sent.clone()
            }
        };
        if let Some(d) = direct {
            tb.row(row(&format!("direct{label}"), d, &h(d)));
        }
        tb.row(row(&format!("gateway{label}"), gw, &h(gw)));
        if let Some(d) = direct {
            tb.row(added_row(
                &format!("added{label}"),
                &added_of(&h(gw), &h(d)),
            ));
        }
    }
    tb.print();
    direct.map(|d| (added_of(&gw.hist, &d.hist), added_of(&gw.sent, &d.sent)))
}

/// Where the time went: the way in and the way out of each phase (see the module doc).
fn print_split(direct: Option<&Phase>, gw: &Phase) {
    let mut tb = Table::with(&[
        "way", "phase", "n", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms",
    ]);
    let phases = direct
        .map(|d| ("direct", d))
        .into_iter()
        .chain([("gateway", gw)]);
    for (name, p) in phases {
        for (way, h) in [("in", &p.way_in), ("out", &p.way_out)] {
            let mut r = vec![way.to_string(), name.to_string(), h.len().to_string()];
            r.extend(QS.iter().map(|(_, x)| format!("{:.3}", q(h, *x))));
            r.push(format!("{:.3}", h.max() as f64 / 1000.0));
            tb.row(r);
        }
    }
    tb.print();
}

pub async fn run(a: &ChatRateArgs) -> Result<Outcome> {
    let up = Upstream::start(a.upstream_port, &a.pacing, true)?;
    let r = measure(a, up.table.clone()).await;
    up.stop().await;
    r
}

async fn measure(a: &ChatRateArgs, marks: Arc<Marks>) -> Result<Outcome> {
    let tag = run_tag();
    let direct = if a.no_direct {
        None
    } else {
        let t = Target {
            name: "direct",
            port: a.upstream_port,
            auth: None,
            model: MODEL_ID.into(),
            kind: 'd',
            tag: tag.clone(),
            marks: marks.clone(),
        };
        Some(phase(a, t, None).await?)
    };
    let auth = (!a.common.token.is_empty()).then(|| format!("Bearer {}", a.common.token));
    let t = Target {
        name: "gateway",
        port: a.common.port,
        auth,
        model: a.model.clone(),
        kind: 'g',
        tag,
        marks,
    };
    let gw = phase(a, t, a.common.pid).await?;
    let (added, added_sent) = print_table(direct.as_ref(), &gw).unzip();
    print_split(direct.as_ref(), &gw);
    let cpu_us = gw.cpu_s.map(|s| r3(s * 1e6 / gw.ok.max(1) as f64));
    println!(
        "{} POST /v1/chat/completions at {}/s over {} connections: gateway CPU {} µs/request",
        if a.stream { "streamed" } else { "non-streamed" },
        a.rate,
        a.conns,
        cpu_us.map_or("-".into(), |c| format!("{c}"))
    );
    let steal = |p: Option<&Phase>| p.and_then(|p| p.steal_pct).map(r3);
    let (steal_d, steal_g) = (steal(direct.as_ref()), steal(Some(&gw)));
    let pct = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.1} %"));
    println!(
        "host CPU stolen by the hypervisor: direct phase {}, gateway phase {}",
        pct(steal_d),
        pct(steal_g)
    );
    report::print_errors(&gw.errors, gw.failed);
    if gw.ok == 0 {
        bail!("no gateway request succeeded");
    }
    let pj = |p: &Phase| {
        json!({"ok": p.ok, "non_200": p.non200, "failed": p.failed, "errors": p.errors,
               "elapsed_s": r3(p.wall), "req_per_s": r3(p.ok as f64 / p.wall.max(1e-9)),
               "latency": hist_json(&p.hist), "latency_from_send": hist_json(&p.sent),
               "way_in": hist_json(&p.way_in), "way_out": hist_json(&p.way_out)})
    };
    let json = json!({
        "rate": a.rate, "secs": a.secs, "conns": a.conns, "stream": a.stream,
        "model": a.model, "pacing": a.pacing.to_json(),
        "direct": direct.as_ref().map(pj), "gateway": pj(&gw), "added_ms": added, "added_from_send_ms": added_sent,
        "gateway_cpu_us_per_request": cpu_us,
        "host_steal_pct": {"direct": steal_d, "gateway": steal_g},
        "failed": gw.failed + direct.as_ref().map_or(0, |d| d.failed),
        "non_200": gw.non200,
    });
    let mut o = Outcome::new(json);
    o.ops = Some(gw.ok);
    if let Some(d) = direct {
        o.hists.push(("direct".into(), d.hist));
    }
    o.hists.push(("gateway".into(), gw.hist));
    Ok(o)
}

//! `http`: keep-alive HTTP/1.1 GET load on `--path` (e.g. `/healthz`, or `/v1/models` with the
//! Bearer token): `--conc` connections, each a closed loop for `--secs`; req/s, latency histogram,
//! non-200 count. `--chat-stream` switches to streamed chat completions (see `chat_stream`).

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use clap::Args;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1;
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::task::JoinSet;
use tokio::time::timeout;

use super::{chat_stream, Common};
use crate::client::ClientCfg;
use crate::progress;
use crate::report::{self, hist_headers, hist_json, hist_row, new_hist, record, Outcome, Table};
use crate::upstream::Pacing;

#[derive(Args, Debug)]
pub struct HttpArgs {
    #[command(flatten)]
    pub common: Common,
    /// Request path.
    #[arg(long, default_value = "/healthz")]
    pub path: String,
    /// Concurrent keep-alive connections (one request in flight on each).
    #[arg(long, default_value_t = 32)]
    pub conc: usize,
    /// Duration of the load (s).
    #[arg(long, default_value_t = 10)]
    pub secs: u64,
    /// Streamed `POST /v1/chat/completions` (`stream: true`, Bearer token) instead of GET;
    /// `--path` defaults to /v1/chat/completions. Needs `--upstream-port`.
    #[arg(long)]
    pub chat_stream: bool,
    /// `model` of the chat request (an agent target on the gateway).
    #[arg(long, default_value = "openclaw/default")]
    pub model: String,
    /// Port of the in-process synthetic upstream (`--chat-stream`): the gateway's provider
    /// baseUrl must be http://127.0.0.1:PORT/v1.
    #[arg(long)]
    pub upstream_port: Option<u16>,
    #[command(flatten)]
    pub pacing: Pacing,
}

#[derive(Default)]
struct Tally {
    hist: Option<hdrhistogram::Histogram<u64>>,
    non200: u64,
    failed: u64,
    bytes: u64,
    statuses: Vec<u16>,
    errors: Vec<String>,
}

/// One keep-alive connection: GET `path` until `end`; reconnect after a failure.
async fn conn_loop(cfg: ClientCfg, path: String, auth: Option<String>, end: Instant) -> Tally {
    let mut t = Tally::default();
    let mut h = new_hist();
    let hist = &mut h;
    let fail = |t_failed: &mut u64, errors: &mut Vec<String>, e: anyhow::Error| {
        *t_failed += 1;
        progress::fail();
        if errors.len() < 5 {
            errors.push(format!("{e:#}"));
        }
    };
    'outer: while Instant::now() < end {
        let sender = async {
            let tcp = cfg.tcp().await?;
            let (s, conn) = http1::handshake(TokioIo::new(tcp)).await?;
            tokio::spawn(conn);
            anyhow::Ok(s)
        };
        let mut sender = match timeout(cfg.timeout, sender).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                fail(&mut t.failed, &mut t.errors, e);
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            Err(_) => {
                fail(&mut t.failed, &mut t.errors, anyhow!("connect timed out"));
                continue;
            }
        };
        while Instant::now() < end {
            let mut req = Request::get(path.as_str())
                .header("host", format!("127.0.0.1:{}", cfg.port))
                .header("user-agent", "openclaw-loadtest");
            if let Some(a) = &auth {
                req = req.header("authorization", a.as_str());
            }
            let req = match req.body(Empty::<Bytes>::new()) {
                Ok(r) => r,
                Err(e) => {
                    fail(&mut t.failed, &mut t.errors, e.into());
                    break 'outer;
                }
            };
            let t0 = Instant::now();
            let one = async {
                sender.ready().await?;
                let res = sender.send_request(req).await?;
                let status = res.status().as_u16();
                let body = res.into_body().collect().await?.to_bytes();
                anyhow::Ok((status, body.len()))
            };
            match timeout(cfg.timeout, one).await {
                Ok(Ok((status, len))) => {
                    record(hist, t0.elapsed());
                    progress::inc(1);
                    t.bytes += len as u64;
                    if status != 200 {
                        t.non200 += 1;
                        if !t.statuses.contains(&status) {
                            t.statuses.push(status);
                        }
                    }
                }
                Ok(Err(e)) => {
                    fail(&mut t.failed, &mut t.errors, e.context("request"));
                    continue 'outer;
                }
                Err(_) => {
                    fail(&mut t.failed, &mut t.errors, anyhow!("request timed out"));
                    continue 'outer;
                }
            }
        }
    }
    t.hist = Some(h);
    t
}

pub async fn run(a: &HttpArgs) -> Result<Outcome> {
    if !a.path.starts_with('/') {
        bail!("--path must start with /");
    }
    if a.chat_stream {
        return chat_stream::run(a).await;
    }
    let cfg = a.common.client_cfg();
    let auth = (!a.common.token.is_empty()).then(|| format!("Bearer {}", a.common.token));
    let secs = a.secs.min(a.common.max_secs).max(1);
    progress::phase(&format!("GET {}", a.path), 0);
    let t0 = Instant::now();
    let end = t0 + Duration::from_secs(secs);
    let mut set = JoinSet::new();
    for _ in 0..a.conc.max(1) {
        set.spawn(conn_loop(cfg.clone(), a.path.clone(), auth.clone(), end));
    }
    let mut all = Tally::default();
    let mut hist = new_hist();
    while let Some(r) = set.join_next().await {
        let t = r.context("http worker")?;
        if let Some(h) = &t.hist {
            hist.add(h)?;
        }
        all.non200 += t.non200;
        all.failed += t.failed;
        all.bytes += t.bytes;
        all.errors.extend(t.errors);
        for s in t.statuses {
            if !all.statuses.contains(&s) {
                all.statuses.push(s);
            }
        }
    }
    let wall = t0.elapsed().as_secs_f64();
    progress::clear();
    let rate = hist.len() as f64 / wall;
    let mut tb = Table::new(hist_headers("http"));
    tb.row(hist_row(&format!("GET {}", a.path), &hist));
    tb.print();
    println!(
        "{} responses ({} non-200{}), {} failed, {rate:.1} req/s over {wall:.2} s, {} connections",
        hist.len(),
        all.non200,
        if all.statuses.is_empty() {
            String::new()
        } else {
            format!(": {:?}", all.statuses)
        },
        all.failed,
        a.conc
    );
    report::print_errors(&all.errors, all.failed);
    if hist.is_empty() {
        bail!("no response at all");
    }
    let json = json!({
        "path": a.path,
        "conc": a.conc,
        "secs": secs,
        "responses": hist.len(),
        "non_200": all.non200,
        "statuses": all.statuses,
        "failed": all.failed,
        "errors": all.errors,
        "body_bytes": all.bytes,
        "elapsed_s": report::r3(wall),
        "req_per_s": report::r3(rate),
        "latency": hist_json(&hist),
    });
    Ok(Outcome::new(json).hist("latency", hist))
}

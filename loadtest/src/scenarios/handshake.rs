//! `connect-storm` (alias `handshake`): N full connections (open, challenge, connect, hello-ok, close), K in flight.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use clap::Args;
use hdrhistogram::Histogram;
use serde_json::json;
use tokio::task::JoinSet;

use super::Common;
use crate::client::{ClientCfg, Conn};
use crate::progress;
use crate::report::{self, hist_headers, hist_json, hist_row, new_hist, record, Outcome, Table};

#[derive(Args, Debug)]
pub struct HandshakeArgs {
    #[command(flatten)]
    pub common: Common,
    /// Number of connections.
    #[arg(short = 'n', long, default_value_t = 2000)]
    pub n: usize,
    /// Handshakes in flight (the Node gateway admits 32 pre-auth sockets per IP).
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
}

struct Worker {
    hello: Histogram<u64>,
    total: Histogram<u64>,
    failed: u64,
    errors: Vec<String>,
}

async fn worker(cfg: ClientCfg, n: usize, next: Arc<AtomicUsize>, deadline: Instant) -> Worker {
    let mut w = Worker {
        hello: new_hist(),
        total: new_hist(),
        failed: 0,
        errors: Vec::new(),
    };
    while next.fetch_add(1, Ordering::Relaxed) < n && Instant::now() < deadline {
        let t = Instant::now();
        match Conn::connect(&cfg).await {
            Ok(c) => {
                record(&mut w.hello, t.elapsed());
                c.close(Duration::from_secs(1)).await;
                record(&mut w.total, t.elapsed());
                progress::inc(1);
            }
            Err(e) => {
                w.failed += 1;
                progress::fail();
                if w.errors.len() < 5 {
                    w.errors.push(format!("{e:#}"));
                }
            }
        }
    }
    w
}

pub async fn run(a: &HandshakeArgs) -> Result<Outcome> {
    let cfg = a.common.client_cfg();
    progress::phase("connect-storm", a.n as u64);
    let t0 = Instant::now();
    let deadline = a.common.deadline(t0);
    let next = Arc::new(AtomicUsize::new(0));
    let mut set = JoinSet::new();
    for _ in 0..a.concurrency.clamp(1, a.n.max(1)) {
        set.spawn(worker(cfg.clone(), a.n, next.clone(), deadline));
    }
    let (mut hello, mut total) = (new_hist(), new_hist());
    let (mut failed, mut errors) = (0u64, Vec::new());
    while let Some(r) = set.join_next().await {
        let w = r?;
        hello.add(&w.hello)?;
        total.add(&w.total)?;
        failed += w.failed;
        errors.extend(w.errors);
    }
    let secs = t0.elapsed().as_secs_f64();
    progress::clear();
    Ok(summarize(a, hello, total, failed, errors, secs))
}

/// Name of the headline histogram (open → hello-ok).
pub const HELLO: &str = "open→hello-ok";
/// Name of the histogram including the close.
pub const TOTAL: &str = "incl. close";

/// Table, summary line and outcome of a storm (also of N merged worker processes).
pub fn summarize(
    a: &HandshakeArgs,
    hello: Histogram<u64>,
    total: Histogram<u64>,
    failed: u64,
    errors: Vec<String>,
    secs: f64,
) -> Outcome {
    let ok = hello.len();
    let rate = ok as f64 / secs;

    let mut t = Table::new(hist_headers("connect-storm"));
    t.row(hist_row(HELLO, &hello));
    t.row(hist_row(TOTAL, &total));
    t.print();
    println!(
        "{ok}/{} ok, {failed} failed, {rate:.1} handshakes/s over {secs:.2} s (concurrency {})",
        a.n, a.concurrency
    );
    report::print_errors(&errors, failed);
    let json = json!({
        "n": a.n,
        "concurrency": a.concurrency,
        "ok": ok,
        "failed": failed,
        "errors": errors,
        "elapsed_s": report::r3(secs),
        "handshakes_per_s": report::r3(rate),
        "hello_ok": hist_json(&hello),
        "with_close": hist_json(&total),
    });
    Outcome::new(json).hist(HELLO, hello).hist(TOTAL, total)
}

//! `rpc`: one connection, N `health` calls (or `--method`), closed loop with K in flight.

use std::collections::HashMap;
use std::time::Instant;

use anyhow::{anyhow, Result};
use clap::Args;
use serde_json::{json, Value};
use tokio::time::timeout;

use super::Common;
use crate::client::{Conn, Head};
use crate::report::{self, hist_headers, hist_json, hist_row, new_hist, record, Table};

#[derive(Args, Debug)]
pub struct RpcArgs {
    #[command(flatten)]
    pub common: Common,
    /// Number of measured calls.
    #[arg(short = 'n', long, default_value_t = 20_000)]
    pub n: usize,
    /// Requests kept in flight (1 = strictly sequential).
    #[arg(long, default_value_t = 1)]
    pub pipeline: usize,
    /// Unmeasured sequential calls first.
    #[arg(long, default_value_t = 100)]
    pub warmup: usize,
    /// Method to call.
    #[arg(long, default_value = "health")]
    pub method: String,
    /// Params as raw JSON.
    #[arg(long, default_value = "{}")]
    pub params: String,
}

pub async fn run(a: &RpcArgs) -> Result<Value> {
    serde_json::from_str::<Value>(&a.params).map_err(|e| anyhow!("--params is not JSON: {e}"))?;
    let cfg = a.common.client_cfg();
    let start = Instant::now();
    let deadline = a.common.deadline(start);
    let mut conn = Conn::connect(&cfg).await?;
    for _ in 0..a.warmup {
        conn.call(&a.method, &a.params).await?;
    }
    let k = a.pipeline.max(1);
    let mut hist = new_hist();
    let mut inflight: HashMap<u64, Instant> = HashMap::with_capacity(k * 2);
    let (mut sent, mut failed, mut errors) = (0usize, 0u64, Vec::new());
    let t0 = Instant::now();
    while sent < a.n && inflight.len() < k {
        let id = conn.next_id();
        inflight.insert(id, Instant::now());
        conn.send_req(id, &a.method, &a.params).await?;
        sent += 1;
    }
    let mut cut_short = false;
    while !inflight.is_empty() {
        let buf = timeout(cfg.timeout, conn.next_text())
            .await
            .map_err(|_| anyhow!("no response within {:?}", cfg.timeout))??;
        let now = Instant::now();
        let head = Head::parse(&buf)?;
        if head.kind != "res" {
            continue;
        }
        let Some(id) = head
            .id
            .and_then(|s| s.strip_prefix('r'))
            .and_then(|s| s.parse().ok())
        else {
            continue;
        };
        let Some(at) = inflight.remove(&id) else {
            continue;
        };
        record(&mut hist, now - at);
        if head.ok != Some(true) {
            failed += 1;
            if errors.len() < 5 {
                errors.push(head.error_text());
            }
        }
        if sent < a.n {
            if now >= deadline {
                cut_short = true;
                continue;
            }
            let id = conn.next_id();
            inflight.insert(id, Instant::now());
            conn.send_req(id, &a.method, &a.params).await?;
            sent += 1;
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    conn.close(std::time::Duration::from_secs(1)).await;
    let rate = hist.len() as f64 / secs;

    let mut t = Table::new(hist_headers("rpc"));
    t.row(hist_row(&format!("{} x{k}", a.method), &hist));
    t.print();
    println!(
        "{} calls ({failed} not ok), {rate:.1} calls/s over {secs:.2} s{}",
        hist.len(),
        if cut_short {
            " (stopped by --max-secs)"
        } else {
            ""
        }
    );
    report::print_errors(&errors, failed);
    Ok(json!({
        "n": a.n,
        "pipeline": k,
        "warmup": a.warmup,
        "method": a.method,
        "calls": hist.len(),
        "failed": failed,
        "errors": errors,
        "cut_short": cut_short,
        "elapsed_s": report::r3(secs),
        "calls_per_s": report::r3(rate),
        "rtt": hist_json(&hist),
    }))
}

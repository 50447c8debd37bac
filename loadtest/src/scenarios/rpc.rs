//! `rpc`: one connection, N `health` calls (or `--method`). Closed loop with K in flight, or open
//! loop at `--rate R` req/s, where latency is measured from each request's *scheduled* send time
//! (a stalled server cannot hide its stall by slowing the client down: no coordinated omission).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};
use clap::Args;
use serde_json::{json, Value};
use tokio::time::timeout;

use super::Common;
use crate::client::{ClientCfg, Conn, Head};
use crate::report::{self, hist_headers, hist_json, hist_row, new_hist, record, Outcome, Table};
use crate::{progress, split};

#[derive(Args, Debug)]
pub struct RpcArgs {
    #[command(flatten)]
    pub common: Common,
    /// Number of measured calls.
    #[arg(short = 'n', long, default_value_t = 20_000)]
    pub n: usize,
    /// Closed loop: requests kept in flight (1 = strictly sequential).
    #[arg(long, default_value_t = 1)]
    pub pipeline: usize,
    /// Open loop: send at this many requests per second regardless of responses.
    #[arg(long, conflicts_with = "pipeline")]
    pub rate: Option<f64>,
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

/// Request id `r<n>` → n.
fn parse_id(id: Option<&str>) -> Option<u64> {
    id?.strip_prefix('r')?.parse().ok()
}

pub async fn run(a: &RpcArgs) -> Result<Outcome> {
    serde_json::from_str::<Value>(&a.params).map_err(|e| anyhow!("--params is not JSON: {e}"))?;
    let cfg = a.common.client_cfg();
    match a.rate {
        Some(r) if !(r > 0.0 && r.is_finite()) => bail!("--rate must be > 0"),
        Some(r) => open_loop(a, &cfg, r).await,
        None => closed_loop(a, &cfg).await,
    }
}

async fn closed_loop(a: &RpcArgs, cfg: &ClientCfg) -> Result<Outcome> {
    let deadline = a.common.deadline(Instant::now());
    let mut conn = Conn::connect(cfg).await?;
    for _ in 0..a.warmup {
        conn.call(&a.method, &a.params).await?;
    }
    progress::phase("rpc", a.n as u64);
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
        let Some(at) = parse_id(head.id).and_then(|id| inflight.remove(&id)) else {
            continue;
        };
        record(&mut hist, now - at);
        progress::inc(1);
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
    conn.close(Duration::from_secs(1)).await;
    progress::clear();
    let label = format!("{} x{k}", a.method);
    let extra = json!({"mode": "closed", "pipeline": k});
    Ok(summarize(
        a, &label, hist, None, failed, errors, cut_short, secs, extra,
    ))
}

/// Shared by the writer and the reader of the open loop.
struct Sched {
    t0: Instant,
    interval: Duration,
    /// Actual send instant of request i, ns after `t0` (0: not sent).
    sent_at: Vec<AtomicU64>,
}

impl Sched {
    fn due(&self, i: u64) -> Instant {
        self.t0 + self.interval.mul_f64(i as f64)
    }
}

async fn open_loop(a: &RpcArgs, cfg: &ClientCfg, rate: f64) -> Result<Outcome> {
    let deadline = a.common.deadline(Instant::now());
    let (mut rd, mut wr) = split::connect(cfg).await?;
    for i in 0..a.warmup {
        let f = format!(
            r#"{{"type":"req","id":"w{i}","method":"{}","params":{}}}"#,
            a.method, a.params
        );
        split::send_text(&mut wr, f.into_bytes()).await?;
        loop {
            let buf = timeout(cfg.timeout, split::read_text(&mut rd))
                .await
                .map_err(|_| anyhow!("warmup: no response within {:?}", cfg.timeout))??;
            let h = Head::parse(&buf)?;
            if h.kind == "res" && h.id == Some(format!("w{i}").as_str()) {
                break;
            }
        }
    }
    progress::phase(&format!("rpc @{rate:.0}/s"), a.n as u64);
    let n = a.n;
    let sched = Arc::new(Sched {
        t0: Instant::now() + Duration::from_millis(5),
        interval: Duration::from_secs_f64(1.0 / rate),
        sent_at: (0..n).map(|_| AtomicU64::new(0)).collect(),
    });
    let (s2, method, params) = (sched.clone(), a.method.clone(), a.params.clone());
    // The pacer runs on its own thread: `std::thread::sleep` wakes within ~0.1 ms, where tokio's
    // 1 ms timer wheel would add up to 1 ms of harness lateness to every latency.
    let writer = tokio::task::spawn_blocking(move || {
        let rt = tokio::runtime::Handle::current();
        let mut sent = 0usize;
        let mut cut = false;
        for i in 0..n {
            let due = s2.due(i as u64);
            if due >= deadline {
                cut = true;
                break;
            }
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
            let f =
                format!(r#"{{"type":"req","id":"r{i}","method":"{method}","params":{params}}}"#);
            let at = s2.t0.elapsed().as_nanos() as u64;
            s2.sent_at[i].store(at.max(1), Ordering::Release);
            if rt
                .block_on(split::send_text(&mut wr, f.into_bytes()))
                .is_err()
            {
                cut = true;
                break;
            }
            sent += 1;
        }
        let end = r#"{"type":"req","id":"end","method":"health","params":{}}"#;
        let _ = rt.block_on(split::send_text(&mut wr, end.as_bytes().to_vec()));
        (sent, cut, wr)
    });
    let (mut hist, mut service) = (new_hist(), new_hist());
    let (mut failed, mut errors) = (0u64, Vec::new());
    let (mut lost, mut done) = (false, None);
    let mut writer = writer;
    loop {
        if let Some((sent, _, _)) = &done {
            if hist.len() >= *sent as u64 {
                break;
            }
        }
        let buf = match timeout(cfg.timeout, split::read_text(&mut rd)).await {
            Ok(r) => r?,
            Err(_) => {
                lost = true;
                break;
            }
        };
        let now = Instant::now();
        let head = Head::parse(&buf)?;
        if head.kind != "res" {
            continue;
        }
        if head.id == Some("end") {
            done = Some((&mut writer).await?);
            continue;
        }
        let Some(i) = parse_id(head.id).filter(|&i| (i as usize) < n) else {
            continue;
        };
        record(&mut hist, now.saturating_duration_since(sched.due(i)));
        let at = sched.sent_at[i as usize].load(Ordering::Acquire);
        record(
            &mut service,
            (now - sched.t0).saturating_sub(Duration::from_nanos(at)),
        );
        progress::inc(1);
        if head.ok != Some(true) {
            failed += 1;
            if errors.len() < 5 {
                errors.push(head.error_text());
            }
        }
    }
    let secs = sched.t0.elapsed().as_secs_f64();
    let (sent, cut_short) = match done {
        Some((sent, cut, mut wr)) => {
            split::close(&mut wr).await;
            (sent, cut)
        }
        None => {
            writer.abort();
            let sent = sched.sent_at.iter();
            (sent.filter(|t| t.load(Ordering::Acquire) > 0).count(), true)
        }
    };
    progress::clear();
    let missing = sent as u64 - hist.len().min(sent as u64);
    if lost && missing > 0 {
        eprintln!("{missing} response(s) missing after {:?}", cfg.timeout);
    }
    let label = format!("{} @{rate}/s", a.method);
    let extra = json!({"mode": "open", "rate": rate, "sent": sent, "missing": missing,
        "service": hist_json(&service)});
    let out = summarize(
        a,
        &label,
        hist,
        Some(&service),
        failed,
        errors,
        cut_short,
        secs,
        extra,
    );
    Ok(out.hist("service (from send)", service))
}

#[allow(clippy::too_many_arguments)]
fn summarize(
    a: &RpcArgs,
    label: &str,
    hist: hdrhistogram::Histogram<u64>,
    service: Option<&hdrhistogram::Histogram<u64>>,
    failed: u64,
    errors: Vec<String>,
    cut_short: bool,
    secs: f64,
    extra: Value,
) -> Outcome {
    let rate = hist.len() as f64 / secs;
    let mut t = Table::new(hist_headers("rpc"));
    t.row(hist_row(label, &hist));
    if let Some(s) = service {
        t.row(hist_row("  from actual send", s));
    }
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
    let mut json = json!({
        "n": a.n,
        "warmup": a.warmup,
        "method": a.method,
        "calls": hist.len(),
        "failed": failed,
        "errors": errors,
        "cut_short": cut_short,
        "elapsed_s": report::r3(secs),
        "calls_per_s": report::r3(rate),
        "rtt": hist_json(&hist),
    });
    if let (Value::Object(m), Value::Object(x)) = (&mut json, extra) {
        m.extend(x);
    }
    Outcome::new(json).hist("rtt", hist)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_schedule() {
        assert_eq!(parse_id(Some("r42")), Some(42));
        assert_eq!(parse_id(Some("w1")), None);
        assert_eq!(parse_id(None), None);
        let s = Sched {
            t0: Instant::now(),
            interval: Duration::from_secs_f64(1.0 / 400.0),
            sent_at: Vec::new(),
        };
        assert_eq!(s.due(400) - s.t0, Duration::from_secs(1));
    }
}

//! `slow-consumer`: do clients that never read hurt everybody else? Normal subscribers read
//! continuously; broadcast rounds (`system-event` → `presence`) are timed first with no slow
//! clients (baseline), then again after `--slow` extra clients connected and stopped reading
//! (small receive buffer, socket kept open). Reported: both receipt p99s and their ratio.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use clap::Args;
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};

use super::fanout::{round, subscriber, Round};
use super::{open_many, wait_drained, Common};
use crate::client::Conn;
use crate::progress;
use crate::report::{
    self, hist_headers, hist_json, hist_row, ms, new_hist, r3, record, Outcome, Table,
};

#[derive(Args, Debug)]
pub struct SlowArgs {
    #[command(flatten)]
    pub common: Common,
    /// Total clients: `clients - slow` read continuously, `slow` never read.
    #[arg(long, default_value_t = 200)]
    pub clients: usize,
    /// Clients that connect and then never read.
    #[arg(long, default_value_t = 20)]
    pub slow: usize,
    /// Broadcast rounds per phase (baseline, then with slow clients).
    #[arg(long, default_value_t = 20)]
    pub rounds: usize,
    /// Unmeasured rounds before the baseline.
    #[arg(long, default_value_t = 3)]
    pub warmup_rounds: usize,
    /// Handshakes in flight while connecting.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Pause before each round (ms).
    #[arg(long, default_value_t = 200)]
    pub gap_ms: u64,
    /// Padding bytes added to each event text (bigger broadcasts fill slow sockets sooner).
    #[arg(long, default_value_t = 512)]
    pub pad: usize,
    /// SO_RCVBUF of the slow clients' sockets (bytes).
    #[arg(long, default_value_t = 4096)]
    pub slow_rcvbuf: u32,
}

/// p99 of a µs histogram in ms.
fn p99_ms(h: &Histogram<u64>) -> Option<f64> {
    (!h.is_empty()).then(|| h.value_at_quantile(0.99) as f64 / 1000.0)
}

/// `with / base`, when both exist and base > 0.
pub fn ratio(with: Option<f64>, base: Option<f64>) -> Option<f64> {
    match (with, base) {
        (Some(w), Some(b)) if b > 0.0 => Some(w / b),
        _ => None,
    }
}

pub async fn run(a: &SlowArgs) -> Result<Outcome> {
    if a.slow >= a.clients {
        bail!("--slow must be smaller than --clients");
    }
    let cfg = a.common.client_cfg();
    let deadline = a.common.deadline(Instant::now());
    let run_id = hex::encode(rand::random::<[u8; 4]>());
    let markers: Arc<Vec<String>> = Arc::new(
        [("w", a.warmup_rounds), ("b", a.rounds), ("s", a.rounds)]
            .into_iter()
            .flat_map(|(p, n)| (1..=n).map(move |r| format!("slowc-{p}{r}-")))
            .map(|m| m + &run_id)
            .collect(),
    );
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = watch::channel(false);
    let alive = Arc::new(AtomicUsize::new(0));
    let normal = a.clients - a.slow;
    let (m, al) = (markers.clone(), alive.clone());
    progress::phase("subscribers", normal as u64);
    let st = open_many(&cfg, normal, a.concurrency, deadline, move |c| {
        al.fetch_add(1, Ordering::AcqRel);
        let s = subscriber(c, m.clone(), tx.clone(), stop_rx.clone(), al.clone());
        tokio::spawn(s);
    })
    .await;
    progress::clear();
    report::print_errors(&st.errors, st.failed);
    if st.opened == 0 {
        bail!("no subscriber could connect");
    }
    let mut trigger = Conn::connect(&cfg).await?;
    let pad = "x".repeat(a.pad);
    let instance = format!("loadtest-slow-{run_id}");
    let mut t = Table::with(&Round::HEADERS);
    let mut phases = Vec::new();
    let mut hists = Vec::new();
    let mut slow_opened = 0usize;
    let slow_conns: Arc<Mutex<Vec<Conn>>> = Arc::new(Mutex::new(Vec::new()));
    let phases_def = [
        ("warmup", a.warmup_rounds),
        ("baseline", a.rounds),
        ("with slow", a.rounds),
    ];
    let mut base_ri = 0;
    for (pi, (name, nrounds)) in phases_def.into_iter().enumerate() {
        if pi == 2 {
            let mut scfg = cfg.clone();
            scfg.rcvbuf = Some(a.slow_rcvbuf);
            progress::phase("slow clients", a.slow as u64);
            let keep = slow_conns.clone();
            let s = open_many(&scfg, a.slow, a.concurrency, deadline, move |c| {
                if let Ok(mut v) = keep.lock() {
                    v.push(c);
                }
            })
            .await;
            progress::clear();
            report::print_errors(&s.errors, s.failed);
            slow_opened = s.opened;
        }
        progress::phase(name, (nrounds * st.opened) as u64);
        let mut h = new_hist();
        let (mut rows, mut lasts) = (Vec::new(), Vec::new());
        for r in 0..nrounds {
            tokio::time::sleep(Duration::from_millis(a.gap_ms)).await;
            if Instant::now() >= deadline {
                eprintln!("--max-secs reached in phase {name}");
                break;
            }
            let ri = base_ri + r;
            let params = json!({"text": format!("{} {pad}", markers[ri]), "mode": "now",
                "instanceId": instance});
            let expect = alive.load(Ordering::Acquire);
            let rd = round(
                &mut trigger,
                &mut rx,
                ri,
                &params.to_string(),
                expect,
                cfg.timeout,
            )
            .await?;
            rd.lat.iter().for_each(|d| record(&mut h, *d));
            lasts.extend(rd.last());
            let (mut row, json) = rd.row(r + 1);
            row[0] = format!("{}{}", &name[..4], r + 1);
            if pi > 0 {
                t.row(row);
                rows.push(json);
            }
        }
        base_ri += nrounds;
        progress::clear();
        if pi == 0 {
            continue;
        }
        lasts.sort_unstable();
        phases.push(json!({
            "phase": name,
            "slow_clients": if pi == 1 { 0 } else { slow_opened },
            "rounds": rows,
            "last_median_ms": lasts.get(lasts.len() / 2).map(|us| r3(*us as f64 / 1000.0)),
            "receipts": hist_json(&h),
        }));
        hists.push((name, h));
    }
    let _ = stop_tx.send(true);
    trigger.close(Duration::from_secs(1)).await;
    let left = wait_drained(&alive, Duration::from_secs(15)).await;
    drop(slow_conns);

    t.print();
    let mut ht = Table::new(hist_headers("receipts"));
    for (n, h) in &hists {
        ht.row(hist_row(n, h));
    }
    ht.print();
    let (base, with) = (p99_ms(&hists[0].1), p99_ms(&hists[1].1));
    let r = ratio(with, base);
    println!(
        "{} normal, {slow_opened} slow clients: receipt p99 {} ms without, {} ms with slow readers → ratio {} ({left} still open at exit)",
        st.opened,
        base.map(|v| ms((v * 1000.0) as u64)).unwrap_or("-".into()),
        with.map(|v| ms((v * 1000.0) as u64)).unwrap_or("-".into()),
        r.map(|r| format!("{r:.2}×")).unwrap_or("-".into()),
    );
    let json: Value = json!({
        "clients": a.clients,
        "normal_connected": st.opened,
        "slow_connected": slow_opened,
        "pad": a.pad,
        "slow_rcvbuf": a.slow_rcvbuf,
        "phases": phases,
        "baseline_p99_ms": base.map(r3),
        "with_slow_p99_ms": with.map(r3),
        "p99_ratio": r.map(r3),
    });
    let mut out = Outcome::new(json);
    out.ops = Some(hists.iter().map(|(_, h)| h.len()).sum());
    // Headline first: the phase with slow readers.
    for (n, h) in hists.into_iter().rev() {
        out = out.hist(n, h);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios() {
        assert_eq!(ratio(Some(3.0), Some(2.0)), Some(1.5));
        assert_eq!(ratio(Some(3.0), Some(0.0)), None);
        assert_eq!(ratio(None, Some(1.0)), None);
        let mut h = new_hist();
        for us in 1..=1000u64 {
            h.record(us).unwrap();
        }
        assert!((p99_ms(&h).unwrap() - 0.99).abs() < 0.01);
        assert_eq!(p99_ms(&new_hist()), None);
    }
}

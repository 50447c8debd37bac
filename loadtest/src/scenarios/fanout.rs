//! `fanout`: K subscribers; a trigger socket sends `system-event`; time until every subscriber got
//! the resulting `presence` broadcast, per round.
//!
//! Each round's text is `fanout-<round>-<run id>`, so a round is recognised by its marker inside the
//! `presence` payload (the list keeps earlier entries: the highest marker present is the round).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use clap::Args;
use fastwebsockets::OpCode;
use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};

use super::{open_many, wait_drained, Common};
use crate::client::{Conn, Head};
use crate::progress;
use crate::report::{
    self, hist_headers, hist_json, hist_row, ms, new_hist, r3, record, Outcome, Table,
};

#[derive(Args, Debug)]
pub struct FanoutArgs {
    #[command(flatten)]
    pub common: Common,
    /// Number of subscriber connections.
    #[arg(long, default_value_t = 500)]
    pub clients: usize,
    /// Number of broadcast rounds.
    #[arg(long, default_value_t = 5)]
    pub rounds: usize,
    /// Handshakes in flight while connecting subscribers.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Pause before the first round and between rounds (ms).
    #[arg(long, default_value_t = 500)]
    pub gap_ms: u64,
}

/// Read continuously; report (round index, receipt instant) once per round.
pub async fn subscriber(
    mut c: Conn,
    markers: Arc<Vec<String>>,
    tx: mpsc::UnboundedSender<(usize, Instant)>,
    mut stop: watch::Receiver<bool>,
    alive: Arc<AtomicUsize>,
) {
    let mut seen = 0usize; // rounds [0, seen) already reported
    let rounds = Rounds::of(&markers);
    loop {
        tokio::select! {
            r = c.ws.read_frame() => {
                let Ok(f) = r else { break };
                let at = Instant::now();
                match f.opcode {
                    OpCode::Close => break,
                    OpCode::Text => {}
                    _ => continue,
                }
                let Ok(text) = std::str::from_utf8(&f.payload) else { continue };
                if !text.contains("\"presence\"") {
                    continue;
                }
                let Some(round) = rounds.latest(text, &markers, seen) else {
                    continue;
                };
                let is_presence = Head::parse(text.as_bytes())
                    .map(|h| h.kind == "event" && h.event == Some("presence"))
                    .unwrap_or(false);
                if is_presence {
                    seen = round + 1;
                    let _ = tx.send((round, at));
                }
            }
            _ = stop.changed() => {
                c.close(Duration::from_secs(2)).await;
                break;
            }
        }
    }
    alive.fetch_sub(1, Ordering::AcqRel);
}

/// How a subscriber finds the round a broadcast belongs to.
enum Rounds {
    /// Markers are `{prefix}-{r}-{run}` for r = 0, 1, …: one pass over the text finds them
    /// all (with hundreds of markers and a large `presence` payload, one search per marker
    /// delayed the other subscribers' receipts on the harness's own threads).
    Indexed { lead: String, run: String },
    /// Any other markers: one search per marker still to come.
    Scan,
}

impl Rounds {
    fn of(markers: &[String]) -> Rounds {
        let indexed = markers
            .first()
            .and_then(|m| m.split_once("-0-"))
            .and_then(|(p, run)| {
                let ok = markers
                    .iter()
                    .enumerate()
                    .all(|(r, m)| *m == format!("{p}-{r}-{run}"));
                ok.then(|| Rounds::Indexed {
                    lead: format!("{p}-"),
                    run: run.to_string(),
                })
            });
        indexed.unwrap_or(Rounds::Scan)
    }

    /// The highest round in `seen..markers.len()` whose marker occurs in `text`.
    fn latest(&self, text: &str, markers: &[String], seen: usize) -> Option<usize> {
        let Rounds::Indexed { lead, run } = self else {
            return (seen..markers.len())
                .rev()
                .find(|&i| text.contains(markers[i].as_str()));
        };
        let mut best = None;
        for (at, _) in text.match_indices(lead.as_str()) {
            let rest = &text[at + lead.len()..];
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            let Ok(r) = rest[..digits].parse::<usize>() else {
                continue;
            };
            let exact = rest[digits..]
                .strip_prefix('-')
                .is_some_and(|t| t.starts_with(run.as_str()));
            if exact && r >= seen && r < markers.len() {
                best = best.max(Some(r));
            }
        }
        best
    }
}

/// Receipts of one broadcast round.
pub struct Round {
    /// Per-subscriber latency from the trigger's send, sorted.
    pub lat: Vec<Duration>,
    /// Subscribers alive when the round started.
    pub expect: usize,
    /// `system-event` round trip on the trigger socket.
    pub res_rtt: Duration,
}

/// Round `ri`: send `system-event` with `params` on `trigger`, collect receipts of round `ri`
/// from `rx` until `expect` arrived or `limit` passed.
pub async fn round(
    trigger: &mut Conn,
    rx: &mut mpsc::UnboundedReceiver<(usize, Instant)>,
    ri: usize,
    params: &str,
    expect: usize,
    limit: Duration,
) -> Result<Round> {
    while rx.try_recv().is_ok() {} // late receipts of earlier rounds
    let t0 = Instant::now();
    let end = tokio::time::Instant::from_std(t0 + limit);
    let call = async {
        let r = trigger.call("system-event", params).await;
        (r, t0.elapsed())
    };
    let collect = async {
        let mut lat = Vec::with_capacity(expect);
        while lat.len() < expect {
            match tokio::time::timeout_at(end, rx.recv()).await {
                Ok(Some((r, at))) if r == ri => {
                    lat.push(at.saturating_duration_since(t0));
                    progress::inc(1);
                }
                Ok(Some(_)) => {}
                _ => break,
            }
        }
        lat
    };
    let ((res, res_rtt), mut lat) = tokio::join!(call, collect);
    if let Err(e) = res {
        bail!("system-event failed: {e:#}");
    }
    lat.sort_unstable();
    Ok(Round {
        lat,
        expect,
        res_rtt,
    })
}

impl Round {
    /// Latency at quantile `p` of this round (µs).
    pub fn q(&self, p: f64) -> Option<u64> {
        let i = ((self.lat.len() as f64 - 1.0) * p).round() as usize;
        self.lat.get(i).map(|d| d.as_micros() as u64)
    }

    pub fn last(&self) -> Option<u64> {
        self.lat.last().map(|d| d.as_micros() as u64)
    }

    /// Headers matching [`Round::row`].
    pub const HEADERS: [&'static str; 7] = [
        "round",
        "recv",
        "first ms",
        "median ms",
        "p99 ms",
        "last ms",
        "trigger res ms",
    ];

    /// Table row and JSON of round number `n`.
    pub fn row(&self, n: usize) -> (Vec<String>, Value) {
        let cell = |v: Option<u64>| v.map(ms).unwrap_or("-".into());
        let first = self.lat.first().map(|d| d.as_micros() as u64);
        let row = vec![
            n.to_string(),
            format!("{}/{}", self.lat.len(), self.expect),
            cell(first),
            cell(self.q(0.5)),
            cell(self.q(0.99)),
            cell(self.last()),
            ms(self.res_rtt.as_micros() as u64),
        ];
        let f = |v: Option<u64>| v.map(|us| r3(us as f64 / 1000.0));
        let json = json!({
            "round": n,
            "received": self.lat.len(),
            "expected": self.expect,
            "first_ms": f(first),
            "median_ms": f(self.q(0.5)),
            "p99_ms": f(self.q(0.99)),
            "last_ms": f(self.last()),
            "trigger_res_ms": r3(self.res_rtt.as_secs_f64() * 1000.0),
        });
        (row, json)
    }
}

pub async fn run(a: &FanoutArgs) -> Result<Outcome> {
    let cfg = a.common.client_cfg();
    let start = Instant::now();
    let deadline = a.common.deadline(start);
    let run_id = hex::encode(rand::random::<[u8; 4]>());
    let markers: Arc<Vec<String>> = Arc::new(
        (1..=a.rounds)
            .map(|r| format!("fanout-{r}-{run_id}"))
            .collect(),
    );
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = watch::channel(false);
    let alive = Arc::new(AtomicUsize::new(0));

    let (m, al) = (markers.clone(), alive.clone());
    progress::phase("subscribers", a.clients as u64);
    let st = open_many(&cfg, a.clients, a.concurrency, deadline, move |c| {
        al.fetch_add(1, Ordering::AcqRel);
        tokio::spawn(subscriber(
            c,
            m.clone(),
            tx.clone(),
            stop_rx.clone(),
            al.clone(),
        ));
    })
    .await;
    progress::clear();
    println!(
        "{} subscribers connected in {:.2} s ({} failed)",
        st.opened,
        st.elapsed.as_secs_f64(),
        st.failed
    );
    report::print_errors(&st.errors, st.failed);
    if st.opened == 0 {
        bail!("no subscriber could connect");
    }
    let mut trigger = Conn::connect(&cfg).await?;
    let gap = Duration::from_millis(a.gap_ms);

    let mut t = Table::with(&Round::HEADERS);
    let mut all = new_hist();
    let (mut rounds, mut lasts) = (Vec::new(), Vec::new());
    progress::phase("fanout", (a.rounds * st.opened) as u64);
    // The gateway's CPU over the rounds alone (not the subscribers' handshakes).
    let cpu0 = a.common.pid.and_then(crate::sys::cpu_total);
    for (ri, marker) in markers.iter().enumerate() {
        tokio::time::sleep(gap).await;
        if Instant::now() >= deadline {
            eprintln!("--max-secs reached before round {}", ri + 1);
            break;
        }
        let expect = alive.load(Ordering::Acquire);
        let params = format!(r#"{{"text":"{marker}","mode":"now"}}"#);
        let r = round(&mut trigger, &mut rx, ri, &params, expect, cfg.timeout).await?;
        for d in &r.lat {
            record(&mut all, *d);
        }
        lasts.extend(r.last());
        let (row, json) = r.row(ri + 1);
        t.row(row);
        rounds.push(json);
    }
    let rounds_cpu_s = match (a.common.pid.and_then(crate::sys::cpu_total), cpu0) {
        (Some(b), Some(a0)) => Some(b.saturating_sub(a0) as f64 / crate::sys::clk_tck() as f64),
        _ => None,
    };
    progress::clear();
    let _ = stop_tx.send(true);
    trigger.close(Duration::from_secs(1)).await;
    let left = wait_drained(&alive, Duration::from_secs(15)).await;

    t.print();
    lasts.sort_unstable();
    let median_last = lasts.get(lasts.len() / 2).copied();
    println!(
        "last-subscriber latency over {} rounds: median {} ms, max {} ms ({left} still open at exit)",
        lasts.len(),
        median_last.map(ms).unwrap_or("-".into()),
        lasts.last().copied().map(ms).unwrap_or("-".into()),
    );
    let mut h = Table::new(hist_headers("all receipts"));
    h.row(hist_row("send→recv", &all));
    h.print();
    let per_receipt = rounds_cpu_s.map(|c| c * 1e6 / all.len().max(1) as f64);
    if let (Some(c), Some(p)) = (rounds_cpu_s, per_receipt) {
        println!("gateway CPU over the rounds: {c:.2} s, {p:.2} µs per delivered frame");
    }
    let json = json!({
        "clients": a.clients,
        "connected": st.opened,
        "connect_failed": st.failed,
        "connect_s": r3(st.elapsed.as_secs_f64()),
        "rounds": rounds,
        "last_median_ms": median_last.map(|us| r3(us as f64 / 1000.0)),
        "last_max_ms": lasts.last().map(|us| r3(*us as f64 / 1000.0)),
        "receipts": hist_json(&all),
        "rounds_cpu_s": rounds_cpu_s.map(r3),
        "cpu_us_per_receipt": per_receipt.map(r3),
    });
    Ok(Outcome::new(json).hist("send→recv", all))
}

#[cfg(test)]
mod tests {
    use super::Rounds;

    #[test]
    fn the_latest_marker_at_or_after_seen_wins_and_others_do_not_match() {
        let m: Vec<String> = (0..30).map(|r| format!("hostile-{r}-ab12cd34")).collect();
        let r = Rounds::of(&m);
        assert!(matches!(r, Rounds::Indexed { .. }));
        let text = r#"{"presence":[{"text":"hostile-3-ab12cd34"},{"text":"hostile-12-ab12cd34"}]}"#;
        assert_eq!(r.latest(text, &m, 0), Some(12));
        assert_eq!(r.latest(text, &m, 13), None);
        // Another run's marker, a longer number, a missing run id: none of them is ours.
        let other = "hostile-5-ffffffff hostile-123-ab12cd34 hostile-7- hostile-x-ab12cd34";
        assert_eq!(r.latest(other, &m, 0), None);
        assert_eq!(r.latest("hostile-1-ab12cd34", &m, 0), Some(1));
    }

    #[test]
    fn other_marker_shapes_are_searched_one_by_one() {
        let m: Vec<String> = ["slowc-w1-ab", "slowc-b1-ab", "slowc-b2-ab"]
            .map(String::from)
            .to_vec();
        let r = Rounds::of(&m);
        assert!(matches!(r, Rounds::Scan));
        assert_eq!(r.latest("x slowc-b1-ab y", &m, 0), Some(1));
        assert_eq!(r.latest("x slowc-b1-ab y", &m, 2), None);
    }
}

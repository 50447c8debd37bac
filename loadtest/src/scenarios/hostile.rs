//! `hostile`: do broken or hostile clients hurt the good ones? Good clients run all along —
//! `health` calls open-loop at `--health-rate` over `--good` sockets, and `system-event` →
//! `presence` broadcast rounds to `--subscribers` readers. Each phase measures them for
//! `--phase-secs`: first with no attack (baseline), then during each attack of
//! [`attacks::ATTACKS`] in turn. Reported per phase: the good clients' p50/p99 (and the ratio
//! to baseline), failed good calls, the gateway's peak RSS and CPU (`--pid`), the host's
//! steal time (a VM's vCPUs waiting for the hypervisor), and what the attackers saw. The
//! run ends by checking the good clients still get answers.

use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use clap::Args;
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};

use super::attacks::{self, AttackStats, Sizes, ATTACKS};
use super::fanout::{round, subscriber};
use super::{open_many, Common};
use crate::client::Conn;
use crate::report::{ms, new_hist, r3, record, Outcome, Table};
use crate::{srcip, sys};

#[derive(Args, Debug)]
pub struct HostileArgs {
    #[command(flatten)]
    pub common: Common,
    /// Good sockets calling `health`.
    #[arg(long, default_value_t = 10)]
    pub good: usize,
    /// `health` calls per second over all good sockets (open loop).
    #[arg(long, default_value_t = 200)]
    pub health_rate: u64,
    /// Good sockets receiving the broadcasts.
    #[arg(long, default_value_t = 50)]
    pub subscribers: usize,
    /// Pause between broadcast rounds (ms).
    #[arg(long, default_value_t = 250)]
    pub gap_ms: u64,
    /// Measured seconds per phase.
    #[arg(long, default_value_t = 5)]
    pub phase_secs: u64,
    /// Seconds an attack runs before its phase is measured.
    #[arg(long, default_value_t = 2)]
    pub ramp_secs: u64,
    /// Attacks to run, comma-separated (default: all).
    #[arg(long, value_delimiter = ',')]
    pub attacks: Vec<String>,
    /// Sockets per slowloris / half-open attack.
    #[arg(long, default_value_t = 500)]
    pub sockets: usize,
    /// Sockets of the unauthenticated flood.
    #[arg(long, default_value_t = 10_000)]
    pub flood: usize,
    /// Subscriptions the subscription attacker opens.
    #[arg(long, default_value_t = 1000)]
    pub subscriptions: usize,
    /// Source addresses of the wrong-token flood.
    #[arg(long, default_value = "127.0.3.1-127.0.3.200")]
    pub wrong_token_sources: String,
    /// Nice value of the attackers' threads. On a host where the attacker, the good clients
    /// and the gateway share the cores, 19 keeps the attacker's own CPU use out of what the
    /// good clients see, so the table shows what the attack costs inside the gateway; 0 lets
    /// the attacker compete as an equal.
    #[arg(long, default_value_t = 19)]
    pub attacker_nice: i32,
    /// Scheduling class of the attackers' threads: `idle` (Linux `SCHED_IDLE`: they get
    /// every cycle nobody else wants, and a good client or the gateway waking up preempts
    /// them at once — the nearest this host gets to an attacker on another machine) or
    /// `normal` (only `--attacker-nice` applies).
    #[arg(long, default_value = "idle", value_parser = ["idle", "normal"])]
    pub attacker_sched: String,
}

/// Worker threads of the attackers' runtime (the machine's cores, as a separate process
/// would use).
const ATTACKER_THREADS: usize = 2;

/// What one phase measured.
struct Phase {
    name: String,
    health: Histogram<u64>,
    bcast: Histogram<u64>,
    failed: u64,
    missing: usize,
    rss_kb: Option<u64>,
    /// The gateway's CPU over the phase, in percent of one core (`--pid`).
    gw_cpu_pct: Option<f64>,
    /// Percent of the host's CPU time the hypervisor took away during the phase: while it
    /// is high, the good clients' latency measures the host, not the gateway.
    steal_pct: Option<f64>,
    attack: Value,
}

pub async fn run(a: &HostileArgs) -> Result<Outcome> {
    let names: Vec<String> = if a.attacks.is_empty() {
        ATTACKS.iter().map(|s| s.to_string()).collect()
    } else {
        a.attacks.clone()
    };
    if let Some(bad) = names.iter().find(|n| !ATTACKS.contains(&n.as_str())) {
        bail!("unknown attack {bad} (known: {})", ATTACKS.join(", "));
    }
    sys::raise_nofile((a.flood + 2 * a.sockets + a.subscribers + a.good + 1024) as u64)?;
    let cfg = a.common.client_cfg();
    let deadline = a.common.deadline(Instant::now());
    let sizes = Sizes {
        sockets: a.sockets,
        flood: a.flood,
        subscriptions: a.subscriptions,
        sources: srcip::parse(&a.wrong_token_sources)?,
    };
    // The good clients.
    let mut good = Vec::new();
    for _ in 0..a.good {
        good.push(Conn::connect(&cfg).await?);
    }
    let mut trigger = Conn::connect(&cfg).await?;
    let per_phase = (a.phase_secs * 1000 / a.gap_ms.max(1)).max(1) as usize;
    let run_id = hex::encode(rand::random::<[u8; 4]>());
    let markers: Arc<Vec<String>> = Arc::new(
        (0..per_phase * (names.len() + 2))
            .map(|r| format!("hostile-{r}-{run_id}"))
            .collect(),
    );
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = watch::channel(false);
    let alive = Arc::new(AtomicUsize::new(0));
    let (m, t, s, al) = (markers.clone(), tx.clone(), stop_rx.clone(), alive.clone());
    let opened = open_many(&cfg, a.subscribers, 16, deadline, move |c| {
        al.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        tokio::spawn(subscriber(c, m.clone(), t.clone(), s.clone(), al.clone()));
    })
    .await;
    if opened.opened < a.subscribers {
        bail!(
            "only {}/{} subscribers connected",
            opened.opened,
            a.subscribers
        );
    }
    // The attackers get threads of their own: they compete with the good clients for the
    // CPU, as another process would, but never for a place in the same task queue.
    let nice = a.attacker_nice;
    let idle = a.attacker_sched == "idle";
    let attackers = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(ATTACKER_THREADS)
        .thread_name("attacker")
        .on_thread_start(move || {
            sys::nice_this_thread(nice);
            if idle && !sys::sched_idle_this_thread() {
                eprintln!("attacker thread: SCHED_IDLE refused; running at nice {nice}");
            }
        })
        .enable_all()
        .build()?;
    let mut phases = Vec::new();
    let mut ri = 0;
    let plan: Vec<Option<&str>> = std::iter::once(None)
        .chain(names.iter().map(|n| Some(n.as_str())))
        .collect();
    for attack in plan {
        if Instant::now() >= deadline {
            break;
        }
        let stats = Arc::new(AttackStats::default());
        let (atk_stop, atk_rx) = watch::channel(false);
        let mut tasks = attack
            .map(|n| attacks::start(attackers.handle(), n, &cfg, &sizes, atk_rx, stats.clone()));
        if attack.is_some() {
            tokio::time::sleep(Duration::from_secs(a.ramp_secs)).await;
        }
        let ctx = (&mut good, &mut trigger, &mut rx, &markers, run_id.as_str());
        let mut p = measure(a, ctx, &mut ri, per_phase).await;
        p.name = attack.unwrap_or("baseline").to_string();
        p.attack = stats.json();
        let _ = atk_stop.send(true);
        if let Some(set) = tasks.as_mut() {
            let _ = tokio::time::timeout(Duration::from_secs(15), async {
                while set.join_next().await.is_some() {}
            })
            .await;
            set.abort_all();
        }
        phases.push(p);
    }
    // The gateway still answers the good clients.
    let mut still = 0;
    for c in good.iter_mut() {
        if c.call("health", "{}").await.is_ok() {
            still += 1;
        }
    }
    let _ = stop_tx.send(true);
    attackers.shutdown_background();
    Ok(report(a, &phases, still))
}

type Ctx<'a> = (
    &'a mut Vec<Conn>,
    &'a mut Conn,
    &'a mut mpsc::UnboundedReceiver<(usize, Instant)>,
    &'a Arc<Vec<String>>,
    &'a str,
);

/// One measured phase: `health` open-loop on the good sockets and broadcast rounds, side by
/// side, with the gateway's RSS sampled.
async fn measure(a: &HostileArgs, ctx: Ctx<'_>, ri: &mut usize, rounds: usize) -> Phase {
    let (good, trigger, rx, markers, run_id) = ctx;
    let secs = Duration::from_secs(a.phase_secs);
    let n = good.len().max(1) as u64;
    let every = Duration::from_micros(1_000_000 * n / a.health_rate.max(1));
    let health = Arc::new(Mutex::new((new_hist(), 0u64)));
    let (host0, gw0) = (sys::HostCpu::now(), a.common.pid.and_then(sys::cpu_total));
    let t0 = Instant::now();
    let end = t0 + secs;
    let calls: Vec<_> = std::mem::take(good)
        .into_iter()
        .enumerate()
        .map(|(i, mut c)| {
            let h = health.clone();
            tokio::spawn(async move {
                let t0 = Instant::now() + every * i as u32 / n as u32;
                let mut k = 0u32;
                while t0 + every * k < end {
                    let at = t0 + every * k;
                    tokio::time::sleep_until(at.into()).await;
                    let ok = c.call("health", "{}").await.is_ok();
                    let mut g = h.lock().unwrap();
                    if ok {
                        record(&mut g.0, at.elapsed());
                    } else {
                        g.1 += 1;
                    }
                    k += 1;
                }
                c
            })
        })
        .collect();
    let calls = async {
        let mut back = Vec::new();
        for t in calls {
            if let Ok(c) = t.await {
                back.push(c);
            }
        }
        back
    };
    let bcast = async {
        let mut hist = new_hist();
        let mut missing = 0;
        for _ in 0..rounds {
            tokio::time::sleep(Duration::from_millis(a.gap_ms)).await;
            // One presence entry for the whole run (`instanceId` is its key): each round
            // replaces it, so every phase broadcasts the same list. Keyed by the text, each
            // round would add an entry (up to the gateway's 200), and the frame every
            // subscriber reads would grow from 0.3 KB at the baseline to ~14 KB by the
            // last phases.
            let params = format!(
                r#"{{"text":"{}","instanceId":"hostile-{run_id}"}}"#,
                markers[*ri]
            );
            match round(
                trigger,
                rx,
                *ri,
                &params,
                a.subscribers,
                Duration::from_secs(10),
            )
            .await
            {
                Ok(r) => {
                    missing += r.expect - r.lat.len();
                    for l in &r.lat {
                        record(&mut hist, *l);
                    }
                }
                Err(_) => missing += a.subscribers,
            }
            *ri += 1;
        }
        (hist, missing)
    };
    let rss = async {
        let mut peak = None;
        let end = Instant::now() + secs;
        while Instant::now() < end {
            if let Some(kb) = a.common.pid.and_then(sys::vm_rss_kb) {
                peak = Some(peak.map_or(kb, |p: u64| p.max(kb)));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        peak
    };
    let (back, (bcast, missing), rss_kb) = tokio::join!(calls, bcast, rss);
    *good = back;
    let (health, failed) = std::mem::replace(&mut *health.lock().unwrap(), (new_hist(), 0));
    let wall = t0.elapsed().as_secs_f64();
    let gw1 = a.common.pid.and_then(sys::cpu_total);
    let gw_cpu_pct = gw0
        .zip(gw1)
        .map(|(b, e)| 100.0 * e.saturating_sub(b) as f64 / sys::clk_tck() as f64 / wall.max(1e-3));
    let steal_pct = host0
        .zip(sys::HostCpu::now())
        .and_then(|(b, e)| b.steal_pct_until(&e));
    Phase {
        name: String::new(),
        health,
        bcast,
        failed,
        missing,
        rss_kb,
        gw_cpu_pct,
        steal_pct,
        attack: Value::Null,
    }
}

fn q(h: &Histogram<u64>, p: f64) -> Option<u64> {
    (!h.is_empty()).then(|| h.value_at_quantile(p))
}

fn report(a: &HostileArgs, phases: &[Phase], still: usize) -> Outcome {
    let base = phases.first();
    let ratio = |v: Option<u64>, b: Option<u64>| match (v, b) {
        (Some(v), Some(b)) if b > 0 => Some(r3(v as f64 / b as f64)),
        _ => None,
    };
    let mut t = Table::with(&[
        "phase",
        "health p50",
        "health p99",
        "×base",
        "bcast p99",
        "×base",
        "failed",
        "missing",
        "RSS MB",
        "gw CPU %",
        "steal %",
        "attack",
    ]);
    let mut rows = Vec::new();
    for p in phases {
        let (h99, b99) = (q(&p.health, 0.99), q(&p.bcast, 0.99));
        let hb = ratio(h99, base.and_then(|b| q(&b.health, 0.99)));
        let bb = ratio(b99, base.and_then(|b| q(&b.bcast, 0.99)));
        let cell = |v: Option<u64>| v.map(ms).unwrap_or("-".into());
        let f = |v: Option<f64>| v.map(|x| format!("{x:.2}")).unwrap_or("-".into());
        t.row(vec![
            p.name.clone(),
            cell(q(&p.health, 0.5)),
            cell(h99),
            f(hb),
            cell(b99),
            f(bb),
            p.failed.to_string(),
            p.missing.to_string(),
            p.rss_kb
                .map(|k| format!("{:.1}", k as f64 / 1024.0))
                .unwrap_or("-".into()),
            p.gw_cpu_pct
                .map(|v| format!("{v:.0}"))
                .unwrap_or("-".into()),
            p.steal_pct.map(|v| format!("{v:.1}")).unwrap_or("-".into()),
            p.attack.to_string(),
        ]);
        let msf = |v: Option<u64>| v.map(|us| r3(us as f64 / 1000.0));
        rows.push(json!({
            "phase": p.name, "health_p50_ms": msf(q(&p.health, 0.5)), "health_p99_ms": msf(h99),
            "health_p99_x_baseline": hb, "broadcast_p99_ms": msf(b99), "broadcast_p99_x_baseline": bb,
            "health_calls": p.health.len(), "failed": p.failed, "missing": p.missing,
            "peak_rss_kb": p.rss_kb, "gateway_cpu_pct": p.gw_cpu_pct.map(r3),
            "host_steal_pct": p.steal_pct.map(r3), "attack": p.attack,
        }));
    }
    t.print();
    println!(
        "good sockets still answered after the attacks: {still}/{}",
        a.good
    );
    Outcome::new(json!({
        "scenario": "hostile",
        "good": a.good, "health_rate": a.health_rate, "subscribers": a.subscribers,
        "phase_secs": a.phase_secs, "sockets": a.sockets, "flood": a.flood,
        "subscriptions": a.subscriptions, "phases": rows, "still_answering": still,
        "failed": a.good - still,
    }))
}

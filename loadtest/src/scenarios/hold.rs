//! `hold`: open N authenticated idle connections in steps; per step the gateway's RSS and idle CPU.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use clap::Args;
use fastwebsockets::OpCode;
use serde_json::{json, Value};
use tokio::io::AsyncBufReadExt;
use tokio::sync::watch;

use super::{open_many, wait_drained, Common};
use crate::client::{ClientCfg, Conn};
use crate::progress;
use crate::report::{self, r3, Outcome, Table};
use crate::{sys, workers};

#[derive(Args, Debug)]
pub struct HoldArgs {
    #[command(flatten)]
    pub common: Common,
    /// Cumulative connection counts to measure at, e.g. 1000,5000.
    #[arg(long, value_delimiter = ',', default_value = "1000,5000")]
    pub conns: Vec<usize>,
    /// Handshakes in flight while opening.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Length of each idle CPU window (s).
    #[arg(long, default_value_t = 5)]
    pub idle_secs: u64,
    /// Pause after opening before measuring (ms).
    #[arg(long, default_value_t = 1000)]
    pub settle_ms: u64,
}

/// Keep a connection open: read (and drop) everything, answer pings, close on `stop`.
async fn reader(mut c: Conn, mut stop: watch::Receiver<bool>, alive: Arc<AtomicUsize>) {
    loop {
        tokio::select! {
            r = c.ws.read_frame() => match r {
                Ok(f) if f.opcode == OpCode::Close => break,
                Ok(_) => {}
                Err(_) => break,
            },
            _ = stop.changed() => {
                c.close(Duration::from_secs(2)).await;
                break;
            }
        }
    }
    alive.fetch_sub(1, Ordering::AcqRel);
}

/// RSS (main, total KiB) and CPU % over an idle window of `secs`.
struct Sample {
    rss_main_kb: u64,
    rss_total_kb: u64,
    cpu_pct: f64,
}

async fn sample(pid: Option<u32>, secs: u64) -> Option<Sample> {
    let pid = pid?;
    let c0 = sys::cpu_total(pid)?;
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let c1 = sys::cpu_total(pid)?;
    let wall = t0.elapsed().as_secs_f64();
    let (rss_main_kb, rss_total_kb) = sys::rss(pid)?;
    let cpu_pct = c1.saturating_sub(c0) as f64 / sys::clk_tck() as f64 / wall * 100.0;
    Some(Sample {
        rss_main_kb,
        rss_total_kb,
        cpu_pct,
    })
}

fn mb(kb: u64) -> String {
    format!("{:.1}", kb as f64 / 1024.0)
}

/// What one step of opening did (over all worker processes with `--workers`).
struct Step {
    opened: usize,
    failed: u64,
    errors: Vec<String>,
    elapsed: Duration,
    cut_short: bool,
    alive: usize,
}

/// Who holds the connections: this process, or N worker processes (`--workers`).
enum Opener {
    Local {
        cfg: ClientCfg,
        stop_tx: watch::Sender<bool>,
        stop_rx: watch::Receiver<bool>,
        alive: Arc<AtomicUsize>,
        opened: usize,
    },
    Workers(workers::Pool, Duration),
}

impl Opener {
    /// Open up to `target` connections in total.
    async fn open_to(&mut self, target: usize, conc: usize, deadline: Instant) -> Result<Step> {
        match self {
            Opener::Local {
                cfg,
                stop_rx,
                alive,
                opened,
                ..
            } => {
                let need = target.saturating_sub(*opened);
                progress::phase(&format!("hold→{target}"), need as u64);
                let (rx, al) = (stop_rx.clone(), alive.clone());
                let st = open_many(cfg, need, conc, deadline, move |c| {
                    al.fetch_add(1, Ordering::AcqRel);
                    tokio::spawn(reader(c, rx.clone(), al.clone()));
                })
                .await;
                *opened += st.opened;
                Ok(Step {
                    opened: st.opened,
                    failed: st.failed,
                    errors: st.errors,
                    elapsed: st.elapsed,
                    cut_short: st.cut_short,
                    alive: alive.load(Ordering::Acquire),
                })
            }
            Opener::Workers(pool, limit) => {
                pool.send_all("next").await?;
                let docs = pool.recv_all(*limit).await?;
                let n = |d: &Value, k: &str| d[k].as_u64().unwrap_or(0);
                let mut st = Step {
                    opened: 0,
                    failed: 0,
                    errors: Vec::new(),
                    elapsed: Duration::ZERO,
                    cut_short: false,
                    alive: 0,
                };
                for d in &docs {
                    st.opened += n(d, "opened") as usize;
                    st.failed += n(d, "failed");
                    st.alive += n(d, "alive") as usize;
                    st.cut_short |= d["cut_short"].as_bool().unwrap_or(false);
                    let el = Duration::from_secs_f64(d["open_s"].as_f64().unwrap_or(0.0));
                    st.elapsed = st.elapsed.max(el);
                    for e in d["errors"].as_array().into_iter().flatten() {
                        st.errors.push(e.as_str().unwrap_or_default().to_string());
                    }
                }
                Ok(st)
            }
        }
    }

    /// Close everything; how many connections were still open after the drain bound.
    async fn stop(self) -> Result<usize> {
        match self {
            Opener::Local { stop_tx, alive, .. } => {
                let _ = stop_tx.send(true);
                Ok(wait_drained(&alive, Duration::from_secs(15)).await)
            }
            Opener::Workers(mut pool, _) => {
                pool.send_all("stop").await?;
                let docs = pool.recv_all(Duration::from_secs(30)).await?;
                pool.finish(Duration::from_secs(10)).await?;
                Ok(docs
                    .iter()
                    .map(|d| d["left"].as_u64().unwrap_or(0) as usize)
                    .sum())
            }
        }
    }
}

/// A `--workers` child: per `next` line on stdin, open its share of the next step and report.
pub async fn child(a: &HoldArgs, i: usize, w: usize) -> Result<()> {
    let mut steps = a.conns.clone();
    steps.sort_unstable();
    steps.dedup();
    let max = workers::share(*steps.last().unwrap_or(&0), w, i);
    sys::raise_nofile(max as u64 + 64)?;
    let common = workers::child_common(&a.common, w, i);
    let cfg = common.client_cfg();
    let deadline = common.deadline(Instant::now());
    let (stop_tx, stop_rx) = watch::channel(false);
    let alive = Arc::new(AtomicUsize::new(0));
    let conc = workers::share(a.concurrency, w, i).max(1);
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let (mut opened, mut stopped) = (0usize, false);
    for &target in &steps {
        let Ok(Some(cmd)) = lines.next_line().await else {
            stopped = true;
            break;
        };
        if cmd.trim() != "next" {
            stopped = true;
            break;
        }
        let need = workers::share(target, w, i).saturating_sub(opened);
        let (rx, al) = (stop_rx.clone(), alive.clone());
        let st = open_many(&cfg, need, conc, deadline, move |c| {
            al.fetch_add(1, Ordering::AcqRel);
            tokio::spawn(reader(c, rx.clone(), al.clone()));
        })
        .await;
        opened += st.opened;
        workers::emit(&json!({
            "worker": i, "target": target, "opened": st.opened, "failed": st.failed,
            "errors": st.errors, "open_s": st.elapsed.as_secs_f64(),
            "alive": alive.load(Ordering::Acquire), "cut_short": st.cut_short,
        }));
    }
    // After the last step (or `stop`/EOF): wait for `stop` (bounded), then close everything.
    let bound = deadline.saturating_duration_since(Instant::now()) + Duration::from_secs(30);
    if !stopped {
        let _ = tokio::time::timeout(bound, async {
            while let Ok(Some(l)) = lines.next_line().await {
                if l.trim() == "stop" {
                    break;
                }
            }
        })
        .await;
    }
    let _ = stop_tx.send(true);
    let left = wait_drained(&alive, Duration::from_secs(15)).await;
    workers::emit(&json!({"worker": i, "done": true, "left": left}));
    Ok(())
}

pub async fn run(a: &HoldArgs) -> Result<Outcome> {
    let mut steps = a.conns.clone();
    steps.sort_unstable();
    steps.dedup();
    let max = *steps.last().unwrap_or(&0);
    let many = workers::is_parent();
    let nofile = sys::raise_nofile(if many { 256 } else { max as u64 + 128 })?;
    if let Some(pid) = a.common.pid {
        if sys::vm_rss_kb(pid).is_none() {
            bail!("cannot read /proc/{pid}/status (wrong --pid?)");
        }
    }
    let cfg = a.common.client_cfg();
    let start = Instant::now();
    let deadline = a.common.deadline(start);
    let mut control = Conn::connect(&cfg).await?;
    let mut opener = opener_of(a, &cfg, many)?;

    tokio::time::sleep(Duration::from_millis(a.settle_ms)).await;
    let base = sample(a.common.pid, a.idle_secs).await;
    let mut t = table_with(&base);
    let mut rows = Vec::new();
    let (mut opened, mut failed, mut errors) = (0usize, 0u64, Vec::new());
    for &target in &steps {
        if Instant::now() >= deadline {
            eprintln!("--max-secs reached; skipping step {target}");
            break;
        }
        let mut st = opener.open_to(target, a.concurrency, deadline).await?;
        opened += st.opened;
        failed += st.failed;
        errors.extend(std::mem::take(&mut st.errors));
        let rate = st.opened as f64 / st.elapsed.as_secs_f64();
        let (health_ms, s) = after_step(a, &mut control, target, &st).await;
        let m = Measured {
            target,
            opened_total: opened,
            rate,
            health_ms,
            per_conn: per_kb(&s, &base, st.alive),
            s,
        };
        t.row(m.cells(&st));
        rows.push(m.json(&st));
        if st.cut_short {
            break;
        }
    }
    let left = opener.stop().await?;
    control.close(Duration::from_secs(1)).await;
    t.print();
    if a.common.pid.is_none() {
        println!("(no --pid: memory and CPU not measured)");
    }
    println!("RLIMIT_NOFILE {nofile}; {opened} opened, {failed} failed; {left} still open at exit");
    report::print_errors(&errors, failed);
    Ok(Outcome::new(json!({
        "conns": steps,
        "pid": a.common.pid,
        "idle_secs": a.idle_secs,
        "concurrency": a.concurrency,
        "workers": if many { workers::role_workers() } else { 1 },
        "baseline": base.as_ref().map(|b| json!({
            "rss_total_kb": b.rss_total_kb,
            "rss_main_kb": b.rss_main_kb,
            "idle_cpu_pct": r3(b.cpu_pct),
        })),
        "steps": rows,
        "errors": errors,
    })))
}

/// The steps' table, with the baseline (no connections) as its first row.
fn table_with(base: &Option<Sample>) -> Table {
    let mut t = Table::with(&[
        "conns",
        "alive",
        "open s",
        "open/s",
        "failed",
        "RSS MB",
        "main MB",
        "KB/conn",
        "idle CPU %",
        "health ms",
    ]);
    t.row(vec![
        "0 (base)".into(),
        "0".into(),
        "-".into(),
        "-".into(),
        "-".into(),
        cell(base, &|s| mb(s.rss_total_kb)),
        cell(base, &|s| mb(s.rss_main_kb)),
        "-".into(),
        cell(base, &|s| format!("{:.2}", s.cpu_pct)),
        "-".into(),
    ]);
    t
}

/// A table cell from a sample, `-` without one.
fn cell(s: &Option<Sample>, f: &dyn Fn(&Sample) -> String) -> String {
    s.as_ref().map(f).unwrap_or("-".into())
}

/// One step's measurements, for its table row and its JSON.
struct Measured {
    target: usize,
    opened_total: usize,
    rate: f64,
    health_ms: Option<f64>,
    s: Option<Sample>,
    per_conn: Option<f64>,
}

/// RSS added per live connection since the baseline (KB).
fn per_kb(s: &Option<Sample>, base: &Option<Sample>, live: usize) -> Option<f64> {
    match (s, base) {
        (Some(s), Some(b)) if live > 0 => {
            Some((s.rss_total_kb as f64 - b.rss_total_kb as f64) / live as f64)
        }
        _ => None,
    }
}

impl Measured {
    fn cells(&self, st: &Step) -> Vec<String> {
        let cell = |f: &dyn Fn(&Sample) -> String| cell(&self.s, f);
        vec![
            self.target.to_string(),
            st.alive.to_string(),
            format!("{:.2}", st.elapsed.as_secs_f64()),
            format!("{:.0}", self.rate),
            st.failed.to_string(),
            cell(&|s| mb(s.rss_total_kb)),
            cell(&|s| mb(s.rss_main_kb)),
            self.per_conn
                .map(|k| format!("{k:.1}"))
                .unwrap_or("-".into()),
            cell(&|s| format!("{:.2}", s.cpu_pct)),
            self.health_ms
                .map(|h| format!("{h:.3}"))
                .unwrap_or("-".into()),
        ]
    }

    fn json(&self, st: &Step) -> Value {
        let s = self.s.as_ref();
        json!({
            "target": self.target,
            "opened_total": self.opened_total,
            "alive": st.alive,
            "failed": st.failed,
            "open_s": r3(st.elapsed.as_secs_f64()),
            "open_per_s": r3(self.rate),
            "rss_total_kb": s.map(|s| s.rss_total_kb),
            "rss_main_kb": s.map(|s| s.rss_main_kb),
            "rss_delta_kb_per_conn": self.per_conn.map(r3),
            "idle_cpu_pct": s.map(|s| r3(s.cpu_pct)),
            "health_ms": self.health_ms,
            "cut_short": st.cut_short,
        })
    }
}

/// Who opens the connections: worker processes (`--workers`), or this one.
fn opener_of(a: &HoldArgs, cfg: &ClientCfg, many: bool) -> Result<Opener> {
    Ok(if many {
        let w = workers::role_workers();
        let limit = Duration::from_secs(a.common.max_secs + 30);
        Opener::Workers(workers::Pool::spawn(w)?, limit)
    } else {
        let (stop_tx, stop_rx) = watch::channel(false);
        Opener::Local {
            cfg: cfg.clone(),
            stop_tx,
            stop_rx,
            alive: Arc::new(AtomicUsize::new(0)),
            opened: 0,
        }
    })
}

/// After a step opened its connections: settle, time a `health` call on the control socket,
/// then sample RSS and CPU over the idle window.
async fn after_step(
    a: &HoldArgs,
    control: &mut Conn,
    target: usize,
    st: &Step,
) -> (Option<f64>, Option<Sample>) {
    tokio::time::sleep(Duration::from_millis(a.settle_ms)).await;
    let th = Instant::now();
    let health_ms = match control.call("health", "{}").await {
        Ok(_) => Some(r3(th.elapsed().as_secs_f64() * 1000.0)),
        Err(e) => {
            eprintln!("control health failed: {e:#}");
            None
        }
    };
    eprintln!(
        "step {target}: {} opened in {:.2} s ({} failed); measuring {} s idle window",
        st.opened,
        st.elapsed.as_secs_f64(),
        st.failed,
        a.idle_secs
    );
    progress::clear();
    (health_ms, sample(a.common.pid, a.idle_secs).await)
}

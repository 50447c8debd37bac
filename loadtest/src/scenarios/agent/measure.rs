//! The measured part of `agent-streams`: unmeasured warm-up runs, the socket pool, the
//! runs spread over it with the gateway's CPU and RSS sampled, and the report (tables,
//! lines, JSON). Driving one socket's runs and matching tokens is `super`'s.

use super::*;

pub(super) async fn measure(
    a: &AgentArgs,
    cfg: &crate::client::ClientCfg,
    conns: usize,
    tag: &str,
    table: Arc<Table>,
    deadline: Instant,
) -> Result<Measured> {
    let warm = warm_up(a, cfg, tag, &table, deadline).await?;

    let (opened, st) = connect_pool(a, cfg, conns, deadline, &warm).await?;

    // Runs spread evenly: run i on socket i mod C.
    let c = opened.len();
    let mut per: Vec<Vec<RunSt>> = (0..c).map(|_| Vec::new()).collect();
    for i in 0..a.runs {
        per[i % c].push(new_run(tag, 'r', i));
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    let sampler = a
        .common
        .pid
        .map(|pid| tokio::spawn(rss_peak(pid, stop_rx, deadline)));
    let rss0 = a.common.pid.and_then(sys::rss).map(|r| r.1);
    let cpu0 = a.common.pid.and_then(sys::cpu_total);
    let me = std::process::id();
    let my_cpu0 = sys::cpu_ticks(me).unwrap_or(0);
    progress::phase("runs", a.runs as u64);
    let t0 = Instant::now();
    let mut set = JoinSet::new();
    for (conn, runs) in opened.into_iter().zip(per) {
        set.spawn(drive(conn, runs, table.clone(), deadline));
    }
    let mut all = Tally::default();
    let mut done = Vec::with_capacity(c);
    while let Some(r) = set.join_next().await {
        if let Ok((conn, t)) = r {
            all.merge(t);
            done.push(conn);
        }
    }
    let phase_s = t0.elapsed().as_secs_f64();
    let harness_cpu =
        sys::cpu_ticks(me).unwrap_or(0).saturating_sub(my_cpu0) as f64 / sys::clk_tck() as f64;
    let cpu_s = match (a.common.pid.and_then(sys::cpu_total), cpu0) {
        (Some(b), Some(a0)) => Some(b.saturating_sub(a0) as f64 / sys::clk_tck() as f64),
        _ => None,
    };
    let _ = stop_tx.send(true);
    let peak = match sampler {
        Some(s) => s.await.ok(),
        None => None,
    };
    progress::clear();
    let mut closing = JoinSet::new();
    for conn in done {
        closing.spawn(conn.close(Duration::from_secs(1)));
    }
    while closing.join_next().await.is_some() {}

    let run = RunPhase {
        conns: c,
        phase_s,
        harness_cpu,
        cpu_s,
        rss0,
        peak,
    };
    Ok(report_runs(a, &st, warm, all, &run))
}

/// Open the measured sockets (`conns`, `a.concurrency` at a time).
async fn connect_pool(
    a: &AgentArgs,
    cfg: &crate::client::ClientCfg,
    conns: usize,
    deadline: Instant,
    warm: &[f64],
) -> Result<(Vec<Conn>, crate::scenarios::OpenStats)> {
    progress::phase("connect", conns as u64);
    let pool = Arc::new(Mutex::new(Vec::with_capacity(conns)));
    let sink = pool.clone();
    let st = open_many(cfg, conns, a.concurrency, deadline, move |c| {
        if let Ok(mut p) = sink.lock() {
            p.push(c);
        }
    })
    .await;
    progress::clear();
    let opened: Vec<Conn> = pool
        .lock()
        .map(|mut p| p.drain(..).collect())
        .unwrap_or_default();
    println!(
        "{} sockets connected in {:.2} s ({} failed); warm-up runs: {warm:?} ms",
        opened.len(),
        st.elapsed.as_secs_f64(),
        st.failed
    );
    report::print_errors(&st.errors, st.failed);
    if opened.is_empty() {
        bail!("no socket could connect");
    }
    Ok((opened, st))
}

/// Warm-up: unmeasured runs, one at a time, on their own socket; each one's wall time (ms).
async fn warm_up(
    a: &AgentArgs,
    cfg: &crate::client::ClientCfg,
    tag: &str,
    table: &Arc<Table>,
    deadline: Instant,
) -> Result<Vec<f64>> {
    let mut warm = Vec::new();
    if a.warmup_runs > 0 {
        progress::phase("warm-up", a.warmup_runs as u64);
        let mut c = Conn::connect(cfg).await?;
        for k in 0..a.warmup_runs {
            let limit = deadline.min(Instant::now() + WARMUP_LIMIT);
            let run = new_run(tag, 'w', a.runs + k);
            let (back, t) = drive(c, vec![run], table.clone(), limit).await;
            c = back;
            if t.ok != 1 {
                bail!("warm-up run failed: {}", t.errors.join("; "));
            }
            warm.push(r3(t.wall.first().copied().unwrap_or(0) as f64 / 1000.0));
        }
        c.close(Duration::from_secs(1)).await;
        progress::clear();
    }
    Ok(warm)
}

/// What the measured phase gave besides the tally.
struct RunPhase {
    conns: usize,
    phase_s: f64,
    harness_cpu: f64,
    cpu_s: Option<f64>,
    rss0: Option<u64>,
    peak: Option<u64>,
}

/// Print the tables and lines of the run phase, and its JSON.
fn report_runs(
    a: &AgentArgs,
    st: &crate::scenarios::OpenStats,
    warm: Vec<f64>,
    all: Tally,
    run: &RunPhase,
) -> Measured {
    let (c, phase_s, harness_cpu) = (run.conns, run.phase_s, run.harness_cpu);
    let (cpu_s, rss0, peak) = (run.cpu_s, run.rss0, run.peak);
    let added: Vec<u64> = all.added.iter().map(|a| a.1).collect();
    // Tokens sent once every run was streaming (after the accept/start ramp).
    let steady: Vec<u64> = match all.last_request {
        Some(t) => all.added.iter().filter(|a| a.0 >= t).map(|a| a.1).collect(),
        None => Vec::new(),
    };
    let named = [
        ("added per token", hist_of(&added)),
        ("  after all started", hist_of(&steady)),
        ("TTFT (send→1st token)", hist_of(&all.ttft)),
        ("send→accepted", hist_of(&all.accept)),
        ("send→upstream request", hist_of(&all.to_upstream)),
        ("run (send→final)", hist_of(&all.wall)),
    ];
    let mut tb = TextTable::new(hist_headers("agent-streams"));
    for (n, h) in &named {
        tb.row(hist_row(n, h));
    }
    tb.print();
    let expected = a.runs as u64 * u64::from(a.pacing.tokens);
    println!(
        "{} runs over {c} sockets: {} ok, {} failed, {} without a final response; tokens {}/{} received \
         ({} unmatched) in {phase_s:.2} s ({:.0} tokens/s)",
        a.runs,
        all.ok,
        all.failed,
        all.missing,
        all.tokens,
        expected,
        all.unmatched,
        all.tokens as f64 / phase_s.max(1e-9)
    );
    if let Some(cpu) = cpu_s {
        println!(
            "gateway during runs: {cpu:.2} CPU s ({:.1} %), {:.1} CPU µs/token, RSS {} MB before, peak {} MB",
            cpu / phase_s.max(1e-9) * 100.0,
            cpu * 1e6 / all.tokens.max(1) as f64,
            rss0.map(|k| format!("{:.1}", k as f64 / 1024.0)).unwrap_or("-".into()),
            peak.map(|k| format!("{:.1}", k as f64 / 1024.0)).unwrap_or("-".into()),
        );
    }
    println!(
        "harness (client + upstream) during runs: {harness_cpu:.2} CPU s ({:.1} %)",
        harness_cpu / phase_s.max(1e-9) * 100.0
    );
    report::print_errors(&all.errors, all.failed + all.missing);
    let p = |q: f64| {
        let h = &named[0].1;
        if h.is_empty() {
            "-".to_string()
        } else {
            ms(h.value_at_quantile(q))
        }
    };
    println!(
        "added latency per token: p50 {} ms, p99 {} ms, max {} ms",
        p(0.5),
        p(0.99),
        p(1.0)
    );
    let json = json!({
        "runs": a.runs,
        "conns": c,
        "connect_failed": st.failed,
        "pacing": a.pacing.to_json(),
        "warmup_ms": warm,
        "ok": all.ok,
        "failed": all.failed,
        "missing": all.missing,
        "cut_short": all.cut_short || st.cut_short,
        "tokens": {"received": all.tokens, "expected": expected, "unmatched": all.unmatched},
        "phase_s": r3(phase_s),
        "tokens_per_s": r3(all.tokens as f64 / phase_s.max(1e-9)),
        "added_per_token": hist_json(&named[0].1),
        "added_per_token_all_started": hist_json(&named[1].1),
        "ttft": hist_json(&named[2].1),
        "accepted": hist_json(&named[3].1),
        "to_upstream": hist_json(&named[4].1),
        "run": hist_json(&named[5].1),
        "harness_cpu_s": r3(harness_cpu),
        "gateway": {"cpu_s_runs": cpu_s.map(r3), "rss_kb_before": rss0, "rss_kb_peak": peak,
            "cpu_us_per_token": cpu_s.map(|c| r3(c * 1e6 / all.tokens.max(1) as f64))},
        "errors": all.errors,
    });
    let tokens = all.tokens;
    (
        json,
        named.into_iter().map(|(n, h)| (n.to_string(), h)).collect(),
        tokens,
    )
}

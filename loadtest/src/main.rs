//! openclaw-loadtest: a load harness for any OpenClaw gateway speaking WebSocket protocol v4.
//!
//! Scenarios (all traffic to 127.0.0.1, each bounded in count and wall time): `connect-storm`
//! (alias `handshake`), `rpc` (closed loop or `--rate`), `hold`, `fanout`, `slow-consumer`, `http`
//! (incl. streamed chat completions), `agent-streams`, `cron-burst`, `nodes`. `compare` runs one scenario against two or
//! three targets interleaved and prints ratios; `limit-server` is a protocol-only floor target;
//! `upstream` a synthetic streaming model server. See loadtest/README.md; `--help` on each.

mod client;
mod compare;
mod limit;
mod marks;
mod progress;
mod report;
#[cfg(target_os = "linux")]
mod ring_send;
mod runner;
mod scenarios;
mod split;
mod srcip;
mod svg;
mod sys;
mod upstream;
mod workers;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use compare::CompareArgs;
use limit::LimitArgs;
use runner::HardTimeout;
use scenarios::Scenario;

#[derive(Parser, Debug)]
#[command(
    name = "openclaw-loadtest",
    version,
    about = "Load harness for OpenClaw protocol-v4 gateways"
)]
struct Cli {
    /// Tokio worker threads for the client (default: one per core).
    #[arg(long, global = true)]
    threads: Option<usize>,
    /// Spread `hold` / `connect-storm` over N worker processes of this binary (each process is
    /// capped at 20,000 open files here); counts, concurrency and --source-ips are split.
    #[arg(long, global = true, default_value_t = 1)]
    workers: usize,
    /// Set by the parent on its worker processes (0..N): run this share and report on stdout.
    #[arg(long, global = true, hide = true)]
    worker_index: Option<usize>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    #[command(flatten)]
    Scenario(Scenario),
    /// Same scenario against targets A, B (and C) interleaved; prints B's ratios to the others.
    Compare(CompareArgs),
    /// Minimal protocol-only server (fixed replies, encode-once fan-out): the floor target.
    #[command(name = "limit-server")]
    LimitServer(LimitArgs),
    /// Synthetic OpenAI-compatible streaming model server (for a gateway's provider config).
    Upstream(upstream::UpstreamArgs),
    /// CPU per delivered frame: write(2) per socket vs batched io_uring SENDs (no gateway).
    #[cfg(target_os = "linux")]
    #[command(name = "ring-send")]
    RingSend(ring_send::RingArgs),
}

async fn single(s: &Scenario, threads: Option<usize>) -> anyhow::Result<()> {
    if let Some((i, w)) = workers::child() {
        return workers::child_main(s, i, w).await;
    }
    if workers::is_parent() && !matches!(s, Scenario::ConnectStorm(_) | Scenario::Hold(_)) {
        anyhow::bail!("--workers: only hold and connect-storm can be spread over processes");
    }
    let run = runner::run_one(s, "", threads).await?;
    let c = s.common();
    report::write_json(c.json.as_deref(), &run.doc)?;
    if let Some(p) = &c.svg {
        let hs: Vec<(String, &hdrhistogram::Histogram<u64>)> = run
            .outcome
            .hists
            .iter()
            .map(|(n, h)| (n.clone(), h))
            .collect();
        if hs.is_empty() {
            eprintln!("--svg: {} records no latency histogram", s.name());
        } else {
            svg::write(p, &format!("{} → 127.0.0.1:{}", s.name(), c.port), &hs)?;
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = workers::set_role(cli.workers, cli.worker_index) {
        eprintln!("error: {e:#}");
        return ExitCode::from(64);
    }
    if cli.workers > 1 && !matches!(cli.cmd, Cmd::Scenario(_)) {
        eprintln!("error: --workers applies to single hold / connect-storm runs only");
        return ExitCode::from(64);
    }
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all();
    if let Some(t) = cli.threads {
        rt.worker_threads(t.max(1));
    }
    let rt = match rt.build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let out = rt.block_on(async {
        match &cli.cmd {
            Cmd::Scenario(s) => single(s, cli.threads).await,
            Cmd::Compare(a) => compare::run(a, cli.threads).await.map(|_| ()),
            Cmd::LimitServer(a) => limit::serve(a).await,
            Cmd::Upstream(a) => upstream::run(a).await,
            #[cfg(target_os = "linux")]
            Cmd::RingSend(a) => tokio::task::block_in_place(|| ring_send::run(a)),
        }
    });
    let code = match out {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.downcast_ref::<HardTimeout>().is_some() => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    };
    rt.shutdown_timeout(Duration::from_secs(1));
    code
}

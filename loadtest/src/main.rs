//! openclaw-loadtest: a load harness for any OpenClaw gateway speaking WebSocket protocol v4.
//!
//! Scenarios (all traffic to 127.0.0.1, each bounded in count and wall time):
//! `handshake` (connect latency), `rpc` (request RTT), `hold` (idle connections: RSS, CPU),
//! `fanout` (broadcast latency to K subscribers). Run with `--help` on each for options.

mod client;
mod report;
mod scenarios;
mod sys;

use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::{Parser, Subcommand};
use serde_json::{json, Value};

use scenarios::fanout::FanoutArgs;
use scenarios::handshake::HandshakeArgs;
use scenarios::hold::HoldArgs;
use scenarios::rpc::RpcArgs;
use scenarios::Common;

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
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// N full handshakes (open, challenge, connect, hello-ok, close), K in flight.
    Handshake(HandshakeArgs),
    /// Request round trips on one connection (sequential, or `--pipeline K` in flight).
    Rpc(RpcArgs),
    /// Hold N idle authenticated connections; gateway RSS and idle CPU per step.
    Hold(HoldArgs),
    /// Broadcast latency: `system-event` on one socket, `presence` to K subscribers.
    Fanout(FanoutArgs),
}

impl Cmd {
    fn name(&self) -> &'static str {
        match self {
            Cmd::Handshake(_) => "handshake",
            Cmd::Rpc(_) => "rpc",
            Cmd::Hold(_) => "hold",
            Cmd::Fanout(_) => "fanout",
        }
    }

    fn common(&self) -> &Common {
        match self {
            Cmd::Handshake(a) => &a.common,
            Cmd::Rpc(a) => &a.common,
            Cmd::Hold(a) => &a.common,
            Cmd::Fanout(a) => &a.common,
        }
    }

    async fn run(&self) -> anyhow::Result<Value> {
        match self {
            Cmd::Handshake(a) => scenarios::handshake::run(a).await,
            Cmd::Rpc(a) => scenarios::rpc::run(a).await,
            Cmd::Hold(a) => scenarios::hold::run(a).await,
            Cmd::Fanout(a) => scenarios::fanout::run(a).await,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
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
    let common = cli.cmd.common();
    let started_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    println!(
        "openclaw-loadtest {} → ws://127.0.0.1:{}/",
        cli.cmd.name(),
        common.port
    );
    // Hard cap: the scenario's own --max-secs plus a grace period for cleanup.
    let hard = Duration::from_secs(common.max_secs + 60);
    let out = rt.block_on(async { tokio::time::timeout(hard, cli.cmd.run()).await });
    let code = match out {
        Ok(Ok(results)) => {
            let doc = json!({
                "scenario": cli.cmd.name(),
                "started_unix_ms": started_ms,
                "threads": cli.threads,
                "options": common.to_json(),
                "results": results,
            });
            match report::write_json(common.json.as_deref(), &doc) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Ok(Err(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
        Err(_) => {
            eprintln!("error: gave up after the hard wall bound of {hard:?}");
            ExitCode::from(2)
        }
    };
    rt.shutdown_timeout(Duration::from_secs(1));
    code
}

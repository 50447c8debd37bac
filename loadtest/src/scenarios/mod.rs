//! Scenarios and what they share: common CLI options and bounded-concurrency connection opening.

pub mod agent;
pub mod attacks;
pub mod chat_rate;
pub mod chat_stream;
pub mod cron;
pub mod fanout;
pub mod handshake;
pub mod hold;
pub mod hostile;
pub mod http;
pub mod nodes;
pub mod rpc;
pub mod slow;

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand, ValueEnum};
use ed25519_dalek::SigningKey;
use serde_json::{json, Value};
use tokio::task::JoinSet;

use crate::client::{ClientCfg, Conn, Identity};
use crate::report::Outcome;
use crate::{progress, srcip};

/// The measuring scenarios (the same set for a single run and for `compare`).
#[derive(Subcommand, Debug)]
pub enum Scenario {
    /// N full handshakes (open, challenge, connect, hello-ok, close), K in flight: handshakes/s
    /// and latency. Alias: `handshake`.
    #[command(name = "connect-storm", alias = "handshake")]
    ConnectStorm(handshake::HandshakeArgs),
    /// Request round trips on one connection: closed loop (`--pipeline K`) or open loop
    /// (`--rate R` req/s, latency from the scheduled send time).
    Rpc(rpc::RpcArgs),
    /// Hold N idle authenticated connections; gateway RSS and idle CPU per step (`--pid`).
    Hold(hold::HoldArgs),
    /// Broadcast latency: `system-event` on one socket, `presence` to K subscribers.
    Fanout(fanout::FanoutArgs),
    /// Broadcast latency of reading clients without, then with, clients that never read.
    #[command(name = "slow-consumer")]
    SlowConsumer(slow::SlowArgs),
    /// Keep-alive HTTP/1.1 GET load on `--path`: req/s, latency, non-200 count.
    Http(http::HttpArgs),
    /// N concurrent agent runs against the built-in synthetic upstream: gateway-added latency
    /// per streamed token, time to first token, run time.
    #[command(name = "agent-streams")]
    AgentStreams(agent::AgentArgs),
    /// N one-shot automations due in the same second: how fast they start and finish, and
    /// `health` latency on another connection before and during the burst.
    #[command(name = "cron-burst")]
    CronBurst(cron::CronArgs),
    /// N approved node sockets; `node.invoke` round trips through the gateway at a fixed rate:
    /// latency and gateway CPU per invoke.
    Nodes(nodes::NodesArgs),
    /// Good clients' `health` and broadcast latency with no attack, then during each hostile
    /// client kind in turn (slowloris, half-open, unauthenticated flood, oversized input,
    /// garbage, ping flood, 1000 subscriptions, wrong tokens): p99 ratios and gateway RSS.
    Hostile(hostile::HostileArgs),
    /// `POST /v1/chat/completions` open loop at a fixed rate (`--stream` for SSE), straight to
    /// the synthetic upstream and then through the gateway: the gateway's added latency per
    /// quantile and its CPU per request.
    #[command(name = "chat-rate")]
    ChatRate(chat_rate::ChatRateArgs),
}

impl Scenario {
    pub fn name(&self) -> &'static str {
        match self {
            Scenario::ConnectStorm(_) => "connect-storm",
            Scenario::Rpc(_) => "rpc",
            Scenario::Hold(_) => "hold",
            Scenario::Fanout(_) => "fanout",
            Scenario::SlowConsumer(_) => "slow-consumer",
            Scenario::Http(_) => "http",
            Scenario::AgentStreams(_) => "agent-streams",
            Scenario::CronBurst(_) => "cron-burst",
            Scenario::Nodes(_) => "nodes",
            Scenario::Hostile(_) => "hostile",
            Scenario::ChatRate(_) => "chat-rate",
        }
    }

    pub fn common(&self) -> &Common {
        match self {
            Scenario::ConnectStorm(a) => &a.common,
            Scenario::Rpc(a) => &a.common,
            Scenario::Hold(a) => &a.common,
            Scenario::Fanout(a) => &a.common,
            Scenario::SlowConsumer(a) => &a.common,
            Scenario::Http(a) => &a.common,
            Scenario::AgentStreams(a) => &a.common,
            Scenario::CronBurst(a) => &a.common,
            Scenario::Nodes(a) => &a.common,
            Scenario::Hostile(a) => &a.common,
            Scenario::ChatRate(a) => &a.common,
        }
    }

    pub async fn run(&self) -> anyhow::Result<Outcome> {
        match self {
            Scenario::ConnectStorm(a) if crate::workers::is_parent() => {
                crate::workers::storm(a).await
            }
            Scenario::ConnectStorm(a) => handshake::run(a).await,
            Scenario::Rpc(a) => rpc::run(a).await,
            Scenario::Hold(a) => hold::run(a).await,
            Scenario::Fanout(a) => fanout::run(a).await,
            Scenario::SlowConsumer(a) => slow::run(a).await,
            Scenario::Http(a) => http::run(a).await,
            Scenario::AgentStreams(a) => agent::run(a).await,
            Scenario::CronBurst(a) => cron::run(a).await,
            Scenario::Nodes(a) => nodes::run(a).await,
            Scenario::Hostile(a) => hostile::run(a).await,
            Scenario::ChatRate(a) => chat_rate::run(a).await,
        }
    }
}

/// Device-block mode for `--device`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DeviceArg {
    /// A fresh Ed25519 key per connection (the Node gateway auto-pairs each new device).
    New,
    /// One key for every connection of the run.
    Shared,
}

/// Options every scenario takes.
#[derive(Args, Clone, Debug)]
pub struct Common {
    /// Gateway port on 127.0.0.1 (all traffic stays on loopback).
    #[arg(long)]
    pub port: u16,
    /// Shared gateway token (`http`: sent as a Bearer token when not empty).
    #[arg(
        long,
        env = "OPENCLAW_GATEWAY_TOKEN",
        hide_env_values = true,
        default_value = ""
    )]
    pub token: String,
    /// Gateway pid: its CPU time (and its direct children's) over the run is reported; `hold`
    /// also samples RSS and idle CPU per step.
    #[arg(long)]
    pub pid: Option<u32>,
    /// Local source addresses for client sockets, round-robin, e.g. 127.0.0.1-127.0.0.8 (each
    /// address has its own ~28k ephemeral ports; for 100k+ connections).
    #[arg(long, value_parser = parse_source_ips)]
    pub source_ips: Option<SourceIps>,
    /// Also sign an Ed25519 device block (client cli/cli); bare `--device` means `new`.
    #[arg(long, value_enum, num_args = 0..=1, default_missing_value = "new")]
    pub device: Option<DeviceArg>,
    /// Bound on each step: one connect+handshake, one RPC, one fan-out round (ms).
    #[arg(long, default_value_t = 10_000)]
    pub timeout_ms: u64,
    /// Wall-clock bound for the whole scenario (s); a run cut short reports what it measured.
    #[arg(long, default_value_t = 300)]
    pub max_secs: u64,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Fail (exit 1) if anything went wrong: failed connects or calls, non-200 responses,
    /// missing responses or broadcast receipts, a run cut short by --max-secs.
    #[arg(long)]
    pub strict: bool,
    /// Also write an SVG latency plot (percentile curve per histogram) to this file.
    #[arg(long)]
    pub svg: Option<PathBuf>,
}

/// Parsed `--source-ips`.
#[derive(Clone, Debug)]
pub struct SourceIps(pub Vec<Ipv4Addr>);

fn parse_source_ips(s: &str) -> Result<SourceIps, String> {
    srcip::parse(s).map(SourceIps).map_err(|e| format!("{e:#}"))
}

impl Common {
    /// Client settings for these options.
    pub fn client_cfg(&self) -> ClientCfg {
        let identity = match self.device {
            None => Identity::Token,
            Some(DeviceArg::New) => Identity::DeviceNew,
            Some(DeviceArg::Shared) => {
                Identity::DeviceShared(Arc::new(SigningKey::generate(&mut rand::rngs::OsRng)))
            }
        };
        let mut cfg = ClientCfg::new(
            self.port,
            &self.token,
            Duration::from_millis(self.timeout_ms),
        );
        cfg.identity = identity;
        if let Some(ips) = &self.source_ips {
            cfg.source_ips = Arc::new(ips.0.clone());
        }
        cfg
    }

    /// When the scenario must stop starting new work.
    pub fn deadline(&self, start: Instant) -> Instant {
        start + Duration::from_secs(self.max_secs)
    }

    /// JSON description of these options (token omitted).
    pub fn to_json(&self) -> Value {
        json!({
            "port": self.port,
            "device": self.device.map(|d| format!("{d:?}").to_lowercase()),
            "timeout_ms": self.timeout_ms,
            "max_secs": self.max_secs,
            "pid": self.pid,
            "source_ips": self.source_ips.as_ref().map(|s| s.0.len()),
        })
    }
}

/// Outcome of [`open_many`].
pub struct OpenStats {
    pub opened: usize,
    pub failed: u64,
    pub errors: Vec<String>,
    pub elapsed: Duration,
    /// True if the deadline stopped the opening early.
    pub cut_short: bool,
}

/// Attempt `n` authenticated connections with at most `concurrency` handshakes in flight;
/// each one that reaches `hello-ok` is handed to `sink` (which typically spawns a reader).
pub async fn open_many<F>(
    cfg: &ClientCfg,
    n: usize,
    concurrency: usize,
    deadline: Instant,
    sink: F,
) -> OpenStats
where
    F: Fn(Conn) + Send + Sync + 'static,
{
    let t0 = Instant::now();
    let sink = Arc::new(sink);
    let next = Arc::new(AtomicUsize::new(0));
    let mut set = JoinSet::new();
    for _ in 0..concurrency.clamp(1, n.max(1)) {
        let (cfg, sink, next) = (cfg.clone(), sink.clone(), next.clone());
        set.spawn(async move {
            let (mut opened, mut failed, mut errors, mut cut) = (0usize, 0u64, Vec::new(), false);
            while next.fetch_add(1, Ordering::Relaxed) < n {
                if Instant::now() >= deadline {
                    cut = true;
                    break;
                }
                match Conn::connect(&cfg).await {
                    Ok(c) => {
                        opened += 1;
                        progress::inc(1);
                        sink(c);
                    }
                    Err(e) => {
                        failed += 1;
                        progress::fail();
                        if errors.len() < 5 {
                            errors.push(format!("{e:#}"));
                        }
                    }
                }
            }
            (opened, failed, errors, cut)
        });
    }
    let mut st = OpenStats {
        opened: 0,
        failed: 0,
        errors: Vec::new(),
        elapsed: Duration::ZERO,
        cut_short: false,
    };
    while let Some(r) = set.join_next().await {
        if let Ok((o, f, e, c)) = r {
            st.opened += o;
            st.failed += f;
            st.errors.extend(e);
            st.cut_short |= c;
        }
    }
    st.elapsed = t0.elapsed();
    st
}

/// Wait until `alive` drops to zero or `limit` passes.
pub async fn wait_drained(alive: &AtomicUsize, limit: Duration) -> usize {
    let end = Instant::now() + limit;
    while alive.load(Ordering::Acquire) > 0 && Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    alive.load(Ordering::Acquire)
}

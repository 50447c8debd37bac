//! Start-up, periodic tasks and shutdown of a [`Gateway`]: serve it on listeners, tick,
//! health and heartbeat timers, the runtime monitor, graceful stop and in-process restart.
//! The state itself is `server::Gateway` (data only); the transport is `openclaw_net`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::net::TcpListener;

use crate::clock::now_ms;
use crate::health;
use crate::server::Gateway;

/// A running gateway (for `main` and tests).
#[derive(Debug)]
pub struct Running {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The shared state.
    pub gw: Arc<Gateway>,
    /// The WebSocket writer runtime in use (tokio after an io_uring fallback).
    pub runtime: crate::config::NetRuntime,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Graceful stop: `shutdown` event, close 1012, drain. Resolves when done.
    pub async fn stop(self) {
        begin_shutdown(&self.gw, "gateway stopping");
        let _ = self.task.await;
    }

    /// Wait until the server task ends (after [`begin_shutdown`]).
    pub async fn wait(self) {
        let _ = self.task.await;
    }
}

/// Announce shutdown to every socket, then signal the transport to close and drain.
pub fn begin_shutdown(gw: &Gateway, reason: &str) {
    if gw.shutdown.is_triggered() {
        return;
    }
    tracing::info!(target: "gateway", "shutting down: {reason}");
    gw.agents
        .runs
        .abort_all(crate::agents::runs::AbortReason::Shutdown);
    gw.hub
        .publish("shutdown", &json!({ "reason": reason }), None);
    // Observed: a final `health` event follows `shutdown`, before the close.
    gw.publish_health();
    gw.shutdown.trigger();
}

/// How soon clients may expect the gateway back after an in-process restart.
pub const RESTART_EXPECTED_MS: u64 = 2_000;

/// Like [`begin_shutdown`], announcing an in-process restart.
pub fn begin_restart(gw: &Gateway) {
    if gw.shutdown.is_triggered() {
        return;
    }
    tracing::info!(target: "gateway", "restarting");
    gw.agents
        .diag
        .record("gateway.restart", json!({ "reason": "in-process restart" }));
    gw.agents
        .runs
        .abort_all(crate::agents::runs::AbortReason::Shutdown);
    let payload =
        json!({ "reason": "gateway restarting", "restartExpectedMs": RESTART_EXPECTED_MS });
    gw.hub.publish("shutdown", &payload, None);
    gw.publish_health();
    gw.shutdown.trigger();
}

/// Start serving on `listener`: the accept loop plus the periodic tasks.
pub fn start(gw: Arc<Gateway>, listener: TcpListener) -> Running {
    start_many(gw, vec![listener])
}

/// Start serving on several listeners (e.g. a custom bind host plus the mandatory
/// 127.0.0.1 listener); `Running::addr` is the first one's.
///
/// # Panics
/// With no listener.
pub fn start_many(gw: Arc<Gateway>, listeners: Vec<TcpListener>) -> Running {
    let addr = listeners[0].local_addr().expect("listener addr");
    let mut limits = gw.net_limits();
    let rings = crate::rings::Rings::start(&gw.cfg.load());
    rings.apply(&mut limits);
    let runtime = rings.effective;
    let app = Arc::new(crate::app::GatewayApp::new(gw.clone()));
    let took = gw.boot.started.elapsed().as_secs_f64() * 1000.0;
    gw.agents.diag.record(
        "diagnostic.phase.completed",
        json!({ "phase": "gateway.listen", "durationMs": (took * 10.0).round() / 10.0 }),
    );
    tokio::spawn(periodic(gw.clone()));
    tokio::spawn(gw.cron.clone().run_timer(gw.shutdown.clone()));
    tokio::spawn(monitor(gw.clone()));
    tokio::spawn(crate::server::presence_flusher(gw.clone()));
    let g = gw.clone();
    let task = tokio::spawn(async move {
        let loops = listeners.into_iter().map(|l| {
            let (app, limits, sd) = (app.clone(), limits.clone(), g.shutdown.clone());
            tokio::spawn(openclaw_net::serve(l, app, limits, sd))
        });
        for h in loops.collect::<Vec<_>>() {
            let _ = h.await;
        }
        let drain = Duration::from_millis(g.cfg.load().limits.shutdown_drain_ms);
        if !g.shutdown.drain(drain).await {
            tracing::warn!(target: "gateway", "drain deadline passed with {} connections", g.shutdown.live());
        }
        rings.stop().await;
        if let Err(e) = g.agents.runs.store.flush().await {
            tracing::error!(target: "gateway", "session store flush: {e}");
        }
    });
    Running {
        addr,
        gw,
        runtime,
        task,
    }
}

/// `tick` every `tickIntervalMs`; health rebuilt and broadcast every refresh interval.
async fn periodic(gw: Arc<Gateway>) {
    let tick_ms = gw.cfg.load().limits.tick_interval_ms.max(1);
    let mut tick = tokio::time::interval(Duration::from_millis(tick_ms));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    let mut last_health = tokio::time::Instant::now();
    let every = Duration::from_millis(gw.cfg.load().heartbeat_every_ms.max(1_000));
    let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = heartbeat.tick() => {
                gw.scheduled_heartbeat();
                continue;
            }
            _ = gw.shutdown.wait() => return,
        }
        gw.hub.publish("tick", &json!({ "ts": now_ms() }), None);
        sample(&gw);
        let refresh = Duration::from_millis(gw.cfg.load().limits.health_refresh_ms);
        if last_health.elapsed() >= refresh {
            last_health = tokio::time::Instant::now();
            gw.publish_health();
        }
    }
}

/// Scheduler lateness at or above this is recorded as a stall in the stability record.
pub const STALL_RECORD_MS: u64 = 100;

/// The stability record's periodic samples: memory, and what is in flight.
fn sample(gw: &Gateway) {
    let d = &gw.agents.diag;
    d.memory_sample(crate::health::rss_bytes());
    let lanes = gw.agents.runs.lanes_snapshot();
    let (active, queued) = lanes.iter().fold((0, 0), |(a, q), l| (a + l.1, q + l.2));
    d.record(
        "diagnostic.heartbeat",
        json!({ "active": active, "queued": queued, "connections": gw.shutdown.live() }),
    );
}

/// Samples scheduler lateness for the `eventLoop` health block.
async fn monitor(gw: Arc<Gateway>) {
    let mut iv = tokio::time::interval(health::MONITOR_INTERVAL);
    iv.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let expected = tokio::select! {
            t = iv.tick() => t,
            _ = gw.shutdown.wait() => return,
        };
        let late = tokio::time::Instant::now().saturating_duration_since(expected);
        gw.monitor.record(late);
        if late.as_millis() as u64 >= STALL_RECORD_MS {
            gw.agents.diag.record(
                "diagnostic.runtime.stall",
                json!({ "delayMs": late.as_millis() as u64 }),
            );
        }
    }
}

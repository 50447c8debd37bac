//! Health: the snapshot served by the `health` RPC, the `health` event and hello-ok, plus
//! the runtime monitor behind its `eventLoop` block (scheduler lateness and process CPU).
//!
//! The snapshot is cached and rebuilt at most every refresh interval (or on `probe:true`).

use parking_lot::Mutex;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// How often the monitor samples scheduler lateness.
pub const MONITOR_INTERVAL: Duration = Duration::from_millis(500);
/// Samples kept for p99/max (one minute at the interval above).
const MONITOR_WINDOW: usize = 120;
/// Lateness over this marks the runtime degraded.
const DEGRADED_DELAY_MS: f64 = 1000.0;

/// What a health snapshot is built from (all cheap to copy out of config).
#[derive(Clone, Debug)]
pub struct HealthInputs {
    /// Default agent id (`main`).
    pub default_agent_id: String,
    /// Heartbeat interval.
    pub heartbeat_every_ms: u64,
    /// Whether heartbeats are enabled (`set-heartbeats`).
    pub heartbeats_enabled: bool,
    /// Path of the default agent's session store.
    pub sessions_path: String,
    /// Session count of that store.
    pub sessions_count: u64,
    /// `(key, updatedAt ms)` of its most recently updated sessions, newest first.
    pub recent: Vec<(String, u64)>,
    /// Whether config hot reload is active.
    pub hot_reload: bool,
}

#[derive(Default)]
struct Samples {
    delays_ms: Vec<f64>,
    next: usize,
    cpu_ratio: f64,
    last_cpu: Option<(Instant, f64)>,
}

/// Scheduler-lateness and CPU monitor (fed by a periodic task).
#[derive(Default)]
pub struct Monitor {
    s: Mutex<Samples>,
}

impl std::fmt::Debug for Monitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Monitor").finish_non_exhaustive()
    }
}

/// Process CPU seconds (user + system) from /proc/self/stat.
pub fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    // SAFETY: sysconf has no memory-safety preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Some(ticks / if hz > 0.0 { hz } else { 100.0 })
}

/// CPU cores available to us, read once: `available_parallelism` reads cgroup files on
/// Linux, far too slow for every probe and health snapshot.
fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Resident set size of this process in bytes.
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        // SAFETY: sysconf has no memory-safety preconditions.
        .map(|pages| pages * unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64)
        .unwrap_or(0)
}

impl Monitor {
    /// Record one lateness sample, and refresh the CPU ratio.
    pub fn record(&self, late: Duration) {
        let mut s = self.s.lock();
        let ms = late.as_secs_f64() * 1000.0;
        if s.delays_ms.len() < MONITOR_WINDOW {
            s.delays_ms.push(ms);
        } else {
            let i = s.next;
            s.delays_ms[i] = ms;
        }
        s.next = (s.next + 1) % MONITOR_WINDOW;
        if let Some(cpu) = process_cpu_seconds() {
            let now = Instant::now();
            if let Some((t0, c0)) = s.last_cpu {
                let wall = now.duration_since(t0).as_secs_f64();
                if wall > 0.0 {
                    s.cpu_ratio = ((cpu - c0) / wall).max(0.0);
                }
            }
            s.last_cpu = Some((now, cpu));
        }
    }

    /// The `eventLoop` block.
    pub fn event_loop(&self) -> Value {
        let s = self.s.lock();
        let mut d = s.delays_ms.clone();
        d.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
        let max = d.last().copied().unwrap_or(0.0);
        let p99 = if d.is_empty() {
            0.0
        } else {
            d[((d.len() as f64 * 0.99).ceil() as usize).clamp(1, d.len()) - 1]
        };
        let cores = cores() as f64;
        let degraded = p99 > DEGRADED_DELAY_MS;
        let round = |x: f64| (x * 1000.0).round() / 1000.0;
        json!({
            "degraded": degraded,
            "degradedSinceMs": null,
            "reasons": if degraded { json!(["event_loop_delay"]) } else { json!([]) },
            "intervalMs": MONITOR_INTERVAL.as_millis() as u64,
            "delayP99Ms": round(p99),
            "delayMaxMs": round(max),
            "utilization": round(s.cpu_ratio / cores),
            "cpuCoreRatio": round(s.cpu_ratio),
        })
    }
}

/// Human form of a duration in ms, as the config writes it (`30m`, `1h`, `45s`).
pub fn every_string(ms: u64) -> String {
    if ms.is_multiple_of(3_600_000) && ms > 0 {
        format!("{}h", ms / 3_600_000)
    } else if ms.is_multiple_of(60_000) && ms > 0 {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// Default heartbeat prompt (what the agent is asked on each heartbeat).
pub const HEARTBEAT_PROMPT: &str =
    "Read HEARTBEAT.md if it exists. If nothing needs attention, reply HEARTBEAT_OK.";

/// Sessions listed under `sessions.recent` of a health snapshot (the Node gateway's 5).
pub const HEALTH_RECENT_SESSIONS: usize = 5;

/// Build a snapshot now.
pub fn build(inputs: &HealthInputs, monitor: &Monitor, now_ms: u64) -> Value {
    let t0 = Instant::now();
    let recent: Vec<Value> = inputs
        .recent
        .iter()
        .take(HEALTH_RECENT_SESSIONS)
        .map(|(key, updated)| {
            json!({ "key": key, "updatedAt": updated, "age": now_ms.saturating_sub(*updated) })
        })
        .collect();
    let sessions = json!({
        "path": inputs.sessions_path,
        "count": inputs.sessions_count,
        "recent": recent,
    });
    let mut v = json!({
        "ok": true,
        "ts": now_ms,
        "durationMs": 0,
        "eventLoop": monitor.event_loop(),
        "plugins": { "loaded": [], "errors": [], "unavailable": [] },
        "configReload": { "hotReloadStatus": if inputs.hot_reload { "active" } else { "disabled" } },
        "channels": {},
        "channelOrder": [],
        "channelLabels": {},
        "heartbeatSeconds": inputs.heartbeat_every_ms / 1000,
        "defaultAgentId": inputs.default_agent_id,
        "agents": [{
            "agentId": inputs.default_agent_id,
            "isDefault": true,
            "heartbeat": {
                "enabled": inputs.heartbeats_enabled,
                "every": every_string(inputs.heartbeat_every_ms),
                "everyMs": inputs.heartbeat_every_ms,
                "prompt": HEARTBEAT_PROMPT,
                "target": "owner",
                "ackMaxChars": 300,
            },
            "sessions": sessions.clone(),
        }],
        "sessions": sessions,
    });
    v["durationMs"] = json!(t0.elapsed().as_millis() as u64);
    v
}

/// The cached snapshot and when it was built.
#[derive(Default)]
pub struct HealthCache {
    cur: Mutex<Option<(Instant, Value)>>,
}

impl std::fmt::Debug for HealthCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HealthCache").finish_non_exhaustive()
    }
}

impl HealthCache {
    /// The cached snapshot if younger than `max_age`.
    pub fn fresh(&self, max_age: Duration) -> Option<Value> {
        let c = self.cur.lock();
        c.as_ref()
            .filter(|(t, _)| t.elapsed() <= max_age)
            .map(|(_, v)| v.clone())
    }

    /// Store a new snapshot.
    pub fn store(&self, v: Value) {
        *self.cur.lock() = Some((Instant::now(), v));
    }
}

/// The model runtime's readiness, as the `health` and `status` methods report it (not the
/// hello-ok snapshot, whose 2026.9.6 shape has no room for it): model runtimes load nothing
/// in the background here, so none is pending or degraded.
pub fn model_runtime() -> Value {
    json!({ "degraded": false, "pendingAgents": [] })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_strings() {
        assert_eq!(every_string(1_800_000), "30m");
        assert_eq!(every_string(3_600_000), "1h");
        assert_eq!(every_string(45_000), "45s");
        assert_eq!(every_string(1500), "1500ms");
    }

    #[test]
    fn monitor_p99_and_max() {
        let m = Monitor::default();
        for i in 0..100 {
            m.record(Duration::from_millis(i));
        }
        let ev = m.event_loop();
        assert_eq!(ev["delayMaxMs"], 99.0);
        assert_eq!(ev["delayP99Ms"], 98.0);
        assert_eq!(ev["degraded"], false);
    }
}

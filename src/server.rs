//! The gateway process state (`Gateway`): config snapshot, hub, presence, health, stores and
//! agents, and the helpers that publish from it. Data only: starting, the periodic tasks and
//! shutdown are [`crate::serve`]'s.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use parking_lot::Mutex;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use openclaw_net::{NetLimits, Shutdown};
use serde_json::{json, Map, Value};

use crate::auth::ratelimit::{AuthLimiter, RateLimitSettings};
use crate::config::GatewayConfig;
use crate::health::{self, HealthCache, HealthInputs, Monitor};
use crate::hub::Hub;
use crate::presence::{Presence, Versions};
use crate::store::DeviceStore;
use crate::GatewayError;

/// The version we report (`server.version`): the OpenClaw release we are compatible with.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Longest reply preview a heartbeat event carries.
pub const HEARTBEAT_PREVIEW_CHARS: usize = 200;

/// Facts fixed at process start.
#[derive(Debug, Clone)]
pub struct Boot {
    /// `server.buildId`.
    pub build_id: String,
    /// `server.bootId` (new every start).
    pub boot_id: String,
    /// Monotonic start.
    pub started: Instant,
    /// Wall-clock start (ms).
    pub started_ms: u64,
    /// Host name.
    pub host: String,
    /// The host's first external IPv4 address, if any (presence).
    pub ip: Option<String>,
    /// `linux <kernel release>`.
    pub platform: String,
    /// Our instance id (presence).
    pub instance_id: String,
}

pub use crate::clock::now_ms;

fn uname() -> (String, String) {
    // SAFETY: uname fills a caller-owned struct; zeroed is a valid initial state.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `u` is a valid, writable utsname.
    if unsafe { libc::uname(&mut u) } != 0 {
        return ("localhost".into(), "linux".into());
    }
    let s = |f: &[libc::c_char]| {
        let b: Vec<u8> = f
            .iter()
            .take_while(|c| **c != 0)
            .map(|c| *c as u8)
            .collect();
        String::from_utf8_lossy(&b).into_owned()
    };
    (s(&u.nodename), format!("linux {}", s(&u.release)))
}

/// Everything the connections share.
pub struct Gateway {
    /// The active config snapshot (swapped atomically on reload; shared with the agents).
    pub cfg: Arc<ArcSwap<GatewayConfig>>,
    /// Agent runs, sessions and providers.
    pub agents: Arc<crate::agents::Agents>,
    /// Fan-out registry.
    pub hub: Arc<Hub>,
    /// Presence list.
    pub presence: Presence,
    /// Coalesces `presence` broadcasts (see [`Gateway::publish_presence`]).
    pub presence_flush: PresenceFlush,
    /// `stateVersion` counters.
    pub versions: Versions,
    /// Cached health snapshot.
    pub health: HealthCache,
    /// Runtime monitor feeding `eventLoop`.
    pub monitor: Monitor,
    /// Failed-auth limiter.
    pub limiter: AuthLimiter,
    /// Paired devices (SQLite).
    pub devices: DeviceStore,
    /// Connected nodes, node pairing, invocations in flight.
    pub nodes: crate::nodes::Nodes,
    /// Exec approvals waiting for an operator.
    pub exec_approvals: crate::approvals::ExecApprovals,
    /// Start-up facts.
    pub boot: Boot,
    /// `set-heartbeats` switch.
    pub heartbeats_enabled: AtomicBool,
    /// Last heartbeat event payload (`last-heartbeat`).
    pub last_heartbeat: Mutex<Option<Value>>,
    /// The stop signal and drain counter.
    pub shutdown: Shutdown,
    /// The gateway's own Ed25519 identity (`gateway.identity.get`).
    pub identity: ed25519_dalek::SigningKey,
    /// Automations (`cron.*`).
    pub cron: Arc<crate::cron::Cron>,
    /// In-process restarts asked for by a handler (a config write that needs one).
    pub restarts: RestartRequests,
    /// The owner's profile and UI preferences.
    pub profile: crate::profile::Profile,
    /// `gateway.metrics.enabled`.
    pub metrics: crate::metrics::Switch,
}

/// A restart asked for from inside the gateway; the run loop waits on it beside signals.
#[derive(Debug, Default)]
pub struct RestartRequests {
    reason: Mutex<Option<String>>,
    notify: tokio::sync::Notify,
}

impl RestartRequests {
    /// Ask for a restart (the first reason wins until it is taken).
    pub fn request(&self, reason: String) {
        self.reason.lock().get_or_insert(reason);
        self.notify.notify_one();
    }

    /// The next requested restart's reason.
    pub async fn wait(&self) -> String {
        loop {
            if let Some(r) = self.reason.lock().take() {
                return r;
            }
            self.notify.notified().await;
        }
    }
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway").finish_non_exhaustive()
    }
}

impl Gateway {
    /// Build the state from a resolved config. Blocking (opens the store): call before the
    /// server runs or from `spawn_blocking`.
    ///
    /// # Errors
    /// The state store cannot be opened.
    pub fn new(cfg: GatewayConfig) -> Result<Arc<Self>, GatewayError> {
        let opening = Instant::now();
        let metrics_on = cfg.metrics_enabled;
        let devices = DeviceStore::open(&cfg.state_dir)?;
        let nodes = crate::nodes::Nodes::new(crate::store::nodes::NodeStore::open(&cfg.state_dir)?);
        let sessions = crate::store::SessionStore::open(&sessions_path(&cfg))?;
        let store_ms = opening.elapsed().as_secs_f64() * 1000.0;
        let state_dir = cfg.state_dir.clone();
        let cfg = Arc::new(ArcSwap::from_pointee(cfg));
        let hub = Arc::new(Hub::default());
        let agents = Arc::new(crate::agents::Agents::new(
            sessions,
            cfg.clone(),
            hub.clone(),
        ));
        agents.diag.record(
            "diagnostic.phase.completed",
            json!({ "phase": "store.open", "durationMs": (store_ms * 10.0).round() / 10.0 }),
        );
        let identity = ed25519_dalek::SigningKey::from_bytes(&devices.identity_seed());
        let (host, platform) = uname();
        let started_ms = now_ms();
        let boot = Boot {
            build_id: format!("openclaw-rs-{VERSION}"),
            boot_id: uuid::Uuid::new_v4().to_string(),
            started: Instant::now(),
            started_ms,
            host,
            ip: crate::procnet::primary_ipv4().map(|a| a.to_string()),
            platform,
            instance_id: uuid::Uuid::new_v4().to_string(),
        };
        let cron = crate::cron::Cron::open(
            &state_dir,
            agents.clone(),
            hub.clone(),
            boot.boot_id.clone(),
        )?;
        let presence = Presence::new(self_presence(&boot, started_ms), started_ms);
        Ok(Arc::new(Self {
            cfg,
            agents,
            hub,
            presence,
            presence_flush: PresenceFlush::default(),
            versions: Versions::default(),
            health: HealthCache::default(),
            monitor: Monitor::default(),
            limiter: AuthLimiter::default(),
            devices,
            nodes,
            exec_approvals: crate::approvals::ExecApprovals::default(),
            boot,
            heartbeats_enabled: AtomicBool::new(true),
            restarts: RestartRequests::default(),
            profile: crate::profile::Profile::open(&state_dir, started_ms),
            metrics: crate::metrics::Switch::new(metrics_on),
            last_heartbeat: Mutex::new(None),
            shutdown: Shutdown::new(),
            identity,
            cron,
        }))
    }

    /// Milliseconds since start.
    pub fn uptime_ms(&self) -> u64 {
        self.boot.started.elapsed().as_millis() as u64
    }

    /// Transport limits from the active config.
    #[allow(clippy::needless_update)] // io_uring builds have one more field (the rings)
    pub fn net_limits(&self) -> NetLimits {
        let c = self.cfg.load();
        let l = &c.limits;
        NetLimits {
            preauth_max_payload: l.preauth_max_payload as usize,
            max_payload: l.max_payload as usize,
            max_buffered_bytes: l.max_buffered_bytes as usize,
            handshake_timeout: Duration::from_millis(l.handshake_timeout_ms),
            max_preauth_per_ip: l.max_preauth_per_ip as usize,
            max_preauth_global: l.max_preauth_global as usize,
            http_header_timeout: Duration::from_millis(l.http_header_timeout_ms),
            close_linger: Duration::from_millis(l.close_linger_ms),
            sniff_max_bytes: l.sniff_max_bytes as usize,
            max_http_head_bytes: l.max_http_head_bytes as usize,
            max_control_frames_per_sec: u32::try_from(l.max_control_frames_per_sec)
                .unwrap_or(u32::MAX),
            max_control_flood_secs: u32::try_from(l.max_control_flood_secs).unwrap_or(u32::MAX),
            seq_splice_prefix: openclaw_proto::SEQ_SPLICE_PREFIX,
            // The ring threads (io_uring builds) are set by `rings::Rings::apply`.
            ..NetLimits::default()
        }
    }

    /// Failed-auth limiter settings from the active config.
    pub fn rate_limit(&self) -> RateLimitSettings {
        let c = self.cfg.load();
        let r = &c.auth.rate_limit;
        RateLimitSettings {
            max_attempts: r.max_attempts,
            window: Duration::from_millis(r.window_ms),
            lockout: Duration::from_millis(r.lockout_ms),
            exempt_loopback: r.exempt_loopback,
        }
    }

    /// Path of the default agent's session store (reported by health).
    pub fn sessions_path(&self) -> String {
        self.agents.runs.store.path().display().to_string()
    }

    fn health_inputs(&self) -> HealthInputs {
        let c = self.cfg.load();
        HealthInputs {
            default_agent_id: c.default_agent_id.clone(),
            heartbeat_every_ms: c.heartbeat_every_ms,
            heartbeats_enabled: self
                .heartbeats_enabled
                .load(std::sync::atomic::Ordering::Relaxed),
            sessions_path: self.sessions_path(),
            sessions_count: self.agents.runs.store.count(),
            recent: self
                .agents
                .runs
                .store
                .recent()
                .iter()
                .map(|r| (r.key.clone(), r.updated_ms))
                .collect(),
            hot_reload: c.reload_mode.as_str() != "off",
        }
    }

    /// The health snapshot: cached unless older than the refresh interval or `force`.
    pub fn health_snapshot(&self, force: bool) -> Value {
        let max_age = Duration::from_millis(self.cfg.load().limits.health_refresh_ms);
        if !force {
            if let Some(v) = self.health.fresh(max_age) {
                return v;
            }
        }
        let v = health::build(&self.health_inputs(), &self.monitor, now_ms());
        self.health.store(v.clone());
        v
    }

    /// Rebuild health, bump its version and broadcast the `health` event.
    pub fn publish_health(&self) {
        let v = self.health_snapshot(true);
        let sv = self.versions.bump_health();
        self.hub.publish("health", &v, Some(sv));
    }

    /// A heartbeat is due. This gateway has no agent workspace (no `HEARTBEAT.md`), so
    /// like the Node gateway with an empty heartbeat file the beat is skipped: recorded for
    /// `last-heartbeat` and broadcast with the reason (`requests-in-flight` while runs are
    /// active, else `empty-heartbeat-file`).
    pub fn scheduled_heartbeat(&self) {
        if !self
            .heartbeats_enabled
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            return;
        }
        let reason = if self.agents.runs.active_count() > 0 {
            "requests-in-flight"
        } else {
            "empty-heartbeat-file"
        };
        let hb = json!({ "ts": now_ms(), "status": "skipped", "reason": reason });
        *self.last_heartbeat.lock() = Some(hb.clone());
        self.hub.publish("heartbeat", &hb, None);
    }

    /// A heartbeat turn started by `wake` now: when it ends, it is the last heartbeat
    /// (`last-heartbeat`) and a `heartbeat` event, `sent` with a preview of the reply or
    /// `failed` with the error (the Node gateway's statuses).
    pub fn heartbeat_turn(self: &Arc<Self>, run_id: &str) {
        let Some(run) = self.agents.runs.get(run_id) else {
            return;
        };
        let gw = self.clone();
        tokio::spawn(async move {
            let o = run.finished().await;
            let took = o.ended_ms.saturating_sub(o.started_ms);
            let preview = |t: &str| t.chars().take(HEARTBEAT_PREVIEW_CHARS).collect::<String>();
            let hb = if o.status == "ok" {
                json!({ "ts": now_ms(), "status": "sent", "reason": "wake", "preview": preview(&o.text),
                        "durationMs": took })
            } else {
                json!({ "ts": now_ms(), "status": "failed", "reason": "agent-runner-failure",
                        "preview": preview(&o.error_text()), "indicatorType": "error", "silent": true,
                        "durationMs": took })
            };
            *gw.last_heartbeat.lock() = Some(hb.clone());
            gw.hub.publish("heartbeat", &hb, None);
        });
    }

    /// Broadcast the presence list with a bumped version.
    ///
    /// Coalesced: the first change after a quiet [`PRESENCE_COALESCE_MS`] is sent at once; changes
    /// inside the window are folded into one broadcast of the latest list at its end (by
    /// [`presence_flusher`]). A burst of N connects thus costs O(N) encodes and writes, not O(N²),
    /// and every socket still ends on the current list.
    pub fn publish_presence(&self) {
        use std::sync::atomic::Ordering;
        let f = &self.presence_flush;
        let now = self.boot.started.elapsed().as_millis() as u64;
        let last = f.last_ms.load(Ordering::Acquire);
        // `last_ms` 0: nothing was broadcast yet.
        let quiet = last == 0 || now >= last.saturating_add(PRESENCE_COALESCE_MS);
        if !f.dirty.load(Ordering::Acquire) && quiet {
            f.last_ms.store(now.max(1), Ordering::Release);
            self.broadcast_presence();
        } else if !f.dirty.swap(true, Ordering::AcqRel) {
            f.notify.notify_one();
        }
    }

    fn broadcast_presence(&self) {
        let sv = self.versions.bump_presence();
        let payload = json!({ "presence": self.presence.list() });
        self.hub.publish("presence", &payload, Some(sv));
    }
}

/// Presence changes closer together than this are broadcast together.
pub const PRESENCE_COALESCE_MS: u64 = 50;

/// State of the presence coalescer.
#[derive(Debug, Default)]
pub struct PresenceFlush {
    last_ms: std::sync::atomic::AtomicU64,
    dirty: AtomicBool,
    notify: tokio::sync::Notify,
}

/// Sends the trailing `presence` broadcast of each coalescing window (until shutdown; idle
/// while nothing changes).
pub async fn presence_flusher(gw: Arc<Gateway>) {
    use std::sync::atomic::Ordering;
    let f = &gw.presence_flush;
    loop {
        tokio::select! {
            () = f.notify.notified() => {}
            _ = gw.shutdown.wait() => return,
        }
        let due = f.last_ms.load(Ordering::Acquire) + PRESENCE_COALESCE_MS;
        let now = gw.boot.started.elapsed().as_millis() as u64;
        if due > now {
            tokio::time::sleep(Duration::from_millis(due - now)).await;
        }
        let sent = gw.boot.started.elapsed().as_millis() as u64;
        f.last_ms.store(sent.max(1), Ordering::Release);
        f.dirty.store(false, Ordering::Release);
        gw.broadcast_presence();
    }
}

/// Where the session store lives: `$STATE/agents/<default agent>/agent/openclaw-agent.sqlite`
/// (the Node gateway's path), fixed for the life of the process.
fn sessions_path(c: &GatewayConfig) -> std::path::PathBuf {
    c.state_dir
        .join("agents")
        .join(&c.default_agent_id)
        .join("agent")
        .join("openclaw-agent.sqlite")
}

/// The gateway's own presence entry.
fn self_presence(boot: &Boot, ts: u64) -> Map<String, Value> {
    let at = match &boot.ip {
        Some(ip) => format!("{} ({ip})", boot.host),
        None => boot.host.clone(),
    };
    let text = format!("Gateway: {at} · app {VERSION} · mode gateway · reason self");
    let mut v = json!({ "host": boot.host });
    if let Some(ip) = &boot.ip {
        v["ip"] = json!(ip);
    }
    let rest = json!({
        "version": VERSION,
        "platform": boot.platform,
        "deviceFamily": "Linux",
        "mode": "gateway",
        "reason": "self",
        "instanceId": boot.instance_id,
        "text": text,
        "ts": ts,
    });
    match (v, rest) {
        (Value::Object(mut m), Value::Object(r)) => {
            m.extend(r);
            m
        }
        _ => Map::new(),
    }
}

//! Named limits and defaults. Every limit here has a config override (`gateway.limits.*`,
//! our own extension, or the upstream key noted on the const) and a comment explaining why.
//! The transport's defaults are the transport's own numbers (`openclaw_net::limits`), named
//! here once more only to be documented and overridden.

use openclaw_net::limits as net;
use serde_json::Value;

use super::env::Env;

/// Longest `sessionKey` any surface accepts (`chat.send`, `/tools/invoke`, hooks).
pub const MAX_SESSION_KEY: usize = 512;

/// Default gateway port (upstream default; `gateway.port`, `OPENCLAW_GATEWAY_PORT`, `--port`).
pub const DEFAULT_PORT: u16 = 18789;
/// Base port of the `dev` profile, so a dev gateway never collides with the default one.
pub const DEV_PORT: u16 = 19001;

/// Pre-auth handshake deadline: a socket that has not completed `connect` in this time is
/// closed (observed 15.0 s on the stock gateway). `gateway.limits.handshakeTimeoutMs`,
/// env `OPENCLAW_HANDSHAKE_TIMEOUT_MS` (wins over config).
pub const DEFAULT_HANDSHAKE_TIMEOUT_MS: u64 = net::DEFAULT_HANDSHAKE_TIMEOUT.as_millis() as u64;
/// Max unauthenticated sockets per client IP (stock value); bounds per-peer handshake state.
/// `gateway.limits.maxPreauthPerIp`, env `OPENCLAW_MAX_PREAUTH_CONNECTIONS_PER_IP`.
pub const DEFAULT_MAX_PREAUTH_PER_IP: u64 = net::DEFAULT_MAX_PREAUTH_PER_IP as u64;
/// Max unauthenticated sockets overall: hard cap on pre-auth memory regardless of the number
/// of distinct IPs. `gateway.limits.maxPreauthGlobal`.
pub const DEFAULT_MAX_PREAUTH_GLOBAL: u64 = net::DEFAULT_MAX_PREAUTH_GLOBAL as u64;
/// Max frame size before auth (stock 64 KiB; larger frames close with 1009) so anonymous
/// peers cannot make us buffer big payloads. `gateway.limits.preauthMaxPayload`.
pub const DEFAULT_PREAUTH_MAX_PAYLOAD: u64 = net::DEFAULT_PREAUTH_MAX_PAYLOAD as u64;
/// Max frame size after auth (stock 25 MiB, advertised in `hello-ok.policy.maxPayload`).
/// `gateway.limits.maxPayload`.
pub const DEFAULT_MAX_PAYLOAD: u64 = net::DEFAULT_MAX_PAYLOAD as u64;
/// Per-connection outbound buffer cap (stock 50 MiB, `hello-ok.policy.maxBufferedBytes`);
/// slow consumers beyond it are dropped instead of growing memory. `gateway.limits.maxBufferedBytes`.
pub const DEFAULT_MAX_BUFFERED_BYTES: u64 = net::DEFAULT_MAX_BUFFERED_BYTES as u64;
/// `tick` event period (observed 30 s, `hello-ok.policy.tickIntervalMs`). `gateway.limits.tickIntervalMs`.
pub const DEFAULT_TICK_INTERVAL_MS: u64 = 30_000;
/// Health snapshot refresh period (stock caches `health` for 60 s). `gateway.limits.healthRefreshMs`.
pub const DEFAULT_HEALTH_REFRESH_MS: u64 = 60_000;
/// Graceful-shutdown drain budget; well inside systemd's `TimeoutStopSec=30`.
/// `gateway.limits.shutdownDrainMs`.
pub const DEFAULT_SHUTDOWN_DRAIN_MS: u64 = 5_000;

/// Largest HTTP request body on `/v1/*` (http.md: 20 MB). `gateway.limits.httpMaxBodyBytes`.
pub const DEFAULT_HTTP_MAX_BODY_BYTES: u64 = 20 * 1024 * 1024;
/// A request body must arrive completely within this long (slow-body defence).
/// `gateway.limits.httpBodyTimeoutMs`.
pub const DEFAULT_HTTP_BODY_TIMEOUT_MS: u64 = 30_000;

/// Requests of one socket that may wait at once (store reads, `agent.wait`, queued state
/// changes) beside its read loop; one more is refused `UNAVAILABLE` (retryable) instead of
/// growing memory. Quick requests answered on the read loop never count.
/// `gateway.limits.maxInflightPerSocket`.
pub const DEFAULT_MAX_INFLIGHT_PER_SOCKET: u64 = 64;
/// Longest `agent.wait` (its `timeoutMs` is capped to this; the Node gateway's default wait is
/// 30 s). `gateway.limits.agentWaitMaxMs`.
pub const DEFAULT_AGENT_WAIT_MAX_MS: u64 = 10 * 60 * 1000;
/// `node.invoke` calls that may wait for their nodes at once, gateway-wide; one more is
/// refused `UNAVAILABLE` (retryable). `gateway.limits.maxPendingNodeInvokes`.
pub const DEFAULT_MAX_PENDING_NODE_INVOKES: u64 = 4096;
/// Pings and pongs a socket may send per second before its reads pause for the rest of the
/// second (0: no limit). `gateway.limits.maxControlFramesPerSec`.
pub const DEFAULT_MAX_CONTROL_FRAMES_PER_SEC: u64 = net::DEFAULT_MAX_CONTROL_FRAMES_PER_SEC as u64;
/// Seconds in a row over that budget before the socket is closed 1008.
/// `gateway.limits.maxControlFloodSecs`.
pub const DEFAULT_MAX_CONTROL_FLOOD_SECS: u64 = net::DEFAULT_MAX_CONTROL_FLOOD_SECS as u64;
/// A device pairing request nobody decided on is dropped this long after the device last asked
/// (the Node gateway's 5 minutes). `gateway.limits.pairingPendingTtlMs`.
pub const DEFAULT_PAIRING_PENDING_TTL_MS: u64 = 5 * 60 * 1000;
/// HTTP request head deadline (slow-header defence). `gateway.limits.httpHeaderTimeoutMs`.
pub const DEFAULT_HTTP_HEADER_TIMEOUT_MS: u64 = net::DEFAULT_HTTP_HEADER_TIMEOUT.as_millis() as u64;
/// How long a closing WebSocket waits for the peer's close frame. `gateway.limits.closeLingerMs`.
pub const DEFAULT_CLOSE_LINGER_MS: u64 = net::DEFAULT_CLOSE_LINGER.as_millis() as u64;
/// Largest request head sniffed before the bytes go to the HTTP stack.
/// `gateway.limits.sniffMaxBytes`.
pub const DEFAULT_SNIFF_MAX_BYTES: u64 = net::DEFAULT_SNIFF_MAX_BYTES as u64;
/// `gateway.limits.maxHttpHeadBytes`.
pub const DEFAULT_MAX_HTTP_HEAD_BYTES: u64 = net::DEFAULT_MAX_HTTP_HEAD_BYTES as u64;

/// Image types accepted upstream, on `/v1/*` and in `chat.send` attachments (http.md
/// `allowedMimes`).
pub const IMAGE_MIMES: &[&str] = &[
    "image/jpeg",
    "image/png",
    "image/gif",
    "image/webp",
    "image/heic",
    "image/heif",
];
/// `/v1/*`: most `image_url` parts taken from the latest user message (http.md).
pub const HTTP_MAX_IMAGE_PARTS: usize = 8;
/// `/v1/*`: largest single image, decoded (http.md `maxBytes`, 10 MiB).
pub const HTTP_MAX_IMAGE_PART_BYTES: usize = 10 * 1024 * 1024;
/// `/v1/*`: decoded image bytes allowed per request, all parts together (http.md, 20 MB).
pub const HTTP_MAX_IMAGE_TOTAL_BYTES: usize = 20 * 1024 * 1024;
/// `chat.send` attachments: default per-attachment ceiling, `agents.defaults.mediaMaxMb` (MB,
/// decoded; `hello-ok.policy.attachments.maxBytes`).
pub const DEFAULT_MEDIA_MAX_MB: u64 = 20;
/// `chat.send` attachments: images are capped lower than other attachments
/// (`hello-ok.policy.attachments.maxImageBytes`, 6 MiB as the Node gateway advertises).
pub const ATTACHMENT_MAX_IMAGE_BYTES: u64 = 6 * 1024 * 1024;

/// `policy.attachments`: `maxBytes` from `agents.defaults.mediaMaxMb`, images ≤
/// [`ATTACHMENT_MAX_IMAGE_BYTES`].
pub fn attachment_policy(parsed: &Value) -> Value {
    let mb = parsed
        .pointer("/agents/defaults/mediaMaxMb")
        .and_then(Value::as_f64)
        .filter(|m| *m > 0.0)
        .unwrap_or(DEFAULT_MEDIA_MAX_MB as f64);
    let max = ((mb * 1024.0 * 1024.0) as u64).max(1);
    serde_json::json!({ "maxBytes": max, "maxImageBytes": max.min(ATTACHMENT_MAX_IMAGE_BYTES) })
}

/// Failed-auth limiter: attempts per window (security.md §4). `gateway.auth.rateLimit.maxAttempts`.
pub const DEFAULT_RATE_LIMIT_MAX_ATTEMPTS: u32 = 10;
/// Failed-auth limiter window. `gateway.auth.rateLimit.windowMs`.
pub const DEFAULT_RATE_LIMIT_WINDOW_MS: u64 = 60_000;
/// Failed-auth lockout duration. `gateway.auth.rateLimit.lockoutMs`.
pub const DEFAULT_RATE_LIMIT_LOCKOUT_MS: u64 = 300_000;
/// Loopback clients are exempt from lockout by default. `gateway.auth.rateLimit.exemptLoopback`.
pub const DEFAULT_RATE_LIMIT_EXEMPT_LOOPBACK: bool = true;

/// File log rotation size (stock default). `logging.maxFileBytes`.
pub const DEFAULT_LOG_MAX_FILE_BYTES: u64 = 104_857_600;
/// Rotated log files kept (`.1` … `.5`, stock value). Not configurable upstream; fixed.
pub const LOG_ROTATE_KEEP: u32 = 5;
/// Default heartbeat period (`agents.defaults.heartbeat.every`, stock "30m").
pub const DEFAULT_HEARTBEAT_EVERY_MS: u64 = 30 * 60 * 1000;
/// Refuse config files larger than this: a gateway config is a few KiB; a huge file is a
/// mistake or an attack and would stall startup. Override: none needed (edit the file).
pub const MAX_CONFIG_FILE_BYTES: u64 = 16 * 1024 * 1024;
/// Ephemeral token entropy (stock: 24 random bytes, hex-encoded).
pub const EPHEMERAL_TOKEN_BYTES: usize = 24;

/// Connection/frame limits resolved from defaults, `gateway.limits.*` and env.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    pub handshake_timeout_ms: u64,
    pub max_preauth_per_ip: u64,
    pub max_preauth_global: u64,
    pub preauth_max_payload: u64,
    pub max_payload: u64,
    pub max_buffered_bytes: u64,
    pub tick_interval_ms: u64,
    pub health_refresh_ms: u64,
    pub shutdown_drain_ms: u64,
    pub http_max_body_bytes: u64,
    pub http_body_timeout_ms: u64,
    pub max_inflight_per_socket: u64,
    pub agent_wait_max_ms: u64,
    pub http_header_timeout_ms: u64,
    pub close_linger_ms: u64,
    pub sniff_max_bytes: u64,
    pub max_http_head_bytes: u64,
    pub max_pending_node_invokes: u64,
    pub pairing_pending_ttl_ms: u64,
    pub max_control_frames_per_sec: u64,
    pub max_control_flood_secs: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            handshake_timeout_ms: DEFAULT_HANDSHAKE_TIMEOUT_MS,
            max_preauth_per_ip: DEFAULT_MAX_PREAUTH_PER_IP,
            max_preauth_global: DEFAULT_MAX_PREAUTH_GLOBAL,
            preauth_max_payload: DEFAULT_PREAUTH_MAX_PAYLOAD,
            max_payload: DEFAULT_MAX_PAYLOAD,
            max_buffered_bytes: DEFAULT_MAX_BUFFERED_BYTES,
            tick_interval_ms: DEFAULT_TICK_INTERVAL_MS,
            health_refresh_ms: DEFAULT_HEALTH_REFRESH_MS,
            shutdown_drain_ms: DEFAULT_SHUTDOWN_DRAIN_MS,
            http_max_body_bytes: DEFAULT_HTTP_MAX_BODY_BYTES,
            http_body_timeout_ms: DEFAULT_HTTP_BODY_TIMEOUT_MS,
            max_inflight_per_socket: DEFAULT_MAX_INFLIGHT_PER_SOCKET,
            agent_wait_max_ms: DEFAULT_AGENT_WAIT_MAX_MS,
            http_header_timeout_ms: DEFAULT_HTTP_HEADER_TIMEOUT_MS,
            close_linger_ms: DEFAULT_CLOSE_LINGER_MS,
            sniff_max_bytes: DEFAULT_SNIFF_MAX_BYTES,
            max_http_head_bytes: DEFAULT_MAX_HTTP_HEAD_BYTES,
            max_pending_node_invokes: DEFAULT_MAX_PENDING_NODE_INVOKES,
            pairing_pending_ttl_ms: DEFAULT_PAIRING_PENDING_TTL_MS,
            max_control_frames_per_sec: DEFAULT_MAX_CONTROL_FRAMES_PER_SEC,
            max_control_flood_secs: DEFAULT_MAX_CONTROL_FLOOD_SECS,
        }
    }
}

/// Config keys under `gateway.limits` (camelCase, like upstream keys).
pub const LIMIT_KEYS: &[&str] = &[
    "handshakeTimeoutMs",
    "maxPreauthPerIp",
    "maxPreauthGlobal",
    "preauthMaxPayload",
    "maxPayload",
    "maxBufferedBytes",
    "tickIntervalMs",
    "healthRefreshMs",
    "shutdownDrainMs",
    "httpMaxBodyBytes",
    "httpBodyTimeoutMs",
    "maxInflightPerSocket",
    "agentWaitMaxMs",
    "httpHeaderTimeoutMs",
    "closeLingerMs",
    "sniffMaxBytes",
    "maxHttpHeadBytes",
    "maxPendingNodeInvokes",
    "pairingPendingTtlMs",
    "maxControlFramesPerSec",
    "maxControlFloodSecs",
];

impl Limits {
    /// Resolve from `gateway.limits` (already type-validated) and env overrides.
    pub fn resolve(limits: Option<&Value>, env: &Env, warnings: &mut Vec<String>) -> Limits {
        let mut l = Limits::default();
        let get = |k: &str| limits.and_then(|v| v.get(k)).and_then(Value::as_u64);
        let slots: [(&str, &mut u64); 21] = [
            ("handshakeTimeoutMs", &mut l.handshake_timeout_ms),
            ("maxPreauthPerIp", &mut l.max_preauth_per_ip),
            ("maxPreauthGlobal", &mut l.max_preauth_global),
            ("preauthMaxPayload", &mut l.preauth_max_payload),
            ("maxPayload", &mut l.max_payload),
            ("maxBufferedBytes", &mut l.max_buffered_bytes),
            ("tickIntervalMs", &mut l.tick_interval_ms),
            ("healthRefreshMs", &mut l.health_refresh_ms),
            ("shutdownDrainMs", &mut l.shutdown_drain_ms),
            ("httpMaxBodyBytes", &mut l.http_max_body_bytes),
            ("httpBodyTimeoutMs", &mut l.http_body_timeout_ms),
            ("maxInflightPerSocket", &mut l.max_inflight_per_socket),
            ("agentWaitMaxMs", &mut l.agent_wait_max_ms),
            ("httpHeaderTimeoutMs", &mut l.http_header_timeout_ms),
            ("closeLingerMs", &mut l.close_linger_ms),
            ("sniffMaxBytes", &mut l.sniff_max_bytes),
            ("maxHttpHeadBytes", &mut l.max_http_head_bytes),
            ("maxPendingNodeInvokes", &mut l.max_pending_node_invokes),
            ("pairingPendingTtlMs", &mut l.pairing_pending_ttl_ms),
            ("maxControlFramesPerSec", &mut l.max_control_frames_per_sec),
            ("maxControlFloodSecs", &mut l.max_control_flood_secs),
        ];
        for (key, slot) in slots {
            if let Some(v) = get(key) {
                *slot = v;
            }
        }
        let env_u64 = |name: &str, raw: Option<&str>, warnings: &mut Vec<String>| match raw {
            None => None,
            Some(s) => match s.parse::<u64>() {
                Ok(v) if v > 0 => Some(v),
                _ => {
                    warnings.push(format!(
                        "ignoring {name}={s:?}: expected a positive integer"
                    ));
                    None
                }
            },
        };
        if let Some(v) = env_u64(
            "OPENCLAW_HANDSHAKE_TIMEOUT_MS",
            env.handshake_timeout_ms(),
            warnings,
        ) {
            l.handshake_timeout_ms = v;
        }
        if let Some(v) = env_u64(
            "OPENCLAW_MAX_PREAUTH_CONNECTIONS_PER_IP",
            env.max_preauth_per_ip(),
            warnings,
        ) {
            l.max_preauth_per_ip = v;
        }
        l
    }
}

/// Failed-auth rate limiter settings (`gateway.auth.rateLimit`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLimitConfig {
    pub max_attempts: u32,
    pub window_ms: u64,
    pub lockout_ms: u64,
    pub exempt_loopback: bool,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            max_attempts: DEFAULT_RATE_LIMIT_MAX_ATTEMPTS,
            window_ms: DEFAULT_RATE_LIMIT_WINDOW_MS,
            lockout_ms: DEFAULT_RATE_LIMIT_LOCKOUT_MS,
            exempt_loopback: DEFAULT_RATE_LIMIT_EXEMPT_LOOPBACK,
        }
    }
}

impl RateLimitConfig {
    /// Resolve from `gateway.auth.rateLimit` (already type-validated).
    pub fn resolve(v: Option<&Value>) -> RateLimitConfig {
        let mut r = RateLimitConfig::default();
        let Some(v) = v else { return r };
        if let Some(n) = v.get("maxAttempts").and_then(Value::as_u64) {
            r.max_attempts = u32::try_from(n).unwrap_or(u32::MAX);
        }
        if let Some(n) = v.get("windowMs").and_then(Value::as_u64) {
            r.window_ms = n;
        }
        if let Some(n) = v.get("lockoutMs").and_then(Value::as_u64) {
            r.lockout_ms = n;
        }
        if let Some(b) = v.get("exemptLoopback").and_then(Value::as_bool) {
            r.exempt_loopback = b;
        }
        r
    }
}

//! Protocol-level limits and timings shared by the gateway and its tests (values as observed).

/// Largest inbound frame accepted before `connect` succeeds (64 KiB; larger → close 1009).
pub const MAX_PREAUTH_PAYLOAD_BYTES: usize = 64 * 1024;
/// Largest inbound frame after auth (`policy.maxPayload`, 25 MiB).
pub const MAX_PAYLOAD_BYTES: usize = 25 * 1024 * 1024;
/// Per-socket outbound buffer cap (`policy.maxBufferedBytes`, 50 MiB).
pub const MAX_BUFFERED_BYTES: usize = 50 * 1024 * 1024;
/// Tick interval advertised in `policy.tickIntervalMs` (observed 30 s; the docs say 15 s).
pub const TICK_INTERVAL_MS: u64 = 30_000;
/// Time from socket open to a successful `connect` before the server closes it.
pub const HANDSHAKE_TIMEOUT_MS: u64 = 15_000;

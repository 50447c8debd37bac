//! Transport limits: every number is a named default that the gateway config can override
//! (the gateway's config table names these same constants; the numbers live only here).

use std::time::Duration;

/// Largest frame/message accepted before the `connect` handshake completes (the peer's
/// `MAX_PREAUTH_PAYLOAD_BYTES`): an unauthenticated client cannot make us buffer more.
pub const DEFAULT_PREAUTH_MAX_PAYLOAD: usize = 64 * 1024;
/// Largest message accepted after auth (`policy.maxPayload`, 25 MiB).
pub const DEFAULT_MAX_PAYLOAD: usize = 25 * 1024 * 1024;
/// Per-socket outbound budget (`policy.maxBufferedBytes`, 50 MiB): past it, droppable
/// events are dropped and anything else closes the socket as a slow consumer.
pub const DEFAULT_MAX_BUFFERED_BYTES: usize = 50 * 1024 * 1024;
/// Time from TCP accept to a successful `connect` (`OPENCLAW_HANDSHAKE_TIMEOUT_MS`).
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_millis(15_000);
/// Pre-auth sockets allowed per non-loopback client IP (`OPENCLAW_MAX_PREAUTH_CONNECTIONS_PER_IP`).
pub const DEFAULT_MAX_PREAUTH_PER_IP: usize = 32;
/// Pre-auth sockets allowed in total. Loopback clients are bounded only by this, so a local
/// burst (a load test, a busy CLI) is never refused the way per-IP limits would.
pub const DEFAULT_MAX_PREAUTH_GLOBAL: usize = 4096;
/// Largest HTTP request head we sniff before handing the bytes to hyper.
pub const DEFAULT_SNIFF_MAX_BYTES: usize = 16 * 1024;
/// An HTTP request whose target plus header names and values add up to this many bytes is
/// answered 431 and closed: the Node gateway's limit (its HTTP parser's `maxHeaderSize`,
/// measured on the wire: a count of 16 383 passes, 16 384 gets the 431). Our HTTP stack
/// also stops reading a head at twice this (no attacker makes us take in a 256 KB head).
pub const DEFAULT_MAX_HTTP_HEAD_BYTES: usize = 16 * 1024;
/// Listen backlog: a burst of simultaneous connects must queue, not be reset.
pub const DEFAULT_LISTEN_BACKLOG: u32 = 4096;
/// Frames drained by the writer per vectored write (stays under IOV_MAX with headers).
pub const MAX_BATCH_FRAMES: usize = 256;
/// How long a closing socket waits for the peer's close frame before dropping the TCP stream.
pub const DEFAULT_CLOSE_LINGER: Duration = Duration::from_millis(1_000);
/// HTTP header read timeout (slow-header protection).
pub const DEFAULT_HTTP_HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Pings and pongs one socket may send per second. Past it the socket is not read until the
/// second is over — TCP backpressure slows the sender, so a ping flood costs neither a decode
/// and a pong per ping nor a reconnect storm. Clients ping every few seconds; Autobahn's
/// bursts are ten. 0 turns the limit off.
pub const DEFAULT_MAX_CONTROL_FRAMES_PER_SEC: u32 = 100;
/// Seconds in a row a socket may run over its control-frame budget; at this many it is closed
/// 1008 "too many control frames" (a flooder's socket would otherwise hold its kernel buffers
/// full forever).
pub const DEFAULT_MAX_CONTROL_FLOOD_SECS: u32 = 3;

/// The limits the transport enforces, filled from config by the gateway.
#[derive(Clone, Debug)]
pub struct NetLimits {
    /// See [`DEFAULT_PREAUTH_MAX_PAYLOAD`].
    pub preauth_max_payload: usize,
    /// See [`DEFAULT_MAX_PAYLOAD`].
    pub max_payload: usize,
    /// See [`DEFAULT_MAX_BUFFERED_BYTES`].
    pub max_buffered_bytes: usize,
    /// See [`DEFAULT_HANDSHAKE_TIMEOUT`].
    pub handshake_timeout: Duration,
    /// See [`DEFAULT_MAX_PREAUTH_PER_IP`].
    pub max_preauth_per_ip: usize,
    /// See [`DEFAULT_MAX_PREAUTH_GLOBAL`].
    pub max_preauth_global: usize,
    /// See [`DEFAULT_HTTP_HEADER_TIMEOUT`].
    pub http_header_timeout: Duration,
    /// See [`DEFAULT_CLOSE_LINGER`].
    pub close_linger: Duration,
    /// See [`DEFAULT_SNIFF_MAX_BYTES`].
    pub sniff_max_bytes: usize,
    /// See [`DEFAULT_MAX_HTTP_HEAD_BYTES`].
    pub max_http_head_bytes: usize,
    /// See [`DEFAULT_MAX_CONTROL_FRAMES_PER_SEC`].
    pub max_control_frames_per_sec: u32,
    /// See [`DEFAULT_MAX_CONTROL_FLOOD_SECS`].
    pub max_control_flood_secs: u32,
    /// Bytes inserted before the decimal per-socket sequence number when an event is
    /// spliced at write time (the gateway passes `,"seq":`; the transport stays JSON-free).
    pub seq_splice_prefix: &'static [u8],
    /// The io_uring ring threads, when the gateway runs on io_uring: upgraded connections
    /// run there and their sockets are written (and read) by the rings. `None`: every socket
    /// has a writer task on tokio.
    #[cfg(all(target_os = "linux", feature = "io-uring"))]
    pub rings: Option<std::sync::Arc<crate::uring::RingPool>>,
}

impl Default for NetLimits {
    fn default() -> Self {
        Self {
            preauth_max_payload: DEFAULT_PREAUTH_MAX_PAYLOAD,
            max_payload: DEFAULT_MAX_PAYLOAD,
            max_buffered_bytes: DEFAULT_MAX_BUFFERED_BYTES,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            max_preauth_per_ip: DEFAULT_MAX_PREAUTH_PER_IP,
            max_preauth_global: DEFAULT_MAX_PREAUTH_GLOBAL,
            http_header_timeout: DEFAULT_HTTP_HEADER_TIMEOUT,
            close_linger: DEFAULT_CLOSE_LINGER,
            sniff_max_bytes: DEFAULT_SNIFF_MAX_BYTES,
            max_http_head_bytes: DEFAULT_MAX_HTTP_HEAD_BYTES,
            max_control_frames_per_sec: DEFAULT_MAX_CONTROL_FRAMES_PER_SEC,
            max_control_flood_secs: DEFAULT_MAX_CONTROL_FLOOD_SECS,
            seq_splice_prefix: b"",
            #[cfg(all(target_os = "linux", feature = "io-uring"))]
            rings: None,
        }
    }
}

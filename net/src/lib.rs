//! openclaw-net: the transport under the gateway — one TCP port, sniffed per connection into
//! WebSocket (our cancel-safe frame decoder and vectored writer) or HTTP/1.1 (hyper 1).
//!
//! It knows bytes, frames and sockets, never JSON and never an OpenClaw method. The
//! application plugs in through [`App`] (HTTP requests and WebSocket sessions) and talks
//! back to a socket only through its [`Outbound`] queue.
//!
//! # Layout
//! - [`listener`]: bind, accept loop with EMFILE back-off, per-connection task, pre-auth permits.
//! - [`sniff`]: first bytes with a deadline, kept and replayed ([`rewind`]); WS upgrade or HTTP.
//! - [`ws`]: the upgrade handshake, the reader loop (fragments, control frames, limits) and
//!   the writer task (batched vectored writes, per-socket `seq` spliced at write time).
//! - [`outbound`]: the byte-budgeted per-socket queue that fan-out pushes into.
//! - [`http`]: hyper's HTTP/1.1 connection with header timeout and graceful shutdown.
//! - [`shutdown`]: one watch signal plus a drain counter with a deadline.
//! - [`stats`]: process-wide socket counts by state, accepts and slow-consumer closes.
//! - `uring` (Linux, feature `io-uring`): ring threads that run upgraded connections and
//!   read and write their sockets (multishot RECV, batched SENDMSGs), one driver per ring
//!   instead of a writer task per socket.
#![deny(missing_docs)]

mod app;
mod error;
pub mod http;
pub mod limits;
pub mod listener;
pub mod outbound;
pub mod rewind;
pub mod shutdown;
pub mod sniff;
pub mod stats;
#[cfg(all(target_os = "linux", feature = "io-uring"))]
pub mod uring;
pub mod ws;

pub use app::{App, ConnInfo, Flow, Message, WsSession};
pub use error::NetError;
pub use http::{full_body, HttpBody};
pub use limits::NetLimits;
pub use listener::{bind, serve};
pub use outbound::{Outbound, PushResult};
pub use shutdown::Shutdown;
#[cfg(all(target_os = "linux", feature = "io-uring"))]
pub use uring::WakeBatch;

/// Without io_uring there are no ring wake-ups to hold: a guard that does nothing.
#[cfg(not(all(target_os = "linux", feature = "io-uring")))]
#[derive(Debug)]
pub struct WakeBatch;

#[cfg(not(all(target_os = "linux", feature = "io-uring")))]
impl WakeBatch {
    /// A guard that does nothing.
    pub fn begin() -> WakeBatch {
        WakeBatch
    }
}

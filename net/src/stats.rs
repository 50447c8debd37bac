//! Process-wide transport counters: how many sockets are in each state right now and how
//! many were accepted or closed as slow consumers. Plain relaxed atomics updated by RAII
//! guards (two atomic ops per state change); what to do with them — a `/metrics` page, a
//! health line — is the application's business.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// A socket state whose population is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnState {
    /// Accepted; its first bytes are being read to tell WebSocket from HTTP.
    Sniffing,
    /// An HTTP/1.1 connection (keep-alive included).
    Http,
    /// An upgraded WebSocket that has not finished the application's handshake.
    WsHandshake,
    /// An upgraded WebSocket past the application's handshake.
    WsEstablished,
}

impl ConnState {
    /// Every state, in a stable order.
    pub const ALL: [ConnState; 4] = [
        ConnState::Sniffing,
        ConnState::Http,
        ConnState::WsHandshake,
        ConnState::WsEstablished,
    ];

    /// A short label (`sniffing`, `http`, `ws_handshake`, `ws_established`).
    pub fn label(self) -> &'static str {
        match self {
            ConnState::Sniffing => "sniffing",
            ConnState::Http => "http",
            ConnState::WsHandshake => "ws_handshake",
            ConnState::WsEstablished => "ws_established",
        }
    }
}

static OPEN: [AtomicI64; 4] = [const { AtomicI64::new(0) }; 4];
static ACCEPTED: AtomicU64 = AtomicU64::new(0);
static SLOW_CLOSED: AtomicU64 = AtomicU64::new(0);

/// Sockets in `state` right now.
pub fn open(state: ConnState) -> i64 {
    OPEN[state as usize].load(Ordering::Relaxed).max(0)
}

/// Connections accepted since the process started.
pub fn accepted() -> u64 {
    ACCEPTED.load(Ordering::Relaxed)
}

/// Sockets closed for exceeding their outbound budget since the process started.
pub fn slow_closed() -> u64 {
    SLOW_CLOSED.load(Ordering::Relaxed)
}

pub(crate) fn count_accept() {
    ACCEPTED.fetch_add(1, Ordering::Relaxed);
}

pub(crate) fn count_slow_close() {
    SLOW_CLOSED.fetch_add(1, Ordering::Relaxed);
}

/// Holds one socket in one state; moving it to another state or dropping it updates the
/// gauges.
#[derive(Debug)]
pub struct StateGuard(ConnState);

impl StateGuard {
    pub(crate) fn enter(state: ConnState) -> Self {
        OPEN[state as usize].fetch_add(1, Ordering::Relaxed);
        StateGuard(state)
    }

    /// Move the socket to `state`.
    pub fn set(&mut self, state: ConnState) {
        if state != self.0 {
            OPEN[self.0 as usize].fetch_sub(1, Ordering::Relaxed);
            OPEN[state as usize].fetch_add(1, Ordering::Relaxed);
            self.0 = state;
        }
    }
}

impl Drop for StateGuard {
    fn drop(&mut self) {
        OPEN[self.0 as usize].fetch_sub(1, Ordering::Relaxed);
    }
}

//! What `/metrics` counts, and the calls the rest of the gateway makes to count it: RPC calls
//! by method and result, handshakes, agent runs, provider latency and time to first token,
//! HTTP requests by route and status. Every instrument is pre-registered (statics, or one
//! table built from the method registry) and updated with relaxed atomics — no lock, no
//! allocation per update — and only while `gateway.metrics.enabled` is on.
//!
//! Counters are process-wide, like the process's RSS: a gateway process is one server.
//! Gauges (sockets by state, queued bytes, nodes) are read from the gateway when scraped;
//! `crate::http::metrics` writes and serves the page. This module knows no other part of the
//! gateway (the method names come in through [`init_rpc`]).

pub mod hist;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

pub use hist::{Counter, Hist};

/// How many gateways in this process have `gateway.metrics.enabled` on.
static ON: AtomicUsize = AtomicUsize::new(0);

/// Is counting on?
#[inline]
pub fn enabled() -> bool {
    ON.load(Ordering::Relaxed) > 0
}

/// One gateway's `gateway.metrics.enabled`: counting is on while any gateway of the process
/// has it on (tests run several in one process); dropping the switch turns its vote off.
#[derive(Debug, Default)]
pub struct Switch(AtomicBool);

impl Switch {
    /// A switch in position `on`.
    pub fn new(on: bool) -> Self {
        let s = Switch::default();
        s.set(on);
        s
    }

    /// Move the switch (at start and on reload).
    pub fn set(&self, on: bool) {
        if self.0.swap(on, Ordering::AcqRel) != on {
            if on {
                ON.fetch_add(1, Ordering::Relaxed);
            } else {
                ON.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }
}

impl Drop for Switch {
    fn drop(&mut self) {
        self.set(false);
    }
}

/// The wire error codes counted one by one; anything else counts as `other`.
pub const ERROR_CODES: [&str; 9] = [
    "INVALID_REQUEST",
    "FORBIDDEN",
    "UNAVAILABLE",
    "NOT_PAIRED",
    "NOT_LINKED",
    "AGENT_TIMEOUT",
    "APPROVAL_NOT_FOUND",
    "NOT_FOUND",
    "other",
];

/// Calls, failures and latency of one method.
#[derive(Debug, Default)]
pub struct MethodStats {
    pub ok: Counter,
    pub error: Counter,
    pub seconds: Hist,
}

/// The per-method table: the served methods' names (registry order) and one row each, then
/// one row for names we do not serve.
pub struct RpcTable {
    pub names: Vec<&'static str>,
    pub rows: Box<[MethodStats]>,
}

static RPC_TABLE: OnceLock<RpcTable> = OnceLock::new();

/// Build the per-method table from the served methods' names, in registry order (once per
/// process; later calls keep the first table).
pub fn init_rpc(names: impl Iterator<Item = &'static str>) {
    RPC_TABLE.get_or_init(|| {
        let names: Vec<&'static str> = names.collect();
        let rows = (0..=names.len()).map(|_| MethodStats::default()).collect();
        RpcTable { names, rows }
    });
}

/// The per-method table, once built.
pub fn rpc_table() -> Option<&'static RpcTable> {
    RPC_TABLE.get()
}

/// Errors by wire code, in [`ERROR_CODES`] order.
pub static RPC_ERRORS: [Counter; ERROR_CODES.len()] = [const { Counter::new() }; 9];

/// Count one answered request: `slot` is the method's registry index (`None`: not served),
/// `code` the error code if it failed.
pub fn rpc(slot: Option<usize>, code: Option<&str>, took: Duration) {
    let Some(t) = rpc_table().filter(|_| enabled()) else {
        return;
    };
    let last = t.rows.len() - 1;
    let row = &t.rows[slot.unwrap_or(last).min(last)];
    row.seconds.observe(took);
    match code {
        None => row.ok.inc(),
        Some(c) => {
            row.error.inc();
            let i = ERROR_CODES[..8].iter().position(|k| *k == c).unwrap_or(8);
            RPC_ERRORS[i].inc();
        }
    }
}

/// WebSocket handshakes (`connect`) that succeeded / were refused, and how long the
/// successful ones took from the socket's upgrade to `hello-ok`.
pub static HANDSHAKES_OK: Counter = Counter::new();
pub static HANDSHAKES_REFUSED: Counter = Counter::new();
pub static HANDSHAKE_SECONDS: Hist = Hist::new();

/// Count one handshake.
pub fn handshake(ok: bool, took: Duration) {
    if !enabled() {
        return;
    }
    if ok {
        HANDSHAKES_OK.inc();
        HANDSHAKE_SECONDS.observe(took);
    } else {
        HANDSHAKES_REFUSED.inc();
    }
}

/// Agent run outcomes, as the run engine names them.
pub const RUN_OUTCOMES: [&str; 4] = ["ok", "error", "aborted", "timeout"];
pub static RUNS: [Counter; 4] = [const { Counter::new() }; 4];
pub static RUN_SECONDS: Hist = Hist::new();

/// Count one finished agent run.
pub fn run_ended(status: &str, took: Duration) {
    if !enabled() {
        return;
    }
    if let Some(i) = RUN_OUTCOMES.iter().position(|s| *s == status) {
        RUNS[i].inc();
    }
    RUN_SECONDS.observe(took);
}

/// Provider calls by result, their whole duration, and the time to their first token.
pub static PROVIDER_OK: Counter = Counter::new();
pub static PROVIDER_ERROR: Counter = Counter::new();
pub static PROVIDER_SECONDS: Hist = Hist::new();
pub static PROVIDER_TTFT_SECONDS: Hist = Hist::new();

/// Count one provider call.
pub fn provider_call(ok: bool, took: Duration) {
    if !enabled() {
        return;
    }
    if ok { &PROVIDER_OK } else { &PROVIDER_ERROR }.inc();
    PROVIDER_SECONDS.observe(took);
}

/// Record a provider call's time to first token.
pub fn provider_ttft(took: Duration) {
    if enabled() {
        PROVIDER_TTFT_SECONDS.observe(took);
    }
}

/// HTTP routes, as labelled.
pub const ROUTES: [&str; 10] = [
    "probe",
    "v1_chat_completions",
    "v1_responses",
    "v1_models",
    "v1_embeddings",
    "tools_invoke",
    "hooks",
    "control_ui",
    "metrics",
    "other",
];
/// Status codes counted one by one; the rest count under their class (`2xx` … `5xx`).
pub const STATUSES: [u16; 20] = [
    200, 204, 206, 301, 302, 304, 400, 401, 403, 404, 405, 408, 413, 415, 429, 431, 500, 502, 503,
    504,
];
const STATUS_SLOTS: usize = STATUSES.len() + 5;
pub static HTTP: [[Counter; STATUS_SLOTS]; ROUTES.len()] =
    [const { [const { Counter::new() }; STATUS_SLOTS] }; 10];
pub static HTTP_SECONDS: [Hist; ROUTES.len()] = [const { Hist::new() }; 10];

/// The label of status slot `i`.
pub fn status_label(i: usize) -> String {
    match STATUSES.get(i) {
        Some(s) => s.to_string(),
        None => format!("{}xx", i - STATUSES.len() + 1),
    }
}

/// Count one HTTP response on route `route` (an index into [`ROUTES`]).
pub fn http(route: usize, status: u16, took: Duration) {
    if !enabled() {
        return;
    }
    let r = route.min(ROUTES.len() - 1);
    let slot = STATUSES
        .iter()
        .position(|s| *s == status)
        .unwrap_or_else(|| STATUSES.len() + (usize::from(status / 100).clamp(1, 5) - 1));
    HTTP[r][slot].inc();
    HTTP_SECONDS[r].observe(took);
}

/// The index of route label `name` in [`ROUTES`] (`other` if unknown).
pub fn route_index(name: &str) -> usize {
    ROUTES
        .iter()
        .position(|r| *r == name)
        .unwrap_or(ROUTES.len() - 1)
}

/// The route label index of `path` (hook paths are the caller's to tell: they move with
/// `hooks.path`).
pub fn route_of(path: &str) -> usize {
    let name = match path {
        "/health" | "/healthz" | "/readyz" | "/ready" | "/startupz" | "/startup" => "probe",
        "/v1/chat/completions" => "v1_chat_completions",
        "/v1/responses" => "v1_responses",
        "/v1/embeddings" => "v1_embeddings",
        "/metrics" => "metrics",
        "/tools/invoke" => "tools_invoke",
        p if p == "/v1/models" || p.starts_with("/v1/models/") => "v1_models",
        p if p.starts_with("/v1") || p.starts_with("/tools/") => "other",
        _ => "control_ui",
    };
    route_index(name)
}

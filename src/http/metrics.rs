//! `GET /metrics` (with `gateway.metrics.enabled`; the same auth as `/v1/*`): the page in
//! the Prometheus text exposition format (version 0.0.4) — the counters and histograms of
//! [`crate::metrics`], plus gauges read from the gateway at scrape time (sockets by state,
//! queued bytes, subscribers, nodes, process RSS/CPU). Series with nothing to say (a method
//! never called) are left out.

use std::fmt::Write;
use std::sync::Arc;

use hyper::{HeaderMap, Response, StatusCode};
use openclaw_net::{ConnInfo, HttpBody};

use openclaw_net::stats::{self as net, ConnState};

use crate::metrics::hist::{Hist, BOUNDS_US};
use crate::metrics::*;
use crate::server::Gateway;

/// The content type of the page.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Answer a scrape: authenticate, then render off the runtime (it reads `/proc`).
pub async fn serve(
    gw: &Arc<Gateway>,
    h: &HeaderMap,
    info: &ConnInfo,
    head: bool,
) -> Response<HttpBody> {
    if let Err(refused) = super::auth::authenticate(gw, h, info) {
        return refused;
    }
    let g = gw.clone();
    match tokio::task::spawn_blocking(move || render(&g)).await {
        Ok(page) => super::respond(StatusCode::OK, CONTENT_TYPE, page, head),
        Err(_) => super::respond(
            StatusCode::INTERNAL_SERVER_ERROR,
            super::TEXT_UTF8,
            "metrics unavailable",
            head,
        ),
    }
}

struct Page(String);

impl Page {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn labels(&mut self, labels: &[(&str, &str)], extra: Option<(&str, &str)>) {
        if labels.is_empty() && extra.is_none() {
            return;
        }
        self.0.push('{');
        for (i, (k, v)) in labels.iter().chain(extra.as_ref()).enumerate() {
            if i > 0 {
                self.0.push(',');
            }
            let _ = write!(self.0, "{k}=\"");
            for c in v.chars() {
                match c {
                    '\\' => self.0.push_str("\\\\"),
                    '"' => self.0.push_str("\\\""),
                    '\n' => self.0.push_str("\\n"),
                    c => self.0.push(c),
                }
            }
            self.0.push('"');
        }
        self.0.push('}');
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], v: impl std::fmt::Display) {
        self.0.push_str(name);
        self.labels(labels, None);
        let _ = writeln!(self.0, " {v}");
    }

    fn hist(&mut self, name: &str, labels: &[(&str, &str)], h: &Hist) {
        let (cum, sum_us) = h.snapshot();
        let bucket = format!("{name}_bucket");
        for (i, n) in cum.iter().enumerate() {
            let le = BOUNDS_US
                .get(i)
                .map_or_else(|| "+Inf".to_string(), |b| (*b as f64 / 1e6).to_string());
            self.0.push_str(&bucket);
            self.labels(labels, Some(("le", &le)));
            let _ = writeln!(self.0, " {n}");
        }
        self.sample(&format!("{name}_sum"), labels, sum_us as f64 / 1e6);
        self.sample(&format!("{name}_count"), labels, cum[cum.len() - 1]);
    }
}

/// The whole page.
pub fn render(gw: &Gateway) -> String {
    let mut p = Page(String::with_capacity(16 * 1024));
    connections(&mut p);
    rpc(&mut p);
    events(&mut p, gw);
    agents(&mut p);
    http(&mut p);
    process(&mut p, gw);
    p.0
}

fn connections(p: &mut Page) {
    p.family("openclaw_connections", "gauge", "Open sockets by state.");
    for s in ConnState::ALL {
        p.sample(
            "openclaw_connections",
            &[("state", s.label())],
            net::open(s),
        );
    }
    p.family(
        "openclaw_connections_accepted_total",
        "counter",
        "TCP connections accepted.",
    );
    p.sample("openclaw_connections_accepted_total", &[], net::accepted());
    p.family(
        "openclaw_handshakes_total",
        "counter",
        "WebSocket connect handshakes by result.",
    );
    p.sample(
        "openclaw_handshakes_total",
        &[("result", "ok")],
        HANDSHAKES_OK.get(),
    );
    let refused = HANDSHAKES_REFUSED.get();
    p.sample(
        "openclaw_handshakes_total",
        &[("result", "refused")],
        refused,
    );
    p.family(
        "openclaw_handshake_duration_seconds",
        "histogram",
        "From the WebSocket upgrade to hello-ok.",
    );
    p.hist(
        "openclaw_handshake_duration_seconds",
        &[],
        &HANDSHAKE_SECONDS,
    );
    p.family(
        "openclaw_slow_consumers_closed_total",
        "counter",
        "Sockets closed for exceeding their outbound budget.",
    );
    p.sample(
        "openclaw_slow_consumers_closed_total",
        &[],
        net::slow_closed(),
    );
}

fn rpc(p: &mut Page) {
    // The table is built with the registry's index (first request or first scrape).
    let _ = crate::rpc::registry::lookup("health");
    let Some(t) = rpc_table() else { return };
    let table = &t.rows;
    let called = |i: usize| table[i].seconds.count() > 0;
    let name = |i: usize| t.names.get(i).copied().unwrap_or("(unknown)");
    p.family(
        "openclaw_rpc_requests_total",
        "counter",
        "Answered requests by method and result.",
    );
    for (i, row) in table.iter().enumerate().filter(|(i, _)| called(*i)) {
        let m = name(i);
        p.sample(
            "openclaw_rpc_requests_total",
            &[("method", m), ("result", "ok")],
            row.ok.get(),
        );
        let e = row.error.get();
        p.sample(
            "openclaw_rpc_requests_total",
            &[("method", m), ("result", "error")],
            e,
        );
    }
    p.family(
        "openclaw_rpc_errors_total",
        "counter",
        "Failed requests by error code.",
    );
    for (code, c) in ERROR_CODES.iter().zip(&RPC_ERRORS) {
        p.sample("openclaw_rpc_errors_total", &[("code", code)], c.get());
    }
    p.family(
        "openclaw_rpc_duration_seconds",
        "histogram",
        "From a request's arrival to its answer being queued, by method.",
    );
    for (i, row) in table.iter().enumerate().filter(|(i, _)| called(*i)) {
        p.hist(
            "openclaw_rpc_duration_seconds",
            &[("method", name(i))],
            &row.seconds,
        );
    }
}

fn events(p: &mut Page, gw: &Gateway) {
    use std::sync::atomic::Ordering::Relaxed;
    let s = &gw.hub.stats;
    p.family(
        "openclaw_events_published_total",
        "counter",
        "Events published to the hub.",
    );
    p.sample(
        "openclaw_events_published_total",
        &[],
        s.published.load(Relaxed),
    );
    p.family(
        "openclaw_events_delivered_total",
        "counter",
        "Event frames queued to sockets.",
    );
    p.sample(
        "openclaw_events_delivered_total",
        &[],
        s.delivered.load(Relaxed),
    );
    p.family(
        "openclaw_events_dropped_total",
        "counter",
        "Droppable event frames skipped at full queues.",
    );
    p.sample(
        "openclaw_events_dropped_total",
        &[],
        s.dropped.load(Relaxed),
    );
    let subs = gw.hub.all();
    let queued: usize = subs.iter().map(|s| s.out.queued_bytes()).sum();
    p.family(
        "openclaw_subscribers",
        "gauge",
        "Authenticated sockets receiving events.",
    );
    p.sample("openclaw_subscribers", &[], subs.len());
    p.family(
        "openclaw_outbound_queued_bytes",
        "gauge",
        "Bytes queued to authenticated sockets and not yet written.",
    );
    p.sample("openclaw_outbound_queued_bytes", &[], queued);
    p.family(
        "openclaw_nodes_connected",
        "gauge",
        "Node sockets connected.",
    );
    p.sample("openclaw_nodes_connected", &[], gw.nodes.live_count());
    p.family(
        "openclaw_node_invokes_pending",
        "gauge",
        "node.invoke calls waiting for their node.",
    );
    p.sample("openclaw_node_invokes_pending", &[], gw.nodes.invokes.len());
}

fn agents(p: &mut Page) {
    p.family(
        "openclaw_agent_runs_total",
        "counter",
        "Finished agent runs by outcome.",
    );
    for (o, c) in RUN_OUTCOMES.iter().zip(&RUNS) {
        p.sample("openclaw_agent_runs_total", &[("outcome", o)], c.get());
    }
    p.family(
        "openclaw_agent_run_duration_seconds",
        "histogram",
        "Agent run durations.",
    );
    p.hist("openclaw_agent_run_duration_seconds", &[], &RUN_SECONDS);
    p.family(
        "openclaw_provider_requests_total",
        "counter",
        "Model provider calls by result.",
    );
    p.sample(
        "openclaw_provider_requests_total",
        &[("result", "ok")],
        PROVIDER_OK.get(),
    );
    p.sample(
        "openclaw_provider_requests_total",
        &[("result", "error")],
        PROVIDER_ERROR.get(),
    );
    p.family(
        "openclaw_provider_duration_seconds",
        "histogram",
        "Model provider calls, start to end of stream.",
    );
    p.hist("openclaw_provider_duration_seconds", &[], &PROVIDER_SECONDS);
    p.family(
        "openclaw_provider_ttft_seconds",
        "histogram",
        "Model provider calls, start to first token.",
    );
    p.hist(
        "openclaw_provider_ttft_seconds",
        &[],
        &PROVIDER_TTFT_SECONDS,
    );
}

fn http(p: &mut Page) {
    p.family(
        "openclaw_http_requests_total",
        "counter",
        "HTTP responses by route and status.",
    );
    for (r, row) in ROUTES.iter().zip(&HTTP) {
        for (i, c) in row.iter().enumerate().filter(|(_, c)| c.get() > 0) {
            let st = status_label(i);
            p.sample(
                "openclaw_http_requests_total",
                &[("route", r), ("status", &st)],
                c.get(),
            );
        }
    }
    p.family(
        "openclaw_http_duration_seconds",
        "histogram",
        "HTTP request to response head, by route.",
    );
    for (r, h) in ROUTES
        .iter()
        .zip(&HTTP_SECONDS)
        .filter(|(_, h)| h.count() > 0)
    {
        p.hist("openclaw_http_duration_seconds", &[("route", r)], h);
    }
}

fn process(p: &mut Page, gw: &Gateway) {
    p.family(
        "process_resident_memory_bytes",
        "gauge",
        "Resident memory size in bytes.",
    );
    p.sample(
        "process_resident_memory_bytes",
        &[],
        crate::health::rss_bytes(),
    );
    p.family(
        "process_cpu_seconds_total",
        "counter",
        "User and system CPU time spent in seconds.",
    );
    let cpu = crate::health::process_cpu_seconds().unwrap_or(0.0);
    p.sample("process_cpu_seconds_total", &[], cpu);
    p.family("process_open_fds", "gauge", "Open file descriptors.");
    let fds = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count());
    p.sample("process_open_fds", &[], fds);
    p.family(
        "process_start_time_seconds",
        "gauge",
        "Start time of the process since the Unix epoch in seconds.",
    );
    p.sample(
        "process_start_time_seconds",
        &[],
        gw.boot.started_ms as f64 / 1e3,
    );
}

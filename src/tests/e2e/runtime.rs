//! `gateway.runtime` / `--io-uring`: the rings read a socket's requests and write its
//! replies and events (order, `seq`, a shutdown's close 1012) — or only write them
//! (`io_uring_writes`) — and a kernel that refuses io_uring leaves one clear log line and a
//! gateway on tokio. (CI also runs the whole suite on io_uring.)

use serde_json::json;

use crate::lifecycle::{command, config_with_log, sigterm_is_graceful, Proc};
use crate::util::*;
use openclaw::config::NetRuntime;

/// This runtime, and no periodic tick of its own during the test.
fn config(runtime: NetRuntime) -> String {
    format!(
        r#"{{ gateway: {{ mode: "local", auth: {{ mode: "token" }}, runtime: "{}", limits: {{ tickIntervalMs: 3600000 }} }} }}"#,
        runtime.as_str()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn io_uring_carries_requests_replies_and_events_in_order() {
    carries(NetRuntime::IoUring).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn io_uring_writes_only_carries_them_too() {
    carries(NetRuntime::IoUringWrites).await;
}

async fn carries(runtime: NetRuntime) {
    let mut setup = Setup::config(&config(runtime));
    // Also when CI runs the suite with OPENCLAW_GATEWAY_RUNTIME set (the env outranks the
    // config).
    setup
        .env
        .push(("OPENCLAW_GATEWAY_RUNTIME".into(), runtime.as_str().into()));
    let g = start_with(setup).await;
    assert_eq!(g.runtime(), runtime, "io_uring works on this kernel");
    let (mut a, _) = operator(g.addr, ALL_SCOPES).await;
    let (mut b, _) = operator(g.addr, ALL_SCOPES).await;
    // Many requests in flight on one socket: every reply arrives, each to its own id.
    let mut ids = Vec::new();
    for _ in 0..200 {
        ids.push(a.send_req("health", json!({})).await);
    }
    for id in ids {
        let r = a.response(&id).await;
        assert_eq!(r["ok"], true, "{r}");
    }
    // 500 broadcasts fan out to both sockets: all arrive, in order, `seq` consecutive.
    for ts in 1..=500u64 {
        barrier(&g, ts);
    }
    for c in [&mut a, &mut b] {
        let (mut last_seq, mut next_ts) = (None::<u64>, 1u64);
        while next_ts <= 500 {
            let ev = Client::next_event(c).await;
            let seq = ev["seq"].as_u64().expect("events carry seq");
            if let Some(l) = last_seq {
                assert_eq!(seq, l + 1, "consecutive seq");
            }
            last_seq = Some(seq);
            if ev["event"] == "tick" && ev["payload"]["ts"].as_u64() == Some(next_ts) {
                next_ts += 1;
            }
        }
    }
    g.stop().await;
}

#[tokio::test]
async fn gateway_run_io_uring_logs_it_serves_and_shuts_down_with_1012() {
    let dir = temp_dir("uring-run");
    let mut p = Proc::spawn(command(
        &dir,
        Some(&config_with_log(&dir)),
        &["gateway", "run", "--port", "0", "--io-uring"],
    ));
    let l = p.line_with("runtime: io_uring").await;
    assert!(l.contains("rings read and write WebSocket sockets"), "{l}");
    let addr = p.listening().await;
    sigterm_is_graceful(p, addr).await;
}

#[tokio::test]
async fn a_kernel_refusing_io_uring_leaves_one_line_and_a_gateway_on_tokio() {
    let dir = temp_dir("uring-refused");
    let mut cmd = command(
        &dir,
        Some(&config_with_log(&dir)),
        &["gateway", "run", "--port", "0", "--io-uring"],
    );
    cmd.env(openclaw::rings::TEST_ERRNO_ENV, "EPERM");
    let mut p = Proc::spawn(cmd);
    let l = p.line_with("io_uring unavailable").await;
    assert!(l.contains("running on tokio"), "{l}");
    let addr = p.listening().await;
    let (mut c, _) = operator(addr, ALL_SCOPES).await;
    let _ = c.ok("health", json!({})).await;
    p.signal(libc::SIGTERM);
    let (code, log) = p.finish().await;
    assert_eq!(code, 0, "exit code; stderr:\n{log}");
    assert!(!log.contains("runtime: io_uring"), "{log}");
}

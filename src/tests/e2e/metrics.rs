//! `/metrics` (issue 15): off by default and then not served; when on, token-protected like
//! `/v1/*`, in the Prometheus text format, and counting what happened — handshakes, calls
//! by method and result, sockets by state, HTTP requests by route and status. Counting
//! starts when the switch goes on (a hot key): the real binary, with exact counts.

use std::collections::HashMap;

use serde_json::json;

use crate::lifecycle::Proc;
use crate::reload::write;
use crate::util::*;

/// `name{labels}` → value, from a text-format page (comments skipped; every sample line
/// must be `series value`).
fn samples(page: &str) -> HashMap<String, f64> {
    let mut out = HashMap::new();
    for line in page
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("not a sample line: {line:?}"));
        let v: f64 = match value {
            "+Inf" => f64::INFINITY,
            v => v
                .parse()
                .unwrap_or_else(|_| panic!("bad value in {line:?}")),
        };
        assert!(
            out.insert(series.to_string(), v).is_none(),
            "duplicate series {series}"
        );
    }
    out
}

fn get(s: &HashMap<String, f64>, series: &str) -> f64 {
    *s.get(series)
        .unwrap_or_else(|| panic!("no series {series} in {:?}", s.keys().collect::<Vec<_>>()))
}

fn config(dir: &std::path::Path, metrics: bool) -> String {
    format!(
        r#"{{ gateway: {{ mode: "local", auth: {{ mode: "token", token: "{TOKEN}" }}, metrics: {{ enabled: {metrics} }} }}, logging: {{ file: "{}" }} }}"#,
        dir.join("openclaw.log").display()
    )
}

async fn scrape(base: &str, token: Option<&str>) -> reqwest::Response {
    let mut r = http_client().get(format!("{base}/metrics"));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    bounded("GET /metrics", r.send())
        .await
        .expect("GET /metrics")
}

async fn page(base: &str) -> HashMap<String, f64> {
    let r = scrape(base, Some(TOKEN)).await;
    assert_eq!(r.status(), 200);
    let ct = r.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    samples(&r.text().await.unwrap())
}

#[tokio::test]
async fn metrics_are_off_by_default_and_count_from_the_moment_they_are_switched_on() {
    let dir = temp_dir("metrics");
    let (p, addr) = Proc::start(&dir, &config(&dir, false)).await;
    let base = format!("http://{addr}");
    let (mut c, _) = operator(addr, &["operator.read"]).await;
    c.ok("health", json!({})).await;
    // Off: not served (the path falls through to the Control UI like any other page).
    let off = scrape(&base, Some(TOKEN)).await.text().await.unwrap();
    assert!(
        !off.contains("# TYPE"),
        "metrics served while off: {off:.200}"
    );

    write(&dir, &config(&dir, true));
    let ev = c.event("config.changed").await;
    assert!(ev["payload"]["hash"].is_string());
    // Token-protected like /v1/*.
    assert_eq!(scrape(&base, None).await.status(), 401);
    assert_eq!(scrape(&base, Some("wrong-token")).await.status(), 401);

    // Nothing before the switch was counted: the handshake and `health` above are not here.
    let s = page(&base).await;
    assert_eq!(get(&s, r#"openclaw_handshakes_total{result="ok"}"#), 0.0);
    assert!(!s.contains_key(r#"openclaw_rpc_requests_total{method="health",result="ok"}"#));
    // Gauges are read at scrape time: the operator socket is open and established.
    assert_eq!(
        get(&s, r#"openclaw_connections{state="ws_established"}"#),
        1.0
    );
    assert_eq!(get(&s, "openclaw_subscribers"), 1.0);
    assert!(get(&s, "process_resident_memory_bytes") > 1e6);

    c.ok("health", json!({})).await;
    c.ok("health", json!({})).await;
    let e = c.call("no.such.method", json!({})).await;
    assert_eq!(e["error"]["code"], "INVALID_REQUEST");
    let (mut c2, _) = operator(addr, &["operator.read"]).await;
    let refused = Client::open(addr).await;
    let (_, code, _) = {
        let mut r = refused;
        refused_bad_token(&mut r).await
    };
    assert_eq!(code, 1008);
    c2.ok("status", json!({})).await;

    let s = page(&base).await;
    let h = r#"openclaw_rpc_requests_total{method="health",result="ok"}"#;
    assert_eq!(get(&s, h), 2.0);
    let u = r#"openclaw_rpc_requests_total{method="(unknown)",result="error"}"#;
    assert_eq!(get(&s, u), 1.0);
    assert_eq!(
        get(&s, r#"openclaw_rpc_errors_total{code="INVALID_REQUEST"}"#),
        1.0
    );
    assert_eq!(get(&s, r#"openclaw_handshakes_total{result="ok"}"#), 1.0);
    assert_eq!(
        get(&s, r#"openclaw_handshakes_total{result="refused"}"#),
        1.0
    );
    assert_eq!(get(&s, "openclaw_handshake_duration_seconds_count"), 1.0);
    let le = r#"openclaw_rpc_duration_seconds_bucket{method="health",le="+Inf"}"#;
    assert_eq!(get(&s, le), 2.0);
    assert_eq!(
        get(&s, r#"openclaw_connections{state="ws_established"}"#),
        2.0
    );
    // The first scrape is counted by the second: route and status.
    let m = r#"openclaw_http_requests_total{route="metrics",status="200"}"#;
    assert_eq!(get(&s, m), 1.0);
    assert_eq!(
        get(
            &s,
            r#"openclaw_http_requests_total{route="metrics",status="401"}"#
        ),
        2.0
    );
    p.signal(libc::SIGTERM);
    assert_eq!(p.finish().await.0, 0);
}

/// A `connect` with a wrong token: refused with 1008.
async fn refused_bad_token(c: &mut Client) -> (serde_json::Value, u16, String) {
    let p = connect_params("cli", "cli", &["operator.read"], Some("not-the-token"));
    refused(c, p).await
}

#[tokio::test]
async fn agent_runs_and_their_provider_calls_are_counted() {
    use crate::agents::{agent_config, fake, wait_chat_state};
    use crate::upstream::{Upstream, UpstreamOpts};
    let up = Upstream::start(UpstreamOpts::default()).await;
    let cfg = agent_config(
        &fake("fake", &up.openai_base(), "openai-completions"),
        &["fake/echo-1"],
    )
    .replace(
        r#"auth: { mode: "token" }"#,
        r#"auth: { mode: "token" }, metrics: { enabled: true }"#,
    );
    let g = start_with(Setup::config(&cfg)).await;
    // Counters are process-wide (other tests' gateways count too): compare before and after.
    let before = page(&g.http()).await;
    let (mut c, _) = operator(g.addr, &["operator.write", "operator.read"]).await;
    let p = json!({ "sessionKey": "main", "message": "count me", "idempotencyKey": "m-1" });
    c.ok("chat.send", p).await;
    wait_chat_state(&mut c, "m-1", &["final"]).await;
    let after = page(&g.http()).await;
    let delta = |s: &str| get(&after, s) - before.get(s).copied().unwrap_or(0.0);
    assert!(delta(r#"openclaw_agent_runs_total{outcome="ok"}"#) >= 1.0);
    assert!(delta(r#"openclaw_provider_requests_total{result="ok"}"#) >= 1.0);
    assert!(delta("openclaw_provider_ttft_seconds_count") >= 1.0);
    assert!(
        delta("openclaw_events_delivered_total") >= 2.0,
        "the run's events reached the socket"
    );
}

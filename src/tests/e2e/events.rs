//! Server-pushed events: per-socket `seq`, presence lifecycle and `stateVersion`, the 30 s
//! `tick` (paused clock), graceful `shutdown` + close 1012, and scope gating of broadcasts.

use serde_json::{json, Value};

use crate::util::*;

/// `(event, seq)` of the next event.
async fn next_named(c: &mut Client) -> (String, u64) {
    let v = Client::next_event(c).await;
    (
        v["event"].as_str().unwrap().to_string(),
        v["seq"].as_u64().expect("event has seq"),
    )
}

/// Connect a client that asks for these scopes with the shared token.
async fn connect_as(g: &TestGateway, id: &str, mode: &str, scopes: &[&str]) -> (Client, Value) {
    let mut c = Client::open(g.addr).await;
    let r = c
        .call("connect", connect_params(id, mode, scopes, Some(TOKEN)))
        .await;
    assert_eq!(r["ok"], true, "{id}/{mode} connect: {r}");
    (c, r["payload"].clone())
}

#[tokio::test]
async fn seq_is_per_socket_and_consecutive() {
    // No periodic tick during the test, so the seq numbers below are exact.
    let cfg = r#"{ gateway: { mode: "local", auth: { mode: "token" }, limits: { tickIntervalMs: 3600000 } } }"#;
    let g = start_with(Setup::config(cfg)).await;
    let (mut a, _) = operator(g.addr, ALL_SCOPES).await;
    // a: the connect-time health event is seq 1.
    assert_eq!(next_named(&mut a).await, ("health".into(), 1));
    barrier(&g, 7);
    assert_eq!(next_named(&mut a).await, ("tick".into(), 2));

    let (mut b, _) = operator(g.addr, ALL_SCOPES).await;
    assert_eq!(next_named(&mut b).await, ("health".into(), 1));

    // One broadcast: each socket numbers it in its own sequence.
    let r = a
        .call(
            "system-event",
            json!({ "text": "seq check", "mode": "now" }),
        )
        .await;
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(next_named(&mut a).await, ("presence".into(), 3));
    assert_eq!(next_named(&mut a).await, ("heartbeat".into(), 4));
    assert_eq!(next_named(&mut b).await, ("presence".into(), 2));
    assert_eq!(next_named(&mut b).await, ("heartbeat".into(), 3));
    barrier(&g, 8);
    assert_eq!(next_named(&mut a).await, ("tick".into(), 5));
    assert_eq!(next_named(&mut b).await, ("tick".into(), 4));

    // A reconnect starts over at 1.
    drop(b);
    let (mut b2, _) = operator(g.addr, ALL_SCOPES).await;
    assert_eq!(next_named(&mut b2).await, ("health".into(), 1));
    g.stop().await;
}

#[tokio::test]
async fn presence_events_carry_increasing_state_versions() {
    let g = start().await;
    let (mut a, hello) = operator(g.addr, ALL_SCOPES).await;
    let sv0 = hello["snapshot"]["stateVersion"].clone();
    let p0 = sv0["presence"].as_u64().unwrap();
    let h0 = sv0["health"].as_u64().unwrap();

    let health = a.event("health").await;
    assert_eq!(
        health["stateVersion"], sv0,
        "connect-time health carries the current versions"
    );

    let mut last = p0;
    for i in 0..3 {
        let text = format!("beacon {i}");
        a.ok("system-event", json!({ "text": text })).await;
        let ev = a.event("presence").await;
        let sv = &ev["stateVersion"];
        let p = sv["presence"].as_u64().expect("stateVersion.presence");
        assert!(p > last, "presence version must increase: {p} after {last}");
        assert!(sv["health"].as_u64().unwrap() >= h0);
        last = p;
        let list = ev["payload"]["presence"].as_array().unwrap();
        assert_eq!(list[0]["reason"], "self");
        assert!(list.iter().any(|e| e["text"] == text.as_str()), "{ev}");
    }
    // The versions a new socket sees in its snapshot are the latest ones.
    let (_b, hello_b) = operator(g.addr, &["operator.read"]).await;
    assert_eq!(hello_b["snapshot"]["stateVersion"]["presence"], last);
    g.stop().await;
}

/// A `system-event` under the same instance id updates that entry: the new text replaces the
/// old one and fields it does not send are kept (the load harness's broadcast rounds rely on it).
#[tokio::test]
async fn system_event_updates_its_instance_entry() {
    let g = start().await;
    let (mut a, _) = operator(g.addr, ALL_SCOPES).await;
    let first = json!({ "text": "round one", "instanceId": "lt-1", "host": "h1" });
    a.ok("system-event", first).await;
    let ev = a.event("presence").await;
    let list = ev["payload"]["presence"].as_array().unwrap();
    assert!(list.iter().any(|e| e["text"] == "round one"), "{ev}");
    let second = json!({ "text": "round two", "instanceId": "LT-1" });
    a.ok("system-event", second).await;
    let ev = a.event("presence").await;
    let list = ev["payload"]["presence"].as_array().unwrap();
    let mine: Vec<_> = list
        .iter()
        .filter(|e| e["text"].as_str().is_some_and(|t| t.starts_with("round")))
        .collect();
    assert_eq!(mine.len(), 1, "one entry per instance id: {ev}");
    assert_eq!(mine[0]["text"], "round two", "{ev}");
    assert_eq!(mine[0]["host"], "h1", "fields not sent are kept: {ev}");
    g.stop().await;
}

#[tokio::test]
async fn webchat_connect_and_disconnect_are_broadcast_as_presence() {
    let g = start().await;
    let (mut op, _) = operator(g.addr, &["operator.read"]).await;
    op.event("health").await;

    let instance = uuid::Uuid::new_v4().to_string();
    let mut w = Client::open(g.addr).await;
    let mut p = connect_params(
        "webchat",
        "webchat",
        &["operator.read", "operator.write"],
        Some(TOKEN),
    );
    p["client"]["instanceId"] = json!(instance);
    let r = w.call("connect", p).await;
    assert_eq!(r["ok"], true, "webchat connect: {r}");

    let ev = op.event("presence").await;
    let list = ev["payload"]["presence"].as_array().unwrap();
    let entry = list
        .iter()
        .find(|e| e["clientId"] == "webchat")
        .unwrap_or_else(|| panic!("no webchat entry: {ev}"));
    assert_eq!(entry["reason"], "connect");
    assert_eq!(entry["mode"], "webchat");
    assert_eq!(entry["instanceId"], instance.as_str());
    assert_eq!(entry["roles"], json!(["operator"]));
    assert!(entry.get("ip").is_none(), "loopback peers have no ip");
    let connect_version = ev["stateVersion"]["presence"].as_u64().unwrap();

    w.send_close(1000, "bye").await;
    let _ = w.closed().await;
    let ev = op.event("presence").await;
    let list = ev["payload"]["presence"].as_array().unwrap();
    let gone = list
        .iter()
        .find(|e| e["clientId"] == "webchat")
        .expect("entry kept after disconnect");
    assert_eq!(gone["reason"], "disconnect");
    assert_eq!(gone["instanceId"], instance.as_str());
    assert!(ev["stateVersion"]["presence"].as_u64().unwrap() > connect_version);
    let rows = op.ok("system-presence", json!({})).await;
    assert_eq!(
        rows.as_array()
            .unwrap()
            .iter()
            .filter(|e| e["clientId"] == "webchat")
            .count(),
        1
    );
    g.stop().await;
}

#[tokio::test]
async fn cli_backend_and_probe_create_no_presence() {
    let g = start().await;
    let (mut op, _) = operator(g.addr, &["operator.read"]).await;
    let mut keep = Vec::new();
    for (id, mode) in [
        ("cli", "cli"),
        ("gateway-client", "backend"),
        ("cli", "probe"),
    ] {
        let (c, _) = connect_as(&g, id, mode, &["operator.read"]).await;
        keep.push(c);
    }
    barrier(&g, 42);
    let seen = until_barrier(&mut op, 42).await;
    assert!(
        !seen.iter().any(|e| e == "presence"),
        "no presence broadcast for cli/backend/probe: {seen:?}"
    );
    let rows = op.ok("system-presence", json!({})).await;
    assert_eq!(
        rows.as_array().unwrap().len(),
        1,
        "only the self entry: {rows}"
    );
    // Their disconnects are silent too.
    drop(keep);
    barrier(&g, 43);
    let seen = until_barrier(&mut op, 43).await;
    assert!(!seen.iter().any(|e| e == "presence"), "{seen:?}");
    g.stop().await;
}

#[tokio::test(start_paused = true)]
async fn tick_every_30s_of_virtual_time() {
    let g = start_with(Setup::default().paused_clock()).await;
    let (mut c, hello) = operator(g.addr, &["operator.read"]).await;
    assert_eq!(hello["policy"]["tickIntervalMs"], 30_000);
    let t0 = tokio::time::Instant::now();
    let tick = c.event("tick").await;
    let waited = t0.elapsed();
    assert!(tick["payload"]["ts"].as_u64().unwrap() > 0);
    assert_eq!(
        tick["payload"].as_object().unwrap().len(),
        1,
        "payload is just {{ts}}: {tick}"
    );
    assert!(
        tick["seq"].as_u64().unwrap() >= 2,
        "after the connect-time health event"
    );
    // Virtual time: the tick cannot come before the interval elapsed.
    assert!(waited.as_millis() >= 25_000, "tick after {waited:?}");
    let second = c.event("tick").await;
    assert!(second["seq"].as_u64().unwrap() > tick["seq"].as_u64().unwrap());
    assert!(t0.elapsed().as_millis() >= 55_000);
    g.stop().await;
}

#[tokio::test]
async fn graceful_stop_sends_shutdown_then_closes_1012() {
    let g = start().await;
    let (mut c, _) = operator(g.addr, &["operator.read"]).await;
    c.event("health").await;
    let stop = tokio::spawn(g.stop());
    let ev = c.event("shutdown").await;
    assert_eq!(ev["payload"], json!({ "reason": "gateway stopping" }));
    assert!(ev["seq"].as_u64().is_some());
    match c.closed().await {
        Closed::Frame(code, reason) => {
            assert_eq!(code, 1012);
            assert_eq!(reason, "service restart");
        }
        other => panic!("expected close 1012, got {other:?}"),
    }
    // Observed: a final health event follows the shutdown event, before the close.
    assert!(
        c.events.iter().any(|e| e["event"] == "health"),
        "final health: {:?}",
        c.events
    );
    stop.await.unwrap();
}

#[tokio::test]
async fn read_scoped_events_skip_scopeless_sockets() {
    let g = start().await;
    let (mut read, _) = operator(g.addr, &["operator.read"]).await;
    let (mut probe, hello) = connect_as(&g, "cli", "probe", &["operator.read"]).await;
    assert_eq!(hello["auth"]["scopes"], json!([]));

    let n = g.gw.hub.publish(
        "sessions.changed",
        &json!({ "runId": "r1", "sessionKey": "agent:main:main", "state": "delta" }),
        None,
    );
    assert_eq!(n, 1, "queued for the read socket only");
    barrier(&g, 1);
    let ev = read.event("sessions.changed").await;
    assert_eq!(ev["payload"]["runId"], "r1");
    let seen = until_barrier(&mut probe, 1).await;
    assert_eq!(
        seen,
        vec!["health".to_string()],
        "the probe socket saw no chat"
    );
    g.stop().await;
}

#[tokio::test]
async fn device_pair_events_need_pairing_scope() {
    let g = start().await;
    let (mut read, _) = operator(g.addr, &["operator.read"]).await;
    let (mut pairing, _) = operator(g.addr, &["operator.pairing"]).await;
    let (mut admin, _) = operator(g.addr, &["operator.admin"]).await;
    let payload =
        json!({ "requestId": "req-1", "deviceId": "dev-1", "decision": "approved", "ts": 1 });
    let n = g.gw.hub.publish("device.pair.resolved", &payload, None);
    assert_eq!(n, 2, "pairing and admin sockets");
    barrier(&g, 2);
    assert_eq!(
        pairing.event("device.pair.resolved").await["payload"],
        payload
    );
    assert_eq!(
        admin.event("device.pair.resolved").await["payload"],
        payload
    );
    let seen = until_barrier(&mut read, 2).await;
    assert!(
        !seen.iter().any(|e| e.starts_with("device.pair")),
        "read socket saw {seen:?}"
    );
    // The pairing scope does not open chat.
    g.gw.hub
        .publish("sessions.changed", &json!({ "runId": "r2" }), None);
    barrier(&g, 3);
    let seen = until_barrier(&mut pairing, 3).await;
    assert!(
        !seen.iter().any(|e| e == "sessions.changed"),
        "pairing socket saw {seen:?}"
    );
    g.stop().await;
}

#[tokio::test(start_paused = true)]
async fn heartbeat_fires_on_schedule_and_is_reported_by_last_heartbeat() {
    let g = start_with(Setup::config(
        r#"{ gateway: { mode: "local", auth: { mode: "token" } }, agents: { defaults: { heartbeat: { every: "10m" } } } }"#,
    ).paused_clock())
    .await;
    let (mut c, _) = operator(g.addr, ALL_SCOPES).await;
    // Virtual time: a wait may span the 10-minute interval (it passes in real milliseconds).
    c.wait = std::time::Duration::from_secs(3600);
    assert!(c.ok("last-heartbeat", json!({})).await.is_null());
    let t0 = tokio::time::Instant::now();
    let hb = c.event("heartbeat").await;
    assert!(
        t0.elapsed() >= std::time::Duration::from_secs(600),
        "after the configured 10m"
    );
    assert_eq!(hb["payload"]["status"], "skipped");
    assert_eq!(hb["payload"]["reason"], "empty-heartbeat-file");
    assert_eq!(c.ok("last-heartbeat", json!({})).await, hb["payload"]);
    // Disabled heartbeats stop firing: the next 10 minutes bring ticks, no heartbeat.
    c.ok("set-heartbeats", json!({ "enabled": false })).await;
    let t1 = tokio::time::Instant::now();
    while t1.elapsed() < std::time::Duration::from_secs(660) {
        let ev = c.recv().await.expect("open");
        assert_ne!(ev["event"], "heartbeat", "no heartbeat while disabled");
    }
    g.stop().await;
}

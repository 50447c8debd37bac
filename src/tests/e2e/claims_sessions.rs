//! README claims about runs and sessions, end to end against the scripted upstream: a
//! `chat.send` run survives its socket closing, `sessions.abort`,
//! `sessions.messages.unsubscribe`, and the `sessions.list` `label`/`activeMinutes` filters.

use serde_json::{json, Value};

use crate::agents::{setup, wait_chat_state};
use crate::upstream::UpstreamOpts;
use crate::util::*;

/// Poll (no event exists for it) until the gateway has no authenticated socket left.
async fn until_no_sockets(g: &TestGateway) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !g.gw.hub.is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the gateway never noticed the socket closing"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn chat_send_run_survives_its_socket_closing() {
    let (up, g) = setup(UpstreamOpts::default()).await;
    let (mut a, _) = operator(g.addr, &["operator.write", "operator.read"]).await;
    // SLOWSTART: the upstream answers only after 5 s, so the run is surely mid-flight below.
    let send =
        json!({ "sessionKey": "reload", "message": "SLOWSTART survive", "idempotencyKey": "rl-1" });
    let ack = a.ok("chat.send", send).await;
    assert_eq!(ack, json!({ "runId": "rl-1", "status": "started" }));
    drop(a);
    until_no_sockets(&g).await;
    assert_eq!(
        g.gw.agents.runs.active_count(),
        1,
        "the socket closed while the run was still active"
    );
    let (mut b, _) = operator(g.addr, &["operator.write", "operator.read"]).await;
    let w = b
        .ok("agent.wait", json!({ "runId": "rl-1", "timeoutMs": 30000 }))
        .await;
    assert_eq!(w["status"], "ok", "the run completed: {w}");
    let h = b
        .ok("chat.history", json!({ "sessionKey": "reload" }))
        .await;
    let m = h["messages"].as_array().unwrap();
    assert_eq!(m.len(), 2, "{h}");
    assert_eq!(m[0]["content"], "SLOWSTART survive");
    assert_eq!(m[1]["role"], "assistant");
    assert_eq!(m[1]["content"][0]["text"], "echo: SLOWSTART survive");
    assert_eq!(
        *up.state.disconnects.borrow(),
        0,
        "upstream never cancelled"
    );
    g.stop().await;
}

#[tokio::test]
async fn sessions_abort_aborts_the_active_run() {
    let (up, g) = setup(UpstreamOpts::default()).await;
    let (mut c, _) = operator(g.addr, &["operator.write", "operator.read"]).await;
    let send = json!({ "sessionKey": "ab", "message": "HANG", "idempotencyKey": "ab-1" });
    c.ok("chat.send", send).await;
    up.state.wait_held(1).await;
    let r = c.ok("sessions.abort", json!({ "key": "ab" })).await;
    assert_eq!(
        r,
        json!({ "ok": true, "aborted": true, "runIds": ["ab-1"] })
    );
    up.state.wait_disconnects(1).await;
    let st = wait_chat_state(&mut c, "ab-1", &["aborted"]).await;
    assert_eq!(st["stopReason"], "rpc", "{st}");
    assert_eq!(g.gw.agents.runs.active_count(), 0);
    let r = c.ok("sessions.abort", json!({ "key": "ab" })).await;
    assert_eq!(r, json!({ "ok": true, "aborted": false, "runIds": [] }));
    // One run of the session by id; without a key the Node gateway refuses (observed).
    let send = json!({ "sessionKey": "ab", "message": "HANG again", "idempotencyKey": "ab-2" });
    c.ok("chat.send", send).await;
    up.state.wait_held(2).await;
    let r = c.call("sessions.abort", json!({ "runId": "ab-2" })).await;
    assert_eq!(
        r["error"],
        json!({ "code": "INVALID_REQUEST", "message": "key required" })
    );
    let r = c
        .ok("sessions.abort", json!({ "key": "ab", "runId": "ab-2" }))
        .await;
    assert_eq!(
        r,
        json!({ "ok": true, "aborted": true, "runIds": ["ab-2"] })
    );
    up.state.wait_disconnects(2).await;
    g.stop().await;
}

/// Session-scoped events in `seen` (what a subscription delivers).
fn session_events(seen: &[String]) -> Vec<&String> {
    let scoped = ["chat", "agent", "session.message", "sessions.changed"];
    seen.iter()
        .filter(|e| scoped.contains(&e.as_str()))
        .collect()
}

#[tokio::test]
async fn sessions_messages_unsubscribe_stops_the_events() {
    let (_up, g) = setup(UpstreamOpts::default()).await;
    let (mut watcher, _) = operator(g.addr, &["operator.read"]).await;
    let sub = watcher
        .ok("sessions.messages.subscribe", json!({ "key": "u" }))
        .await;
    assert_eq!(
        sub,
        json!({ "ok": true, "key": "agent:main:u", "subscribed": true })
    );
    let (mut c, _) = operator(g.addr, &["operator.write", "operator.read"]).await;
    let send = json!({ "sessionKey": "u", "message": "one", "idempotencyKey": "u-1" });
    c.ok("chat.send", send).await;
    // Subscribed: the watcher gets the run through its final event.
    let fin = wait_chat_state(&mut watcher, "u-1", &["final"]).await;
    assert_eq!(fin["message"]["content"][0]["text"], "echo: one");
    let off = watcher
        .ok("sessions.messages.unsubscribe", json!({ "key": "u" }))
        .await;
    assert_eq!(
        off,
        json!({ "ok": true, "key": "agent:main:u", "subscribed": false })
    );
    watcher.events.clear();
    let send = json!({ "sessionKey": "u", "message": "two", "idempotencyKey": "u-2" });
    c.ok("chat.send", send).await;
    wait_chat_state(&mut c, "u-2", &["final"]).await;
    // Everything sent to the watcher after the run's final event, up to a barrier.
    barrier(&g, 777);
    let seen = until_barrier(&mut watcher, 777).await;
    assert!(
        session_events(&seen).is_empty(),
        "unsubscribed socket still saw {seen:?}"
    );
    g.stop().await;
}

/// `sessions.list` with `q`: the keys (without `agent:main:`), newest first.
async fn list_keys(c: &mut Client, q: Value) -> Vec<String> {
    let l = c.ok("sessions.list", q.clone()).await;
    let keys: Vec<String> = l["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            s["key"]
                .as_str()
                .unwrap()
                .trim_start_matches("agent:main:")
                .to_string()
        })
        .collect();
    assert_eq!(l["totalCount"], keys.len(), "{q}: {l}");
    keys
}

#[tokio::test]
async fn sessions_list_label_and_active_minutes_filters() {
    use openclaw::store::sessions::SessionRow;
    let (_up, g) = setup(UpstreamOpts::default()).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let row = |key: &str, label: Option<&str>, age_min: u64| SessionRow {
        key: format!("agent:main:{key}"),
        session_id: uuid::Uuid::new_v4().to_string(),
        agent_id: "main".into(),
        created_ms: now - age_min * 60_000 - 1_000,
        updated_ms: now - age_min * 60_000,
        label: label.map(str::to_string),
        provider: None,
        model: None,
        input_tokens: 0,
        output_tokens: 0,
        message_count: 0,
        last_preview: None,
        last_run: None,
    };
    let rows = vec![
        row("fresh-alpha", Some("alpha"), 0),
        row("recent-beta", Some("beta"), 10),
        row("old-alpha", Some("alpha"), 180),
        row("old-none", None, 600),
    ];
    let store = &g.gw.agents.runs.store;
    bounded("seeding sessions", store.bulk_insert(rows))
        .await
        .expect("seed");
    let (mut c, _) = operator(g.addr, &["operator.read"]).await;
    assert_eq!(list_keys(&mut c, json!({})).await.len(), 4);
    assert_eq!(
        list_keys(&mut c, json!({ "label": "alpha" })).await,
        ["fresh-alpha", "old-alpha"]
    );
    assert_eq!(
        list_keys(&mut c, json!({ "label": "beta" })).await,
        ["recent-beta"]
    );
    assert_eq!(
        list_keys(&mut c, json!({ "label": "gamma" })).await,
        Vec::<String>::new()
    );
    assert_eq!(
        list_keys(&mut c, json!({ "activeMinutes": 60 })).await,
        ["fresh-alpha", "recent-beta"]
    );
    assert_eq!(
        list_keys(&mut c, json!({ "activeMinutes": 5 })).await,
        ["fresh-alpha"]
    );
    assert_eq!(
        list_keys(&mut c, json!({ "activeMinutes": 240 }))
            .await
            .len(),
        3
    );
    let both = list_keys(&mut c, json!({ "label": "alpha", "activeMinutes": 60 })).await;
    assert_eq!(both, ["fresh-alpha"]);
    let r = c.call("sessions.list", json!({ "activeMinutes": 0 })).await;
    assert_eq!(r["error"]["code"], "INVALID_REQUEST", "{r}");
    g.stop().await;
}

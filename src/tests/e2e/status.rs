//! `status`, `health` and hello-ok after real activity: session counts, recent sessions,
//! the default model, in-flight runs and `modelConfigured` come from the store and the run
//! engine, not from constants.

use serde_json::{json, Value};

use crate::agents::{setup, wait_chat_state};
use crate::upstream::UpstreamOpts;
use crate::util::*;

/// Run one chat turn on `key` to its final event.
async fn turn(c: &mut Client, key: &str, run: &str) {
    c.ok(
        "chat.send",
        json!({ "sessionKey": key, "message": format!("hello {key}"), "idempotencyKey": run }),
    )
    .await;
    wait_chat_state(c, run, &["final"]).await;
}

fn keys(rows: &Value) -> Vec<&str> {
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn status_and_health_report_real_sessions_after_runs() {
    let (_up, gw) = setup(UpstreamOpts::default()).await;
    let (mut c, hello) = operator(gw.addr, ALL_SCOPES).await;
    assert_eq!(
        hello["snapshot"]["sessionDefaults"]["modelConfigured"],
        true
    );
    turn(&mut c, "first", "r-1").await;
    turn(&mut c, "second", "r-2").await;

    let st = c.ok("status", json!({})).await;
    let s = &st["sessions"];
    assert_eq!(s["count"], 2, "{s}");
    assert_eq!(
        s["defaults"],
        json!({ "model": "echo-1", "contextTokens": 128000 })
    );
    assert_eq!(
        keys(&s["recent"]),
        ["agent:main:second", "agent:main:first"]
    );
    let row = &s["recent"][0];
    assert_eq!(row["agentId"], "main");
    assert_eq!(row["model"], "echo-1");
    assert_eq!(row["configuredModel"], "fake/echo-1");
    assert_eq!(row["contextTokens"], 128000);
    assert!(row["age"].as_u64().is_some(), "{row}");
    let (i, o) = (
        row["inputTokens"].as_u64().unwrap(),
        row["outputTokens"].as_u64().unwrap(),
    );
    assert!(o > 0, "the run's usage is recorded: {row}");
    assert_eq!(row["totalTokens"], i + o);
    let h = c
        .ok("chat.history", json!({ "sessionKey": "second" }))
        .await;
    assert_eq!(row["sessionId"], h["sessionId"]);
    assert_eq!(s["byAgent"][0]["agentId"], "main");
    assert_eq!(s["byAgent"][0]["count"], 2);
    assert_eq!(keys(&s["byAgent"][0]["recent"]), keys(&s["recent"]));
    assert_eq!(st["shutdownBudget"]["activeWork"]["rootRequests"], 0);

    let h = c.ok("health", json!({ "probe": true })).await;
    assert_eq!(h["sessions"]["count"], 2, "{h}");
    assert_eq!(
        keys(&h["sessions"]["recent"]),
        ["agent:main:second", "agent:main:first"]
    );
    let r = &h["sessions"]["recent"][0];
    assert_eq!(
        r.as_object().unwrap().len(),
        3,
        "{{key, updatedAt, age}}: {r}"
    );
    assert_eq!(r["updatedAt"], row["updatedAt"]);
    assert_eq!(h["agents"][0]["sessions"], h["sessions"]);

    // A session deleted is gone from both.
    c.ok("sessions.delete", json!({ "key": "second" })).await;
    let st = c.ok("status", json!({})).await;
    assert_eq!(st["sessions"]["count"], 1);
    assert_eq!(keys(&st["sessions"]["recent"]), ["agent:main:first"]);
    let h = c.ok("health", json!({ "probe": true })).await;
    assert_eq!(keys(&h["sessions"]["recent"]), ["agent:main:first"]);
    // The model runtime's readiness, in `health` as in `status`.
    let ready = json!({ "degraded": false, "pendingAgents": [] });
    assert_eq!((&h["modelRuntime"], &st["modelRuntime"]), (&ready, &ready));
    gw.stop().await;
}

#[tokio::test]
async fn status_counts_runs_in_flight() {
    let (up, gw) = setup(UpstreamOpts::default()).await;
    let (mut c, _) = operator(gw.addr, ALL_SCOPES).await;
    c.ok(
        "chat.send",
        json!({ "sessionKey": "held", "message": "HANG", "idempotencyKey": "held-1" }),
    )
    .await;
    up.state.wait_held(1).await;
    let st = c.ok("status", json!({})).await;
    assert_eq!(
        st["shutdownBudget"]["activeWork"]["rootRequests"], 1,
        "{st}"
    );
    c.ok("chat.abort", json!({ "sessionKey": "held" })).await;
    wait_chat_state(&mut c, "held-1", &["aborted"]).await;
    let st = c.ok("status", json!({})).await;
    assert_eq!(
        st["shutdownBudget"]["activeWork"]["rootRequests"], 0,
        "{st}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn a_gateway_without_a_model_says_so() {
    let gw = start().await;
    let (mut c, hello) = operator(gw.addr, ALL_SCOPES).await;
    assert_eq!(
        hello["snapshot"]["sessionDefaults"]["modelConfigured"],
        false
    );
    let st = c.ok("status", json!({})).await;
    assert_eq!(
        st["sessions"]["defaults"],
        json!({ "model": null, "contextTokens": null })
    );
    assert_eq!(st["sessions"]["count"], 0);
    assert_eq!(st["sessions"]["recent"], json!([]));
    gw.stop().await;
}

//! Agent runs that fail or fall back: each provider failure, connect refused and model
//! fallbacks, unknown models, run timeouts, and the Anthropic dialect end to end.

use std::time::Duration;

use serde_json::{json, Value};

use crate::agents::{agent_config, events_of, fake, final_res, setup};
use crate::upstream::{Upstream, UpstreamOpts};
use crate::util::*;

async fn failing_run(gw: &TestGateway, msg: &str) -> (Value, Vec<Value>) {
    let (mut c, _) = operator(gw.addr, &["operator.write", "operator.read"]).await;
    let key = uuid::Uuid::new_v4().to_string();
    let id = c
        .send_req("agent", json!({ "message": msg, "idempotencyKey": key }))
        .await;
    let fin = tokio::time::timeout(Duration::from_secs(20), final_res(&mut c, &id))
        .await
        .expect("final in time");
    let chat: Vec<Value> = events_of(&c, "chat", &key).into_iter().cloned().collect();
    (fin, chat)
}

#[tokio::test]
async fn provider_failures_end_the_run_with_a_clear_error() {
    let (_up, gw) = setup(UpstreamOpts::default()).await;
    for (msg, status, needle) in [
        ("FAIL400", Some(400), "fake upstream bad request"),
        ("FAIL401", Some(401), "401"),
        ("FAIL429", Some(429), "429"),
        ("FAIL500", Some(500), "500"),
        ("MALFORMED", None, ""),
        ("DROP", None, "upstream stream interrupted"),
    ] {
        let (fin, chat) = failing_run(&gw, msg).await;
        assert_eq!(fin["ok"], false, "{msg}: {fin}");
        assert_eq!(fin["error"]["code"], "UNAVAILABLE", "{msg}: {fin}");
        assert_eq!(fin["payload"]["status"], "error", "{msg}: {fin}");
        let m = fin["error"]["message"].as_str().unwrap();
        assert!(m.starts_with("LLM request failed"), "{m}");
        assert!(m.contains(needle), "{msg}: {m}");
        assert!(!m.contains("sk-secret"), "key leaked: {m}");
        let err = chat
            .iter()
            .find(|e| e["state"] == "error")
            .unwrap_or_else(|| panic!("{msg}: no chat error"));
        assert_eq!(err["errorDetail"]["provider"], "fake");
        if let Some(s) = status {
            assert_eq!(err["errorDetail"]["httpStatus"], s);
        }
        if msg == "FAIL429" {
            assert_eq!(fin["error"]["retryable"], true);
            assert_eq!(fin["error"]["retryAfterMs"], 7000);
            assert_eq!(err["errorKind"], "rate_limit");
        }
        if msg == "DROP" {
            // Two deltas arrived before the connection died: both were streamed.
            let deltas: Vec<&str> = chat
                .iter()
                .filter(|e| e["state"] == "delta")
                .map(|e| e["deltaText"].as_str().unwrap())
                .collect();
            assert_eq!(deltas, ["echo:", " DROP"], "{chat:?}");
        }
    }
    gw.stop().await;
}

/// A stream that dies after two deltas fails the run, and the text that arrived is kept
/// in the transcript.
#[tokio::test]
async fn dropped_stream_fails_the_run_and_keeps_the_partial_text() {
    let (_up, gw) = setup(UpstreamOpts::default()).await;
    let (mut c, _) = operator(gw.addr, &["operator.write", "operator.read"]).await;
    let id = c
        .send_req(
            "agent",
            json!({ "message": "DROP", "idempotencyKey": "drop-1", "sessionKey": "drop" }),
        )
        .await;
    let fin = final_res(&mut c, &id).await;
    assert_eq!(fin["ok"], false, "{fin}");
    assert_eq!(fin["error"]["code"], "UNAVAILABLE", "{fin}");
    assert_eq!(fin["payload"]["status"], "error", "{fin}");
    let h = c.ok("chat.history", json!({ "sessionKey": "drop" })).await;
    let msgs = h["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 2, "user + partial assistant: {h}");
    assert_eq!(msgs[0]["role"], "user");
    assert_eq!(msgs[1]["role"], "assistant");
    assert_eq!(msgs[1]["content"][0]["text"], "echo: DROP", "{h}");
    gw.stop().await;
}

#[tokio::test]
async fn connect_refused_falls_back_in_order_and_unknown_models_fail() {
    let up = Upstream::start(UpstreamOpts::default()).await;
    let (_held, dead) = refusing_addr();
    let providers = format!(
        "{}{}",
        fake("dead", &format!("http://{dead}/v1"), "openai-completions"),
        fake("fake", &up.openai_base(), "openai-completions")
    );
    let cfg = agent_config(&providers, &["dead/echo-1", "fake/echo-1"]);
    let gw = start_with(Setup::config(&cfg)).await;
    let (mut c, _) = operator(gw.addr, &["operator.write"]).await;
    let id = c
        .send_req(
            "agent",
            json!({ "message": "fall back", "idempotencyKey": "f-1" }),
        )
        .await;
    let fin = final_res(&mut c, &id).await;
    assert_eq!(fin["payload"]["status"], "ok", "{fin}");
    assert_eq!(
        fin["payload"]["result"]["meta"]["agentMeta"]["provider"],
        "fake"
    );
    // Only the dead provider: a clear connect error, nothing hangs.
    let id = c
        .send_req(
            "agent",
            json!({ "message": "x", "idempotencyKey": "f-2", "model": "dead/echo-1" }),
        )
        .await;
    let fin = final_res(&mut c, &id).await;
    assert_eq!(fin["ok"], false, "{fin}");
    let m = fin["error"]["message"].as_str().unwrap().to_lowercase();
    assert!(m.contains("connect") || m.contains("refused"), "{m}");
    let id = c
        .send_req(
            "agent",
            json!({ "message": "x", "idempotencyKey": "f-3", "model": "nope/none" }),
        )
        .await;
    let fin = final_res(&mut c, &id).await;
    assert!(
        fin["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Unknown model"),
        "{fin}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn run_timeout_ends_a_stalled_run() {
    let (_up, gw) = setup(UpstreamOpts::default()).await;
    let (mut c, _) = operator(gw.addr, &["operator.write"]).await;
    let id = c
        .send_req(
            "agent",
            json!({ "message": "SLOWSTART", "idempotencyKey": "t-1", "timeout": 1 }),
        )
        .await;
    let fin = tokio::time::timeout(Duration::from_secs(10), final_res(&mut c, &id))
        .await
        .unwrap();
    assert_eq!(fin["payload"]["status"], "timeout", "{fin}");
    assert_eq!(fin["payload"]["stopReason"], "timeout");
    gw.stop().await;
}

#[tokio::test]
async fn anthropic_dialect_runs_end_to_end() {
    let up = Upstream::start(UpstreamOpts::default()).await;
    let cfg = agent_config(
        &fake("claude", &up.anthropic_base(), "anthropic-messages"),
        &["claude/echo-1"],
    );
    let gw = start_with(Setup::config(&cfg)).await;
    let (mut c, _) = operator(gw.addr, &["operator.write"]).await;
    let id = c
        .send_req(
            "agent",
            json!({ "message": "via anthropic", "idempotencyKey": "a-1" }),
        )
        .await;
    let fin = final_res(&mut c, &id).await;
    assert_eq!(
        fin["payload"]["result"]["payloads"][0]["text"], "echo: via anthropic",
        "{fin}"
    );
    let r = up
        .state
        .last("/v1/messages")
        .expect("anthropic endpoint called");
    assert_eq!(r.x_api_key.as_deref(), Some("sk-secret-claude"));
    assert_eq!(r.body["system"], "You are a test.");
    gw.stop().await;
}

#[tokio::test]
async fn upstream_silence_past_the_idle_timeout_fails_the_run() {
    let up = Upstream::start(UpstreamOpts::default()).await;
    let cfg = agent_config(
        &fake("fake", &up.openai_base(), "openai-completions"),
        &["fake/echo-1"],
    )
    .replace("systemPrompt:", "idleTimeoutMs: 300, systemPrompt:");
    let gw = start_with(Setup::config(&cfg)).await;
    let (mut c, _) = operator(gw.addr, &["operator.write"]).await;
    let id = c
        .send_req(
            "agent",
            json!({ "message": "SLOWSTART", "idempotencyKey": "i-1" }),
        )
        .await;
    let fin = tokio::time::timeout(Duration::from_secs(10), final_res(&mut c, &id))
        .await
        .unwrap();
    assert_eq!(fin["ok"], false, "{fin}");
    let m = fin["error"]["message"].as_str().unwrap();
    assert!(m.contains("no data from upstream"), "{m}");
    gw.stop().await;
}

#[tokio::test]
async fn shutdown_aborts_running_upstream_requests() {
    let up = Upstream::start(UpstreamOpts::default()).await;
    let cfg = agent_config(
        &fake("fake", &up.openai_base(), "openai-completions"),
        &["fake/echo-1"],
    );
    let gw = start_with(Setup::config(&cfg)).await;
    let (mut c, _) = operator(gw.addr, &["operator.write"]).await;
    c.ok(
        "chat.send",
        json!({ "sessionKey": "s", "message": "HANG", "idempotencyKey": "sd-1" }),
    )
    .await;
    tokio::time::timeout(Duration::from_secs(10), up.state.wait_held(1))
        .await
        .unwrap();
    let stop = tokio::spawn(gw.stop());
    tokio::time::timeout(Duration::from_secs(10), up.state.wait_disconnects(1))
        .await
        .expect("shutdown cancelled the upstream request");
    stop.await.unwrap();
}

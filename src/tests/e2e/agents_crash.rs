//! Durability of the session store under `kill -9` of the real binary in the middle of busy
//! runs: no acknowledged user message is lost, streamed progress (persisted at least every
//! second) survives, and the store opens cleanly and passes an integrity check.

use std::time::Duration;

use serde_json::json;

use crate::lifecycle::Proc;
use crate::upstream::{Upstream, UpstreamOpts};
use crate::util::*;

#[tokio::test]
async fn kill_9_mid_run_loses_no_acknowledged_message() {
    let up = Upstream::start(UpstreamOpts {
        chunk_delay: Duration::from_millis(300),
        ..Default::default()
    })
    .await;
    let dir = temp_dir("crash");
    let cfg = format!(
        r#"{{ gateway: {{ mode: "local" }}, logging: {{ file: "{log}" }},
  models: {{ providers: {{ fake: {{ baseUrl: "{base}", apiKey: "k", api: "openai-completions", models: [{{ id: "echo-1" }}] }} }} }},
  agents: {{ defaults: {{ model: "fake/echo-1" }} }} }}"#,
        log = dir.join("openclaw.log").display(),
        base = up.openai_base()
    );
    let (p, addr) = Proc::start(&dir, &cfg).await;
    let (mut c, _) = operator(addr, &["operator.write", "operator.read"]).await;
    // A long streaming run on one session …
    let words: Vec<String> = (1..=40).map(|i| format!("w{i}")).collect();
    c.ok(
        "chat.send",
        json!({ "sessionKey": "long", "message": words.join(" "), "idempotencyKey": "long-1" }),
    )
    .await;
    // … and many acknowledged sends queued on ten others (each ack = durable).
    let mut acked = Vec::new();
    for i in 0..40 {
        let key = format!("busy{}", i % 10);
        let msg = format!("message number {i}");
        c.ok(
            "chat.send",
            json!({ "sessionKey": key, "message": msg, "idempotencyKey": format!("b-{i}") }),
        )
        .await;
        acked.push((key, msg));
    }
    // Wait until the long run has streamed for more than a second (≥ 5 deltas at 300 ms).
    let mut deltas = 0;
    while deltas < 6 {
        let v = c.recv().await.unwrap();
        if v["event"] == "chat"
            && v["payload"]["runId"] == "long-1"
            && v["payload"]["state"] == "delta"
        {
            deltas += 1;
        }
    }
    p.signal(libc::SIGKILL);
    let (code, _) = p.finish().await;
    assert_eq!(code, -1, "killed by a signal");

    let db = dir.join("state/agents/main/agent/openclaw-agent.sqlite");
    {
        let conn = rusqlite::Connection::open(&db).expect("store opens after kill -9");
        let ok: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ok, "ok");
    }
    let (p2, addr) = Proc::start(&dir, &cfg).await;
    let (mut c, _) = operator(addr, &["operator.read"]).await;
    for (key, msg) in &acked {
        let h = c.ok("chat.history", json!({ "sessionKey": key })).await;
        let found = h["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["role"] == "user" && m["content"] == msg.as_str());
        assert!(found, "acknowledged {msg:?} lost from {key}: {h}");
    }
    let h = c.ok("chat.history", json!({ "sessionKey": "long" })).await;
    let m = h["messages"].as_array().unwrap();
    assert_eq!(m[0]["content"], words.join(" "));
    let partial = m
        .iter()
        .find(|m| m["role"] == "assistant")
        .unwrap_or_else(|| panic!("streamed progress was not persisted: {h}"));
    let text = partial["content"][0]["text"].as_str().unwrap();
    assert!(text.starts_with("echo: w1 w2"), "{text}");
    p2.signal(libc::SIGTERM);
    assert_eq!(p2.finish().await.0, 0);
}

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
    // Wait until the long run's progress is in the SQLite file itself (the writer commits
    // streamed text at least every second), then kill: what is on disk must survive.
    let db = dir.join("state/agents/main/agent/openclaw-agent.sqlite");
    let persisted = persisted_progress(&db).await;
    p.signal(libc::SIGKILL);
    let (code, _) = p.finish().await;
    assert_eq!(code, -1, "killed by a signal");

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
    assert!(
        text.starts_with(&persisted),
        "history {text:?} lost the progress on disk at the kill: {persisted:?}"
    );
    p2.signal(libc::SIGTERM);
    assert_eq!(p2.finish().await.0, 0);
}

/// Poll the store file (read-only, bounded by `util::WAIT`) until the assistant row of
/// run `long-1` holds at least "echo: w1 w2"; its text as committed.
async fn persisted_progress(db: &std::path::Path) -> String {
    let db = db.to_path_buf();
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let db2 = db.clone();
        let text = tokio::task::spawn_blocking(move || committed_assistant_text(&db2))
            .await
            .unwrap();
        if let Some(t) = text.filter(|t| t.starts_with("echo: w1 w2")) {
            return t;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no streamed progress committed to {} within {WAIT:?}",
            db.display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The committed text of the assistant message of run `long-1`, if any.
fn committed_assistant_text(db: &std::path::Path) -> Option<String> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .ok()?;
    let body: String = conn
        .query_row(
            "SELECT body FROM messages WHERE run_id = 'long-1' AND role = 'assistant'",
            [],
            |r| r.get(0),
        )
        .ok()?;
    let v: serde_json::Value = serde_json::from_str(&body).ok()?;
    v["content"][0]["text"]
        .as_str()
        .or(v["content"].as_str())
        .or(v["text"].as_str())
        .map(str::to_string)
}

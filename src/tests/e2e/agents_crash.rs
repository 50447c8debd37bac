//! Durability under `kill -9` of the real binary in the middle of busy runs, while
//! `chat.send` requests are still arriving: no acknowledged user message is lost, streamed
//! progress (persisted at least every second) survives, both SQLite stores open cleanly and
//! pass an integrity check, and a paired device's token still admits it.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::json;

use crate::devices::{device_token_params, pair};
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
    let cfg = agent_config(&dir, &up.openai_base());
    let (p, addr) = Proc::start(&dir, &cfg).await;
    let dev = Device::new();
    let device_token = pair(addr, &dev).await["auth"]["deviceToken"]
        .as_str()
        .expect("paired device gets a token")
        .to_string();
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
    // A sender that keeps going until the process dies under it.
    let live = Arc::new(Mutex::new(Vec::new()));
    let (sender, _) = operator(addr, &["operator.write"]).await;
    let sending = tokio::spawn(send_until_closed(sender, live.clone()));
    wait_for_acks(&live, 5).await;
    p.signal(libc::SIGKILL);
    let (code, _) = p.finish().await;
    assert_eq!(code, -1, "killed by a signal");
    bounded("the live sender to see the socket close", sending)
        .await
        .unwrap();
    acked.extend(live.lock().drain(..));
    let (p2, mut c) = restart_and_check(&dir, &cfg, &dev, &device_token, &acked).await;
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

/// A gateway on `dir` (logging there) whose default agent talks to the scripted upstream.
pub(crate) fn agent_config(dir: &std::path::Path, base: &str) -> String {
    format!(
        r#"{{ gateway: {{ mode: "local" }}, logging: {{ file: "{log}" }},
  models: {{ providers: {{ fake: {{ baseUrl: "{base}", apiKey: "k", api: "openai-completions", models: [{{ id: "echo-1" }}] }} }} }},
  agents: {{ defaults: {{ model: "fake/echo-1" }} }} }}"#,
        log = dir.join("openclaw.log").display(),
    )
}

/// Wait (bounded by `util::WAIT`) until at least `n` live sends were acknowledged.
pub(crate) async fn wait_for_acks(live: &Mutex<Vec<(String, String)>>, n: usize) {
    let deadline = std::time::Instant::now() + WAIT;
    while live.lock().len() < n {
        assert!(
            std::time::Instant::now() < deadline,
            "live sends not acknowledged"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// After the crash: both SQLite stores pass an integrity check, a restarted gateway admits
/// the device token and holds every acknowledged message. The restarted gateway and a
/// reading operator, for further checks.
pub(crate) async fn restart_and_check(
    dir: &std::path::Path,
    cfg: &str,
    dev: &Device,
    device_token: &str,
    acked: &[(String, String)],
) -> (Proc, Client) {
    let sessions = dir.join("state/agents/main/agent/openclaw-agent.sqlite");
    for file in [sessions, dir.join("state/state/openclaw.sqlite")] {
        let conn = rusqlite::Connection::open(&file).expect("store opens after the crash");
        let ok: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ok, "ok", "{}", file.display());
    }
    let (p2, addr) = Proc::start(dir, cfg).await;
    let mut d = Client::open(addr).await;
    let params = device_token_params(&d, dev, device_token);
    let r = d.call("connect", params).await;
    assert_eq!(r["ok"], true, "device token lost in the crash: {r}");
    let (mut c, _) = operator(addr, &["operator.read"]).await;
    for (key, msg) in acked {
        let h = c.ok("chat.history", json!({ "sessionKey": key })).await;
        let found = h["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["role"] == "user" && m["content"] == msg.as_str());
        assert!(found, "acknowledged {msg:?} lost from {key}: {h}");
    }
    (p2, c)
}

/// Send `chat.send` after `chat.send` (each waiting for its ack) until the socket closes,
/// recording every acknowledged one; bounded in count.
pub(crate) async fn send_until_closed(mut c: Client, acked: Arc<Mutex<Vec<(String, String)>>>) {
    for i in 0..100_000 {
        let (key, msg) = (format!("live{}", i % 4), format!("live message {i}"));
        let params =
            json!({ "sessionKey": key, "message": msg, "idempotencyKey": format!("l-{i}") });
        let Some(id) = c.try_send_req("chat.send", params).await else {
            return;
        };
        loop {
            match c.recv().await {
                Ok(v) if v["type"] == "res" && v["id"] == id.as_str() => {
                    if v["ok"] == true {
                        acked.lock().push((key, msg));
                    }
                    break;
                }
                Ok(_) => {}
                Err(_) => return,
            }
        }
    }
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

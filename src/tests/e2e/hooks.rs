//! Webhooks (`hooks.*`) against the real server and the scripted upstream: enablement and
//! path, hook-token auth (header forms, query refused, lockout without loopback exemption),
//! `wake` (now / next-heartbeat), `agent` (isolated, persistent, idempotency, policy), mapped
//! hooks with templates, and the body limit. Runs are awaited with `agent.wait`.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::agents::fake;
use crate::upstream::{Upstream, UpstreamOpts};
use crate::util::*;

const HOOK_TOKEN: &str = "hook-secret-0123456789";
const CHAT: &str = "/v1/chat/completions";

fn config(base: &str, hooks: &str) -> String {
    format!(
        r#"{{
  gateway: {{ mode: "local", auth: {{ mode: "token" }} }},
  models: {{ providers: {{ {provider} }} }},
  agents: {{ defaults: {{ model: "fake/echo-1" }}, list: [{{ id: "main", default: true }}, {{ id: "ops" }}] }},
  hooks: {hooks}
}}"#,
        provider = fake("fake", base, "openai-completions"),
    )
}

/// Hooks on, request session keys allowed under `hook:`, main agent only, 4 KiB bodies.
const HOOKS: &str = r#"{
    enabled: true, token: "hook-secret-0123456789", maxBodyBytes: 4096,
    allowRequestSessionKey: true, allowedSessionKeyPrefixes: ["hook:"], allowedAgentIds: ["main"],
    mappings: [
      { match: { path: "github" }, action: "agent", name: "GitHub",
        sessionKey: "hook:gh:{{payload.repo.name}}", messageTemplate: "Push to {{repo.name}} by {{payload.pusher}}" },
      { match: { path: "ping" }, action: "wake", textTemplate: "ping from {{who}}" },
      { match: { path: "room" }, sessionKey: "{{room}}", messageTemplate: "{{msg}}" },
    ],
  }"#;

async fn setup(hooks: &str) -> (Upstream, TestGateway) {
    let up = Upstream::start(UpstreamOpts::default()).await;
    let gw = start_with(Setup::config(&config(&up.openai_base(), hooks))).await;
    (up, gw)
}

/// POST `body` to `path` with `Authorization: Bearer <token>`; status and body text.
async fn post(gw: &TestGateway, path: &str, token: Option<&str>, body: &Value) -> (u16, String) {
    let mut rq = http_client()
        .post(format!("{}{path}", gw.http()))
        .json(body);
    if let Some(t) = token {
        rq = rq.bearer_auth(t);
    }
    let r = rq.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// POST with the hook token; status and JSON.
async fn hook(gw: &TestGateway, path: &str, body: Value) -> (u16, Value) {
    let (s, t) = post(gw, path, Some(HOOK_TOKEN), &body).await;
    (s, serde_json::from_str(&t).unwrap_or(Value::String(t)))
}

/// Wait for `run` to finish (ok) and return the transcript of `key` as (role, text) pairs.
async fn finished(gw: &TestGateway, run: &str, key: &str) -> Vec<(String, String)> {
    let (mut c, _) = operator(gw.addr, &["operator.read", "operator.write"]).await;
    let w = c
        .ok("agent.wait", json!({ "runId": run, "timeoutMs": 30_000 }))
        .await;
    assert_eq!(w["status"], "ok", "{w}");
    history(&mut c, key).await
}

async fn history(c: &mut Client, key: &str) -> Vec<(String, String)> {
    let h = c.ok("chat.history", json!({ "sessionKey": key })).await;
    role_texts(&h)
}

fn assert_wrapped(text: &str, inner: &str) {
    assert!(
        text.contains("<<<EXTERNAL_UNTRUSTED_CONTENT id=")
            && text.contains(inner)
            && text.trim_end().ends_with(">>>")
            && text.contains("<<<END_EXTERNAL_UNTRUSTED_CONTENT id="),
        "not wrapped: {text}"
    );
}

#[tokio::test]
async fn hooks_off_unless_enabled_with_a_token() {
    let body = json!({ "text": "x" });
    for hooks in [
        "{ enabled: false, token: \"hook-secret-0123456789\" }",
        "{ enabled: true }",
        "{ enabled: true, token: \"\" }",
        "{ enabled: true, token: \"hook-secret-0123456789\", path: \"/\" }",
    ] {
        let (_up, gw) = setup(hooks).await;
        let (s, t) = post(&gw, "/hooks/wake", Some(HOOK_TOKEN), &body).await;
        assert_eq!((s, t.as_str()), (404, "Not Found"), "{hooks}");
        gw.stop().await;
    }
    // A custom path (trailing slash trimmed); the default path is then not a hook.
    let (_up, gw) =
        setup("{ enabled: true, token: \"hook-secret-0123456789\", path: \"in/\" }").await;
    let (s, v) = hook(
        &gw,
        "/in/wake",
        json!({ "text": "x", "mode": "next-heartbeat" }),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let (s, _) = hook(&gw, "/hooks/wake", json!({ "text": "x" })).await;
    assert_eq!(s, 404);
    let (s, _) = hook(&gw, "/inwake", json!({ "text": "x" })).await;
    assert_eq!(s, 404);
    gw.stop().await;
}

#[tokio::test]
async fn hook_token_forms_and_refusals() {
    let (_up, gw) = setup(HOOKS).await;
    let body = json!({ "text": "x", "mode": "next-heartbeat" });
    for token in [None, Some("wrong"), Some(TOKEN)] {
        let (s, t) = post(&gw, "/hooks/wake", token, &body).await;
        assert_eq!((s, t.as_str()), (401, "Unauthorized"), "{token:?}");
    }
    let r = http_client()
        .post(format!("{}/hooks/wake", gw.http()))
        .header("x-openclaw-token", HOOK_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // A token in the query string is refused outright, even next to a valid header.
    let (s, t) = post(
        &gw,
        &format!("/hooks/wake?token={HOOK_TOKEN}"),
        Some(HOOK_TOKEN),
        &body,
    )
    .await;
    assert_eq!(s, 400, "{t}");
    let r = http_client()
        .get(format!("{}/hooks/wake", gw.http()))
        .bearer_auth(HOOK_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "POST");
    gw.stop().await;
}

#[tokio::test]
async fn twenty_bad_tokens_lock_out_loopback_too() {
    let (_up, gw) = setup(HOOKS).await;
    let body = json!({ "text": "x", "mode": "next-heartbeat" });
    // 19 failures, then a success resets the count.
    for _ in 0..19 {
        assert_eq!(post(&gw, "/hooks/wake", Some("bad"), &body).await.0, 401);
    }
    assert_eq!(
        post(&gw, "/hooks/wake", Some(HOOK_TOKEN), &body).await.0,
        200
    );
    for _ in 0..19 {
        assert_eq!(post(&gw, "/hooks/wake", Some("bad"), &body).await.0, 401);
    }
    let r = http_client()
        .post(format!("{}/hooks/wake", gw.http()))
        .bearer_auth("bad")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let wait: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    // Locked out: even the right token waits.
    let (s, t) = post(&gw, "/hooks/wake", Some(HOOK_TOKEN), &body).await;
    assert_eq!((s, t.as_str()), (429, "Too Many Requests"));
    // Gateway auth is a separate class.
    let r = http_client()
        .post(format!("{}/tools/invoke", gw.http()))
        .bearer_auth(TOKEN)
        .json(&json!({ "tool": "agents_list" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    gw.stop().await;
}

#[tokio::test]
async fn wake_now_runs_and_next_heartbeat_is_recorded() {
    let (up, gw) = setup(HOOKS).await;
    let (s, v) = hook(&gw, "/hooks/wake", json!({ "text": "disk is full" })).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["ok"], true);
    assert_eq!(v["mode"], "now");
    let run = v["runId"].as_str().unwrap().to_string();
    let h = finished(&gw, &run, "main").await;
    assert_eq!(h.len(), 2, "{h:?}");
    assert_eq!(h[0].0, "user");
    assert_wrapped(&h[0].1, "disk is full");
    assert!(
        h[1].1.starts_with("echo:") && h[1].1.contains(" disk is full "),
        "{h:?}"
    );
    let sent = up.state.last(CHAT).unwrap();
    let last = sent.body["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_wrapped(last["content"].as_str().unwrap(), "disk is full");

    // next-heartbeat: stored in the main session, no run.
    let (s, v) = hook(
        &gw,
        "/hooks/wake",
        json!({ "text": "later event", "mode": "next-heartbeat" }),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v, json!({ "ok": true, "mode": "next-heartbeat" }));
    let (mut c, _) = operator(gw.addr, &["operator.read", "operator.write"]).await;
    let h = history(&mut c, "main").await;
    assert_eq!(h.len(), 3, "{h:?}");
    assert_wrapped(&h[2].1, "later event");
    assert_eq!(up.state.count(CHAT), 1);

    // An allowed request session key (mode now only).
    let (s, v) = hook(
        &gw,
        "/hooks/wake",
        json!({ "text": "room ping", "sessionKey": "hook:room" }),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let h = finished(&gw, v["runId"].as_str().unwrap(), "agent:main:hook:room").await;
    assert_wrapped(&h[0].1, "room ping");
    for bad in [
        json!({ "text": "x", "sessionKey": "hook:room", "mode": "next-heartbeat" }),
        json!({ "text": "x", "sessionKey": "other:room" }),
        json!({ "text": "x", "mode": "later" }),
        json!({ "text": "   " }),
        json!({ "text": "x", "agentId": "ghost" }),
    ] {
        let (s, v) = hook(&gw, "/hooks/wake", bad.clone()).await;
        assert_eq!(s, 400, "{bad} -> {v}");
        assert_eq!(v["ok"], false);
        assert!(v["error"].is_string(), "{v}");
    }
    let (s, _) = hook(&gw, "/hooks/wake", json!({ "text": "x", "agentId": "ops" })).await;
    assert_eq!(s, 403, "ops is not in allowedAgentIds");
    assert_eq!(up.state.count(CHAT), 2);
    gw.stop().await;
}

#[tokio::test]
async fn agent_hook_runs_isolated_and_is_idempotent() {
    let (up, gw) = setup(HOOKS).await;
    let (s, v) = hook(
        &gw,
        "/hooks/agent",
        json!({ "message": "summarize inbox", "name": "Email" }),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let run = v["runId"].as_str().unwrap().to_string();
    assert_eq!(v, json!({ "ok": true, "runId": run }));
    let (mut c, _) = operator(gw.addr, &["operator.read", "operator.write"]).await;
    let w = c
        .ok("agent.wait", json!({ "runId": run, "timeoutMs": 30_000 }))
        .await;
    assert_eq!(w["status"], "ok", "{w}");
    // A fresh hook session, not the main one.
    let list = c.ok("sessions.list", json!({})).await;
    let keys: Vec<&str> = list["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(keys[0].starts_with("agent:main:hook:"), "{keys:?}");
    let h = history(&mut c, keys[0]).await;
    assert_wrapped(&h[0].1, "summarize inbox");
    assert!(h[0].1.contains("Hook: Email"), "{h:?}");
    assert!(h[1].1.contains(" summarize inbox "), "{h:?}");

    // The same idempotency key: the same run, one upstream call.
    let body = json!({ "message": "once only", "idempotencyKey": "evt-1" });
    let (_, a) = hook(&gw, "/hooks/agent", body.clone()).await;
    let id = a["runId"].as_str().unwrap().to_string();
    let (mut c2, _) = operator(gw.addr, &["operator.read", "operator.write"]).await;
    c2.ok("agent.wait", json!({ "runId": id, "timeoutMs": 30_000 }))
        .await;
    let (s, b) = hook(&gw, "/hooks/agent", body).await;
    assert_eq!((s, &b["runId"]), (200, &json!(id)), "{b}");
    assert_eq!(up.state.count(CHAT), 2);

    // Persistent needs an allowed explicit key; with one, the run lands there.
    let (s, v) = hook(
        &gw,
        "/hooks/agent",
        json!({ "message": "m", "sessionMode": "persistent" }),
    )
    .await;
    assert_eq!(s, 400, "{v}");
    let (s, v) = hook(
        &gw,
        "/hooks/agent",
        json!({ "message": "keep this", "sessionMode": "persistent", "sessionKey": "hook:p1" }),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let h = finished(&gw, v["runId"].as_str().unwrap(), "agent:main:hook:p1").await;
    assert_wrapped(&h[0].1, "keep this");

    for bad in [
        json!({ "name": "no message" }),
        json!({ "message": "m", "agentId": "ghost" }),
        json!({ "message": "m", "sessionKey": "main" }),
        json!({ "message": "m", "channel": "telegram" }),
        json!({ "message": "m", "to": "+100" }),
        json!({ "message": "m", "sessionMode": "forever" }),
        json!({ "message": "m", "timeoutSeconds": 0 }),
        json!({ "message": "m", "model": "nope/none" }),
    ] {
        let (s, v) = hook(&gw, "/hooks/agent", bad.clone()).await;
        assert_eq!(s, 400, "{bad} -> {v}");
        assert_eq!(v["ok"], false, "{v}");
    }
    let (s, _) = hook(
        &gw,
        "/hooks/agent",
        json!({ "message": "m", "agentId": "ops" }),
    )
    .await;
    assert_eq!(s, 403);
    // deliver:false ignores the destination.
    let (s, v) = hook(
        &gw,
        "/hooks/agent",
        json!({ "message": "quiet", "deliver": false, "channel": "telegram" }),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    gw.stop().await;
}

/// A raw request (`Connection: close`); the whole response text.
async fn raw(addr: SocketAddr, req: String) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf))
        .await
        .expect("response in time")
        .expect("read");
    String::from_utf8_lossy(&buf).to_string()
}

#[tokio::test]
async fn mapped_hooks_templates_and_body_limit() {
    let (_up, gw) = setup(HOOKS).await;
    let (s, v) = hook(
        &gw,
        "/hooks/github",
        json!({ "repo": { "name": "core" }, "pusher": "ann" }),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let h = finished(&gw, v["runId"].as_str().unwrap(), "agent:main:hook:gh:core").await;
    assert_wrapped(&h[0].1, "Push to core by ann");
    assert!(h[0].1.contains("Hook: GitHub"), "{h:?}");

    let (s, v) = hook(&gw, "/hooks/ping", json!({ "who": "cron-job" })).await;
    assert_eq!((s, &v["mode"]), (200, &json!("now")), "{v}");
    let h = finished(&gw, v["runId"].as_str().unwrap(), "main").await;
    assert_wrapped(&h[0].1, "ping from cron-job");

    // A templated key is caller-controlled: the prefix allowlist applies.
    let (s, v) = hook(&gw, "/hooks/room", json!({ "room": "evil:r", "msg": "m" })).await;
    assert_eq!(s, 400, "{v}");
    let (s, v) = hook(
        &gw,
        "/hooks/room",
        json!({ "room": "hook:r1", "msg": "hi room" }),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let h = finished(&gw, v["runId"].as_str().unwrap(), "agent:main:hook:r1").await;
    assert_wrapped(&h[0].1, "hi room");
    let (s, v) = hook(&gw, "/hooks/unknown", json!({ "a": 1 })).await;
    assert_eq!(s, 404, "{v}");
    assert_eq!(v["ok"], false);

    // Body limit (4 KiB here): declared too large, and a real oversize body.
    let resp = raw(
        gw.addr,
        format!(
            "POST /hooks/wake HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {HOOK_TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 5000\r\nConnection: close\r\n\r\n"
        ),
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 413 "), "{resp}");
    let (s, _) = hook(
        &gw,
        "/hooks/wake",
        json!({ "text": "y".repeat(3000), "mode": "next-heartbeat" }),
    )
    .await;
    assert_eq!(s, 200, "under the limit");
    let r = http_client()
        .post(format!("{}/hooks/wake", gw.http()))
        .bearer_auth(HOOK_TOKEN)
        .body("[1, 2]")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "not an object");
    gw.stop().await;
}

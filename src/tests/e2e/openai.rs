//! The OpenAI-compatible HTTP surface against the scripted upstream: enablement, auth,
//! `/v1/models`, chat completions (JSON and SSE byte for byte), errors, headers, sessions,
//! `/v1/responses` (JSON, named events, `previous_response_id`), embeddings, limits, and
//! cancellation when the client goes away mid-stream.

use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::upstream::{embed, Upstream, UpstreamOpts};
use crate::util::*;

fn config(base: &str, extra: &str) -> String {
    format!(
        r#"{{
  gateway: {{ mode: "local", auth: {{ mode: "token" }},
             http: {{ endpoints: {{ chatCompletions: {{ enabled: true }}, responses: {{ enabled: true }} }} }} {extra} }},
  models: {{ providers: {{
    fake: {{ baseUrl: "{base}", apiKey: "sk-up", api: "openai-completions", models: [{{ id: "echo-1" }}, {{ id: "echo-2" }}] }} }} }},
  agents: {{ defaults: {{ model: "fake/echo-1" }}, list: [{{ id: "main", default: true }}, {{ id: "ops" }}] }}
}}"#
    )
}

async fn setup(extra: &str) -> (Upstream, TestGateway) {
    let up = Upstream::start(UpstreamOpts::default()).await;
    let gw = start_with(Setup::config(&config(&up.openai_base(), extra))).await;
    (up, gw)
}

fn client() -> reqwest::Client {
    http_client()
}

async fn post(gw: &TestGateway, path: &str, body: Value) -> reqwest::Response {
    client()
        .post(format!("{}{path}", gw.http()))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn json_of(r: reqwest::Response) -> (u16, Value) {
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn disabled_surface_is_404_and_auth_is_required() {
    let gw = start().await;
    let r = client()
        .get(format!("{}/v1/models", gw.http()))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.text().await.unwrap(), "Not Found");
    gw.stop().await;
    let (_up, gw) = setup("").await;
    for auth in [None, Some("wrong")] {
        let mut rq = client().get(format!("{}/v1/models", gw.http()));
        if let Some(t) = auth {
            rq = rq.bearer_auth(t);
        }
        let (s, v) = json_of(rq.send().await.unwrap()).await;
        assert_eq!(s, 401);
        assert_eq!(
            v,
            json!({ "error": { "message": "Unauthorized", "type": "unauthorized" } })
        );
    }
    let r = client()
        .delete(format!("{}/v1/models", gw.http()))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    gw.stop().await;
}

#[tokio::test]
async fn models_list_and_retrieve() {
    let (_up, gw) = setup("").await;
    let r = client()
        .get(format!("{}/v1/models", gw.http()))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let ids: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "openclaw",
            "openclaw/default",
            "openclaw/main",
            "openclaw/ops"
        ]
    );
    assert_eq!(v["object"], "list");
    assert_eq!(v["data"][0]["owned_by"], "openclaw");
    let r = client()
        .get(format!("{}/v1/models/openclaw%2Fops", gw.http()))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["id"], "openclaw/ops");
    let r = client()
        .get(format!("{}/v1/models/gpt-4", gw.http()))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    gw.stop().await;
}

#[tokio::test]
async fn chat_completion_json_and_errors() {
    let (up, gw) = setup("").await;
    let (s, v) = json_of(
        post(
            &gw,
            "/v1/chat/completions",
            json!({
                "model": "openclaw/default", "messages": [{ "role": "user", "content": "hi there" }]
            }),
        )
        .await,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert!(v["id"].as_str().unwrap().starts_with("chatcmpl_"));
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "openclaw/default");
    assert_eq!(
        v["choices"][0]["message"],
        json!({ "role": "assistant", "content": "echo: hi there" })
    );
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert!(v["usage"]["total_tokens"].as_u64().unwrap() > 0);
    for (body, msg) in [
        (
            json!({ "model": "gpt-4", "messages": [{ "role": "user", "content": "x" }] }),
            "Invalid `model`. Use `openclaw` or `openclaw/<agentId>`.",
        ),
        (
            json!({ "model": "openclaw", "messages": [{ "role": "system", "content": "x" }] }),
            "Missing user message in `messages`.",
        ),
        (
            json!({ "model": "openclaw", "messages": [{ "role": "user", "content": "FAIL400" }] }),
            "400 fake upstream bad request (FAIL400)",
        ),
    ] {
        let (s, v) = json_of(post(&gw, "/v1/chat/completions", body).await).await;
        assert_eq!(s, 400, "{v}");
        assert_eq!(
            v,
            json!({ "error": { "message": msg, "type": "invalid_request_error" } })
        );
    }
    for body in [
        json!({ "model": "openclaw", "temperature": 3, "messages": [{ "role": "user", "content": "x" }] }),
        json!({ "model": "openclaw", "top_p": -1, "messages": [{ "role": "user", "content": "x" }] }),
        json!({ "model": "openclaw", "stop": ["a", "b", "c", "d", "e"], "messages": [{ "role": "user", "content": "x" }] }),
        json!({ "model": "openclaw", "max_tokens": 0, "messages": [{ "role": "user", "content": "x" }] }),
        json!({ "model": "openclaw", "tool_choice": { "type": "function", "function": { "name": "nope" } }, "messages": [{ "role": "user", "content": "x" }] }),
        json!({ "model": "openclaw", "messages": [{ "role": "user", "content": [{ "type": "image_url", "image_url": { "url": "https://example.com/a.png" } }, { "type": "text", "text": "x" }] }] }),
    ] {
        let (s, v) = json_of(post(&gw, "/v1/chat/completions", body.clone()).await).await;
        assert_eq!(
            (s, v["error"]["type"].as_str()),
            (400, Some("invalid_request_error")),
            "{body}: {v}"
        );
    }
    let r = client()
        .post(format!("{}/v1/chat/completions", gw.http()))
        .bearer_auth(TOKEN)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let (s, _) = json_of(
        post(
            &gw,
            "/v1/chat/completions",
            json!({ "model": "openclaw", "messages": [{ "role": "user", "content": "FAIL429" }] }),
        )
        .await,
    )
    .await;
    assert_eq!(s, 429);
    // Only the valid requests and the two upstream failures reached the upstream.
    assert_eq!(up.state.count("/v1/chat/completions"), 3);
    gw.stop().await;
}

#[tokio::test]
async fn streamed_completion_is_framed_like_the_node_gateway() {
    let (_up, gw) = setup("").await;
    let r = post(&gw, "/v1/chat/completions", json!({
        "model": "openclaw/default", "stream": true, "stream_options": { "include_usage": true },
        "messages": [{ "role": "user", "content": "one two" }]
    })).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"],
        "text/event-stream; charset=utf-8"
    );
    assert_eq!(r.headers()["cache-control"], "no-cache");
    let text = r.text().await.unwrap();
    assert!(text.ends_with("data: [DONE]\n\n"), "{text:?}");
    assert!(!text.contains("event:"));
    let events: Vec<&str> = text.split("\n\n").filter(|s| !s.is_empty()).collect();
    for e in &events {
        assert!(
            e.starts_with("data: ") && !e.contains('\n'),
            "one data line per event: {e:?}"
        );
    }
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(&e[6..]).unwrap())
        .collect();
    let id = chunks[0]["id"].as_str().unwrap();
    assert!(id.starts_with("chatcmpl_"));
    for c in &chunks {
        assert_eq!(
            (c["id"].as_str(), c["object"].as_str(), c["model"].as_str()),
            (
                Some(id),
                Some("chat.completion.chunk"),
                Some("openclaw/default")
            )
        );
    }
    assert_eq!(
        chunks[0]["choices"][0],
        json!({ "index": 0, "delta": { "role": "assistant" }, "finish_reason": null })
    );
    let deltas: Vec<&str> = chunks[1..chunks.len() - 2]
        .iter()
        .map(|c| c["choices"][0]["delta"]["content"].as_str().unwrap())
        .collect();
    assert_eq!(
        deltas,
        ["echo:", " one", " two"],
        "one chunk per upstream delta"
    );
    assert_eq!(
        chunks[chunks.len() - 2]["choices"][0],
        json!({ "index": 0, "delta": {}, "finish_reason": "stop" })
    );
    let usage = &chunks[chunks.len() - 1];
    assert_eq!(usage["choices"], json!([]));
    assert!(usage["usage"]["completion_tokens"].as_u64().unwrap() > 0);
    gw.stop().await;
}

#[tokio::test]
async fn sessions_headers_and_multi_turn() {
    let (up, gw) = setup("").await;
    for _ in 0..2 {
        let (s, _) = json_of(post(&gw, "/v1/chat/completions", json!({ "model": "openclaw", "user": "u1", "messages": [{ "role": "user", "content": "again" }] })).await).await;
        assert_eq!(s, 200);
    }
    let (mut c, _) = operator(gw.addr, &["operator.read"]).await;
    let h = c
        .ok(
            "chat.history",
            json!({ "sessionKey": "agent:main:openai-user:u1" }),
        )
        .await;
    assert_eq!(
        h["messages"].as_array().unwrap().len(),
        4,
        "user → one stable session: {h}"
    );
    // Multi-turn: history flattened into the current message; system → system prompt.
    let (s, _) = json_of(
        post(
            &gw,
            "/v1/chat/completions",
            json!({ "model": "openclaw", "messages": [
        { "role": "system", "content": "Be brief." },
        { "role": "user", "content": "first" }, { "role": "assistant", "content": "ok" },
        { "role": "user", "content": "second" }] }),
        )
        .await,
    )
    .await;
    assert_eq!(s, 200);
    let last = up.state.last("/v1/chat/completions").unwrap();
    let msgs = last.body["messages"].as_array().unwrap();
    assert_eq!(msgs[0], json!({ "role": "system", "content": "Be brief." }));
    let cur = msgs.last().unwrap()["content"].as_str().unwrap();
    assert!(
        cur.starts_with(
            "[Chat messages since your last reply - for context]\nUser: first\nAssistant: ok\n"
        ),
        "{cur}"
    );
    assert!(
        cur.ends_with("[Current message - respond to this]\nUser: second"),
        "{cur}"
    );
    // Headers: agent, model override, explicit session key, reserved prefixes.
    let send = |headers: Vec<(&'static str, &'static str)>| {
        let mut rq = client()
            .post(format!("{}/v1/chat/completions", gw.http()))
            .bearer_auth(TOKEN)
            .json(
                &json!({ "model": "openclaw", "messages": [{ "role": "user", "content": "h" }] }),
            );
        for (k, v) in headers {
            rq = rq.header(k, v);
        }
        rq.send()
    };
    let r = send(vec![
        ("x-openclaw-model", "fake/echo-2"),
        ("x-openclaw-session-key", "mine"),
        ("x-openclaw-agent-id", "ops"),
    ])
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        up.state.last("/v1/chat/completions").unwrap().body["model"],
        "echo-2"
    );
    let h = c
        .ok("chat.history", json!({ "sessionKey": "agent:ops:mine" }))
        .await;
    assert_eq!(h["messages"].as_array().unwrap().len(), 2);
    for p in ["subagent:x", "cron:x", "acp:x"] {
        let r = send(vec![("x-openclaw-session-key", p)]).await.unwrap();
        assert_eq!(r.status(), 400, "{p}");
    }
    let r = send(vec![("x-openclaw-agent-id", "ghost")]).await.unwrap();
    assert_eq!(r.status(), 400);
    gw.stop().await;
}

#[tokio::test]
async fn responses_json_stream_and_previous_response_id() {
    let (up, gw) = setup("").await;
    let (s, v) = json_of(post(&gw, "/v1/responses", json!({ "model": "openclaw/default", "input": "hello resp", "instructions": "Be nice." })).await).await;
    assert_eq!(s, 200, "{v}");
    assert!(v["id"].as_str().unwrap().starts_with("resp_"));
    assert_eq!(
        (v["object"].as_str(), v["status"].as_str()),
        (Some("response"), Some("completed"))
    );
    let item = &v["output"][0];
    assert_eq!(
        (
            item["type"].as_str(),
            item["role"].as_str(),
            item["status"].as_str()
        ),
        (Some("message"), Some("assistant"), Some("completed"))
    );
    assert!(item["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(item["content"][0]["type"], "output_text");
    assert_eq!(item["content"][0]["text"], "echo: hello resp");
    for k in ["input_tokens", "output_tokens", "total_tokens"] {
        assert!(v["usage"][k].is_u64(), "{k}");
    }
    assert_eq!(
        up.state.last("/v1/chat/completions").unwrap().body["messages"][0]["content"],
        "Be nice."
    );
    // previous_response_id continues the same session.
    let (s, v2) = json_of(
        post(
            &gw,
            "/v1/responses",
            json!({ "model": "openclaw", "input": "follow up", "previous_response_id": v["id"] }),
        )
        .await,
    )
    .await;
    assert_eq!(s, 200, "{v2}");
    let ctx = up.state.last("/v1/chat/completions").unwrap().body["messages"].to_string();
    assert!(ctx.contains("echo: hello resp"), "{ctx}");
    let (s, _) = json_of(
        post(
            &gw,
            "/v1/responses",
            json!({ "model": "openclaw", "input": "x", "previous_response_id": "resp_unknown" }),
        )
        .await,
    )
    .await;
    assert_eq!(s, 400);
    // Streamed: named events in order, then a bare [DONE].
    let r = post(&gw, "/v1/responses", json!({ "model": "openclaw", "stream": true, "input": [{ "type": "message", "role": "user", "content": "a b" }] })).await;
    assert_eq!(
        r.headers()["content-type"],
        "text/event-stream; charset=utf-8"
    );
    let text = r.text().await.unwrap();
    assert!(text.ends_with("\n\ndata: [DONE]\n\n"), "{text}");
    let kinds: Vec<&str> = text
        .split("\n\n")
        .filter_map(|e| e.strip_prefix("event: ").and_then(|r| r.split('\n').next()))
        .collect();
    assert_eq!(
        kinds,
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    assert!(!text.contains("sequence_number"));
    for e in text.split("\n\n").filter(|e| e.starts_with("event: ")) {
        let (ev, data) = e.split_once('\n').unwrap();
        let d: Value = serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap();
        assert_eq!(d["type"], ev.strip_prefix("event: ").unwrap());
    }
    gw.stop().await;
}

#[tokio::test]
async fn embeddings_are_forwarded_to_the_agents_provider() {
    let (up, gw) = setup("").await;
    let (s, v) = json_of(
        post(
            &gw,
            "/v1/embeddings",
            json!({ "model": "openclaw/default", "input": ["alpha", "beta"] }),
        )
        .await,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["object"], "list");
    let first: Vec<f64> = v["data"][0]["embedding"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    let want: Vec<f64> = embed("alpha").iter().map(|x| *x as f64).collect();
    assert_eq!(first.len(), want.len());
    for (a, b) in first.iter().zip(&want) {
        assert!((a - b).abs() < 1e-6);
    }
    assert_eq!(v["model"], "openclaw/default");
    let rec = up.state.last("/v1/embeddings").unwrap();
    assert_eq!(rec.body["model"], "echo-1");
    assert_eq!(rec.authorization.as_deref(), Some("Bearer sk-up"));
    let (s, _) = json_of(
        post(
            &gw,
            "/v1/embeddings",
            json!({ "model": "openclaw", "input": 5 }),
        )
        .await,
    )
    .await;
    assert_eq!(s, 400);
    gw.stop().await;
}

#[tokio::test]
async fn client_gone_mid_stream_cancels_the_upstream_request() {
    let (up, gw) = setup("").await;
    let r = post(&gw, "/v1/chat/completions", json!({ "model": "openclaw", "stream": true, "messages": [{ "role": "user", "content": "HANG" }] })).await;
    assert_eq!(r.status(), 200);
    tokio::time::timeout(Duration::from_secs(10), up.state.wait_held(1))
        .await
        .unwrap();
    drop(r);
    tokio::time::timeout(Duration::from_secs(10), up.state.wait_disconnects(1))
        .await
        .expect("upstream request cancelled");
    // Non-stream: the caller hangs up while waiting.
    let gw_http = gw.http();
    let t = tokio::spawn(async move {
        client().post(format!("{gw_http}/v1/chat/completions")).bearer_auth(TOKEN)
            .json(&json!({ "model": "openclaw", "messages": [{ "role": "user", "content": "HANG" }] })).send().await
    });
    tokio::time::timeout(Duration::from_secs(10), up.state.wait_held(2))
        .await
        .unwrap();
    t.abort();
    tokio::time::timeout(Duration::from_secs(10), up.state.wait_disconnects(2))
        .await
        .expect("non-stream cancelled");
    gw.stop().await;
}

#[tokio::test]
async fn body_limits_and_slow_bodies() {
    let (_up, gw) = setup(", limits: { httpMaxBodyBytes: 1000, httpBodyTimeoutMs: 300 }").await;
    let big = "x".repeat(2000);
    let (s, v) = json_of(
        post(
            &gw,
            "/v1/chat/completions",
            json!({ "model": "openclaw", "messages": [{ "role": "user", "content": big }] }),
        )
        .await,
    )
    .await;
    assert_eq!(s, 413, "{v}");
    // A body that never completes: 408 after the deadline, connection answered.
    let mut sock = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    let head = format!("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"model\":");
    sock.write_all(head.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), sock.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let resp = String::from_utf8_lossy(&buf[..n]);
    assert!(resp.starts_with("HTTP/1.1 408"), "{resp}");
    gw.stop().await;
}

#[tokio::test]
async fn image_parts_are_forwarded_with_the_current_message() {
    let (up, gw) = setup("").await;
    let png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
    let url = format!("data:image/png;base64,{png}");
    let (s, v) = json_of(
        post(
            &gw,
            "/v1/chat/completions",
            json!({ "model": "openclaw", "messages": [
        { "role": "user", "content": [{ "type": "text", "text": "what is this" },
                                      { "type": "image_url", "image_url": { "url": url } }] }] }),
        )
        .await,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let body = up.state.last("/v1/chat/completions").unwrap().body;
    let last = body["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        last["content"][0],
        json!({ "type": "text", "text": "what is this" })
    );
    assert_eq!(
        last["content"][1],
        json!({ "type": "image_url", "image_url": { "url": url } })
    );
    // Not an allowed type, or too many parts: 400 before any upstream call.
    let n = up.state.count("/v1/chat/completions");
    let (s, _) = json_of(post(&gw, "/v1/chat/completions", json!({ "model": "openclaw", "messages": [
        { "role": "user", "content": [{ "type": "text", "text": "x" },
            { "type": "image_url", "image_url": { "url": "data:image/svg+xml;base64,PHN2Zz4=" } }] }] })).await).await;
    assert_eq!(s, 400);
    let many: Vec<Value> = (0..9)
        .map(|_| json!({ "type": "image_url", "image_url": { "url": url } }))
        .collect();
    let (s, _) = json_of(
        post(
            &gw,
            "/v1/chat/completions",
            json!({ "model": "openclaw", "messages": [
        { "role": "user", "content": many }] }),
        )
        .await,
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(up.state.count("/v1/chat/completions"), n);
    gw.stop().await;
}

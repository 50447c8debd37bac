//! `POST /tools/invoke` against the real server: each built-in tool's result, `name` over
//! `tool`, session targeting (`main`, `agentId`, conflicts), the deny list and
//! `gateway.tools.*`, auth (401 / 403 by scope in `none` mode), 405, 413 and 400s.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::agents::fake;
use crate::upstream::{Upstream, UpstreamOpts};
use crate::util::*;

fn config(base: &str, gateway_extra: &str) -> String {
    format!(
        r#"{{
  gateway: {{ mode: "local", auth: {{ mode: "token" }} {gateway_extra} }},
  models: {{ providers: {{ {provider} }} }},
  agents: {{ defaults: {{ model: "fake/echo-1" }}, list: [{{ id: "main", default: true }}, {{ id: "ops", name: "Ops" }}] }}
}}"#,
        provider = fake("fake", base, "openai-completions"),
    )
}

async fn setup(gateway_extra: &str) -> (Upstream, TestGateway) {
    let up = Upstream::start(UpstreamOpts::default()).await;
    let gw = start_with(Setup::config(&config(&up.openai_base(), gateway_extra))).await;
    (up, gw)
}

/// POST `body` to `/tools/invoke` with `token` (if any) and `headers`; status and JSON.
async fn invoke_with(
    gw: &TestGateway,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: Value,
) -> (u16, Value) {
    let mut rq = http_client()
        .post(format!("{}/tools/invoke", gw.http()))
        .json(&body);
    if let Some(t) = token {
        rq = rq.bearer_auth(t);
    }
    for (k, v) in headers {
        rq = rq.header(*k, *v);
    }
    let r = rq.send().await.unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

async fn invoke(gw: &TestGateway, body: Value) -> (u16, Value) {
    invoke_with(gw, Some(TOKEN), &[], body).await
}

/// The `result` of a successful call (panics otherwise).
async fn result(gw: &TestGateway, body: Value) -> Value {
    let (s, v) = invoke(gw, body.clone()).await;
    assert_eq!((s, &v["ok"]), (200, &json!(true)), "{body} -> {v}");
    v["result"].clone()
}

/// A finished exchange on `sessionKey` (`chat.send` then `agent.wait`).
async fn exchange(gw: &TestGateway, key: &str, text: &str, id: &str) {
    let (mut c, _) = operator(gw.addr, &["operator.write", "operator.read"]).await;
    c.ok(
        "chat.send",
        json!({ "sessionKey": key, "message": text, "idempotencyKey": id }),
    )
    .await;
    let w = c
        .ok("agent.wait", json!({ "runId": id, "timeoutMs": 30_000 }))
        .await;
    assert_eq!(w["status"], "ok", "{w}");
}

#[tokio::test]
async fn each_tool_returns_its_result() {
    let (_up, gw) = setup("").await;
    exchange(&gw, "main", "hello tools", "t-1").await;

    let list = result(&gw, json!({ "tool": "sessions_list" })).await;
    assert_eq!(list["count"], 1, "{list}");
    assert_eq!(list["totalCount"], 1);
    let row = &list["sessions"][0];
    assert_eq!(row["key"], "agent:main:main");
    assert_eq!(row["agentId"], "main");
    assert_eq!(row["messageCount"], 2);
    assert_eq!(row["hasActiveRun"], false);
    assert_eq!(
        row["totalTokens"].as_u64(),
        Some(row["inputTokens"].as_u64().unwrap() + row["outputTokens"].as_u64().unwrap())
    );
    let sid = row["sessionId"].as_str().unwrap().to_string();
    let none = result(
        &gw,
        json!({ "tool": "sessions_list", "args": { "agentId": "ops" } }),
    )
    .await;
    assert_eq!(none["count"], 0, "{none}");
    let found = result(
        &gw,
        json!({ "tool": "sessions_list", "args": { "search": "main", "limit": 5 } }),
    )
    .await;
    assert_eq!(found["count"], 1, "{found}");

    // No sessionKey anywhere: the default agent's main session.
    let h = result(&gw, json!({ "tool": "sessions_history" })).await;
    assert_eq!(h["sessionKey"], "agent:main:main", "{h}");
    assert_eq!(h["sessionId"], sid.as_str());
    assert_eq!(h["totalMessages"], 2);
    let m = h["messages"].as_array().unwrap();
    assert_eq!(m[0]["role"], "user");
    assert_eq!(m[0]["content"], "hello tools");
    assert_eq!(m[1]["content"][0]["text"], "echo: hello tools");
    assert!(m[1]["__openclaw"]["seq"].is_u64(), "{h}");
    let one = result(
        &gw,
        json!({ "tool": "sessions_history", "args": { "sessionKey": "main", "limit": 1 } }),
    )
    .await;
    assert_eq!(one["messages"].as_array().unwrap().len(), 1, "{one}");
    assert_eq!(one["messages"][0]["role"], "assistant");
    let empty = result(
        &gw,
        json!({ "tool": "sessions_history", "args": { "sessionKey": "nope" } }),
    )
    .await;
    assert_eq!(empty["sessionKey"], "agent:main:nope");
    assert_eq!(empty["sessionId"], Value::Null);
    assert_eq!(empty["messages"], json!([]));

    let st = result(
        &gw,
        json!({ "tool": "session_status", "sessionKey": "main" }),
    )
    .await;
    assert_eq!(st["key"], "agent:main:main", "{st}");
    assert_eq!(st["sessionId"], sid.as_str());
    assert_eq!(st["messageCount"], 2);
    assert_eq!(st["hasActiveRun"], false);
    assert_eq!(st["exists"], true);
    let t = &st["tokens"];
    assert_eq!(
        t["total"].as_u64(),
        Some(t["input"].as_u64().unwrap() + t["output"].as_u64().unwrap())
    );
    // `agentId` picks that agent's main session.
    let ops = result(&gw, json!({ "tool": "session_status", "agentId": "ops" })).await;
    assert_eq!(ops["key"], "agent:ops:main", "{ops}");
    assert_eq!(ops["exists"], false);
    assert_eq!(ops["messageCount"], 0);

    // `name` wins over `tool`; names are case-insensitive.
    let agents = result(&gw, json!({ "tool": "exec", "name": "Agents_List" })).await;
    assert_eq!(agents["defaultId"], "main", "{agents}");
    let ids: Vec<&str> = agents["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["main", "ops"]);
    assert_eq!(agents["agents"][1]["name"], "Ops");
    assert_eq!(agents["agents"][0]["model"]["primary"], "fake/echo-1");
    gw.stop().await;
}

#[tokio::test]
async fn unknown_and_denied_tools_are_404() {
    let (_up, gw) =
        setup(r#", tools: { allow: ["exec", "cron"], deny: ["session_status"] }"#).await;
    for tool in [
        "exec",
        "EXEC",
        "cron",
        "sessions_spawn",
        "nope",
        "session_status",
    ] {
        let (s, v) = invoke(&gw, json!({ "tool": tool })).await;
        assert_eq!(s, 404, "{tool}: {v}");
        assert_eq!(v["ok"], false);
        assert_eq!(v["error"]["type"], "not_found", "{v}");
    }
    // Not denied: still there.
    result(&gw, json!({ "tool": "sessions_list" })).await;
    gw.stop().await;

    // Without the deny entry the same tool answers.
    let (_up, gw) = setup("").await;
    result(&gw, json!({ "tool": "session_status" })).await;
    gw.stop().await;
}

#[tokio::test]
async fn auth_scopes_and_method() {
    let (_up, gw) = setup("").await;
    for token in [None, Some("wrong-token")] {
        let (s, v) = invoke_with(&gw, token, &[], json!({ "tool": "agents_list" })).await;
        assert_eq!(s, 401, "{v}");
    }
    // Shared-secret auth ignores a narrower x-openclaw-scopes.
    let (s, _) = invoke_with(
        &gw,
        Some(TOKEN),
        &[("x-openclaw-scopes", "operator.read")],
        json!({ "tool": "agents_list" }),
    )
    .await;
    assert_eq!(s, 200);
    let r = http_client()
        .get(format!("{}/tools/invoke", gw.http()))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "POST");
    gw.stop().await;

    // `none` mode honours x-openclaw-scopes: read-only callers are refused.
    let gw = start_with(Setup::config(
        r#"{ gateway: { mode: "local", auth: { mode: "none" } } }"#,
    ))
    .await;
    let (s, v) = invoke_with(
        &gw,
        None,
        &[("x-openclaw-scopes", "operator.read")],
        json!({ "tool": "agents_list" }),
    )
    .await;
    assert_eq!(s, 403, "{v}");
    assert_eq!(v["ok"], false);
    assert_eq!(v["error"]["type"], "forbidden");
    assert_eq!(v["error"]["details"]["missingScope"], "operator.write");
    let (s, v) = invoke_with(
        &gw,
        None,
        &[("x-openclaw-scopes", "operator.write")],
        json!({ "tool": "agents_list" }),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    gw.stop().await;
}

/// A raw request (`Connection: close`); the status line and body.
async fn raw(addr: SocketAddr, req: String) -> (String, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf))
        .await
        .expect("response in time")
        .expect("read");
    let text = String::from_utf8_lossy(&buf).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (
        head.lines().next().unwrap_or("").to_string(),
        body.to_string(),
    )
}

#[tokio::test]
async fn bad_requests_and_body_limit() {
    let (_up, gw) = setup("").await;
    // Declared body over 2 MB: refused before it is read.
    let (status, body) = raw(
        gw.addr,
        format!(
            "POST /tools/invoke HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            2 * 1024 * 1024 + 1
        ),
    )
    .await;
    assert!(status.contains(" 413 "), "{status}");
    assert!(body.contains("payload_too_large"), "{body}");
    // Just under the limit is read and parsed (a big ignored field).
    let pad = "x".repeat(2 * 1024 * 1024 - 100);
    let (s, v) = invoke(&gw, json!({ "tool": "agents_list", "pad": pad })).await;
    assert_eq!(s, 200, "{v}");

    let cases = [
        json!({}),
        json!({ "tool": 5 }),
        json!({ "tool": "sessions_list", "args": [1] }),
        json!({ "tool": "sessions_list", "args": { "limit": "ten" } }),
        json!({ "tool": "sessions_list", "args": { "agentId": "ghost" } }),
        json!({ "tool": "session_status", "agentId": "ghost" }),
        json!({ "tool": "session_status", "sessionKey": "agent:ops:x", "agentId": "main" }),
    ];
    for body in cases {
        let (s, v) = invoke(&gw, body.clone()).await;
        assert_eq!(s, 400, "{body} -> {v}");
        assert_eq!(v["ok"], false);
        assert_eq!(v["error"]["type"], "invalid_request", "{v}");
        assert!(v["error"]["message"].is_string());
    }
    // Consistent agentId and sessionKey are fine.
    let st = result(
        &gw,
        json!({ "tool": "session_status", "sessionKey": "agent:ops:x", "agentId": "ops" }),
    )
    .await;
    assert_eq!(st["key"], "agent:ops:x");
    let r = http_client()
        .post(format!("{}/tools/invoke", gw.http()))
        .bearer_auth(TOKEN)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    gw.stop().await;
}

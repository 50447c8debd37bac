//! Agent runs over WebSocket against the scripted upstreams: accepted → events → final,
//! idempotency, history, queueing, abort, disconnect, each provider failure, fallbacks,
//! the Anthropic dialect, sessions.* and their events, persistence across a restart.

use std::time::Duration;

use serde_json::{json, Value};

use crate::upstream::{Upstream, UpstreamOpts};
use crate::util::*;

/// Config with provider `fake` (OpenAI dialect) at `base`; extra providers/fallbacks
/// through `models` (the primary first).
pub(crate) fn agent_config(providers: &str, models: &[&str]) -> String {
    format!(
        r#"{{
  gateway: {{ mode: "local", auth: {{ mode: "token" }} }},
  models: {{ providers: {{ {providers} }} }},
  agents: {{ defaults: {{ model: {{ primary: {primary}, fallbacks: {fallbacks} }}, systemPrompt: "You are a test." }} }}
}}"#,
        primary = json!(models[0]),
        fallbacks = json!(&models[1..]),
    )
}

pub(crate) fn fake(name: &str, base: &str, api: &str) -> String {
    format!(
        r#"{name}: {{ baseUrl: "{base}", apiKey: "sk-secret-{name}", api: "{api}", models: [{{ id: "echo-1", contextWindow: 128000, maxTokens: 4096 }}] }},"#
    )
}

pub(crate) async fn setup(opts: UpstreamOpts) -> (Upstream, TestGateway) {
    let up = Upstream::start(opts).await;
    let cfg = agent_config(
        &fake("fake", &up.openai_base(), "openai-completions"),
        &["fake/echo-1"],
    );
    let gw = start_with(Setup::config(&cfg)).await;
    (up, gw)
}

/// Collect frames until the `res` with `id` whose payload status is terminal (not accepted).
pub(crate) async fn final_res(c: &mut Client, id: &str) -> Value {
    c.until(&format!("the final response to {id}"), |v| {
        v["type"] == "res" && v["id"] == id && v["payload"]["status"] != "accepted"
    })
    .await
}

pub(crate) fn events_of<'a>(c: &'a Client, name: &str, run: &str) -> Vec<&'a Value> {
    c.events
        .iter()
        .filter(|e| e["event"] == name && e["payload"]["runId"] == run)
        .map(|e| &e["payload"])
        .collect()
}

pub(crate) async fn wait_chat_state(c: &mut Client, run: &str, states: &[&str]) -> Value {
    if let Some(i) = c.events.iter().position(|e| {
        e["event"] == "chat"
            && e["payload"]["runId"] == run
            && states.iter().any(|s| e["payload"]["state"] == *s)
    }) {
        return c.events[i]["payload"].clone();
    }
    let v = c
        .until(&format!("chat state {states:?} of {run}"), |v| {
            v["event"] == "chat"
                && v["payload"]["runId"] == run
                && states.iter().any(|s| v["payload"]["state"] == *s)
        })
        .await;
    c.events.push(v.clone());
    v["payload"].clone()
}

#[tokio::test]
async fn agent_run_acks_streams_and_finishes_on_the_same_id() {
    let (up, gw) = setup(UpstreamOpts::default()).await;
    let (mut c, _) = operator(gw.addr, &["operator.write", "operator.read"]).await;
    let id = c
        .send_req("agent", json!({ "message": "hello brave world", "idempotencyKey": "run-1", "sessionKey": "s1" }))
        .await;
    let ack = c.response(&id).await;
    assert_eq!(ack["ok"], true, "{ack}");
    assert_eq!(ack["payload"]["status"], "accepted");
    assert_eq!(ack["payload"]["runId"], "run-1");
    assert_eq!(ack["payload"]["sessionKey"], "agent:main:s1");
    let fin = final_res(&mut c, &id).await;
    assert_eq!(fin["ok"], true, "{fin}");
    let p = &fin["payload"];
    assert_eq!(p["status"], "ok");
    assert_eq!(p["summary"], "completed");
    assert_eq!(
        p["result"]["payloads"][0]["text"],
        "echo: hello brave world"
    );
    assert_eq!(p["result"]["meta"]["agentMeta"]["provider"], "fake");
    assert_eq!(p["result"]["meta"]["agentMeta"]["model"], "echo-1");

    // agent events: per-run seq from 0, lifecycle start … end, one assistant event per delta.
    let agent = events_of(&c, "agent", "run-1");
    let seqs: Vec<u64> = agent.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (0..seqs.len() as u64).collect::<Vec<_>>());
    assert_eq!(agent[0]["stream"], "lifecycle");
    assert_eq!(agent[0]["data"]["phase"], "start");
    let deltas: Vec<&str> = agent
        .iter()
        .filter(|e| e["stream"] == "assistant")
        .map(|e| e["data"]["delta"].as_str().unwrap())
        .collect();
    assert_eq!(deltas, ["echo:", " hello", " brave", " world"]);
    let last = agent.last().unwrap();
    assert_eq!(
        (last["stream"].as_str(), last["data"]["phase"].as_str()),
        (Some("lifecycle"), Some("end"))
    );
    // chat events: status phases, deltas with the cumulative message, final.
    let chat = events_of(&c, "chat", "run-1");
    assert_eq!(chat[0]["state"], "status");
    let fin_chat = chat.last().unwrap();
    assert_eq!(fin_chat["state"], "final");
    assert_eq!(
        fin_chat["message"]["content"][0]["text"],
        "echo: hello brave world"
    );

    // What the upstream saw: streaming, the model id, the system prompt, the bearer key.
    let r = up
        .state
        .last("/v1/chat/completions")
        .expect("upstream called");
    assert_eq!(r.body["model"], "echo-1");
    assert_eq!(r.body["stream"], true);
    assert_eq!(r.authorization.as_deref(), Some("Bearer sk-secret-fake"));
    let msgs = r.body["messages"].as_array().unwrap();
    assert_eq!(msgs[0]["role"], "system");
    assert_eq!(msgs.last().unwrap()["content"], "hello brave world");

    // Same key again after completion: exactly the stored final, no new upstream call.
    let again = c.call("agent", json!({ "message": "hello brave world", "idempotencyKey": "run-1", "sessionKey": "s1" })).await;
    assert_eq!(again["payload"]["status"], "ok", "{again}");
    assert_eq!(
        again["payload"]["result"]["payloads"][0]["text"],
        "echo: hello brave world"
    );
    assert_eq!(up.state.count("/v1/chat/completions"), 1);

    // agent.wait on the finished run.
    let w = c
        .ok("agent.wait", json!({ "runId": "run-1", "timeoutMs": 1000 }))
        .await;
    assert_eq!(w["status"], "ok");
    assert_eq!(w["terminalReply"]["text"], "echo: hello brave world");
    let unknown = c
        .ok("agent.wait", json!({ "runId": "nope", "timeoutMs": 10 }))
        .await;
    assert_eq!(unknown, json!({ "runId": "nope", "status": "timeout" }));
    gw.stop().await;
}

#[tokio::test]
async fn agent_params_are_validated_and_scoped() {
    let (_up, gw) = setup(UpstreamOpts::default()).await;
    let (mut c, _) = operator(gw.addr, &["operator.write"]).await;
    let r = c.call("agent", json!({ "message": "x" })).await;
    assert_eq!(r["error"]["code"], "INVALID_REQUEST", "{r}");
    let r = c
        .call("agent", json!({ "message": "", "idempotencyKey": "k" }))
        .await;
    assert_eq!(r["error"]["code"], "INVALID_REQUEST", "{r}");
    let r = c
        .call(
            "agent",
            json!({ "message": "x", "idempotencyKey": "k", "bogus": 1 }),
        )
        .await;
    assert_eq!(r["error"]["code"], "INVALID_REQUEST", "{r}");
    let r = c
        .call(
            "agent",
            json!({ "message": "x", "idempotencyKey": "k", "agentId": "ghost" }),
        )
        .await;
    assert_eq!(r["error"]["code"], "INVALID_REQUEST", "{r}");
    let (mut ro, _) = operator(gw.addr, &["operator.read"]).await;
    let r = ro
        .call("agent", json!({ "message": "x", "idempotencyKey": "k2" }))
        .await;
    assert_eq!(r["error"]["code"], "FORBIDDEN", "{r}");
    let r = ro
        .call(
            "chat.send",
            json!({ "sessionKey": "s", "message": "x", "idempotencyKey": "k3" }),
        )
        .await;
    assert_eq!(r["error"]["code"], "FORBIDDEN", "{r}");
    gw.stop().await;
}

#[tokio::test]
async fn chat_send_history_and_persistence_across_restart() {
    let up = Upstream::start(UpstreamOpts::default()).await;
    let cfg = agent_config(
        &fake("fake", &up.openai_base(), "openai-completions"),
        &["fake/echo-1"],
    );
    let gw = start_with(Setup::config(&cfg)).await;
    let (mut c, _) = operator(gw.addr, &["operator.write", "operator.read"]).await;
    let ack = c
        .ok(
            "chat.send",
            json!({ "sessionKey": "main", "message": "first words", "idempotencyKey": "c-1" }),
        )
        .await;
    assert_eq!(ack, json!({ "runId": "c-1", "status": "started" }));
    let fin = wait_chat_state(&mut c, "c-1", &["final"]).await;
    assert_eq!(fin["message"]["content"][0]["text"], "echo: first words");
    assert_eq!(fin["sessionKey"], "agent:main:main");
    let h = c.ok("chat.history", json!({ "sessionKey": "main" })).await;
    let m = h["messages"].as_array().unwrap();
    assert_eq!(m.len(), 2, "{h}");
    assert_eq!(m[0]["role"], "user");
    assert_eq!(m[0]["content"], "first words");
    assert_eq!(m[1]["role"], "assistant");
    assert_eq!(m[1]["content"][0]["text"], "echo: first words");
    assert_eq!(m[1]["provider"], "fake");
    assert_eq!(m[1]["model"], "echo-1");
    assert!(m[1]["__openclaw"]["id"].is_string());
    assert_eq!(h["totalMessages"], 2);
    assert_eq!(h["hasMore"], false);
    // Paging from the newest end.
    let p1 = c
        .ok("chat.history", json!({ "sessionKey": "main", "limit": 1 }))
        .await;
    assert_eq!(p1["messages"][0]["role"], "assistant");
    assert_eq!(p1["hasMore"], true);
    let p2 = c
        .ok(
            "chat.history",
            json!({ "sessionKey": "main", "limit": 1, "offset": 1 }),
        )
        .await;
    assert_eq!(p2["messages"][0]["role"], "user");
    // Delta cursor: nothing new, then the next exchange.
    let cursor = h["deltaCursor"].as_str().unwrap().to_string();
    let d = c
        .ok(
            "chat.history",
            json!({ "sessionKey": "main", "cursor": cursor }),
        )
        .await;
    assert_eq!(
        (d["kind"].as_str(), d["messages"].as_array().map(Vec::len)),
        (Some("delta"), Some(0))
    );
    // A delta also says which inputs wait outside the transcript (none: inputs are in it at
    // once), and carries the session row.
    assert_eq!(d["pendingInputs"], json!({ "items": [], "total": 0 }));
    assert_eq!(d["sessionInfo"]["key"], "agent:main:main");
    c.ok(
        "chat.send",
        json!({ "sessionKey": "main", "message": "second", "idempotencyKey": "c-2" }),
    )
    .await;
    wait_chat_state(&mut c, "c-2", &["final"]).await;
    let d = c
        .ok(
            "chat.history",
            json!({ "sessionKey": "main", "cursor": cursor }),
        )
        .await;
    assert_eq!(d["messages"].as_array().unwrap().len(), 2, "{d}");
    // Context: the second upstream call carried the first exchange.
    let r = up.state.last("/v1/chat/completions").unwrap();
    let texts: Vec<String> = r.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].to_string())
        .collect();
    assert!(
        texts.iter().any(|t| t.contains("echo: first words")),
        "{texts:?}"
    );
    let list = c.ok("sessions.list", json!({})).await;
    assert_eq!(list["sessions"][0]["key"], "agent:main:main");
    assert_eq!(list["sessions"][0]["messageCount"], 4);
    assert_eq!(list["totalCount"], 1);

    // Restart on the same state dir: everything is still there.
    let dir = gw.stop().await;
    let gw = start_with(Setup {
        dir: Some(dir),
        ..Setup::config(&cfg)
    })
    .await;
    let (mut c, _) = operator(gw.addr, &["operator.read"]).await;
    let h2 = c.ok("chat.history", json!({ "sessionKey": "main" })).await;
    assert_eq!(h2["messages"].as_array().unwrap().len(), 4, "{h2}");
    assert_eq!(h2["sessionId"], h["sessionId"]);
    let got = c
        .ok("sessions.get", json!({ "key": "agent:main:main" }))
        .await;
    assert_eq!(got["messages"].as_array().unwrap().len(), 4);
    let got2 = c.ok("sessions.get", json!({ "sessionKey": "main" })).await;
    assert_eq!(got2["sessionId"], got["sessionId"]);
    // The idempotency record survives too.
    let (mut w, _) = operator(gw.addr, &["operator.write"]).await;
    let again = w
        .ok(
            "chat.send",
            json!({ "sessionKey": "main", "message": "first words", "idempotencyKey": "c-1" }),
        )
        .await;
    assert_eq!(again, json!({ "runId": "c-1", "status": "ok" }));
    assert_eq!(up.state.count("/v1/chat/completions"), 2);
    gw.stop().await;
}

#[tokio::test]
async fn sends_on_one_session_queue_and_run_in_order() {
    let (up, gw) = setup(UpstreamOpts {
        chunk_delay: Duration::from_millis(20),
        ..Default::default()
    })
    .await;
    let (mut c, _) = operator(gw.addr, &["operator.write", "operator.read"]).await;
    for (i, m) in ["alpha", "beta", "gamma"].iter().enumerate() {
        c.ok(
            "chat.send",
            json!({ "sessionKey": "q", "message": m, "idempotencyKey": format!("q-{i}") }),
        )
        .await;
    }
    // Record every chat event of the session in arrival order: a run may stream only
    // while no other run of the session is between its first delta and its final.
    let mut finals = Vec::new();
    let mut streaming: Option<String> = None;
    let mut deltas_per_run = std::collections::HashMap::<String, usize>::new();
    while finals.len() < 3 {
        let v = c
            .until("a chat event of session q", |v| v["event"] == "chat")
            .await;
        let run = v["payload"]["runId"].as_str().unwrap().to_string();
        match v["payload"]["state"].as_str().unwrap() {
            "delta" => {
                if let Some(active) = &streaming {
                    assert_eq!(active, &run, "{run} streams while {active} is not final");
                }
                streaming = Some(run.clone());
                *deltas_per_run.entry(run).or_default() += 1;
            }
            "final" => {
                assert!(
                    streaming.as_deref().is_none_or(|a| a == run),
                    "{run} finished while {streaming:?} streams"
                );
                streaming = None;
                finals.push(run);
            }
            // Phase reports (preparing_context, starting_model) carry no text.
            "status" => {}
            other => panic!("unexpected chat state {other}: {v}"),
        }
    }
    assert_eq!(finals, ["q-0", "q-1", "q-2"]);
    for run in &finals {
        assert!(
            deltas_per_run.get(run).copied().unwrap_or(0) > 0,
            "{run} streamed"
        );
    }
    let h = c.ok("chat.history", json!({ "sessionKey": "q" })).await;
    let roles_texts: Vec<(String, String)> = h["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let t = m["content"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| m["content"][0]["text"].as_str().unwrap().to_string());
            (m["role"].as_str().unwrap().to_string(), t)
        })
        .collect();
    let expect: Vec<(String, String)> = [
        ("user", "alpha"),
        ("assistant", "echo: alpha"),
        ("user", "beta"),
        ("assistant", "echo: beta"),
        ("user", "gamma"),
        ("assistant", "echo: gamma"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(roles_texts, expect);
    // The third call saw both earlier exchanges, in order.
    let last = up.state.last("/v1/chat/completions").unwrap();
    let n = last.body["messages"].as_array().unwrap().len();
    assert_eq!(n, 1 + 5, "system + 5 turns: {}", last.body);
    gw.stop().await;
}

#[tokio::test]
async fn abort_cancels_the_upstream_request_at_once() {
    let (up, gw) = setup(UpstreamOpts::default()).await;
    let (mut c, _) = operator(gw.addr, &["operator.write", "operator.read"]).await;
    let id = c
        .send_req(
            "agent",
            json!({ "message": "HANG please", "idempotencyKey": "h-1", "sessionKey": "h" }),
        )
        .await;
    assert_eq!(c.response(&id).await["payload"]["status"], "accepted");
    up.state.wait_held(1).await;
    // While it runs, the same key is in flight.
    let dup = c
        .call(
            "agent",
            json!({ "message": "HANG please", "idempotencyKey": "h-1", "sessionKey": "h" }),
        )
        .await;
    assert_eq!(dup["payload"]["status"], "in_flight", "{dup}");
    let a = c
        .ok("chat.abort", json!({ "sessionKey": "h", "runId": "h-1" }))
        .await;
    assert_eq!(a, json!({ "ok": true, "aborted": true, "runIds": ["h-1"] }));
    let fin = final_res(&mut c, &id).await;
    assert_eq!(fin["ok"], true, "{fin}");
    assert_eq!(fin["payload"]["status"], "timeout");
    assert_eq!(fin["payload"]["summary"], "aborted");
    assert_eq!(fin["payload"]["stopReason"], "rpc");
    tokio::time::timeout(Duration::from_secs(10), up.state.wait_disconnects(1))
        .await
        .expect("upstream saw the abort");
    let aborted = wait_chat_state(&mut c, "h-1", &["aborted"]).await;
    assert_eq!(aborted["stopReason"], "rpc");
    let w = c
        .ok("agent.wait", json!({ "runId": "h-1", "timeoutMs": 1000 }))
        .await;
    assert_eq!(w["status"], "error");
    // The socket is still usable, and a second abort finds nothing.
    let a = c.ok("chat.abort", json!({ "sessionKey": "h" })).await;
    assert_eq!(a["aborted"], false);
    gw.stop().await;
}

#[tokio::test]
async fn a_caller_that_disconnects_cancels_its_run() {
    let (up, gw) = setup(UpstreamOpts::default()).await;
    let (mut c, _) = operator(gw.addr, &["operator.write"]).await;
    let id = c
        .send_req(
            "agent",
            json!({ "message": "HANG", "idempotencyKey": "d-1" }),
        )
        .await;
    assert_eq!(c.response(&id).await["payload"]["status"], "accepted");
    up.state.wait_held(1).await;
    drop(c);
    tokio::time::timeout(Duration::from_secs(10), up.state.wait_disconnects(1))
        .await
        .expect("upstream request cancelled");
    let (mut o, _) = operator(gw.addr, &["operator.write"]).await;
    let w = o
        .ok("agent.wait", json!({ "runId": "d-1", "timeoutMs": 5000 }))
        .await;
    assert_eq!(w["status"], "error", "{w}");
    gw.stop().await;
}

#[tokio::test]
async fn sessions_events_subscriptions_reset_and_delete() {
    let (_up, gw) = setup(UpstreamOpts::default()).await;
    let (mut watcher, _) = operator(gw.addr, &["operator.read"]).await;
    watcher.ok("sessions.subscribe", json!({})).await;
    watcher
        .ok(
            "sessions.messages.subscribe",
            json!({ "key": "agent:main:w" }),
        )
        .await;
    let (mut c, _) = operator(
        gw.addr,
        &["operator.write", "operator.read", "operator.admin"],
    )
    .await;
    // A socket with the same scopes but no subscriptions, connected before the run starts.
    let (mut other, _) = operator(gw.addr, &["operator.read"]).await;
    c.ok(
        "chat.send",
        json!({ "sessionKey": "w", "message": "watch me", "idempotencyKey": "w-1" }),
    )
    .await;
    // The watcher sees the session change, the messages and the run's chat events.
    let ch = watcher.event("sessions.changed").await;
    assert_eq!(ch["payload"]["sessionKey"], "agent:main:w");
    let sm = watcher.event("session.message").await;
    assert_eq!(sm["payload"]["message"]["content"], "watch me");
    let fin = wait_chat_state(&mut watcher, "w-1", &["final"]).await;
    assert_eq!(fin["message"]["content"][0]["text"], "echo: watch me");
    wait_chat_state(&mut c, "w-1", &["final"]).await;
    // The unsubscribed socket got none of it: everything it received up to a barrier
    // published after the run's final event.
    barrier(&gw, 4242);
    let seen = until_barrier(&mut other, 4242).await;
    assert!(
        seen.iter()
            .all(|e| e != "chat" && e != "session.message" && e != "agent"),
        "unsubscribed socket saw {seen:?}"
    );
    // … while the watcher, subscribed, did receive through the same barrier.
    barrier(&gw, 4243);
    until_barrier(&mut watcher, 4243).await;
    // Identity and agents.
    let ids = c.ok("agents.list", json!({})).await;
    assert_eq!(ids["defaultId"], "main");
    assert_eq!(ids["agents"][0]["model"]["primary"], "fake/echo-1");
    let ident = c
        .ok(
            "agent.identity.get",
            json!({ "sessionKey": "agent:main:w" }),
        )
        .await;
    assert_eq!(ident["agentId"], "main");
    // Inject, reset, delete.
    c.ok(
        "chat.inject",
        json!({ "sessionKey": "w", "message": "operator note" }),
    )
    .await;
    let h = c.ok("chat.history", json!({ "sessionKey": "w" })).await;
    assert_eq!(h["messages"].as_array().unwrap().len(), 3);
    let old_sid = h["sessionId"].clone();
    let r = c.ok("sessions.reset", json!({ "key": "w" })).await;
    assert_ne!(r["sessionId"], old_sid);
    let h = c.ok("chat.history", json!({ "sessionKey": "w" })).await;
    assert_eq!(h["messages"].as_array().unwrap().len(), 0);
    let d = c.ok("sessions.delete", json!({ "key": "w" })).await;
    assert_eq!(
        d,
        json!({ "ok": true, "key": "agent:main:w", "deleted": true, "archived": [] })
    );
    let l = c.ok("sessions.list", json!({})).await;
    assert_eq!(l["totalCount"], 0);
    // A session that is gone reads as an empty transcript (as on the Node gateway).
    let r = c.ok("sessions.get", json!({ "key": "w" })).await;
    assert_eq!(r, json!({ "messages": [] }));
    gw.stop().await;
}

#[tokio::test]
async fn sessions_list_pages_and_filters() {
    let (_up, gw) = setup(UpstreamOpts::default()).await;
    let (mut c, _) = operator(gw.addr, &["operator.write", "operator.read"]).await;
    for i in 0..5 {
        let key = format!("p{i}");
        c.ok(
            "chat.send",
            json!({ "sessionKey": key, "message": "hi", "idempotencyKey": format!("p-{i}") }),
        )
        .await;
        wait_chat_state(&mut c, &format!("p-{i}"), &["final"]).await;
    }
    let l = c.ok("sessions.list", json!({ "limit": 2 })).await;
    assert_eq!(l["sessions"].as_array().unwrap().len(), 2);
    assert_eq!(
        (
            l["totalCount"].as_u64(),
            l["hasMore"].as_bool(),
            l["nextOffset"].as_u64()
        ),
        (Some(5), Some(true), Some(2))
    );
    assert_eq!(l["sessions"][0]["key"], "agent:main:p4", "newest first");
    let l = c
        .ok("sessions.list", json!({ "limit": 2, "offset": 4 }))
        .await;
    assert_eq!(
        (
            l["sessions"].as_array().unwrap().len(),
            l["hasMore"].as_bool()
        ),
        (1, Some(false))
    );
    let l = c.ok("sessions.list", json!({ "search": "p3" })).await;
    assert_eq!(l["totalCount"], 1);
    let l = c.ok("sessions.list", json!({ "agentId": "other" })).await;
    assert_eq!(l["totalCount"], 0);
    let r = c.call("sessions.list", json!({ "limit": 0 })).await;
    assert_eq!(r["error"]["code"], "INVALID_REQUEST");
    gw.stop().await;
}

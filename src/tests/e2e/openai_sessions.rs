//! What the OpenAI surface leaves in the session store when the caller names no session:
//! the run starts while the user message commits and the caller is answered while the reply
//! commits, yet every session, read right after its answer, holds both messages in order.

use serde_json::{json, Value};

use crate::upstream::{Upstream, UpstreamOpts};
use crate::util::*;

fn config(base: &str) -> String {
    format!(
        r#"{{
  gateway: {{ mode: "local", auth: {{ mode: "token" }},
             http: {{ endpoints: {{ chatCompletions: {{ enabled: true }} }} }} }},
  models: {{ providers: {{
    fake: {{ baseUrl: "{base}", apiKey: "sk-up", api: "openai-completions", models: [{{ id: "echo-1" }}] }} }} }},
  agents: {{ defaults: {{ model: "fake/echo-1" }} }}
}}"#
    )
}

async fn complete(gw: &TestGateway, text: &str) -> Value {
    let r = http_client()
        .post(format!("{}/v1/chat/completions", gw.http()))
        .bearer_auth(TOKEN)
        .json(&json!({ "model": "openclaw", "messages": [{ "role": "user", "content": text }] }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

#[tokio::test]
async fn sessionless_requests_are_stored_whole_and_in_order_when_answered() {
    let up = Upstream::start(UpstreamOpts::default()).await;
    let gw = start_with(Setup::config(&config(&up.openai_base()))).await;
    let (mut c, _) = operator(gw.addr, &["operator.read"]).await;
    // One at a time: each answer is followed at once by a read of its session.
    for i in 0..5 {
        let text = format!("alone {i}");
        let answer = complete(&gw, &text).await;
        let reply = answer["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .to_string();
        let list = c.ok("sessions.list", json!({ "limit": 1 })).await;
        let key = list["sessions"][0]["key"].as_str().unwrap().to_string();
        assert!(key.starts_with("agent:main:openai:"), "{list}");
        let h = c.ok("chat.history", json!({ "sessionKey": key })).await;
        let want = vec![("user".to_string(), text), ("assistant".to_string(), reply)];
        assert_eq!(role_texts(&h), want, "{h}");
    }
    // Many at once: every session still holds exactly its own pair.
    let answers = futures_util::future::join_all((0..24).map(|i| {
        let gw = &gw;
        async move { (i, complete(gw, &format!("together {i}")).await) }
    }))
    .await;
    let list = c.ok("sessions.list", json!({ "limit": 100 })).await;
    assert_eq!(list["totalCount"], 29, "{list}");
    let mut seen = 0;
    for s in list["sessions"].as_array().unwrap() {
        let h = c
            .ok("chat.history", json!({ "sessionKey": s["key"] }))
            .await;
        let t = role_texts(&h);
        assert_eq!(t.len(), 2, "{h}");
        assert_eq!(
            (t[0].0.as_str(), t[1].0.as_str()),
            ("user", "assistant"),
            "{h}"
        );
        if let Some(i) = t[0].1.strip_prefix("together ") {
            let (_, a) = &answers[i.parse::<usize>().unwrap()];
            assert_eq!(a["choices"][0]["message"]["content"], t[1].1.as_str());
            seen += 1;
        }
    }
    assert_eq!(seen, 24);
    gw.stop().await;
}

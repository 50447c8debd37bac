//! What goes into a run besides the message: provider keys resolved from env and headers
//! (never shown by `config.get`), and `chat.send` image attachments sent upstream.

use serde_json::json;

use crate::agents::{agent_config, fake, final_res, setup, wait_chat_state};
use crate::upstream::{Upstream, UpstreamOpts};
use crate::util::*;

#[tokio::test]
async fn provider_api_keys_never_reach_config_get() {
    let up = Upstream::start(UpstreamOpts::default()).await;
    let cfg = agent_config(
        &fake("fake", &up.openai_base(), "openai-completions"),
        &["fake/echo-1"],
    )
    .replace(
        "apiKey: \"sk-secret-fake\"",
        "apiKey: \"${FAKE_PROVIDER_KEY}\", headers: { \"X-Api-Token\": \"hdr-secret-1\" }",
    );
    let mut setup = Setup::config(&cfg);
    setup
        .env
        .push(("FAKE_PROVIDER_KEY".into(), "sk-from-env-42".into()));
    let gw = start_with(setup).await;
    let (mut c, _) = operator(gw.addr, ALL_SCOPES).await;
    let v = c.ok("config.get", json!({})).await;
    let text = v.to_string();
    assert!(!text.contains("sk-from-env-42"), "{text}");
    assert!(!text.contains("hdr-secret-1"), "{text}");
    // The resolved key is what the upstream receives.
    let (mut w, _) = operator(gw.addr, &["operator.write"]).await;
    let id = w
        .send_req(
            "agent",
            json!({ "message": "k", "idempotencyKey": "key-1" }),
        )
        .await;
    final_res(&mut w, &id).await;
    let r = up.state.last("/v1/chat/completions").unwrap();
    assert_eq!(r.authorization.as_deref(), Some("Bearer sk-from-env-42"));
    assert_eq!(r.header("x-api-token"), Some("hdr-secret-1"));
    gw.stop().await;
}

#[tokio::test]
async fn chat_send_image_attachments_go_upstream() {
    let (up, gw) = setup(UpstreamOpts::default()).await;
    let (mut c, _) = operator(gw.addr, &["operator.write", "operator.read"]).await;
    let png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
    c.ok("chat.send", json!({ "sessionKey": "img", "message": "look", "idempotencyKey": "img-1",
        "attachments": [{ "type": "image", "mimeType": "image/png", "fileName": "a.png", "content": png }] }))
        .await;
    wait_chat_state(&mut c, "img-1", &["final"]).await;
    let body = up.state.last("/v1/chat/completions").unwrap().body;
    let last = body["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        last["content"][1]["image_url"]["url"],
        format!("data:image/png;base64,{png}")
    );
    let r = c
        .call("chat.send", json!({ "sessionKey": "img", "message": "x", "idempotencyKey": "img-2",
            "attachments": [{ "type": "image", "mimeType": "image/svg+xml", "content": "PHN2Zz4=" }] }))
        .await;
    assert_eq!(r["error"]["code"], "INVALID_REQUEST", "{r}");
    gw.stop().await;
}

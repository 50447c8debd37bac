//! The HTTP auth matrix of the `/v1/*` surface (http.md §2): password mode, scopes from
//! `x-openclaw-scopes` in `none` mode (403 with MISSING_SCOPE details), the admin-only
//! `x-openclaw-model` header, and the failed-auth lockout (429 + Retry-After).

use serde_json::{json, Value};

use crate::upstream::{Upstream, UpstreamOpts};
use crate::util::*;

fn config(base: &str, auth: &str) -> String {
    format!(
        r#"{{ gateway: {{ mode: "local", auth: {auth},
  http: {{ endpoints: {{ chatCompletions: {{ enabled: true }} }} }} }},
  models: {{ providers: {{ fake: {{ baseUrl: "{base}", apiKey: "k", api: "openai-completions", models: [{{ id: "echo-1" }}] }} }} }},
  agents: {{ defaults: {{ model: "fake/echo-1" }} }} }}"#
    )
}

fn chat() -> Value {
    json!({ "model": "openclaw", "messages": [{ "role": "user", "content": "hi" }] })
}

#[tokio::test]
async fn password_mode_accepts_the_password_only() {
    let up = Upstream::start(UpstreamOpts::default()).await;
    let cfg = config(
        &up.openai_base(),
        r#"{ mode: "password", password: "pw-123456" }"#,
    );
    let gw = start_with(Setup {
        env: vec![],
        ..Setup::config(&cfg)
    })
    .await;
    let c = http_client();
    let url = format!("{}/v1/chat/completions", gw.http());
    let r = c
        .post(&url)
        .bearer_auth("pw-123456")
        .json(&chat())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .post(&url)
        .bearer_auth(TOKEN)
        .json(&chat())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    gw.stop().await;
}

#[tokio::test]
async fn none_mode_scopes_come_from_the_header() {
    let up = Upstream::start(UpstreamOpts::default()).await;
    let gw = start_with(Setup {
        env: vec![],
        ..Setup::config(&config(&up.openai_base(), r#"{ mode: "none" }"#))
    })
    .await;
    let c = http_client();
    let models = format!("{}/v1/models", gw.http());
    let url = format!("{}/v1/chat/completions", gw.http());
    // No header: the full default set.
    assert_eq!(
        c.post(&url).json(&chat()).send().await.unwrap().status(),
        200
    );
    // Read-only: models yes, completions no (403 with the MISSING_SCOPE object).
    let r = c
        .get(&models)
        .header("x-openclaw-scopes", "operator.read")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .post(&url)
        .header("x-openclaw-scopes", "operator.read")
        .json(&chat())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["details"]["code"], "MISSING_SCOPE");
    assert_eq!(v["error"]["details"]["missingScope"], "operator.write");
    // Empty header: no scopes at all.
    let r = c
        .get(&models)
        .header("x-openclaw-scopes", "")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // x-openclaw-model needs admin.
    let r = c
        .post(&url)
        .header("x-openclaw-scopes", "operator.write")
        .header("x-openclaw-model", "fake/echo-1")
        .json(&chat())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["message"], "missing scope: operator.admin");
    gw.stop().await;
}

#[tokio::test]
async fn wrong_tokens_lock_out_with_retry_after() {
    let up = Upstream::start(UpstreamOpts::default()).await;
    let cfg = config(
        &up.openai_base(),
        r#"{ mode: "token", rateLimit: { maxAttempts: 3, windowMs: 60000, lockoutMs: 60000, exemptLoopback: false } }"#,
    );
    let gw = start_with(Setup::config(&cfg)).await;
    let c = http_client();
    let url = format!("{}/v1/models", gw.http());
    for _ in 0..2 {
        assert_eq!(
            c.get(&url)
                .bearer_auth("nope")
                .send()
                .await
                .unwrap()
                .status(),
            401
        );
    }
    let r = c.get(&url).bearer_auth("nope").send().await.unwrap();
    assert_eq!(r.status(), 429);
    let secs: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&secs), "{secs}");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["type"], "rate_limit_error");
    // Locked out even with the right token until the lockout ends.
    let r = c.get(&url).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(r.status(), 429);
    gw.stop().await;
}

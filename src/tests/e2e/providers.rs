//! Model providers against the scripted upstream, both dialects: streamed echo (delta order,
//! usage, stop reason, headers, system prompt placement), every failure class (HTTP status,
//! malformed stream, refused connect, idle timeouts, dropped connection), cancellation by
//! dropping the future, and that no error message ever contains the API key.

use std::time::{Duration, Instant};

use openclaw::provider::{
    http_client, stream_completion, Api, ChatMessage, Completion, ModelConfig, ModelRequest,
    ProviderConfig, ProviderError, ProviderErrorKind, Role, Usage,
};
use serde_json::{json, Value};

use crate::upstream::{embed, Upstream, UpstreamOpts, EMBEDDING_DIMS};

/// The key every provider sends; it must never show up in an error message.
const KEY: &str = "sk-test-SECRET-0123456789abcdef";
/// Idle deadline for calls that should succeed or fail fast.
const IDLE: Duration = Duration::from_secs(10);
/// Guard on waits for fixture events (a failure, not a synchronisation sleep).
const GUARD: Duration = Duration::from_secs(10);
const BOTH: [Api; 2] = [Api::OpenAiCompletions, Api::AnthropicMessages];

fn provider(api: Api, up: &Upstream, key: Option<&str>) -> ProviderConfig {
    let base_url = match api {
        Api::OpenAiCompletions => up.openai_base(),
        Api::AnthropicMessages => up.anthropic_base(),
    };
    ProviderConfig {
        id: "fake".into(),
        base_url,
        api_key: key.map(str::to_string),
        api,
        headers: vec![("x-extra".into(), "on".into())],
        models: vec![ModelConfig {
            id: "echo-1".into(),
            name: None,
            context_window: None,
            max_tokens: None,
            cost: None,
        }],
    }
}

fn request(text: &str) -> ModelRequest {
    ModelRequest {
        model: "echo-1".into(),
        system: Some("be brief".into()),
        messages: vec![
            ChatMessage {
                role: Role::User,
                content: "earlier question".into(),
            },
            ChatMessage {
                role: Role::Assistant,
                content: "earlier answer".into(),
            },
            ChatMessage {
                role: Role::User,
                content: text.into(),
            },
        ],
        max_tokens: None,
        images: Vec::new(),
    }
}

/// One call; the deltas as received (with arrival times) and the result.
async fn call(
    p: &ProviderConfig,
    r: &ModelRequest,
    idle: Duration,
) -> (Vec<(String, Instant)>, Result<Completion, ProviderError>) {
    let client = http_client();
    let mut deltas = Vec::new();
    let res = stream_completion(&client, p, r, idle, &mut |d: &str| {
        deltas.push((d.to_string(), Instant::now()))
    })
    .await;
    (deltas, res)
}

fn texts(d: &[(String, Instant)]) -> Vec<&str> {
    d.iter().map(|(t, _)| t.as_str()).collect()
}

/// The call must fail; the message must be free of the key.
fn failed(res: Result<Completion, ProviderError>) -> ProviderError {
    let e = res.expect_err("the call should fail");
    assert!(!e.message.contains(KEY), "key leaked: {}", e.message);
    assert!(!format!("{e:?}").contains(KEY), "key leaked: {e:?}");
    e
}

#[tokio::test]
async fn openai_echo_streams_deltas_in_order() {
    let up = Upstream::start(UpstreamOpts {
        require_key: Some(KEY.into()),
        ..UpstreamOpts::default()
    })
    .await;
    let p = provider(Api::OpenAiCompletions, &up, Some(KEY));
    let (deltas, res) = call(&p, &request("hello there world"), IDLE).await;
    let c = res.expect("completion");
    assert_eq!(texts(&deltas), ["echo:", " hello", " there", " world"]);
    assert_eq!(c.text, "echo: hello there world");
    assert_eq!(c.stop_reason, "stop");
    // 2 (system) + 2 + 2 + 3 words in; 4 chunks out.
    assert_eq!(
        c.usage,
        Usage {
            input: 9,
            output: 4
        }
    );

    let rec = up.state.last("/v1/chat/completions").expect("recorded");
    assert_eq!(rec.method, "POST");
    assert_eq!(
        rec.authorization.as_deref(),
        Some(&*format!("Bearer {KEY}"))
    );
    assert_eq!(rec.x_api_key, None);
    assert_eq!(rec.header("accept"), Some("text/event-stream"));
    assert_eq!(rec.header("content-type"), Some("application/json"));
    assert_eq!(rec.header("x-extra"), Some("on"));
    let b = &rec.body;
    assert_eq!(b["model"], "echo-1");
    assert_eq!(b["stream"], true);
    assert_eq!(b["stream_options"], json!({ "include_usage": true }));
    assert!(b.get("max_tokens").is_none());
    let roles: Vec<&str> = b["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["system", "user", "assistant", "user"]);
    assert_eq!(b["messages"][0]["content"], "be brief");
    assert_eq!(b["messages"][3]["content"], "hello there world");
    assert_eq!(up.state.count("/v1/chat/completions"), 1);
}

#[tokio::test]
async fn anthropic_echo_streams_deltas_in_order() {
    let up = Upstream::start(UpstreamOpts {
        require_key: Some(KEY.into()),
        ..UpstreamOpts::default()
    })
    .await;
    let p = provider(Api::AnthropicMessages, &up, Some(KEY));
    let mut r = request("hello there world");
    r.max_tokens = Some(64);
    let (deltas, res) = call(&p, &r, IDLE).await;
    let c = res.expect("completion");
    assert_eq!(texts(&deltas), ["echo:", " hello", " there", " world"]);
    assert_eq!(c.text, "echo: hello there world");
    assert_eq!(c.stop_reason, "stop", "end_turn is normalized");
    assert_eq!(
        c.usage,
        Usage {
            input: 9,
            output: 4
        }
    );

    let rec = up.state.last("/v1/messages").expect("recorded");
    assert_eq!(rec.x_api_key.as_deref(), Some(KEY));
    assert_eq!(rec.authorization, None);
    assert_eq!(rec.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(rec.header("content-type"), Some("application/json"));
    assert_eq!(rec.header("x-extra"), Some("on"));
    let b = &rec.body;
    assert_eq!(b["system"], "be brief");
    assert_eq!(b["max_tokens"], 64);
    assert_eq!(b["stream"], true);
    assert_eq!(
        b["messages"],
        json!([
            { "role": "user", "content": "earlier question" },
            { "role": "assistant", "content": "earlier answer" },
            { "role": "user", "content": "hello there world" },
        ])
    );
}

#[tokio::test]
async fn anthropic_defaults_and_a_v1_base_url() {
    let up = Upstream::start(UpstreamOpts::default()).await;
    let mut p = provider(Api::AnthropicMessages, &up, None);
    p.base_url = format!("{}/", up.openai_base()); // ".../v1/" → ".../v1/messages"
    let mut r = request("hi");
    r.system = None;
    let (_, res) = call(&p, &r, IDLE).await;
    assert_eq!(res.expect("completion").text, "echo: hi");
    let rec = up.state.last("/v1/messages").expect("recorded");
    assert_eq!(rec.body["max_tokens"], 4096);
    assert!(rec.body.get("system").is_none());
    assert_eq!(rec.x_api_key, None);
}

#[tokio::test]
async fn deltas_are_forwarded_before_the_stream_ends() {
    let up = Upstream::start(UpstreamOpts::default()).await;
    let client = http_client();
    for (i, api) in BOTH.into_iter().enumerate() {
        let p = provider(api, &up, Some(KEY));
        let r = request("STALL here");
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut on_delta = move |d: &str| {
            let _ = tx.send(d.to_string());
        };
        // The upstream sends every word, then holds the stream open: each delta must reach
        // the callback while the call is still running.
        let mut fut = Box::pin(stream_completion(&client, &p, &r, IDLE, &mut on_delta));
        let mut got = Vec::new();
        while got.len() < 3 {
            tokio::select! {
                res = &mut fut => panic!("{api:?}: a held call finished: {res:?}"),
                d = rx.recv() => got.push(d.expect("delta")),
                _ = tokio::time::sleep(GUARD) => panic!("{api:?}: deltas withheld: {got:?}"),
            }
        }
        assert_eq!(got, ["echo:", " STALL", " here"], "{api:?}");
        drop(fut);
        tokio::time::timeout(GUARD, up.state.wait_disconnects(i + 1))
            .await
            .unwrap_or_else(|_| panic!("{api:?}: dropping the future closes the request"));
    }
}

#[tokio::test]
async fn openai_non_stream_json_is_accepted() {
    let up = Upstream::start(UpstreamOpts::default()).await;
    let p = provider(Api::OpenAiCompletions, &up, Some(KEY));
    let (deltas, res) = call(&p, &request("NOSTREAM please"), IDLE).await;
    let c = res.expect("completion");
    assert_eq!(texts(&deltas), ["echo: NOSTREAM please"]);
    assert_eq!(c.text, "echo: NOSTREAM please");
    assert_eq!(c.stop_reason, "stop");
    assert_eq!(
        c.usage,
        Usage {
            input: 8,
            output: 3
        }
    );
}

#[tokio::test]
async fn http_failures_are_classified() {
    let up = Upstream::start(UpstreamOpts::default()).await;
    let cases = [
        ("FAIL400", 400, "fake upstream bad request (FAIL400)"),
        ("FAIL401", 401, "fake upstream unauthorized (FAIL401)"),
        ("FAIL429", 429, "fake upstream rate limited (FAIL429)"),
        ("FAIL500", 500, "fake upstream internal error (FAIL500)"),
    ];
    for api in BOTH {
        let p = provider(api, &up, Some(KEY));
        for (word, status, upstream_msg) in cases {
            let (deltas, res) = call(&p, &request(word), IDLE).await;
            let e = failed(res);
            assert!(deltas.is_empty());
            let kind = match status {
                400 => ProviderErrorKind::BadRequest,
                401 => ProviderErrorKind::Auth,
                429 => ProviderErrorKind::RateLimit {
                    retry_after_ms: Some(7000),
                },
                _ => ProviderErrorKind::Server,
            };
            assert_eq!(e.kind, kind, "{api:?} {word}");
            assert_eq!(e.status, Some(status));
            assert_eq!(
                e.message,
                format!("fake/echo-1 request failed: HTTP {status}: {upstream_msg}")
            );
            assert_eq!(e.upstream.as_deref(), Some(upstream_msg), "{api:?} {word}");
        }
    }
}

#[tokio::test]
async fn a_wrong_key_is_an_auth_error_without_the_key() {
    let up = Upstream::start(UpstreamOpts {
        require_key: Some("the-right-key".into()),
        ..UpstreamOpts::default()
    })
    .await;
    for api in BOTH {
        let (_, res) = call(&provider(api, &up, Some(KEY)), &request("hi"), IDLE).await;
        let e = failed(res);
        assert_eq!(e.kind, ProviderErrorKind::Auth, "{api:?}");
        assert_eq!(e.status, Some(401));
        // The upstream quotes the key it got (as OpenAI does); the message must not.
        assert_eq!(
            e.message,
            "fake/echo-1 request failed: HTTP 401: fake upstream: invalid api key ***"
        );
    }
}

#[tokio::test]
async fn malformed_streams_are_rejected() {
    let up = Upstream::start(UpstreamOpts::default()).await;
    for api in BOTH {
        let (deltas, res) = call(&provider(api, &up, Some(KEY)), &request("MALFORMED"), IDLE).await;
        let e = failed(res);
        assert_eq!(e.kind, ProviderErrorKind::Malformed, "{api:?}");
        assert!(
            e.message.starts_with("fake/echo-1: invalid stream data"),
            "{}",
            e.message
        );
        assert!(e.message.contains("{not json"), "{}", e.message);
        assert!(deltas.is_empty());
    }
}

#[tokio::test]
async fn a_dropped_connection_fails_after_the_partial_deltas() {
    let up = Upstream::start(UpstreamOpts::default()).await;
    for api in BOTH {
        let (deltas, res) = call(&provider(api, &up, Some(KEY)), &request("DROP it"), IDLE).await;
        assert_eq!(texts(&deltas), ["echo:", " DROP"], "{api:?}");
        let e = failed(res);
        assert_eq!(e.kind, ProviderErrorKind::Malformed, "{api:?}");
        assert!(
            e.message.contains("upstream stream interrupted"),
            "{}",
            e.message
        );
    }
}

#[tokio::test]
async fn a_refused_connection_is_a_connect_error() {
    let (_held, dead) = crate::util::refusing_addr();
    let port = dead.port();
    let up = Upstream::start(UpstreamOpts::default()).await;
    for api in BOTH {
        let mut p = provider(api, &up, Some(KEY));
        p.base_url = format!("http://127.0.0.1:{port}/v1");
        let (_, res) = call(&p, &request("hi"), IDLE).await;
        let e = failed(res);
        assert_eq!(e.kind, ProviderErrorKind::Connect, "{api:?}");
        assert_eq!(e.status, None);
        assert_eq!(
            e.message,
            format!("fake/echo-1: connection refused by 127.0.0.1:{port}")
        );
    }
}

#[tokio::test]
async fn slow_headers_hit_the_idle_timeout() {
    let up = Upstream::start(UpstreamOpts::default()).await;
    for api in BOTH {
        let t0 = Instant::now();
        let idle = Duration::from_millis(200);
        let (_, res) = call(&provider(api, &up, Some(KEY)), &request("SLOWSTART"), idle).await;
        let e = failed(res);
        assert_eq!(e.kind, ProviderErrorKind::Timeout, "{api:?}");
        assert_eq!(e.message, "fake/echo-1: no data from upstream for 0.2 s");
        assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
    }
}

#[tokio::test]
async fn a_stalled_stream_hits_the_idle_timeout_and_closes_the_request() {
    let up = Upstream::start(UpstreamOpts {
        chunk_delay: Duration::from_secs(30),
        ..UpstreamOpts::default()
    })
    .await;
    for (i, api) in BOTH.into_iter().enumerate() {
        let idle = Duration::from_millis(300);
        let (deltas, res) = call(&provider(api, &up, Some(KEY)), &request("hi"), idle).await;
        let e = failed(res);
        assert_eq!(e.kind, ProviderErrorKind::Timeout, "{api:?}");
        assert!(
            deltas.is_empty(),
            "only the first (role/start) event arrived"
        );
        tokio::time::timeout(GUARD, up.state.wait_disconnects(i + 1))
            .await
            .expect("the upstream sees the client go away");
    }
}

#[tokio::test]
async fn dropping_the_future_closes_the_upstream_request() {
    let up = Upstream::start(UpstreamOpts::default()).await;
    let client = http_client();
    for (i, api) in BOTH.into_iter().enumerate() {
        let p = provider(api, &up, Some(KEY));
        let r = request("HANG");
        let mut sink = |_: &str| {};
        // Boxed, so that `drop` really drops the future (`tokio::pin!` would only shadow it).
        let mut fut = Box::pin(stream_completion(&client, &p, &r, IDLE, &mut sink));
        tokio::select! {
            res = &mut fut => panic!("{api:?}: a held call finished: {res:?}"),
            _ = up.state.wait_held(i + 1) => {}
            _ = tokio::time::sleep(GUARD) => panic!("{api:?}: the upstream never held the call"),
        }
        assert_eq!(*up.state.disconnects.borrow(), i);
        drop(fut);
        tokio::time::timeout(GUARD, up.state.wait_disconnects(i + 1))
            .await
            .unwrap_or_else(|_| panic!("{api:?}: dropping the future closes the request"));
    }
}

#[tokio::test]
async fn fixture_serves_embeddings_and_models() {
    let up = Upstream::start(UpstreamOpts::default()).await;
    let client = http_client();
    let body = json!({ "model": "echo-1", "input": ["one two", "three"] });
    let resp = client
        .post(format!("{}/embeddings", up.openai_base()))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
    assert_eq!(v["object"], "list");
    assert_eq!(v["usage"], json!({ "prompt_tokens": 3, "total_tokens": 3 }));
    assert_eq!(v["data"][1]["index"], 1);
    let e: Vec<f32> = serde_json::from_value(v["data"][0]["embedding"].clone()).unwrap();
    assert_eq!(e.len(), EMBEDDING_DIMS);
    assert_eq!(e, embed("one two"));
    assert_ne!(embed("one two"), embed("three"));
    let resp = client
        .get(format!("{}/models", up.openai_base()))
        .send()
        .await
        .unwrap();
    let m: Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
    assert_eq!(m["data"][0]["id"], "echo-1");
    assert_eq!(up.state.count("/v1/embeddings"), 1);
    assert_eq!(up.state.count("/v1/models"), 1);
}

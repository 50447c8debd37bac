//! Anthropic messages: `POST {baseUrl}/v1/messages` with `stream: true` — the event stream
//! `message_start`, `content_block_*`, `message_delta`, `message_stop` (plus `ping` and
//! `error`). Stop reasons are normalized to the OpenAI spelling.

use serde_json::{json, Value};

use super::http::{one_line, Call, Flow, ERROR_PREVIEW_CHARS};
use super::sse::SseEvent;
use super::*;

/// `anthropic-version` request header.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";
/// `max_tokens` when the request sets none (the API requires one).
pub const DEFAULT_MAX_TOKENS: u64 = 4096;

/// Stream one completion from the Anthropic messages API.
pub(super) async fn stream(
    client: &reqwest::Client,
    p: &ProviderConfig,
    r: &ModelRequest,
    idle: Duration,
    on_delta: &mut (dyn FnMut(&str) + Send),
) -> Result<Completion, ProviderError> {
    let call = Call::new(p, r, idle, &endpoint(&p.base_url))?;
    let mut headers = vec![
        ("content-type", "application/json"),
        ("accept", "text/event-stream"),
        ("anthropic-version", ANTHROPIC_VERSION),
    ];
    if let Some(k) = p.api_key.as_deref().filter(|k| !k.is_empty()) {
        headers.push(("x-api-key", k));
    }
    let body = request_body(r).to_string().into_bytes();
    let rb = call.post(client, &headers, &p.headers, body)?;
    let mut resp = call.send(rb).await?;
    if is_json(&resp) {
        return non_stream(&call, &mut resp, on_delta).await;
    }
    let mut st = StreamState::default();
    let done = call
        .drive_sse(&mut resp, |ev| st.on_event(&call, ev, on_delta))
        .await?;
    st.finish(&call, done)
}

/// `{base}/v1/messages`, or `{base}/messages` when the base already ends in `/v1`.
fn endpoint(base_url: &str) -> String {
    let base = base_url.trim_end_matches('/');
    if base.ends_with("/v1") {
        format!("{base}/messages")
    } else {
        format!("{base}/v1/messages")
    }
}

/// The messages request body.
fn request_body(r: &ModelRequest) -> Value {
    let with_images = r.image_target();
    let messages: Vec<Value> = r
        .messages
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let role = match m.role {
                Role::User => "user",
                Role::Assistant => "assistant",
            };
            if with_images == Some(i) {
                let mut parts: Vec<Value> = r
                    .images
                    .iter()
                    .map(|im| {
                        json!({ "type": "image", "source": {
                            "type": "base64", "media_type": im.mime, "data": im.data_b64 } })
                    })
                    .collect();
                parts.push(json!({ "type": "text", "text": m.content }));
                return json!({ "role": role, "content": parts });
            }
            json!({ "role": role, "content": m.content })
        })
        .collect();
    let mut body = json!({
        "model": r.model,
        "max_tokens": r.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
    });
    if let Some(s) = r.system.as_deref().filter(|s| !s.is_empty()) {
        body["system"] = json!(s);
    }
    body["messages"] = Value::Array(messages);
    body["stream"] = json!(true);
    body
}

/// Normalize a stop reason to the OpenAI spelling.
fn map_stop(reason: &str) -> String {
    match reason {
        "end_turn" => "stop",
        "max_tokens" => "length",
        "tool_use" => "tool_calls",
        other => other,
    }
    .to_string()
}

/// `Content-Type: application/json` (a proxy that did not stream).
fn is_json(resp: &reqwest::Response) -> bool {
    resp.headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/json")
        })
}

/// A whole `message` JSON body (the server did not stream).
async fn non_stream(
    call: &Call<'_>,
    resp: &mut reqwest::Response,
    on_delta: &mut (dyn FnMut(&str) + Send),
) -> Result<Completion, ProviderError> {
    let v = call.json_body(resp).await?;
    let blocks = v
        .get("content")
        .and_then(Value::as_array)
        .ok_or_else(|| call.malformed("response has no content"))?;
    let text: String = blocks
        .iter()
        .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
        .filter_map(|b| b.get("text").and_then(Value::as_str))
        .collect();
    if !text.is_empty() {
        on_delta(&text);
    }
    let n = |k: &str| v.pointer(k).and_then(Value::as_u64).unwrap_or(0);
    Ok(Completion {
        text,
        usage: Usage {
            input: n("/usage/input_tokens"),
            output: n("/usage/output_tokens"),
        },
        stop_reason: map_stop(
            v.get("stop_reason")
                .and_then(Value::as_str)
                .unwrap_or("stop"),
        ),
    })
}

/// What the stream produced so far.
#[derive(Default)]
struct StreamState {
    text: String,
    stop: Option<String>,
    usage: Usage,
}

impl StreamState {
    /// One SSE event.
    fn on_event(
        &mut self,
        call: &Call<'_>,
        ev: SseEvent,
        on_delta: &mut (dyn FnMut(&str) + Send),
    ) -> Result<Flow, ProviderError> {
        let data = ev.data.trim();
        if data.is_empty() {
            return Ok(Flow::Continue);
        }
        let v: Value = serde_json::from_str(data).map_err(|e| {
            let shown = one_line(data, ERROR_PREVIEW_CHARS);
            call.malformed(format_args!("invalid stream data ({e}): {shown}"))
        })?;
        let ty = v
            .get("type")
            .and_then(Value::as_str)
            .or(ev.event.as_deref())
            .unwrap_or("");
        let n = |k: &str| v.pointer(k).and_then(Value::as_u64);
        match ty {
            "message_start" => {
                self.usage.input = n("/message/usage/input_tokens").unwrap_or(self.usage.input);
                self.usage.output = n("/message/usage/output_tokens").unwrap_or(self.usage.output);
            }
            // Only text deltas; `input_json_delta` / `thinking_delta` are not forwarded.
            "content_block_delta" => {
                let text_delta =
                    v.pointer("/delta/type").and_then(Value::as_str) == Some("text_delta");
                let t = v.pointer("/delta/text").and_then(Value::as_str);
                if let Some(t) = t.filter(|t| text_delta && !t.is_empty()) {
                    on_delta(t);
                    self.text.push_str(t);
                }
            }
            "message_delta" => {
                if let Some(s) = v.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    self.stop = Some(map_stop(s));
                }
                self.usage.input = n("/usage/input_tokens").unwrap_or(self.usage.input);
                self.usage.output = n("/usage/output_tokens").unwrap_or(self.usage.output);
            }
            "message_stop" => return Ok(Flow::Done),
            "error" => return Err(call.upstream_error(v.get("error").unwrap_or(&v))),
            _ => {}
        }
        Ok(Flow::Continue)
    }

    /// The stream is over: by `message_stop` (`done`) or by the end of the body.
    fn finish(self, call: &Call<'_>, done: bool) -> Result<Completion, ProviderError> {
        super::http::completion(call, done, self.text, self.usage, self.stop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(system: Option<&str>, max: Option<u64>) -> ModelRequest {
        ModelRequest {
            model: "claude".into(),
            system: system.map(str::to_string),
            messages: vec![ChatMessage {
                role: Role::User,
                content: "hi".into(),
            }],
            max_tokens: max,
            images: Vec::new(),
        }
    }

    #[test]
    fn endpoint_handles_a_v1_suffix() {
        assert_eq!(
            endpoint("https://api.anthropic.com"),
            "https://api.anthropic.com/v1/messages"
        );
        assert_eq!(endpoint("https://x/"), "https://x/v1/messages");
        assert_eq!(endpoint("http://x/v1/"), "http://x/v1/messages");
        assert_eq!(endpoint("http://x/proxy/v1"), "http://x/proxy/v1/messages");
    }

    #[test]
    fn body_shape() {
        let b = request_body(&req(Some("sys"), None));
        assert_eq!(b["max_tokens"], 4096);
        assert_eq!(b["system"], "sys");
        assert_eq!(b["messages"], json!([{"role":"user","content":"hi"}]));
        assert_eq!(b["stream"], true);
        let b = request_body(&req(None, Some(5)));
        assert_eq!(b["max_tokens"], 5);
        assert!(b.get("system").is_none());
    }

    #[test]
    fn images_go_first_in_the_last_user_message() {
        let mut r = req(None, None);
        r.images = vec![ImagePart {
            mime: "image/png".into(),
            data_b64: "iVBO".into(),
        }];
        let b = request_body(&r);
        assert_eq!(
            b["messages"][0]["content"],
            json!([{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBO"}},
                   {"type":"text","text":"hi"}])
        );
    }

    #[test]
    fn stop_reasons_are_normalized() {
        assert_eq!(map_stop("end_turn"), "stop");
        assert_eq!(map_stop("max_tokens"), "length");
        assert_eq!(map_stop("tool_use"), "tool_calls");
        assert_eq!(map_stop("stop_sequence"), "stop_sequence");
    }

    #[test]
    fn events_accumulate_and_errors_classify() {
        let p = ProviderConfig {
            id: "a".into(),
            base_url: "http://h".into(),
            api_key: None,
            api: Api::AnthropicMessages,
            headers: vec![],
            models: vec![],
        };
        let r = req(None, None);
        let call = Call::new(&p, &r, Duration::from_secs(1), "http://h/v1/messages").unwrap();
        let mut st = StreamState::default();
        let mut got = Vec::new();
        let mut d = |t: &str| got.push(t.to_string());
        let evs = [
            r#"{"type":"message_start","message":{"usage":{"input_tokens":4,"output_tokens":1}}}"#,
            r#"{"type":"ping"}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{"}}"#,
            r#"{"type":"message_delta","delta":{"stop_reason":"max_tokens"},"usage":{"output_tokens":7}}"#,
        ];
        for e in evs {
            let ev = SseEvent {
                event: None,
                data: e.into(),
            };
            assert!(matches!(st.on_event(&call, ev, &mut d), Ok(Flow::Continue)));
        }
        let stop = SseEvent {
            event: Some("message_stop".into()),
            data: "{}".into(),
        };
        assert!(matches!(st.on_event(&call, stop, &mut d), Ok(Flow::Done)));
        let c = st.finish(&call, true).unwrap();
        assert_eq!(got, ["x"]);
        assert_eq!((c.text.as_str(), c.stop_reason.as_str()), ("x", "length"));
        assert_eq!(
            c.usage,
            Usage {
                input: 4,
                output: 7
            }
        );

        let err = SseEvent {
            event: Some("error".into()),
            data: r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#
                .into(),
        };
        let e = StreamState::default()
            .on_event(&call, err, &mut |_| {})
            .err()
            .unwrap();
        assert_eq!(e.kind, ProviderErrorKind::Server);
        assert_eq!(e.message, "a/claude: upstream error: Overloaded");
    }
}

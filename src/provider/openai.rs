//! OpenAI-compatible chat completions: `POST {baseUrl}/chat/completions` with
//! `stream: true` (SSE `data:` chunks ending in `[DONE]`) — OpenAI, Ollama, vLLM, llama.cpp,
//! OpenRouter… A server that ignores `stream: true` and answers `application/json` is read
//! as one non-stream completion.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use super::http::{one_line, Call, Flow, ERROR_PREVIEW_CHARS};
use super::*;

/// Stream one completion from an OpenAI-compatible server.
pub(super) async fn stream(
    client: &reqwest::Client,
    p: &ProviderConfig,
    r: &ModelRequest,
    idle: Duration,
    on_delta: &mut (dyn FnMut(&str) + Send),
) -> Result<Completion, ProviderError> {
    let url = format!("{}/chat/completions", p.base_url.trim_end_matches('/'));
    let call = Call::new(p, r, idle, &url)?;
    let bearer = p
        .api_key
        .as_deref()
        .filter(|k| !k.is_empty())
        .map(|k| format!("Bearer {k}"));
    let mut headers = vec![
        ("content-type", "application/json"),
        ("accept", "text/event-stream"),
    ];
    if let Some(b) = &bearer {
        headers.push(("authorization", b.as_str()));
    }
    let body = request_body(r).to_string().into_bytes();
    let rb = call.post(client, &headers, &p.headers, body)?;
    let mut resp = call.send(rb).await?;
    if is_json(&resp) {
        return non_stream(&call, &mut resp, on_delta).await;
    }
    let mut st = StreamState::default();
    let done = call
        .drive_sse(&mut resp, |ev| st.on_data(&call, &ev.data, on_delta))
        .await?;
    st.finish(&call, done)
}

/// The chat-completions request body.
fn request_body(r: &ModelRequest) -> Value {
    let mut messages = Vec::with_capacity(r.messages.len() + 1);
    if let Some(s) = r.system.as_deref().filter(|s| !s.is_empty()) {
        messages.push(json!({ "role": "system", "content": s }));
    }
    let with_images = r.image_target();
    for (i, m) in r.messages.iter().enumerate() {
        let role = match m.role {
            Role::User => "user",
            Role::Assistant => "assistant",
        };
        if with_images == Some(i) {
            let mut parts = vec![json!({ "type": "text", "text": m.content })];
            parts.extend(
                r.images.iter().map(
                    |im| json!({ "type": "image_url", "image_url": { "url": im.data_url() } }),
                ),
            );
            messages.push(json!({ "role": role, "content": parts }));
        } else {
            messages.push(json!({ "role": role, "content": m.content }));
        }
    }
    let mut body = json!({
        "model": r.model,
        "messages": messages,
        "stream": true,
        "stream_options": { "include_usage": true },
    });
    if let Some(n) = r.max_tokens {
        body["max_tokens"] = json!(n);
    }
    body
}

/// `Content-Type: application/json` (a server that did not stream).
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

/// Message content as text: a string, or the `text` of its parts.
fn content_text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect(),
        _ => String::new(),
    }
}

/// Token counts from a `usage` object; absent fields keep `prev`.
fn usage(u: &Value, prev: Usage) -> Usage {
    let n = |k: &str| u.get(k).and_then(Value::as_u64);
    Usage {
        input: n("prompt_tokens").unwrap_or(prev.input),
        output: n("completion_tokens").unwrap_or(prev.output),
    }
}

/// A `chat.completion` JSON body (the server ignored `stream: true`).
async fn non_stream(
    call: &Call<'_>,
    resp: &mut reqwest::Response,
    on_delta: &mut (dyn FnMut(&str) + Send),
) -> Result<Completion, ProviderError> {
    let v = call.json_body(resp).await?;
    let choice = v
        .pointer("/choices/0")
        .ok_or_else(|| call.malformed("response has no choices"))?;
    let text = content_text(choice.pointer("/message/content"));
    if !text.is_empty() {
        on_delta(&text);
    }
    let stop_reason = choice
        .get("finish_reason")
        .and_then(Value::as_str)
        .unwrap_or("stop")
        .to_string();
    let usage = v
        .get("usage")
        .map_or(Usage::default(), |u| usage(u, Usage::default()));
    Ok(Completion {
        text,
        usage,
        stop_reason,
    })
}

/// The fields of a stream chunk a run reads, borrowed from the chunk's text. A chunk whose
/// fields have other types fails this parse and is read as a tree instead
/// ([`StreamState::on_tree`]), so both read the same chunks the same way.
#[derive(Deserialize)]
struct Chunk<'a> {
    #[serde(borrow, default)]
    error: Option<&'a RawValue>,
    #[serde(borrow, default)]
    choices: Option<Vec<ChunkChoice<'a>>>,
    #[serde(borrow, default)]
    usage: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct ChunkChoice<'a> {
    #[serde(borrow, default)]
    delta: Option<ChunkDelta<'a>>,
    #[serde(borrow, default)]
    finish_reason: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct ChunkDelta<'a> {
    #[serde(borrow, default)]
    content: Option<Cow<'a, str>>,
}

/// What the stream produced so far.
#[derive(Default)]
struct StreamState {
    text: String,
    stop: Option<String>,
    usage: Usage,
}

impl StreamState {
    /// One SSE `data:` payload.
    fn on_data(
        &mut self,
        call: &Call<'_>,
        data: &str,
        on_delta: &mut (dyn FnMut(&str) + Send),
    ) -> Result<Flow, ProviderError> {
        let data = data.trim();
        if data.is_empty() {
            return Ok(Flow::Continue);
        }
        if data == "[DONE]" {
            return Ok(Flow::Done);
        }
        match serde_json::from_str::<Chunk<'_>>(data) {
            Ok(c) => self.on_chunk(call, c, on_delta)?,
            // Not the usual shape (a field of another type, a duplicate key…): read it
            // as a tree, which takes what it can and ignores the rest.
            Err(_) => self.on_tree(call, data, on_delta)?,
        }
        Ok(Flow::Continue)
    }

    /// A chunk of the usual shape, read in place: no map is built for the common case.
    fn on_chunk(
        &mut self,
        call: &Call<'_>,
        c: Chunk<'_>,
        on_delta: &mut (dyn FnMut(&str) + Send),
    ) -> Result<(), ProviderError> {
        if let Some(raw) = c.error {
            let err: Value = serde_json::from_str(raw.get()).unwrap_or(Value::Null);
            return Err(call.upstream_error(&err));
        }
        if let Some(choice) = c.choices.as_deref().and_then(<[_]>::first) {
            let delta = choice.delta.as_ref().and_then(|d| d.content.as_deref());
            if let Some(t) = delta.filter(|t| !t.is_empty()) {
                on_delta(t);
                self.text.push_str(t);
            }
            if let Some(f) = &choice.finish_reason {
                self.stop = Some(f.to_string());
            }
        }
        if let Some(raw) = c.usage.filter(|u| u.get().starts_with('{')) {
            let u: Value = serde_json::from_str(raw.get()).unwrap_or(Value::Null);
            self.usage = usage(&u, self.usage);
        }
        Ok(())
    }

    /// Any other chunk, read as a JSON tree.
    fn on_tree(
        &mut self,
        call: &Call<'_>,
        data: &str,
        on_delta: &mut (dyn FnMut(&str) + Send),
    ) -> Result<(), ProviderError> {
        let v: Value = serde_json::from_str(data).map_err(|e| {
            let shown = one_line(data, ERROR_PREVIEW_CHARS);
            call.malformed(format_args!("invalid stream data ({e}): {shown}"))
        })?;
        if let Some(err) = v.get("error").filter(|e| !e.is_null()) {
            return Err(call.upstream_error(err));
        }
        if let Some(choice) = v.pointer("/choices/0") {
            let delta = choice.pointer("/delta/content").and_then(Value::as_str);
            if let Some(t) = delta.filter(|t| !t.is_empty()) {
                on_delta(t);
                self.text.push_str(t);
            }
            if let Some(f) = choice.get("finish_reason").and_then(Value::as_str) {
                self.stop = Some(f.to_string());
            }
        }
        if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
            self.usage = usage(u, self.usage);
        }
        Ok(())
    }

    /// The stream is over: by `[DONE]` (`done`) or by the end of the body.
    fn finish(self, call: &Call<'_>, done: bool) -> Result<Completion, ProviderError> {
        super::http::completion(call, done, self.text, self.usage, self.stop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req() -> ModelRequest {
        ModelRequest {
            model: "m".into(),
            system: Some("sys".into()),
            messages: vec![
                ChatMessage {
                    role: Role::User,
                    content: "hi".into(),
                },
                ChatMessage {
                    role: Role::Assistant,
                    content: "yo".into(),
                },
            ],
            max_tokens: Some(9),
            images: Vec::new(),
        }
    }

    fn provider() -> ProviderConfig {
        ProviderConfig {
            id: "p".into(),
            base_url: "http://127.0.0.1:1/v1/".into(),
            api_key: Some("sk-secret".into()),
            api: Api::OpenAiCompletions,
            headers: vec![],
            models: vec![],
        }
    }

    #[test]
    fn images_become_content_parts_of_the_last_user_message() {
        let mut r = req();
        r.images = vec![ImagePart {
            mime: "image/jpeg".into(),
            data_b64: "/9j/".into(),
        }];
        let b = request_body(&r);
        let last = b["messages"]
            .as_array()
            .unwrap()
            .iter()
            .rposition(|m| m["role"] == "user")
            .unwrap();
        assert_eq!(
            b["messages"][last]["content"][1],
            json!({"type":"image_url","image_url":{"url":"data:image/jpeg;base64,/9j/"}})
        );
        assert_eq!(b["messages"][last]["content"][0]["type"], "text");
    }

    #[test]
    fn body_puts_system_first() {
        let b = request_body(&req());
        assert_eq!(b["messages"][0], json!({"role":"system","content":"sys"}));
        assert_eq!(b["messages"][1]["role"], "user");
        assert_eq!(b["messages"][2]["role"], "assistant");
        assert_eq!(b["stream"], true);
        assert_eq!(b["stream_options"]["include_usage"], true);
        assert_eq!(b["max_tokens"], 9);
    }

    #[test]
    fn stream_state_collects_deltas_usage_and_stop() {
        let p = provider();
        let r = req();
        let call = Call::new(&p, &r, Duration::from_secs(1), "http://h/v1").unwrap();
        let mut st = StreamState::default();
        let mut got = Vec::new();
        let mut d = |t: &str| got.push(t.to_string());
        let lines = [
            r#"{"choices":[{"index":0,"delta":{"role":"assistant"}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"a"}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":""}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"b"},"finish_reason":"length"}]}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2}}"#,
        ];
        for l in lines {
            assert!(matches!(st.on_data(&call, l, &mut d), Ok(Flow::Continue)));
        }
        assert!(matches!(
            st.on_data(&call, "[DONE]", &mut d),
            Ok(Flow::Done)
        ));
        let c = st.finish(&call, true).unwrap();
        assert_eq!(got, ["a", "b"]);
        assert_eq!(c.text, "ab");
        assert_eq!(c.stop_reason, "length");
        assert_eq!(
            c.usage,
            Usage {
                input: 3,
                output: 2
            }
        );
    }

    /// Text, stop reason, usage, the deltas passed on, the errors.
    type Read = (String, Option<String>, Usage, Vec<String>, Vec<String>);

    /// Feed `chunks` through `on_data` (typed first) and through the tree reader alone.
    fn both_ways(chunks: &[&str]) -> [Read; 2] {
        let p = provider();
        let r = req();
        let call = Call::new(&p, &r, Duration::from_secs(1), "http://h/v1").unwrap();
        [true, false].map(|typed| {
            let mut st = StreamState::default();
            let (mut deltas, mut errors) = (Vec::new(), Vec::new());
            for c in chunks {
                let mut d = |t: &str| deltas.push(t.to_string());
                let res = if typed {
                    st.on_data(&call, c, &mut d).map(|_| ())
                } else {
                    st.on_tree(&call, c, &mut d)
                };
                if let Err(e) = res {
                    errors.push(format!("{:?} {}", e.kind, e.message));
                }
            }
            (st.text, st.stop, st.usage, deltas, errors)
        })
    }

    #[test]
    fn chunks_read_in_place_read_as_the_tree_reads_them() {
        let chunks = [
            r#"{"id":"x","choices":[{"index":0,"delta":{"role":"assistant","content":"h\u00e9 \"q\"\n"}}]}"#,
            r#"{"choices":[{"delta":{"content":null},"finish_reason":null}],"usage":null}"#,
            r#"{"choices":[{"delta":{"content":7}}]}"#,
            r#"{"choices":[{"delta":"odd"},{"delta":{"content":"second"}}]}"#,
            r#"{"choices":[{"delta":{"content":"a"}},{"delta":5}]}"#,
            r#"{"choices":{"0":{"delta":{"content":"keyed"}}}}"#,
            r#"{"choices":[{"delta":{"content":"b"},"finish_reason":"tool_calls"}]}"#,
            r#"{"choices":[{"finish_reason":3}]}"#,
            r#"{"choices":[{"delta":{"content":"c","content":"d"}}]}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":4}}"#,
            r#"{"usage":[1,2]}"#,
            r#"{"usage":{"completion_tokens":6,"prompt_tokens":"x"}}"#,
            r#"[1,2]"#,
            r#""text""#,
            r#"{"error":null,"choices":[{"delta":{"content":"e"}}]}"#,
            r#"{"error":{"message":"overloaded","type":"server_error","code":503}}"#,
            r#"{"error":"plain"}"#,
        ];
        let [typed, tree] = both_ways(&chunks);
        assert_eq!(typed, tree);
        let (text, stop, usage, deltas, errors) = typed;
        // `choices` as an object with a key "0" is read too (a JSON pointer does that).
        assert_eq!(text, "h\u{e9} \"q\"\nakeyedbde");
        assert_eq!(stop.as_deref(), Some("tool_calls"));
        assert_eq!(
            usage,
            Usage {
                input: 4,
                output: 6
            }
        );
        assert_eq!(deltas.len(), 6);
        assert_eq!(errors.len(), 2, "{errors:?}");
    }

    #[test]
    fn stream_errors_are_classified() {
        let p = provider();
        let r = req();
        let call = Call::new(&p, &r, Duration::from_secs(1), "http://h/v1").unwrap();
        let mut d = |_: &str| {};
        let mut st = StreamState::default();
        let e = st
            .on_data(
                &call,
                r#"{"error":{"message":"slow down","type":"rate_limit_error"}}"#,
                &mut d,
            )
            .err()
            .unwrap();
        assert!(matches!(e.kind, ProviderErrorKind::RateLimit { .. }));
        assert!(e.message.contains("slow down"), "{}", e.message);
        let e = st.on_data(&call, "{oops", &mut d).err().unwrap();
        assert_eq!(e.kind, ProviderErrorKind::Malformed);
        let e = StreamState::default().finish(&call, false).unwrap_err();
        assert!(e.message.ends_with("upstream stream ended without data"));
        assert_eq!(e.message, "p/m: upstream stream ended without data");
        // Text but no [DONE] and no finish_reason: complete.
        let st = StreamState {
            text: "x".into(),
            ..StreamState::default()
        };
        assert_eq!(st.finish(&call, false).unwrap().stop_reason, "stop");
    }
}

//! The echo reply of the scripted upstream in each wire shape (OpenAI stream chunks and
//! completion, Anthropic events and message), the fake embeddings, and the text helpers that
//! read requests (last user message, prompt word count).

use serde_json::{json, Value};

use super::{Tail, EMBEDDING_DIMS};

/// The fake embedding of `text`: [`EMBEDDING_DIMS`] values in [-1, 1), deterministic
/// (FNV-1a + splitmix64), exactly representable as `f32`.
pub fn embed(text: &str) -> Vec<f32> {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    (0..EMBEDDING_DIMS)
        .map(|_| {
            h = h.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = h;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            ((z >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// Text of a message `content`: a string, or the `text` of its parts/blocks.
fn content_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

pub(super) fn last_user_text(messages: &Value) -> String {
    let all = messages.as_array().map(Vec::as_slice).unwrap_or_default();
    all.iter()
        .rev()
        .find(|m| m["role"] == "user")
        .map(|m| content_text(&m["content"]))
        .unwrap_or_default()
}

/// Word count of every message plus the Anthropic `system` field (the "prompt tokens").
pub(super) fn prompt_words(body: &Value) -> usize {
    let msgs = body["messages"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let words = |s: String| s.split_whitespace().count();
    msgs.iter()
        .map(|m| words(content_text(&m["content"])))
        .sum::<usize>()
        + words(content_text(&body["system"]))
}

/// `"echo:"`, `" w1"`, `" w2"`, … — the chunks of `echo: <text>`.
pub(super) fn reply_words(text: &str) -> Vec<String> {
    std::iter::once("echo:".to_string())
        .chain(text.split_whitespace().map(|w| format!(" {w}")))
        .collect()
}

/// The echo reply in each wire shape.
pub(super) struct Reply {
    pub model: String,
    pub words: Vec<String>,
    pub prompt: usize,
}

impl Reply {
    fn text(&self) -> String {
        self.words.concat()
    }

    pub(super) fn openai_completion(&self) -> Value {
        json!({
            "id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": self.model,
            "choices": [{ "index": 0, "message": { "role": "assistant", "content": self.text() },
                          "finish_reason": "stop" }],
            "usage": { "prompt_tokens": self.prompt, "completion_tokens": self.words.len(),
                       "total_tokens": self.prompt + self.words.len() },
        })
    }

    pub(super) fn anthropic_message(&self) -> Value {
        json!({
            "id": "msg_fake", "type": "message", "role": "assistant", "model": self.model,
            "content": [{ "type": "text", "text": self.text() }],
            "stop_reason": "end_turn", "stop_sequence": null,
            "usage": { "input_tokens": self.prompt, "output_tokens": self.words.len() },
        })
    }

    fn openai_chunk(&self, delta: Value, finish: Value) -> String {
        let c = json!({
            "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0,
            "model": self.model,
            "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }],
        });
        format!("data: {c}\n\n")
    }

    pub(super) fn openai_stream(&self, text: &str, usage: bool) -> (Vec<String>, Tail) {
        let mut out =
            vec![self.openai_chunk(json!({ "role": "assistant", "content": "" }), Value::Null)];
        if text.contains("HANG") {
            return (out, Tail::Hold);
        }
        let content = |w: &String| self.openai_chunk(json!({ "content": w }), Value::Null);
        if text.contains("DROP") {
            out.extend(self.words.iter().take(2).map(content));
            return (out, Tail::Abort);
        }
        if text.contains("STALL") {
            out.extend(self.words.iter().map(content));
            return (out, Tail::Hold);
        }
        out.extend(self.words.iter().map(content));
        out.push(self.openai_chunk(json!({}), json!("stop")));
        if usage {
            let u = json!({
                "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0,
                "model": self.model, "choices": [],
                "usage": { "prompt_tokens": self.prompt, "completion_tokens": self.words.len(),
                           "total_tokens": self.prompt + self.words.len() },
            });
            out.push(format!("data: {u}\n\n"));
        }
        out.push("data: [DONE]\n\n".to_string());
        (out, Tail::End)
    }

    pub(super) fn anthropic_stream(&self, text: &str) -> (Vec<String>, Tail) {
        let ev = |ty: &str, v: Value| format!("event: {ty}\ndata: {v}\n\n");
        let start = json!({ "type": "message_start", "message": {
            "id": "msg_fake", "type": "message", "role": "assistant", "model": self.model,
            "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": { "input_tokens": self.prompt, "output_tokens": 1 } } });
        let mut out = vec![ev("message_start", start)];
        if text.contains("HANG") {
            return (out, Tail::Hold);
        }
        let block = json!({ "type": "content_block_start", "index": 0,
                            "content_block": { "type": "text", "text": "" } });
        out.push(ev("content_block_start", block));
        out.push(ev("ping", json!({ "type": "ping" })));
        let delta = |w: &String| {
            let d = json!({ "type": "content_block_delta", "index": 0,
                            "delta": { "type": "text_delta", "text": w } });
            ev("content_block_delta", d)
        };
        if text.contains("DROP") {
            out.extend(self.words.iter().take(2).map(delta));
            return (out, Tail::Abort);
        }
        if text.contains("STALL") {
            out.extend(self.words.iter().map(delta));
            return (out, Tail::Hold);
        }
        out.extend(self.words.iter().map(delta));
        out.push(ev(
            "content_block_stop",
            json!({ "type": "content_block_stop", "index": 0 }),
        ));
        let md = json!({ "type": "message_delta",
                         "delta": { "stop_reason": "end_turn", "stop_sequence": null },
                         "usage": { "output_tokens": self.words.len() } });
        out.push(ev("message_delta", md));
        out.push(ev("message_stop", json!({ "type": "message_stop" })));
        (out, Tail::End)
    }
}

//! What `/v1/chat/completions` writes: the `chat.completion` body and the
//! `chat.completion.chunk` SSE lines, serialized straight from borrowed fields (no JSON tree
//! is built per response or per token). The handler and the run are `openai`'s.

use bytes::Bytes;
use serde::Serialize;

use super::body::data_line;
use crate::agents::runs::Outcome;

/// `usage` of a completion or of the last chunk.
#[derive(Serialize)]
pub struct UsageOut {
    prompt_tokens: u64,
    completion_tokens: u64,
    total_tokens: u64,
}

impl UsageOut {
    pub fn of(o: &Outcome) -> UsageOut {
        UsageOut {
            prompt_tokens: o.input_tokens,
            completion_tokens: o.output_tokens,
            total_tokens: o.input_tokens + o.output_tokens,
        }
    }
}

/// The parts every completion body and chunk of one request share.
pub struct Head<'a> {
    pub id: &'a str,
    pub created: u64,
    pub model: &'a str,
}

#[derive(Serialize)]
struct Body<'a, C> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: C,
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<UsageOut>,
}

#[derive(Serialize)]
struct Message<'a> {
    role: &'static str,
    content: &'a str,
}

#[derive(Serialize)]
struct Choice<'a> {
    index: u32,
    message: Message<'a>,
    finish_reason: &'a str,
}

#[derive(Serialize)]
struct ChunkChoice<'a, D> {
    index: u32,
    delta: D,
    finish_reason: Option<&'a str>,
}

/// A chunk's `delta`: the role, a piece of content, or nothing (the last chunk).
#[derive(Serialize)]
pub struct Delta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<&'a str>,
}

/// The non-streamed `chat.completion` body.
pub fn completion(h: &Head<'_>, text: &str, finish_reason: &str, usage: UsageOut) -> Vec<u8> {
    let choice = Choice {
        index: 0,
        message: Message {
            role: "assistant",
            content: text,
        },
        finish_reason,
    };
    to_vec(&body(h, "chat.completion", [choice], Some(usage)))
}

/// One `data: {chat.completion.chunk}` line with one choice.
pub fn chunk(h: &Head<'_>, delta: Delta<'_>, finish_reason: Option<&str>) -> Bytes {
    let choice = ChunkChoice {
        index: 0,
        delta,
        finish_reason,
    };
    data_line(&body(h, "chat.completion.chunk", [choice], None))
}

/// The usage chunk: no choices.
pub fn usage_chunk(h: &Head<'_>, usage: UsageOut) -> Bytes {
    let none: [(); 0] = [];
    data_line(&body(h, "chat.completion.chunk", none, Some(usage)))
}

fn body<'a, C>(
    h: &Head<'a>,
    object: &'static str,
    choices: C,
    usage: Option<UsageOut>,
) -> Body<'a, C> {
    Body {
        id: h.id,
        object,
        created: h.created,
        model: h.model,
        choices,
        usage,
    }
}

fn to_vec(v: &impl Serialize) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    // Writing plain structs of strings and numbers into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut out, v);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: Head<'static> = Head {
        id: "chatcmpl_1",
        created: 7,
        model: "openclaw",
    };

    fn usage() -> UsageOut {
        UsageOut {
            prompt_tokens: 3,
            completion_tokens: 2,
            total_tokens: 5,
        }
    }

    #[test]
    fn a_completion_has_the_openai_shape_and_key_order() {
        let b = completion(&H, "hi \"there\"", "stop", usage());
        assert_eq!(
            std::str::from_utf8(&b).unwrap(),
            r#"{"id":"chatcmpl_1","object":"chat.completion","created":7,"model":"openclaw","choices":[{"index":0,"message":{"role":"assistant","content":"hi \"there\""},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}"#
        );
    }

    #[test]
    fn chunks_have_the_openai_shape_and_key_order() {
        let line = |b: Bytes| String::from_utf8(b.to_vec()).unwrap();
        let head = r#"data: {"id":"chatcmpl_1","object":"chat.completion.chunk","created":7,"model":"openclaw","choices":"#;
        let role = Delta {
            role: Some("assistant"),
            content: None,
        };
        assert_eq!(
            line(chunk(&H, role, None)),
            format!("{head}[{{\"index\":0,\"delta\":{{\"role\":\"assistant\"}},\"finish_reason\":null}}]}}\n\n")
        );
        let piece = Delta {
            role: None,
            content: Some("a\nb"),
        };
        assert_eq!(
            line(chunk(&H, piece, None)),
            format!("{head}[{{\"index\":0,\"delta\":{{\"content\":\"a\\nb\"}},\"finish_reason\":null}}]}}\n\n")
        );
        let last = Delta {
            role: None,
            content: None,
        };
        assert_eq!(
            line(chunk(&H, last, Some("length"))),
            format!("{head}[{{\"index\":0,\"delta\":{{}},\"finish_reason\":\"length\"}}]}}\n\n")
        );
        assert_eq!(
            line(usage_chunk(&H, usage())),
            format!("{head}[],\"usage\":{{\"prompt_tokens\":3,\"completion_tokens\":2,\"total_tokens\":5}}}}\n\n")
        );
    }
}

//! Request-body checks and message flattening of `/v1/chat/completions` (http.md §3):
//! parameter ranges, tool shapes, image-part limits, and OpenAI `messages` → the run's
//! system prompt and current message (earlier turns flattened in as context).

use hyper::{Response, StatusCode};
use openclaw_net::HttpBody;
use serde_json::Value;

use super::auth::openai_error;
use crate::provider::ImagePart;

use crate::config::limits::{
    HTTP_MAX_IMAGE_PARTS as MAX_IMAGE_PARTS, HTTP_MAX_IMAGE_PART_BYTES as MAX_IMAGE_PART_BYTES,
    HTTP_MAX_IMAGE_TOTAL_BYTES as MAX_IMAGE_BYTES, IMAGE_MIMES,
};

type Resp = Response<HttpBody>;

fn bad(msg: &str) -> Resp {
    openai_error(StatusCode::BAD_REQUEST, "invalid_request_error", msg)
}

fn text_of(content: &Value) -> Option<String> {
    match content {
        Value::String(s) => Some(s.clone()),
        Value::Array(parts) => {
            let t: Vec<&str> = parts
                .iter()
                .filter(|p| p["type"] == "text" || p["type"] == "input_text")
                .filter_map(|p| p["text"].as_str())
                .collect();
            Some(t.join("\n"))
        }
        Value::Null => None,
        _ => None,
    }
}

/// Flatten OpenAI `messages` into (system prompt, current user message with history).
///
/// # Errors
/// The 400 to send.
pub fn flatten_messages(messages: &Value) -> Result<Flattened, Resp> {
    let Some(list) = messages.as_array() else {
        return Err(bad("`messages` must be an array."));
    };
    let mut system = Vec::new();
    let mut turns: Vec<(String, String)> = Vec::new();
    for m in list {
        let role = m["role"].as_str().unwrap_or("");
        let text = text_of(&m["content"]).unwrap_or_default();
        match role {
            "system" | "developer" => system.push(text),
            "user" | "assistant" | "tool" => turns.push((role.to_string(), text)),
            _ => return Err(bad(&format!("Unsupported message role `{role}`."))),
        }
    }
    let Some(last_user) = turns.iter().rposition(|(r, _)| r == "user") else {
        return Err(bad("Missing user message in `messages`."));
    };
    let images = match list.iter().rev().find(|m| m["role"] == "user") {
        Some(user) => images_of(user)?,
        None => Vec::new(),
    };
    let current = turns[last_user].1.clone();
    let message = if last_user == 0 {
        current
    } else {
        let mut s = String::from("[Chat messages since your last reply - for context]\n");
        for (role, text) in &turns[..last_user] {
            let who = match role.as_str() {
                "user" => "User",
                "assistant" => "Assistant",
                _ => "Tool",
            };
            s.push_str(&format!("{who}: {text}\n"));
        }
        s.push_str(&format!(
            "\n[Current message - respond to this]\nUser: {current}"
        ));
        s
    };
    let system = (!system.is_empty()).then(|| system.join("\n\n"));
    Ok(Flattened {
        system,
        message,
        images,
    })
}

/// What a run takes from OpenAI `messages`.
#[derive(Debug)]
pub struct Flattened {
    /// System and developer messages, joined.
    pub system: Option<String>,
    /// The current user message, with earlier turns flattened in as context.
    pub message: String,
    /// Images of the latest user message (sent upstream with it, not stored).
    pub images: Vec<ImagePart>,
}

/// Image parts of the latest user message: at most [`MAX_IMAGE_PARTS`], base64 data URLs only
/// (URL images are off by default), an allowed type, at most [`MAX_IMAGE_PART_BYTES`] each
/// and [`MAX_IMAGE_BYTES`] decoded in all.
fn images_of(user: &Value) -> Result<Vec<ImagePart>, Resp> {
    let Some(parts) = user["content"].as_array() else {
        return Ok(Vec::new());
    };
    let images: Vec<&Value> = parts.iter().filter(|p| p["type"] == "image_url").collect();
    if images.len() > MAX_IMAGE_PARTS {
        return Err(bad(&format!(
            "Too many image parts (max {MAX_IMAGE_PARTS})."
        )));
    }
    let mut total = 0usize;
    let mut out = Vec::with_capacity(images.len());
    for p in images {
        let url = p["image_url"]["url"]
            .as_str()
            .or_else(|| p["image_url"].as_str())
            .unwrap_or("");
        let Some((mime, b64)) = url
            .strip_prefix("data:")
            .and_then(|r| r.split_once(";base64,"))
        else {
            return Err(bad(
                "Image URLs are not allowed; send images as base64 data URLs.",
            ));
        };
        let mime = mime.to_ascii_lowercase();
        if !IMAGE_MIMES.contains(&mime.as_str()) {
            return Err(bad(&format!("Unsupported image type `{mime}`.")));
        }
        let decoded = b64.len() / 4 * 3;
        if decoded > MAX_IMAGE_PART_BYTES {
            return Err(bad("An image exceeds the 10 MiB limit."));
        }
        total += decoded;
        if total > MAX_IMAGE_BYTES {
            return Err(bad("Images exceed the 20 MB limit."));
        }
        out.push(ImagePart {
            mime,
            data_b64: b64.to_string(),
        });
    }
    Ok(out)
}

fn check_number(body: &Value, key: &str, lo: f64, hi: f64) -> Result<(), Resp> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(()),
        Some(v) => match v.as_f64() {
            Some(x) if (lo..=hi).contains(&x) => Ok(()),
            _ => Err(bad(&format!(
                "`{key}` must be a number between {lo} and {hi}."
            ))),
        },
    }
}

/// Parameter validation of http.md §3.
pub fn validate(body: &Value) -> Result<(), Resp> {
    check_number(body, "temperature", 0.0, 2.0)?;
    check_number(body, "top_p", 0.0, 1.0)?;
    check_number(body, "frequency_penalty", -2.0, 2.0)?;
    check_number(body, "presence_penalty", -2.0, 2.0)?;
    if let Some(s) = body.get("seed").filter(|v| !v.is_null()) {
        if !(s.is_i64() || s.is_u64()) {
            return Err(bad("`seed` must be an integer."));
        }
    }
    for k in ["max_tokens", "max_completion_tokens"] {
        if let Some(v) = body.get(k).filter(|v| !v.is_null()) {
            if !v.as_u64().is_some_and(|n| n > 0 && n < (1 << 53)) {
                return Err(bad(&format!("`{k}` must be a positive integer.")));
            }
        }
    }
    match body.get("stop") {
        None | Some(Value::Null) | Some(Value::String(_)) => {}
        Some(Value::Array(a))
            if a.len() <= 4 && a.iter().all(|s| s.as_str().is_some_and(|s| !s.is_empty())) => {}
        Some(_) => return Err(bad("`stop` must be a string or up to 4 non-empty strings.")),
    }
    let mut names = Vec::new();
    match body.get("tools") {
        None | Some(Value::Null) => {}
        Some(Value::Array(tools)) => {
            for t in tools {
                match (t["type"].as_str(), t["function"]["name"].as_str()) {
                    (Some("function"), Some(n)) => names.push(n.to_string()),
                    _ => {
                        return Err(bad(
                            "`tools` entries must be {type:\"function\", function:{name}}.",
                        ))
                    }
                }
            }
        }
        Some(_) => return Err(bad("`tools` must be an array.")),
    }
    match body.get("tool_choice") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if matches!(s.as_str(), "auto" | "none" | "required") => {}
        Some(v @ Value::Object(_)) if v["type"] == "function" => {
            let n = v["function"]["name"].as_str().unwrap_or("");
            if !names.iter().any(|x| x == n) {
                return Err(bad(
                    "`tool_choice` names a function that is not in `tools`.",
                ));
            }
        }
        Some(_) => {
            return Err(bad(
                "`tool_choice` must be auto, none, required or a function.",
            ))
        }
    }
    Ok(())
}

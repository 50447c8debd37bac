//! Model providers: one streaming call to an upstream model, forwarded delta by delta.
//!
//! Two wire dialects: `openai-completions` (any OpenAI-compatible server, SSE) and
//! `anthropic-messages` (Anthropic's event stream). The run engine owns retries/fallbacks
//! and cancellation: dropping the future returned by [`stream_completion`] aborts the
//! upstream HTTP request at once (the connection is closed).

pub mod anthropic;
mod http;
pub mod openai;
pub mod sse;

use std::time::Duration;

pub use crate::config::catalog::{Api, ModelConfig, ProviderConfig, IDLE_TIMEOUT};

/// Connect timeout for upstream requests.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest non-stream error body kept for the message preview.
pub const MAX_ERROR_BODY: usize = 16 * 1024;

/// Who said a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    User,
    Assistant,
}

/// One turn of the conversation sent upstream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatMessage {
    pub role: Role,
    pub content: String,
}

/// An image sent with the current user message (base64, already size-checked).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImagePart {
    /// `image/png`, `image/jpeg`, …
    pub mime: String,
    /// Base64 of the bytes (no `data:` prefix).
    pub data_b64: String,
}

impl ImagePart {
    /// As a `data:` URL (OpenAI `image_url`).
    pub fn data_url(&self) -> String {
        format!("data:{};base64,{}", self.mime, self.data_b64)
    }
}

/// What to ask the model.
#[derive(Clone, Debug)]
pub struct ModelRequest {
    /// Model id as the provider knows it (`echo-1`, `gpt-4o`, …).
    pub model: String,
    /// System prompt (OpenAI: a leading `system` message; Anthropic: `system`).
    pub system: Option<String>,
    /// The conversation, oldest first; the last one is the new user message.
    pub messages: Vec<ChatMessage>,
    /// `max_tokens` (Anthropic requires one; default 4096 there).
    pub max_tokens: Option<u64>,
    /// Images attached to the last user message.
    pub images: Vec<ImagePart>,
}

impl ModelRequest {
    /// Index of the message the images belong to (the last user message).
    pub fn image_target(&self) -> Option<usize> {
        if self.images.is_empty() {
            return None;
        }
        self.messages.iter().rposition(|m| m.role == Role::User)
    }
}

/// Token counts reported by the upstream (0 when it reported none).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub input: u64,
    pub output: u64,
}

/// A finished completion.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Completion {
    /// All deltas concatenated.
    pub text: String,
    pub usage: Usage,
    /// Normalized stop reason: `stop`, `length`, `tool_calls`, … (`stop` when absent).
    pub stop_reason: String,
}

/// Why an upstream call failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProviderErrorKind {
    /// TCP connect failed / refused / DNS.
    Connect,
    /// 401 / 403.
    Auth,
    /// 429; `retry_after_ms` from `Retry-After` (seconds or HTTP date) when present.
    RateLimit { retry_after_ms: Option<u64> },
    /// Other 4xx (bad request, unknown model, context length …).
    BadRequest,
    /// 5xx.
    Server,
    /// A 200 whose body is not a valid stream for the dialect, or an in-stream error event.
    Malformed,
    /// No bytes for [`IDLE_TIMEOUT`] (or the configured idle timeout).
    Timeout,
}

/// A failed upstream call: kind, HTTP status if any, and a one-line human message that
/// never contains the API key.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ProviderError {
    pub kind: ProviderErrorKind,
    pub status: Option<u16>,
    pub message: String,
    /// The upstream's own words for an HTTP error status (its `error.message`, or the
    /// status reason), key-free; `None` for failures that never got a status.
    pub upstream: Option<String>,
}

/// Shared HTTP client for all providers (connection pooling, rustls).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true)
        .build()
        .expect("http client")
}

/// Stream one completion. `on_delta` gets each text delta as soon as it is parsed (never
/// empty strings). Cancel by dropping the future. `idle` bounds silence between bytes.
///
/// # Errors
/// Every failure of the upstream call, classified in [`ProviderErrorKind`].
pub async fn stream_completion(
    client: &reqwest::Client,
    provider: &ProviderConfig,
    req: &ModelRequest,
    idle: Duration,
    on_delta: &mut (dyn FnMut(&str) + Send),
) -> Result<Completion, ProviderError> {
    match provider.api {
        Api::OpenAiCompletions => openai::stream(client, provider, req, idle, on_delta).await,
        Api::AnthropicMessages => anthropic::stream(client, provider, req, idle, on_delta).await,
    }
}

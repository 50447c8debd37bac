//! Wire error shape (`ErrorShape`), top-level error codes, and the crate's `ProtoError`.

use std::borrow::Cow;

use serde::Serialize;
use serde_json::{json, Value};

/// Parse failures raised by this crate (the one error enum of `openclaw-proto`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtoError {
    /// The bytes are not a single well-formed JSON object.
    #[error("frame is not a JSON object")]
    NotJson,
    /// A `"type":"req"` frame that does not match the request-frame schema.
    /// The payload is a schema-validator style detail: `at /id: must be string`,
    /// `must have required property 'method'` (root errors carry no path),
    /// `at root: unexpected property 'x'`.
    #[error("invalid request frame: {0}")]
    InvalidFrame(String),
    /// Request params that do not deserialize into the requested type.
    #[error("invalid params: {0}")]
    InvalidParams(String),
}

/// Top-level `error.code` values used by the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// `INVALID_REQUEST`: schema/param errors, unknown methods, auth failures at connect.
    InvalidRequest,
    /// `FORBIDDEN`: method-level authorization failure (missing scope, wrong role).
    Forbidden,
    /// `UNAVAILABLE`: retryable; startup not finished, rate limits, suspended admission.
    Unavailable,
    /// `NOT_PAIRED`: target node/device not paired.
    NotPaired,
    /// `NOT_LINKED`: target channel not linked.
    NotLinked,
    /// `AGENT_TIMEOUT`: agent wait exceeded.
    AgentTimeout,
    /// `APPROVAL_NOT_FOUND`: approval id unknown.
    ApprovalNotFound,
    /// `NOT_FOUND`: generic not-found (tasks etc.).
    NotFound,
}

impl ErrorCode {
    /// The wire string, e.g. `"INVALID_REQUEST"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "INVALID_REQUEST",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::Unavailable => "UNAVAILABLE",
            ErrorCode::NotPaired => "NOT_PAIRED",
            ErrorCode::NotLinked => "NOT_LINKED",
            ErrorCode::AgentTimeout => "AGENT_TIMEOUT",
            ErrorCode::ApprovalNotFound => "APPROVAL_NOT_FOUND",
            ErrorCode::NotFound => "NOT_FOUND",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `details.code` used by [`ErrorShape::missing_scope`].
pub const MISSING_SCOPE_DETAIL_CODE: &str = "MISSING_SCOPE";

/// The `error` object of a failed `res` frame:
/// `{code, message, retryable?, retryAfterMs?, details?}` (serialized in that key order, as the
/// documented lockout frame is).
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct ErrorShape {
    /// Top-level code; usually an [`ErrorCode`] string, but any string is allowed.
    pub code: Cow<'static, str>,
    /// Human-readable message.
    pub message: String,
    /// Whether the client may retry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retryable: Option<bool>,
    /// Suggested retry delay in milliseconds.
    #[serde(rename = "retryAfterMs", skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
    /// Structured details (clients branch on `details.code`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
}

impl ErrorShape {
    /// An error with a known code and a message; no details.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::with_code(code.as_str(), message)
    }

    /// An error with an arbitrary code string (e.g. one defined by a plugin).
    pub fn with_code(code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        ErrorShape {
            code: code.into(),
            message: message.into(),
            details: None,
            retryable: None,
            retry_after_ms: None,
        }
    }

    /// Sets `details`.
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    /// Sets `retryable`.
    pub fn retryable(mut self, retryable: bool) -> Self {
        self.retryable = Some(retryable);
        self
    }

    /// Sets `retryAfterMs` and marks the error `retryable: true`.
    pub fn retry_after(mut self, ms: u64) -> Self {
        self.retry_after_ms = Some(ms);
        self.retryable = Some(true);
        self
    }

    /// `INVALID_REQUEST` / `unknown method: <name>`.
    pub fn unknown_method(name: &str) -> Self {
        Self::new(ErrorCode::InvalidRequest, format!("unknown method: {name}"))
    }

    /// `FORBIDDEN` / `missing scope: <scope>` with
    /// `details = {code:"MISSING_SCOPE", missingScope, requiredScopes}`.
    pub fn missing_scope(scope: &str, required: &[&str]) -> Self {
        Self::new(ErrorCode::Forbidden, format!("missing scope: {scope}")).with_details(json!({
            "code": MISSING_SCOPE_DETAIL_CODE,
            "missingScope": scope,
            "requiredScopes": required,
        }))
    }

    /// `INVALID_REQUEST` / `invalid <method> params: <detail>`.
    pub fn invalid_params(method: &str, detail: &str) -> Self {
        Self::new(
            ErrorCode::InvalidRequest,
            format!("invalid {method} params: {detail}"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to_json(e: &ErrorShape) -> String {
        serde_json::to_string(e).unwrap()
    }

    #[test]
    fn codes_as_str() {
        let all = [
            (ErrorCode::InvalidRequest, "INVALID_REQUEST"),
            (ErrorCode::Forbidden, "FORBIDDEN"),
            (ErrorCode::Unavailable, "UNAVAILABLE"),
            (ErrorCode::NotPaired, "NOT_PAIRED"),
            (ErrorCode::NotLinked, "NOT_LINKED"),
            (ErrorCode::AgentTimeout, "AGENT_TIMEOUT"),
            (ErrorCode::ApprovalNotFound, "APPROVAL_NOT_FOUND"),
            (ErrorCode::NotFound, "NOT_FOUND"),
        ];
        for (code, s) in all {
            assert_eq!(code.as_str(), s);
            assert_eq!(code.to_string(), s);
        }
    }

    #[test]
    fn unknown_method_shape() {
        assert_eq!(
            to_json(&ErrorShape::unknown_method("no.such.method")),
            r#"{"code":"INVALID_REQUEST","message":"unknown method: no.such.method"}"#
        );
    }

    #[test]
    fn missing_scope_shape_matches_observed() {
        assert_eq!(
            to_json(&ErrorShape::missing_scope(
                "operator.read",
                &["operator.read"]
            )),
            r#"{"code":"FORBIDDEN","message":"missing scope: operator.read","details":{"code":"MISSING_SCOPE","missingScope":"operator.read","requiredScopes":["operator.read"]}}"#
        );
    }

    #[test]
    fn invalid_params_and_retry() {
        let e = ErrorShape::invalid_params("connect", "must be object");
        assert_eq!(e.message, "invalid connect params: must be object");
        let e = ErrorShape::new(ErrorCode::Unavailable, "gateway starting")
            .with_details(json!({"reason": "startup-sidecars"}))
            .retry_after(500);
        assert_eq!(
            to_json(&e),
            r#"{"code":"UNAVAILABLE","message":"gateway starting","retryable":true,"retryAfterMs":500,"details":{"reason":"startup-sidecars"}}"#
        );
        let e = ErrorShape::with_code("PLUGIN_X", "boom").retryable(false);
        assert_eq!(
            to_json(&e),
            r#"{"code":"PLUGIN_X","message":"boom","retryable":false}"#
        );
    }
}

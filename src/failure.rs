//! The one error model below the handlers: every failure of a lower layer (store, model
//! provider, run engine, admission) as one typed value, and its one mapping to the wire
//! `ErrorShape`. The HTTP dialects (OpenAI, tools, hooks) map the same values in
//! `http::failure`; nothing re-reads a failure from its text.

use openclaw_proto::{ErrorCode, ErrorShape};

use crate::provider::{ProviderError, ProviderErrorKind};
use crate::store::StoreError;

/// Why a request (or the run it started) failed.
#[derive(Clone, Debug, PartialEq)]
pub enum Failure {
    /// The caller's input is wrong; the message is shown as is.
    Invalid(String),
    /// Durable state could not be read or written (logged; clients never see its text).
    Store(StoreError),
    /// The model call failed; `cause` is the last upstream error, with its kind, when one
    /// was reached (none: no usable model).
    Model {
        message: String,
        cause: Option<ProviderError>,
    },
    /// The run hit its deadline.
    Timeout,
    /// The run was aborted.
    Aborted,
    /// Refused before it started, already in wire form (admission: unknown agent, queue full…).
    Refused(ErrorShape),
}

impl Failure {
    /// The human message a transcript, event or summary carries.
    pub fn message(&self) -> String {
        match self {
            Failure::Invalid(m) | Failure::Model { message: m, .. } => m.clone(),
            Failure::Store(_) => STORE_UNAVAILABLE.into(),
            Failure::Timeout => "agent run timed out".into(),
            Failure::Aborted => "agent run aborted".into(),
            Failure::Refused(e) => e.message.clone(),
        }
    }

    /// The upstream error's kind, when the model call reached one.
    pub fn provider_kind(&self) -> Option<&ProviderErrorKind> {
        match self {
            Failure::Model { cause: Some(e), .. } => Some(&e.kind),
            _ => None,
        }
    }

    /// `Retry-After` of a rate-limited upstream.
    pub fn retry_after_ms(&self) -> Option<u64> {
        match self.provider_kind() {
            Some(ProviderErrorKind::RateLimit { retry_after_ms }) => *retry_after_ms,
            _ => None,
        }
    }

    /// Log what clients will not see (the store's own text).
    pub fn log(&self, what: &str) {
        if let Failure::Store(e) = self {
            tracing::error!(target: "store", "{what}: state store failed: {e}");
        }
    }
}

/// What a client is told of a store failure.
pub const STORE_UNAVAILABLE: &str = "state store unavailable";

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure::Store(e)
    }
}

impl From<ErrorShape> for Failure {
    fn from(e: ErrorShape) -> Self {
        Failure::Refused(e)
    }
}

/// The one mapping to the wire.
impl From<&Failure> for ErrorShape {
    fn from(f: &Failure) -> Self {
        match f {
            Failure::Invalid(m) => ErrorShape::new(ErrorCode::InvalidRequest, m.clone()),
            Failure::Store(_) => ErrorShape::new(ErrorCode::Unavailable, STORE_UNAVAILABLE),
            Failure::Model { message, cause } => {
                let e = ErrorShape::new(
                    ErrorCode::Unavailable,
                    format!("LLM request failed: {message}"),
                );
                match cause.as_ref().map(|c| &c.kind) {
                    Some(ProviderErrorKind::RateLimit {
                        retry_after_ms: Some(ms),
                    }) => e.retry_after(*ms),
                    Some(ProviderErrorKind::RateLimit { .. }) => e.retryable(true),
                    _ => e,
                }
            }
            Failure::Timeout => ErrorShape::new(ErrorCode::AgentTimeout, f.message()),
            Failure::Aborted => ErrorShape::new(ErrorCode::Unavailable, f.message()),
            Failure::Refused(e) => e.clone(),
        }
    }
}

impl From<Failure> for ErrorShape {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Refused(e) => e,
            f => ErrorShape::from(&f),
        }
    }
}

/// A store failure of `what` (a method name) as the client sees it, logged here, once.
pub fn store(what: &str, e: StoreError) -> ErrorShape {
    let f = Failure::Store(e);
    f.log(what);
    ErrorShape::from(f)
}

/// Handlers may `?` store errors straight into their wire answer.
impl From<StoreError> for ErrorShape {
    fn from(e: StoreError) -> Self {
        store("request", e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upstream(kind: ProviderErrorKind) -> Failure {
        Failure::Model {
            message: "p/m request failed: HTTP 429: slow down".into(),
            cause: Some(ProviderError {
                kind,
                status: Some(429),
                message: "p/m request failed: HTTP 429: slow down".into(),
                upstream: Some("slow down".into()),
            }),
        }
    }

    #[test]
    fn a_rate_limit_keeps_its_kind_on_the_wire() {
        let e = ErrorShape::from(upstream(ProviderErrorKind::RateLimit {
            retry_after_ms: Some(7000),
        }));
        assert_eq!(e.code, "UNAVAILABLE");
        assert_eq!(e.retryable, Some(true));
        assert_eq!(e.retry_after_ms, Some(7000));
        assert!(
            e.message.starts_with("LLM request failed: p/m"),
            "{}",
            e.message
        );
        let e = ErrorShape::from(upstream(ProviderErrorKind::Server));
        assert_eq!((e.retryable, e.retry_after_ms), (None, None));
    }

    #[test]
    fn store_text_never_reaches_the_wire() {
        let e = ErrorShape::from(StoreError::Sql("disk I/O error at /secret/path".into()));
        assert_eq!(e.code, "UNAVAILABLE");
        assert_eq!(e.message, STORE_UNAVAILABLE);
        assert!(e.details.is_none());
    }

    #[test]
    fn a_refusal_passes_through_unchanged() {
        let shape = ErrorShape::new(ErrorCode::InvalidRequest, "unknown agent id \"x\"");
        assert_eq!(ErrorShape::from(Failure::from(shape.clone())), shape);
    }
}

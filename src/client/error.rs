//! What can go wrong talking to a gateway, as messages an operator can act on.

use serde_json::Value;

/// Errors of the CLI client ([`super::GatewayClient`]).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The URL is not `ws://host[:port][/path]`.
    #[error("invalid gateway URL {0:?} (expected ws://host:port)")]
    BadUrl(String),
    /// TCP connect failed (nothing listening, host unreachable, …).
    #[error("gateway not reachable at {url} ({})", io_text(.source))]
    Connect {
        url: String,
        #[source]
        source: std::io::Error,
    },
    /// The HTTP upgrade was refused or malformed.
    #[error("WebSocket upgrade failed: {0}")]
    Handshake(String),
    /// No answer in time.
    #[error("timeout after {ms}ms waiting for {what}")]
    Timeout { what: String, ms: u64 },
    /// The gateway closed the socket.
    #[error("gateway closed the connection ({code}{})", reason_suffix(.reason))]
    Closed { code: u16, reason: String },
    /// Socket I/O failed mid-conversation.
    #[error("connection lost: {0}")]
    Io(String),
    /// The gateway sent something this client does not understand.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The gateway answered a request with `ok:false`.
    #[error("{method} failed: {code}: {message}")]
    Rpc {
        method: String,
        code: String,
        message: String,
        details: Value,
    },
}

fn io_text(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
        std::io::ErrorKind::TimedOut => "connect timed out".into(),
        _ => e.to_string(),
    }
}

fn reason_suffix(reason: &str) -> String {
    if reason.is_empty() {
        String::new()
    } else {
        format!(" {reason}")
    }
}

impl ClientError {
    /// The socket is gone (or hung): a follow loop should reconnect.
    pub fn is_disconnect(&self) -> bool {
        matches!(
            self,
            ClientError::Connect { .. }
                | ClientError::Closed { .. }
                | ClientError::Io(_)
                | ClientError::Timeout { .. }
                | ClientError::Handshake(_)
        )
    }

    /// Worth retrying on a fresh connection: a disconnect, or `UNAVAILABLE` (a gateway that
    /// is shutting down or starting answers requests with it).
    pub fn is_transient(&self) -> bool {
        self.is_disconnect()
            || matches!(self, ClientError::Rpc { code, .. } if code == "UNAVAILABLE")
    }

    /// `FORBIDDEN` for a missing scope: the CLI reports this as "limited", not failed.
    pub fn missing_scope(&self) -> Option<String> {
        match self {
            ClientError::Rpc {
                code,
                message,
                details,
                ..
            } if code == "FORBIDDEN" => {
                let by_code = details.get("code").and_then(Value::as_str) == Some("MISSING_SCOPE");
                let scope = details
                    .get("scope")
                    .or_else(|| details.get("missingScope"))
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .or_else(|| {
                        message
                            .strip_prefix("missing scope: ")
                            .map(|s| s.trim().to_string())
                    });
                (by_code || scope.is_some())
                    .then(|| scope.unwrap_or_else(|| "operator.read".to_string()))
            }
            _ => None,
        }
    }
}

impl From<fastwebsockets::WebSocketError> for ClientError {
    fn from(e: fastwebsockets::WebSocketError) -> Self {
        use fastwebsockets::WebSocketError as W;
        match e {
            W::ConnectionClosed | W::UnexpectedEOF => ClientError::Closed {
                code: 1006,
                reason: "abnormal closure".into(),
            },
            W::IoError(io) => ClientError::Io(io.to_string()),
            other => ClientError::Protocol(other.to_string()),
        }
    }
}

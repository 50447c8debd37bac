//! Shared-secret checks at connect (token, password, none, trusted-proxy) and the exact
//! `unauthorized: …` frames the Node gateway sends for each failure.

use openclaw_proto::close;
use openclaw_proto::error::{ErrorCode, ErrorShape};
use serde_json::json;

/// A connect that must be refused: the error to answer and the close to send.
#[derive(Debug, Clone)]
pub struct ConnectFail {
    /// The `res` error.
    pub error: ErrorShape,
    /// Close code (1008 for auth/policy, 1002 for protocol).
    pub close: u16,
    /// Close reason.
    pub reason: String,
}

impl ConnectFail {
    /// A refusal whose close reason is the error message (the Node gateway's habit).
    pub fn new(error: ErrorShape, close: u16) -> Self {
        let reason = truncate_reason(&error.message);
        Self {
            error,
            close,
            reason,
        }
    }
}

/// Close reasons are limited to 123 bytes by RFC 6455; cut on a char boundary.
pub fn truncate_reason(s: &str) -> String {
    if s.len() <= 123 {
        return s.to_string();
    }
    let mut end = 123;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// Who is asking, for the hint in the message.
#[derive(Debug, Clone, Copy)]
pub struct ClientKind {
    /// `client.mode == "cli"` or `client.id == "cli"`.
    pub cli: bool,
    /// Control UI / webchat browser client.
    pub ui: bool,
    /// Direct loopback peer without forwarding headers.
    pub local: bool,
}

fn token_hint(k: ClientKind) -> &'static str {
    match (k.cli, k.local, k.ui) {
        (true, true, _) => "use this gateway's gateway.auth.token or pair the device",
        (true, false, _) => "set gateway.remote.token to match gateway.auth.token",
        (false, _, true) => "paste the gateway token in Control UI settings",
        _ => "provide gateway auth token",
    }
}

fn password_hint(k: ClientKind) -> &'static str {
    match (k.cli, k.local, k.ui) {
        (true, true, _) => "use this gateway's gateway.auth.password",
        (true, false, _) => "set gateway.remote.password to match gateway.auth.password",
        (false, _, true) => "enter the password in Control UI settings",
        _ => "provide gateway auth password",
    }
}

/// The kinds of shared-secret failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretFailure {
    /// Token required, none sent.
    TokenMissing,
    /// Token sent, wrong.
    TokenMismatch,
    /// Password required, none sent.
    PasswordMissing,
    /// Password sent, wrong.
    PasswordMismatch,
    /// A device token was presented and is wrong or revoked.
    DeviceTokenMismatch,
}

/// The refusal frame for a shared-secret failure.
pub fn secret_failure(f: SecretFailure, k: ClientKind, has_device: bool) -> ConnectFail {
    let (msg, code, reason, can_retry, next) = match f {
        SecretFailure::TokenMissing => (
            format!("unauthorized: gateway token missing ({})", token_hint(k)),
            "AUTH_TOKEN_MISSING",
            "token_missing",
            false,
            "update_auth_configuration",
        ),
        SecretFailure::TokenMismatch => (
            format!("unauthorized: gateway token mismatch ({})", token_hint(k)),
            "AUTH_TOKEN_MISMATCH",
            "token_mismatch",
            has_device,
            if has_device {
                "retry_with_device_token"
            } else {
                "update_auth_credentials"
            },
        ),
        SecretFailure::PasswordMissing => (
            format!(
                "unauthorized: gateway password missing ({})",
                password_hint(k)
            ),
            "AUTH_PASSWORD_MISSING",
            "password_missing",
            false,
            "update_auth_configuration",
        ),
        SecretFailure::PasswordMismatch => (
            format!(
                "unauthorized: gateway password mismatch ({})",
                password_hint(k)
            ),
            "AUTH_PASSWORD_MISMATCH",
            "password_mismatch",
            false,
            "update_auth_credentials",
        ),
        SecretFailure::DeviceTokenMismatch => (
            "unauthorized: device token mismatch (re-pair the device or use the gateway token)"
                .to_string(),
            "AUTH_DEVICE_TOKEN_MISMATCH",
            "device_token_mismatch",
            false,
            "update_auth_credentials",
        ),
    };
    ConnectFail::new(
        ErrorShape::new(ErrorCode::InvalidRequest, msg).with_details(json!({
            "code": code,
            "authReason": reason,
            "canRetryWithDeviceToken": can_retry,
            "recommendedNextStep": next,
        })),
        close::POLICY_VIOLATION,
    )
}

/// The documented lockout frame.
pub fn rate_limited(retry_after_ms: u64) -> ConnectFail {
    ConnectFail::new(
        ErrorShape::new(
            ErrorCode::InvalidRequest,
            "unauthorized: too many failed authentication attempts (retry later)",
        )
        .retryable(true)
        .retry_after(retry_after_ms)
        .with_details(json!({
            "code": "AUTH_RATE_LIMITED",
            "authReason": "rate_limited",
            "recommendedNextStep": "wait_then_retry",
        })),
        close::POLICY_VIOLATION,
    )
}

/// A plain `INVALID_REQUEST` refusal with a `details.code`.
pub fn refuse(code: ErrorCode, msg: &str, detail_code: Option<&str>, close: u16) -> ConnectFail {
    let mut e = ErrorShape::new(code, msg);
    if let Some(dc) = detail_code {
        e = e.with_details(json!({ "code": dc }));
    }
    ConnectFail::new(e, close)
}

#[cfg(test)]
mod tests {
    #[test]
    fn lockout_frame_is_the_documented_one_byte_for_byte() {
        let f = super::rate_limited(297_000);
        let json = serde_json::to_string(&f.error).unwrap();
        assert_eq!(
            json,
            r#"{"code":"INVALID_REQUEST","message":"unauthorized: too many failed authentication attempts (retry later)","retryable":true,"retryAfterMs":297000,"details":{"code":"AUTH_RATE_LIMITED","authReason":"rate_limited","recommendedNextStep":"wait_then_retry"}}"#
        );
        assert_eq!(f.close, 1008);
    }
}

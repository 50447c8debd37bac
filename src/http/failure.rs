//! The HTTP dialects of the one error model (`crate::failure::Failure`): how each surface
//! (OpenAI-compatible `/v1/*`, `/tools/invoke`, `/hooks/*`) answers a failure. The wire
//! (`res` frame) mapping is in `crate::failure`; the kinds come typed, never from text.

use hyper::{Response, StatusCode};
use openclaw_net::HttpBody;
use serde_json::{json, Value};

use super::auth::openai_error;
use super::tools::tool_error;
use crate::failure::{Failure, STORE_UNAVAILABLE};
use crate::provider::ProviderErrorKind;

/// A failure in the OpenAI error dialect (`{error:{message,type}}`).
pub fn openai(f: &Failure) -> Response<HttpBody> {
    f.log("openai");
    match f {
        Failure::Invalid(m) => openai_error(StatusCode::BAD_REQUEST, "invalid_request_error", m),
        Failure::Store(_) => openai_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "api_error",
            STORE_UNAVAILABLE,
        ),
        Failure::Refused(e) => {
            openai_error(StatusCode::SERVICE_UNAVAILABLE, "api_error", &e.message)
        }
        Failure::Timeout => openai_error(
            StatusCode::GATEWAY_TIMEOUT,
            "timeout_error",
            "The agent run timed out.",
        ),
        Failure::Aborted => openai_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "api_error",
            "The agent run was aborted.",
        ),
        Failure::Model { message, cause } => {
            let Some(e) = cause else {
                return openai_error(StatusCode::BAD_GATEWAY, "api_error", message);
            };
            // The upstream's own status and words when it answered with an error status.
            let upstream = match (e.status, &e.upstream) {
                (Some(s), Some(u)) => format!("{s} {u}"),
                _ => message.clone(),
            };
            match e.kind {
                ProviderErrorKind::RateLimit { retry_after_ms } => {
                    let mut r =
                        openai_error(StatusCode::TOO_MANY_REQUESTS, "rate_limit_error", &upstream);
                    if let Some(ms) = retry_after_ms {
                        r.headers_mut()
                            .insert(hyper::header::RETRY_AFTER, ms.div_ceil(1000).into());
                    }
                    r
                }
                ProviderErrorKind::BadRequest if e.status.is_some() => {
                    openai_error(StatusCode::BAD_REQUEST, "invalid_request_error", &upstream)
                }
                _ => openai_error(StatusCode::BAD_GATEWAY, "api_error", message),
            }
        }
    }
}

/// A failure in the `/tools/invoke` dialect (`{ok:false, error:{type,message}}`): the
/// caller's mistakes are shown, anything else is logged and answered generically.
pub fn tools(tool: &str, f: &Failure) -> Response<HttpBody> {
    match f {
        Failure::Invalid(m) => tool_error(StatusCode::BAD_REQUEST, "invalid_request", m),
        f => {
            f.log(tool);
            tracing::warn!(target: "gateway/tools", "tool {tool} failed: {}", f.message());
            tool_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "tool_error",
                "Tool execution failed.",
            )
        }
    }
}

/// A failure in the `/hooks/*` dialect: status and `{ok:false, error}`.
pub fn hooks(f: &Failure) -> (StatusCode, Value) {
    f.log("hooks");
    let (status, error) = match f {
        Failure::Invalid(m) => (StatusCode::BAD_REQUEST, m.as_str()),
        Failure::Store(_) => (StatusCode::BAD_GATEWAY, "event could not be stored"),
        Failure::Refused(e) => {
            tracing::warn!(target: "gateway/hooks", "hook run not admitted: {}", e.message);
            (StatusCode::BAD_GATEWAY, "run could not be started")
        }
        Failure::Model { .. } | Failure::Timeout | Failure::Aborted => {
            (StatusCode::BAD_GATEWAY, "run failed")
        }
    };
    (status, json!({ "ok": false, "error": error }))
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;
    use crate::provider::ProviderError;
    use crate::store::StoreError;

    async fn read(r: Response<HttpBody>) -> (u16, Option<String>, Value) {
        let status = r.status().as_u16();
        let retry = r
            .headers()
            .get(hyper::header::RETRY_AFTER)
            .map(|v| v.to_str().unwrap().to_string());
        let body = r.into_body().collect().await.unwrap().to_bytes();
        (status, retry, serde_json::from_slice(&body).unwrap())
    }

    fn model(kind: ProviderErrorKind, status: Option<u16>, upstream: Option<&str>) -> Failure {
        Failure::Model {
            message: "fake/echo-1 request failed: upstream said no".into(),
            cause: Some(ProviderError {
                kind,
                status,
                message: "fake/echo-1 request failed: upstream said no".into(),
                upstream: upstream.map(str::to_string),
            }),
        }
    }

    #[tokio::test]
    async fn openai_answers_follow_the_upstream_kind() {
        let limited = ProviderErrorKind::RateLimit {
            retry_after_ms: Some(6500),
        };
        let (s, retry, v) = read(openai(&model(limited, Some(429), Some("slow down")))).await;
        assert_eq!((s, retry.as_deref()), (429, Some("7")));
        assert_eq!(v["error"]["type"], "rate_limit_error");
        assert_eq!(v["error"]["message"], "429 slow down");
        // An in-stream rate-limit event has no HTTP status: still a 429, with the run's words.
        let limited = ProviderErrorKind::RateLimit {
            retry_after_ms: None,
        };
        let (s, retry, v) = read(openai(&model(limited, None, None))).await;
        assert_eq!((s, retry), (429, None));
        assert_eq!(
            v["error"]["message"],
            "fake/echo-1 request failed: upstream said no"
        );
        let bad = model(
            ProviderErrorKind::BadRequest,
            Some(400),
            Some("no such model"),
        );
        let (s, _, v) = read(openai(&bad)).await;
        assert_eq!(s, 400);
        assert_eq!(v["error"]["message"], "400 no such model");
        let (s, _, v) = read(openai(&model(ProviderErrorKind::Server, Some(500), None))).await;
        assert_eq!((s, v["error"]["type"].as_str()), (502, Some("api_error")));
        let (s, _, v) = read(openai(&Failure::Timeout)).await;
        assert_eq!(
            (s, v["error"]["type"].as_str()),
            (504, Some("timeout_error"))
        );
    }

    #[tokio::test]
    async fn no_dialect_shows_the_store_text() {
        let f = Failure::Store(StoreError::Sql("database disk image is malformed".into()));
        let (s, _, v) = read(openai(&f)).await;
        assert_eq!(
            (s, v["error"]["message"].as_str()),
            (503, Some(STORE_UNAVAILABLE))
        );
        let (s, _, v) = read(tools("sessions_list", &f)).await;
        assert_eq!(s, 500);
        assert_eq!(v["error"]["message"], "Tool execution failed.");
        let (s, v) = hooks(&f);
        assert_eq!(s, StatusCode::BAD_GATEWAY);
        assert!(!v.to_string().contains("malformed"), "{v}");
        let (s, _, v) = read(tools(
            "sessions_list",
            &Failure::Invalid("args.limit bad".into()),
        ))
        .await;
        assert_eq!(
            (s, v["error"]["message"].as_str()),
            (400, Some("args.limit bad"))
        );
    }
}

//! HTTP plumbing shared by the provider dialects: request headers, sending and reading with
//! an idle deadline, driving an SSE body, and classifying every failure into a
//! [`ProviderError`] whose message never contains the API key.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use reqwest::{Response, Url};

use super::sse::{SseEvent, SseParser};
use super::{
    Completion, ModelRequest, ProviderConfig, ProviderError, ProviderErrorKind, Usage,
    MAX_ERROR_BODY,
};

/// Characters of a non-JSON error body quoted in an error message.
pub const ERROR_PREVIEW_CHARS: usize = 200;
/// Characters of an upstream JSON error message quoted in an error message.
pub const ERROR_MESSAGE_CHARS: usize = 1000;
/// Largest non-stream success body accepted (a server that ignored `stream: true`).
pub const MAX_JSON_BODY: usize = 16 * 1024 * 1024;
/// Non-standard header some providers (OpenAI) send next to `Retry-After`.
const RETRY_AFTER_MS: &str = "retry-after-ms";
/// What replaces the API key if it ever shows up in a message.
const REDACTED: &str = "***";

/// What a stream event handler wants next.
pub(super) enum Flow {
    Continue,
    Done,
}

/// One upstream call: the label used in messages (`<provider id>/<model>`), the key to keep
/// out of them, the idle deadline and the target URL.
pub(super) struct Call<'a> {
    pub label: String,
    key: Option<&'a str>,
    idle: Duration,
    url: Url,
}

impl<'a> Call<'a> {
    /// A whole JSON response body (a server that did not stream): parsed, with an in-body
    /// `error` object turned into the upstream error.
    pub(super) async fn json_body(
        &self,
        resp: &mut reqwest::Response,
    ) -> Result<serde_json::Value, ProviderError> {
        let body = self.body(resp, MAX_JSON_BODY).await?;
        let v: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| self.malformed(format_args!("invalid JSON response ({e})")))?;
        if let Some(err) = v.get("error").filter(|e| !e.is_null()) {
            return Err(self.upstream_error(err));
        }
        Ok(v)
    }

    /// Prepare a call to `url`; an unparsable URL is a [`ProviderErrorKind::BadRequest`].
    pub fn new(
        p: &'a ProviderConfig,
        r: &ModelRequest,
        idle: Duration,
        url: &str,
    ) -> Result<Self, ProviderError> {
        let label = format!("{}/{}", p.id, r.model);
        let key = p.api_key.as_deref().filter(|k| !k.is_empty());
        let url = match Url::parse(url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => u,
            _ => {
                let msg = format!("{label}: invalid baseUrl {:?}", p.base_url);
                return Err(ProviderError {
                    kind: ProviderErrorKind::BadRequest,
                    status: None,
                    message: redact(msg, key),
                    upstream: None,
                });
            }
        };
        Ok(Call {
            label,
            key,
            idle,
            url,
        })
    }

    /// Build an error; the message is scrubbed of the key.
    pub fn err(&self, kind: ProviderErrorKind, status: Option<u16>, msg: String) -> ProviderError {
        ProviderError {
            kind,
            status,
            message: redact(msg, self.key),
            upstream: None,
        }
    }

    /// A [`ProviderErrorKind::Malformed`] error: `<label>: <what>`.
    pub fn malformed(&self, what: impl std::fmt::Display) -> ProviderError {
        let msg = format!("{}: {what}", self.label);
        self.err(ProviderErrorKind::Malformed, None, msg)
    }

    /// An error reported by the upstream inside a 200 (a JSON `error` object or an `error`
    /// event), classified by its `type`.
    pub fn upstream_error(&self, error: &serde_json::Value) -> ProviderError {
        let ty = error.get("type").and_then(|t| t.as_str()).unwrap_or("");
        let code = error.get("code").and_then(|t| t.as_str()).unwrap_or("");
        let kind = match (ty, code) {
            ("rate_limit_error" | "rate_limit_exceeded", _) | (_, "rate_limit_exceeded") => {
                ProviderErrorKind::RateLimit {
                    retry_after_ms: None,
                }
            }
            ("authentication_error" | "permission_error", _) | (_, "invalid_api_key") => {
                ProviderErrorKind::Auth
            }
            ("invalid_request_error" | "not_found_error" | "request_too_large", _) => {
                ProviderErrorKind::BadRequest
            }
            ("api_error" | "overloaded_error" | "server_error", _) => ProviderErrorKind::Server,
            _ => ProviderErrorKind::Malformed,
        };
        let text = error
            .get("message")
            .and_then(|m| m.as_str())
            .or_else(|| error.as_str())
            .map(|m| one_line(m, ERROR_MESSAGE_CHARS))
            .unwrap_or_else(|| one_line(&error.to_string(), ERROR_PREVIEW_CHARS));
        let msg = format!("{}: upstream error: {text}", self.label);
        self.err(kind, None, msg)
    }

    /// `<label>: no data from upstream for <n> s`.
    pub fn timeout(&self) -> ProviderError {
        let msg = format!(
            "{}: no data from upstream for {} s",
            self.label,
            fmt_secs(self.idle)
        );
        self.err(ProviderErrorKind::Timeout, None, msg)
    }

    /// `POST` to the call's URL with `base` headers (e.g. the auth header, marked sensitive)
    /// overridden by the provider's extra `headers`.
    pub fn post(
        &self,
        client: &reqwest::Client,
        base: &[(&'static str, &str)],
        extra: &[(String, String)],
        body: Vec<u8>,
    ) -> Result<reqwest::RequestBuilder, ProviderError> {
        let mut map = HeaderMap::new();
        let pairs = base
            .iter()
            .map(|(k, v)| (*k, *v))
            .chain(extra.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        for (name, value) in pairs {
            let bad = || {
                let msg = format!("{}: invalid request header {name:?}", self.label);
                self.err(ProviderErrorKind::BadRequest, None, msg)
            };
            let n = HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad())?;
            let mut v = HeaderValue::from_str(value).map_err(|_| bad())?;
            if self.key.is_some_and(|k| value.contains(k)) {
                v.set_sensitive(true);
            }
            map.insert(n, v);
        }
        Ok(client.post(self.url.clone()).headers(map).body(body))
    }

    /// Send; headers must arrive within the idle deadline; status ≥ 400 becomes an error.
    pub async fn send(&self, rb: reqwest::RequestBuilder) -> Result<Response, ProviderError> {
        let resp = match tokio::time::timeout(self.idle, rb.send()).await {
            Err(_) => return Err(self.timeout()),
            Ok(Err(e)) => return Err(self.transport_error(&e)),
            Ok(Ok(r)) => r,
        };
        if resp.status().is_success() {
            Ok(resp)
        } else {
            Err(self.status_error(resp).await)
        }
    }

    /// The next body chunk (`None` at a clean end) within the idle deadline.
    pub async fn chunk(&self, resp: &mut Response) -> Result<Option<Bytes>, ProviderError> {
        match tokio::time::timeout(self.idle, resp.chunk()).await {
            Err(_) => Err(self.timeout()),
            Ok(Ok(c)) => Ok(c),
            Ok(Err(e)) if e.is_timeout() => Err(self.timeout()),
            Ok(Err(e)) => Err(self.malformed(format_args!(
                "upstream stream interrupted: {}",
                root_cause(&e)
            ))),
        }
    }

    /// The whole body (success path), at most `limit` bytes.
    pub async fn body(&self, resp: &mut Response, limit: usize) -> Result<Vec<u8>, ProviderError> {
        let mut out = Vec::new();
        while let Some(c) = self.chunk(resp).await? {
            if out.len() + c.len() > limit {
                return Err(self.malformed(format_args!("response body larger than {limit} bytes")));
            }
            out.extend_from_slice(&c);
        }
        Ok(out)
    }

    /// Feed the SSE body to `on_event` until it says [`Flow::Done`] (→ `true`) or the body
    /// ends (→ `false`).
    pub async fn drive_sse(
        &self,
        resp: &mut Response,
        mut on_event: impl FnMut(SseEvent) -> Result<Flow, ProviderError>,
    ) -> Result<bool, ProviderError> {
        let mut parser = SseParser::new();
        let mut events = Vec::new();
        loop {
            let chunk = self.chunk(resp).await?;
            let res = match &chunk {
                Some(c) => parser.feed(c, &mut events),
                None => parser.finish(&mut events),
            };
            res.map_err(|e| self.malformed(e))?;
            for ev in events.drain(..) {
                if let Flow::Done = on_event(ev)? {
                    return Ok(true);
                }
            }
            if chunk.is_none() {
                return Ok(false);
            }
        }
    }

    fn host_port(&self) -> String {
        let host = self.url.host_str().unwrap_or("?");
        match self.url.port_or_known_default() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_string(),
        }
    }

    /// A failure without an HTTP status (connect, DNS, reset before the response…).
    fn transport_error(&self, e: &reqwest::Error) -> ProviderError {
        let target = self.host_port();
        let label = &self.label;
        if e.is_builder() {
            let msg = format!("{label}: invalid request: {}", root_cause(e));
            return self.err(ProviderErrorKind::BadRequest, None, msg);
        }
        if e.is_connect() {
            let refused = io_error_kind(e) == Some(std::io::ErrorKind::ConnectionRefused);
            let msg = if refused {
                format!("{label}: connection refused by {target}")
            } else {
                format!("{label}: cannot connect to {target}: {}", root_cause(e))
            };
            return self.err(ProviderErrorKind::Connect, None, msg);
        }
        if e.is_timeout() {
            return self.timeout();
        }
        let msg = format!("{label} request to {target} failed: {}", root_cause(e));
        self.err(ProviderErrorKind::Server, None, msg)
    }

    /// Status ≥ 400 (or an unexpected non-2xx): classify and quote the upstream's message.
    async fn status_error(&self, mut resp: Response) -> ProviderError {
        let status = resp.status();
        let headers = resp.headers();
        let retry_after_ms = headers
            .get(RETRY_AFTER_MS)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|v| v.is_finite() && *v >= 0.0)
            .map(|v| v as u64)
            .or_else(|| {
                let v = headers.get(RETRY_AFTER)?.to_str().ok()?;
                parse_retry_after(v, SystemTime::now())
            });
        let mut body = Vec::new();
        // Best effort: whatever arrives within the idle deadline, up to the cap.
        while let Ok(Some(c)) = self.chunk(&mut resp).await {
            let room = MAX_ERROR_BODY.saturating_sub(body.len());
            body.extend_from_slice(&c[..c.len().min(room)]);
            if body.len() >= MAX_ERROR_BODY {
                break;
            }
        }
        let code = status.as_u16();
        let detail = error_detail(&body)
            .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_string());
        let kind = match code {
            401 | 403 => ProviderErrorKind::Auth,
            429 => ProviderErrorKind::RateLimit { retry_after_ms },
            400..=499 => ProviderErrorKind::BadRequest,
            500.. => ProviderErrorKind::Server,
            _ => ProviderErrorKind::Malformed,
        };
        let msg = format!("{} request failed: HTTP {code}: {detail}", self.label);
        ProviderError {
            upstream: Some(redact(detail, self.key)),
            ..self.err(kind, Some(code), msg)
        }
    }
}

/// Replace every occurrence of the key.
fn redact(msg: String, key: Option<&str>) -> String {
    match key {
        Some(k) if !k.is_empty() && msg.contains(k) => msg.replace(k, REDACTED),
        _ => msg,
    }
}

/// `2`, `0.2`, `1.25` — seconds without trailing zeros.
fn fmt_secs(d: Duration) -> String {
    let s = format!("{:.3}", d.as_secs_f64());
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The innermost error of the chain (the useful part: "Connection refused (os error 111)").
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// The first `std::io::Error` kind in the chain.
fn io_error_kind(e: &(dyn std::error::Error + 'static)) -> Option<std::io::ErrorKind> {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        cur = err.source();
    }
    None
}

/// At most `max` characters, control characters (newlines) turned into spaces, trimmed.
/// The completion of a stream that is over, by its end marker (`done`) or by the end of
/// the body; a body that ended with nothing at all is malformed.
pub(super) fn completion(
    call: &Call<'_>,
    done: bool,
    text: String,
    usage: Usage,
    stop: Option<String>,
) -> Result<Completion, ProviderError> {
    if !done && stop.is_none() && text.is_empty() {
        return Err(call.malformed("upstream stream ended without data"));
    }
    Ok(Completion {
        text,
        usage,
        stop_reason: stop.unwrap_or_else(|| "stop".to_string()),
    })
}

pub(super) fn one_line(s: &str, max: usize) -> String {
    s.trim()
        .chars()
        .take(max)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The upstream's own words: `error.message`, `error` (string), `message`, `detail`, or the
/// first [`ERROR_PREVIEW_CHARS`] characters of the body.
pub(super) fn error_detail(body: &[u8]) -> Option<String> {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
        let found = [
            v.pointer("/error/message"),
            v.get("error"),
            v.get("message"),
            v.get("detail"),
        ]
        .into_iter()
        .flatten()
        .find_map(|x| x.as_str().filter(|s| !s.trim().is_empty()));
        if let Some(m) = found {
            return Some(one_line(m, ERROR_MESSAGE_CHARS));
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = one_line(&text, ERROR_PREVIEW_CHARS);
    (!text.is_empty()).then_some(text)
}

/// `Retry-After`: delta-seconds or an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`),
/// in milliseconds from `now` (0 for a date in the past).
pub(super) fn parse_retry_after(v: &str, now: SystemTime) -> Option<u64> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(secs.saturating_mul(1000));
    }
    let at = UNIX_EPOCH + Duration::from_secs(parse_http_date(v)?);
    Some(
        at.duration_since(now)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
    )
}

/// Seconds since the epoch of an IMF-fixdate.
fn parse_http_date(v: &str) -> Option<u64> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mut it = v.split_ascii_whitespace();
    let _weekday = it.next()?;
    let day: i64 = it.next()?.parse().ok()?;
    let mon = it.next()?;
    let month = MONTHS.iter().position(|m| m.eq_ignore_ascii_case(mon))? as i64 + 1;
    let year: i64 = it.next()?.parse().ok()?;
    let mut hms = it.next()?.split(':');
    let mut part = || -> Option<i64> { hms.next()?.parse().ok() };
    let (h, m, s) = (part()?, part()?, part()?);
    if it.next() != Some("GMT") || !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 {
        return None;
    }
    // Days from civil (H. Hinnant), March-based years.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + h * 3600 + m * 60 + s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37
        assert_eq!(parse_retry_after("7", now), Some(7000));
        assert_eq!(parse_retry_after(" 0 ", now), Some(0));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now),
            Some(10_000)
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:00 GMT", now),
            Some(0)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            parse_http_date("Tue, 29 Feb 2000 12:00:00 GMT"),
            Some(951_825_600)
        );
        assert_eq!(
            parse_http_date("Wed, 09 Sep 2026 10:11:12 GMT"),
            Some(1_788_948_672)
        );
        assert_eq!(parse_http_date("Wed, 09 Sep 2026 10:11:12 PST"), None);
    }

    #[test]
    fn error_detail_prefers_the_json_message() {
        let b = br#"{"error":{"message":"bad model","type":"invalid_request_error"}}"#;
        assert_eq!(error_detail(b).as_deref(), Some("bad model"));
        assert_eq!(
            error_detail(br#"{"error":"nope"}"#).as_deref(),
            Some("nope")
        );
        assert_eq!(
            error_detail(br#"{"detail":"x\ny"}"#).as_deref(),
            Some("x y")
        );
        let long = "z".repeat(500);
        assert_eq!(error_detail(long.as_bytes()).map(|s| s.len()), Some(200));
        assert_eq!(error_detail(b"  "), None);
    }

    #[test]
    fn redaction_and_formatting() {
        assert_eq!(
            redact("key sk-1 here sk-1".into(), Some("sk-1")),
            "key *** here ***"
        );
        assert_eq!(redact("nothing".into(), None), "nothing");
        assert_eq!(fmt_secs(Duration::from_millis(200)), "0.2");
        assert_eq!(fmt_secs(Duration::from_secs(120)), "120");
        assert_eq!(fmt_secs(Duration::from_millis(1250)), "1.25");
    }
}

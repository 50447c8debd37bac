//! HTTP routes on the gateway port: liveness/readiness probes, the Control UI (a built-in
//! page, or the static bundle under `gateway.controlUi.root`), and 404 for surfaces that are
//! off. Every response carries the security headers the Node gateway sends.

pub mod auth;
pub mod body;
mod control_ui;
mod embeddings;
pub mod failure;
pub mod hooks;
mod hooks_actions;
pub mod metrics;

pub mod openai;
pub mod openai_input;
pub mod openai_out;
mod probes;
pub mod responses;
pub mod tools;

use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use openclaw_net::{full_body, ConnInfo, HttpBody};

use std::sync::Arc;

use crate::server::Gateway;

/// JSON content type used by the probes.
pub(crate) const JSON_UTF8: &str = "application/json; charset=utf-8";
/// Plain-text content type used by errors.
const TEXT_UTF8: &str = "text/plain; charset=utf-8";

pub use crate::auth::ip_matches;

/// Add the headers every response carries.
fn secure(mut r: Response<HttpBody>) -> Response<HttpBody> {
    let h = r.headers_mut();
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert(
        "permissions-policy",
        HeaderValue::from_static("camera=(), microphone=(), geolocation=()"),
    );
    r
}

/// A response with a body (dropped for HEAD).
pub fn respond(
    status: StatusCode,
    ctype: &'static str,
    body: impl Into<bytes::Bytes>,
    head: bool,
) -> Response<HttpBody> {
    let body: bytes::Bytes = body.into();
    let len = body.len();
    let mut r = Response::new(full_body(if head { bytes::Bytes::new() } else { body }));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(ctype));
    if head {
        r.headers_mut()
            .insert(hyper::header::CONTENT_LENGTH, HeaderValue::from(len));
    }
    r
}

/// `404 Not Found`, as the Node gateway answers for disabled surfaces.
pub fn not_found(head: bool) -> Response<HttpBody> {
    respond(StatusCode::NOT_FOUND, TEXT_UTF8, "Not Found", head)
}

/// Route one request.
pub async fn route(
    gw: &Arc<Gateway>,
    req: Request<hyper::body::Incoming>,
    info: &ConnInfo,
) -> Response<HttpBody> {
    let t0 = std::time::Instant::now();
    let head = req.method() == Method::HEAD;
    let get = req.method() == Method::GET || head;
    let path = req.uri().path().to_string();
    let r = routed(gw, req, info, head, get, &path).await;
    if crate::metrics::enabled() {
        let label = if hooks::matches(gw, &path) {
            crate::metrics::route_index("hooks")
        } else {
            crate::metrics::route_of(&path)
        };
        crate::metrics::http(label, r.status().as_u16(), t0.elapsed());
    }
    secure(r)
}

async fn routed(
    gw: &Arc<Gateway>,
    req: Request<hyper::body::Incoming>,
    info: &ConnInfo,
    head: bool,
    get: bool,
    path: &str,
) -> Response<HttpBody> {
    let path = path.to_string();
    match (get, path.as_str()) {
        (true, "/health" | "/healthz") => {
            let mut r = respond(
                StatusCode::OK,
                JSON_UTF8,
                r#"{"ok":true,"status":"live"}"#,
                head,
            );
            r.headers_mut()
                .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        (true, "/readyz" | "/ready") => probes::ready(gw, &req, info, head),
        (true, "/startupz" | "/startup") => probes::startup(gw, &req, info, head),
        (_, p) if p.starts_with("/v1/") || p == "/v1" => {
            let c = gw.cfg.load();
            if !(c.http.chat_completions || c.http.responses) {
                not_found(head)
            } else {
                v1(gw, req, info, &path).await
            }
        }
        (_, "/tools/invoke") => tools::invoke(gw, req, info).await,
        (_, p) if hooks::matches(gw, p) => hooks::handle(gw, req, info, &path).await,
        (_, p) if p.starts_with("/tools/") => not_found(head),
        (true, "/ui") => not_found(head),
        (true, "/metrics") if gw.cfg.load().metrics_enabled => {
            metrics::serve(gw, req.headers(), info, head).await
        }
        (true, p) if control_ui::is_config(gw, p) => {
            match auth::authenticate_ui_read(gw, req.headers(), info) {
                Ok(_) => control_ui::config_json(gw, head),
                Err(refused) => refused,
            }
        }
        (true, _) => {
            let accept = req
                .headers()
                .get(hyper::header::ACCEPT_ENCODING)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            control_ui::serve(gw, &path, accept, head).await
        }
        (false, _) => not_found(head),
    }
}

/// The OpenAI-compatible routes (surface enabled): auth, then method + path.
async fn v1(
    gw: &Gateway,
    req: Request<hyper::body::Incoming>,
    info: &ConnInfo,
    path: &str,
) -> Response<HttpBody> {
    let caller = match auth::authenticate(gw, req.headers(), info) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let method = req.method().clone();
    let post = |name: &str| path == name;
    match (method, path) {
        (Method::GET, "/v1/models") => {
            if !caller.has("operator.read") {
                return auth::missing_scope("operator.read");
            }
            openai::models(gw)
        }
        (Method::GET, p) if p.starts_with("/v1/models/") => {
            if !caller.has("operator.read") {
                return auth::missing_scope("operator.read");
            }
            openai::model(gw, &p["/v1/models/".len()..])
        }
        (Method::POST, p)
            if post("/v1/chat/completions") || post("/v1/responses") || post("/v1/embeddings") =>
        {
            if !caller.has("operator.write") {
                return auth::missing_scope("operator.write");
            }
            let p = p.to_string();
            let lim = gw.cfg.load().limits.clone();
            let deadline = std::time::Duration::from_millis(lim.http_body_timeout_ms);
            let max = usize::try_from(lim.http_max_body_bytes).unwrap_or(usize::MAX);
            let (parts, body) = match body::read_json(req, max, deadline).await {
                Ok(x) => x,
                Err(r) => return *r,
            };
            match p.as_str() {
                "/v1/chat/completions" => {
                    openai::chat_completions(gw, &caller, &parts.headers, body).await
                }
                "/v1/responses" => responses::create(gw, &caller, &parts.headers, body).await,
                _ => embeddings::create(gw, &caller, &parts.headers, body).await,
            }
        }
        (_, "/v1/models" | "/v1/chat/completions" | "/v1/responses" | "/v1/embeddings") => {
            auth::openai_error(
                StatusCode::METHOD_NOT_ALLOWED,
                "invalid_request_error",
                "Method Not Allowed",
            )
        }
        _ => not_found(false),
    }
}

#[cfg(test)]
mod tests {
    use super::ip_matches;

    #[test]
    fn cidr_matching() {
        let ip = "10.1.2.3".parse().unwrap();
        assert!(ip_matches("10.0.0.0/8", ip));
        assert!(ip_matches("10.1.2.3", ip));
        assert!(!ip_matches("10.1.2.4", ip));
        assert!(!ip_matches("192.168.0.0/16", ip));
        assert!(ip_matches("::1/128", "::1".parse().unwrap()));
        assert!(!ip_matches("garbage", ip));
    }
}

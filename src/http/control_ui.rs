//! The Control UI: the prebuilt static bundle from `gateway.controlUi.root` when configured
//! (hashed assets cached immutably, SPA fallback to `index.html`), otherwise a small built-in
//! page that points the operator at the CLI. Files are read off the async workers.

use hyper::header::{HeaderValue, CACHE_CONTROL};
use hyper::{Response, StatusCode};
use openclaw_net::HttpBody;
use serde_json::Value;

use super::{not_found, respond};
use crate::server::{Gateway, VERSION};

/// Strict CSP for the built-in page (no scripts at all).
const BUILTIN_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; connect-src 'self' ws: wss:; frame-ancestors 'none'";

fn builtin_page() -> String {
    format!(
        "<!doctype html>\n<html data-openclaw-control-ui-base-path=\"\"><head><meta charset=\"utf-8\"><title>OpenClaw Gateway</title></head>\
<body><h1>OpenClaw Gateway</h1><p>openclaw-rs {VERSION} is running. The WebSocket control plane is on this port.</p>\
<p>Set <code>gateway.controlUi.root</code> to a built Control UI bundle to serve it here, or use <code>openclaw status</code>.</p></body></html>\n"
    )
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "webmanifest" => "application/json; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        _ => "application/octet-stream",
    }
}

fn page(
    body: impl Into<bytes::Bytes>,
    ctype: &'static str,
    head: bool,
    immutable: bool,
) -> Response<HttpBody> {
    let mut r = respond(StatusCode::OK, ctype, body, head);
    let h = r.headers_mut();
    h.insert(
        CACHE_CONTROL,
        HeaderValue::from_static(if immutable {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        }),
    );
    if ctype.starts_with("text/html") {
        h.insert("x-frame-options", HeaderValue::from_static("DENY"));
        h.insert(
            "content-security-policy",
            HeaderValue::from_static(BUILTIN_CSP),
        );
    }
    r
}

/// Serve `path` of the Control UI.
pub async fn serve(gw: &Gateway, path: &str, head: bool) -> Response<HttpBody> {
    let cfg = gw.cfg.load();
    if !cfg.control_ui_enabled {
        return not_found(head);
    }
    let base = cfg.control_ui_base_path.trim_end_matches('/');
    let Some(rel) = path.strip_prefix(base) else {
        return not_found(head);
    };
    let root = cfg
        .parsed
        .pointer("/gateway/controlUi/root")
        .and_then(Value::as_str)
        .map(std::path::PathBuf::from);
    let Some(root) = root else {
        return page(builtin_page(), "text/html; charset=utf-8", head, false);
    };
    let rel = rel.trim_start_matches('/');
    if rel
        .split('/')
        .any(|seg| seg == ".." || seg.starts_with('.') && !seg.is_empty())
    {
        return not_found(head);
    }
    let file = if rel.is_empty() {
        root.join("index.html")
    } else {
        root.join(rel)
    };
    let immutable = rel.starts_with("assets/");
    match tokio::fs::read(&file).await {
        Ok(bytes) => page(bytes, content_type(rel), head, immutable),
        Err(_) => match tokio::fs::read(root.join("index.html")).await {
            Ok(bytes) => page(bytes, "text/html; charset=utf-8", head, false),
            Err(_) => not_found(head),
        },
    }
}

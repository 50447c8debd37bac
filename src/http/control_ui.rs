//! The Control UI: the prebuilt static bundle from `gateway.controlUi.root` when configured
//! (hashed assets cached immutably, SPA fallback to `index.html`), otherwise a small built-in
//! page that points the operator at the CLI. Files are read off the async workers.

use hyper::header::{HeaderValue, CACHE_CONTROL};
use hyper::{Response, StatusCode};
use openclaw_net::HttpBody;
use serde_json::Value;

use super::{not_found, respond};
use crate::server::{Gateway, VERSION};

/// CSP of a served UI bundle's HTML, as the Node gateway sends with its own Control UI:
/// scripts from the bundle's origin plus the page's own inline scripts by hash.
const BUNDLE_CSP_HEAD: &str = "default-src 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'; frame-src 'self' http: https:; script-src 'self'";
const BUNDLE_CSP_TAIL: &str = " 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline' https://fonts.googleapis.com; img-src 'self' data: blob: https:; media-src 'self' data: blob:; font-src 'self' https://fonts.gstatic.com; worker-src 'self'; connect-src 'self' ws: wss: data: https://api.openai.com https://tweakcn.com http://127.0.0.1:* https://127.0.0.1:*";

/// Strict CSP for the built-in page (no scripts at all).
const BUILTIN_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; connect-src 'self' ws: wss:; frame-ancestors 'none'";

fn builtin_page() -> String {
    format!(
        "<!doctype html>\n<html data-openclaw-control-ui-base-path=\"\"><head><meta charset=\"utf-8\"><title>OpenClaw Gateway</title></head>\
<body><h1>OpenClaw Gateway</h1><p>openclaw-rs {VERSION} is running. The WebSocket control plane is on this port.</p>\
<p>Set <code>gateway.controlUi.root</code> to a built Control UI bundle to serve it here, or use <code>openclaw status</code>.</p></body></html>\n"
    )
}

/// `'sha256-…'` sources for the inline `<script>` elements (those without `src`) of `html`.
fn inline_script_hashes(html: &str) -> Vec<String> {
    use base64::Engine;
    use sha2::{Digest, Sha256};
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find("<script") {
        let after = &rest[i..];
        let Some(open_end) = after.find('>') else {
            break;
        };
        let tag = &after[..open_end];
        let body = &after[open_end + 1..];
        let Some(close) = body.find("</script>") else {
            break;
        };
        if !tag.contains(" src=") {
            let digest = Sha256::digest(&body.as_bytes()[..close]);
            let b64 = base64::engine::general_purpose::STANDARD.encode(digest);
            out.push(format!("'sha256-{b64}'"));
        }
        rest = &body[close..];
    }
    out
}

/// The CSP of one HTML page of a served bundle.
fn bundle_csp(html: &[u8]) -> String {
    let hashes = inline_script_hashes(&String::from_utf8_lossy(html));
    let mut csp = String::from(BUNDLE_CSP_HEAD);
    for h in hashes {
        csp.push(' ');
        csp.push_str(&h);
    }
    csp.push_str(BUNDLE_CSP_TAIL);
    csp
}

fn content_type(path: &str) -> &'static str {
    if path.is_empty() || path.ends_with('/') {
        return "text/html; charset=utf-8";
    }
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
    page_with_csp(body.into(), ctype, head, immutable, None)
}

/// A page of a served bundle: HTML gets the bundle CSP (with its inline-script hashes) and
/// the Node gateway's security headers instead of the built-in page's strict CSP.
fn bundle_page(
    body: Vec<u8>,
    ctype: &'static str,
    head: bool,
    immutable: bool,
) -> Response<HttpBody> {
    let csp = ctype.starts_with("text/html").then(|| bundle_csp(&body));
    page_with_csp(body.into(), ctype, head, immutable, csp)
}

fn page_with_csp(
    body: bytes::Bytes,
    ctype: &'static str,
    head: bool,
    immutable: bool,
    bundle_csp: Option<String>,
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
        let csp = match bundle_csp.and_then(|c| HeaderValue::from_str(&c).ok()) {
            Some(v) => {
                h.insert(
                    "x-content-type-options",
                    HeaderValue::from_static("nosniff"),
                );
                h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
                v
            }
            None => HeaderValue::from_static(BUILTIN_CSP),
        };
        h.insert("content-security-policy", csp);
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
        Ok(bytes) => bundle_page(bytes, content_type(rel), head, immutable),
        Err(_) => match tokio::fs::read(root.join("index.html")).await {
            Ok(bytes) => bundle_page(bytes, "text/html; charset=utf-8", head, false),
            Err(_) => not_found(head),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_scripts_are_allowed_by_hash_and_external_ones_by_self() {
        let html = "<html><script>a()</script><script src=\"/assets/x.js\"></script>\
                    <script type=\"module\">b</script></html>";
        assert_eq!(
            inline_script_hashes(html),
            [
                "'sha256-qVpDBgj7bpq5hMAcGp3AOc79J3Y1Z4HvySTwKrWDoy4='",
                "'sha256-PiPoFgA5WUoziU9lZOGxNIu9egCI1CxKy3PurtWcAJ0='",
            ]
        );
        let csp = bundle_csp(html.as_bytes());
        assert!(csp.contains("script-src 'self' 'sha256-qVpD"), "{csp}");
        assert!(csp.ends_with("https://127.0.0.1:*"), "{csp}");
        assert_eq!(content_type(""), "text/html; charset=utf-8");
        assert_eq!(
            content_type("assets/app.js"),
            "text/javascript; charset=utf-8"
        );
    }
}

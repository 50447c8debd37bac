//! The Control UI: the prebuilt static bundle from `gateway.controlUi.root` when configured
//! (hashed assets cached immutably, SPA fallback to `index.html`), otherwise a small built-in
//! page that points the operator at the CLI. Files are read off the async workers.

use hyper::header::{HeaderValue, CACHE_CONTROL};
use hyper::{Response, StatusCode};
use openclaw_net::HttpBody;

use super::{not_found, respond, JSON_UTF8};
use crate::server::{Gateway, VERSION};

/// CSP of a served UI bundle's HTML, as the Node gateway sends with its own Control UI:
/// scripts from the bundle's origin plus the page's own inline scripts by hash.
const BUNDLE_CSP_HEAD: &str = "default-src 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'; frame-src 'self' http: https:; script-src 'self'";
const BUNDLE_CSP_TAIL: &str = " 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline' https://fonts.googleapis.com; img-src 'self' data: blob: https:; media-src 'self' data: blob:; font-src 'self' https://fonts.gstatic.com; worker-src 'self'; connect-src 'self' ws: wss: data: https://api.openai.com https://tweakcn.com http://127.0.0.1:* https://127.0.0.1:*";

/// Strict CSP for the built-in page (no scripts at all).
const BUILTIN_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; connect-src 'self' ws: wss:; frame-ancestors 'none'";

/// The page served when no Control UI build is installed: what runs here, and the two
/// commands that put the stock UI where the gateway looks for it (`dir`).
fn builtin_page(dir: &std::path::Path) -> String {
    let dir = html_escape(&dir.display().to_string());
    format!(
        "<!doctype html>\n<html data-openclaw-control-ui-base-path=\"\"><head><meta charset=\"utf-8\"><title>OpenClaw Gateway</title></head>\
<body><h1>OpenClaw Gateway</h1><p>openclaw-rs {VERSION} is running. The WebSocket control plane is on this port.</p>\
<p>No Control UI build is installed. To serve the stock Control UI here, fetch it into <code>{dir}</code> and restart the gateway:</p>\
<pre>npm pack openclaw@{VERSION}\nmkdir -p {dir} &amp;&amp; tar -xzf openclaw-{VERSION}.tgz -C {dir} --strip-components=3 package/dist/control-ui</pre>\
<p>Or set <code>gateway.controlUi.root</code> to a Control UI build directory. <code>openclaw status</code> works without it.</p></body></html>\n"
    )
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
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

/// The app shell as the Node gateway serves it: the `<html>` element names the base path, and
/// the bundle's relative URLs (`./assets/…`, `./favicon.svg`) become absolute under the base
/// path — so the shell works from any deep link — the non-hashed ones versioned with the
/// bundle's build id.
fn shell(html: &[u8], base: &str) -> Vec<u8> {
    let text = String::from_utf8_lossy(html);
    let build = text
        .split("data-openclaw-control-ui-build-id=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .map(str::to_string);
    let mut out = text.replacen(
        "<html ",
        &format!("<html data-openclaw-control-ui-base-path=\"{base}\" "),
        1,
    );
    for attr in ["href=\"./", "src=\"./"] {
        let mut rewritten = String::with_capacity(out.len() + 256);
        let mut rest = out.as_str();
        while let Some(at) = rest.find(attr) {
            let (before, after) = rest.split_at(at);
            rewritten.push_str(before);
            let url_start = attr.len();
            let end = after[url_start..]
                .find('"')
                .map_or(after.len(), |e| url_start + e);
            let url = &after[url_start..end];
            let prefix = &attr[..attr.len() - 2];
            rewritten.push_str(&format!("{prefix}{base}/{url}"));
            if let (false, Some(b)) = (url.starts_with("assets/") || url.contains('?'), &build) {
                rewritten.push_str(&format!("?v={b}"));
            }
            rest = &after[end..];
        }
        rewritten.push_str(rest);
        out = rewritten;
    }
    out.into_bytes()
}

/// The precompressed sibling to send for `accept` (`br` first, then `gzip`), if any.
async fn precompressed(file: &std::path::Path, accept: &str) -> Option<(Vec<u8>, &'static str)> {
    let accepts = |enc: &str| {
        accept.split(',').any(|a| {
            a.split(';')
                .next()
                .is_some_and(|e| e.trim().eq_ignore_ascii_case(enc))
        })
    };
    for (ext, enc) in [("br", "br"), ("gz", "gzip")] {
        if accepts(enc) {
            let mut name = file.as_os_str().to_owned();
            name.push(format!(".{ext}"));
            if let Ok(b) = tokio::fs::read(std::path::PathBuf::from(name)).await {
                return Some((b, enc));
            }
        }
    }
    None
}

/// Whether `path` is the UI's config document (`<basePath>/control-ui-config.json`) of an
/// enabled Control UI.
pub fn is_config(gw: &Gateway, path: &str) -> bool {
    let cfg = gw.cfg.load();
    cfg.control_ui_enabled
        && path
            .strip_prefix(cfg.control_ui_base_path.trim_end_matches('/'))
            .is_some_and(|rest| rest == "/control-ui-config.json")
}

/// `<basePath>/control-ui-config.json` (authenticated like the HTTP API): what the stock UI
/// reads at start besides hello-ok — the default agent's name and avatar, the server's
/// version, and switches for features this gateway does not have (terminal, CLI agents,
/// plugin frames), as the Node gateway serves it.
pub fn config_json(gw: &Gateway, head: bool) -> Response<HttpBody> {
    let cfg = gw.cfg.load();
    let cat = gw.agents.catalog();
    let agent = cat.default_agent();
    let (name, avatar) = (agent.display_name(), agent.fallback_avatar());
    let body = serde_json::json!({
        "basePath": cfg.control_ui_base_path.trim_end_matches('/'),
        "assistantName": name, "assistantAvatar": avatar, "assistantAvatarSource": null,
        "assistantAvatarStatus": null, "assistantAvatarReason": null,
        "assistantAgentId": agent.id,
        "serverVersion": VERSION, "serverBuildId": gw.boot.build_id,
        "embedSandbox": "scripts", "allowExternalEmbedUrls": false,
        "automaticallyFetchFavicons": false, "communityInvite": false,
        "terminalEnabled": false, "cliAgentsEnabled": false,
        "pluginAssetsRequireAuth": true, "pluginFrameGrants": [],
    });
    let mut r = respond(StatusCode::OK, JSON_UTF8, body.to_string(), head);
    r.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

/// Serve `path` of the Control UI (`accept`: the request's `Accept-Encoding`).
pub async fn serve(gw: &Gateway, path: &str, accept: &str, head: bool) -> Response<HttpBody> {
    let cfg = gw.cfg.load();
    if !cfg.control_ui_enabled {
        return not_found(head);
    }
    let base = cfg.control_ui_base_path.trim_end_matches('/').to_string();
    let Some(rel) = path.strip_prefix(base.as_str()) else {
        return not_found(head);
    };
    let Some(root) = cfg.control_ui_root() else {
        let dir = cfg.state_dir.join(crate::config::CONTROL_UI_DIR);
        return page(builtin_page(&dir), "text/html; charset=utf-8", head, false);
    };
    let rel = rel.trim_start_matches('/');
    if rel
        .split('/')
        .any(|seg| seg == ".." || seg.starts_with('.') && !seg.is_empty())
    {
        return not_found(head);
    }
    let last = rel.rsplit('/').next().unwrap_or("");
    // A path naming a file (an extension, or under assets/) is that file or 404; anything else
    // is a route of the app and gets the shell.
    let is_file = rel.starts_with("assets/") || last.contains('.');
    if is_file && rel != "index.html" {
        let file = root.join(rel);
        let immutable = rel.starts_with("assets/");
        if let Some((bytes, enc)) = precompressed(&file, accept).await {
            let mut r = bundle_page(bytes, content_type(rel), head, immutable);
            r.headers_mut()
                .insert("content-encoding", HeaderValue::from_static(enc));
            r.headers_mut()
                .insert("vary", HeaderValue::from_static("Accept-Encoding"));
            return r;
        }
        return match tokio::fs::read(&file).await {
            Ok(bytes) => bundle_page(bytes, content_type(rel), head, immutable),
            Err(_) => not_found(head),
        };
    }
    match tokio::fs::read(root.join("index.html")).await {
        Ok(bytes) => bundle_page(
            shell(&bytes, &base),
            "text/html; charset=utf-8",
            head,
            false,
        ),
        Err(_) => not_found(head),
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
        let page = br#"<html data-openclaw-control-ui-build-id="b1" lang="en"><link href="./favicon.svg" /><script type="module" src="./assets/i.js"></script></html>"#;
        let out = String::from_utf8(shell(page, "/ui")).unwrap();
        assert!(out.starts_with(r#"<html data-openclaw-control-ui-base-path="/ui" data-openclaw-control-ui-build-id="b1""#), "{out}");
        assert!(out.contains(r#"href="/ui/favicon.svg?v=b1""#), "{out}");
        assert!(out.contains(r#"src="/ui/assets/i.js""#), "{out}");
        assert_eq!(
            content_type("assets/app.js"),
            "text/javascript; charset=utf-8"
        );
    }
}

//! RFC 6455 server handshake: validate the upgrade head and write the 101.

use base64::Engine;
use sha1::{Digest, Sha1};

use crate::sniff::find_header;

const WS_GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// `Sec-WebSocket-Accept` for a client key.
pub fn accept_key(key: &str) -> String {
    let mut h = Sha1::new();
    h.update(key.trim().as_bytes());
    h.update(WS_GUID);
    base64::engine::general_purpose::STANDARD.encode(h.finalize())
}

/// The response to write for an upgrade request's headers: `Ok(101 bytes)` or `Err(error response bytes)`.
pub fn respond(headers: &[(String, String)]) -> Result<Vec<u8>, Vec<u8>> {
    let version_ok = find_header(headers, "sec-websocket-version").map(str::trim) == Some("13");
    let key = find_header(headers, "sec-websocket-key");
    match (version_ok, key) {
        (true, Some(key)) if !key.trim().is_empty() => Ok(format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
            accept_key(key)
        )
        .into_bytes()),
        (false, _) => Err(error_response(426, "Upgrade Required", "unsupported websocket version")),
        _ => Err(error_response(400, "Bad Request", "missing Sec-WebSocket-Key")),
    }
}

/// A minimal `text/plain` error response that closes the connection.
pub fn error_response(status: u16, reason: &str, body: &str) -> Vec<u8> {
    let extra = if status == 426 {
        "Sec-WebSocket-Version: 13\r\n"
    } else {
        ""
    };
    format!(
        "HTTP/1.1 {status} {reason}\r\n{extra}Content-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc_6455_example_key() {
        assert_eq!(
            super::accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }
}

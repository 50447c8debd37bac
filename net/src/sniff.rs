//! Look at the first bytes of a connection and decide: WebSocket upgrade or plain HTTP.
//!
//! Only a `GET` whose head carries `Upgrade: websocket` is a WebSocket; everything else
//! (including a head too large or malformed to parse here) goes to hyper with the bytes
//! replayed, so HTTP errors are answered by the HTTP stack.

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

/// A parsed WebSocket upgrade request head.
#[derive(Debug)]
pub struct UpgradeHead {
    /// Request target.
    pub path: String,
    /// Header names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    /// Bytes read after the head (a client that pipelines its first frame).
    pub rest: Bytes,
}

/// First value of header `name` (lower-case) in a lower-cased header list.
pub fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

impl UpgradeHead {
    /// The head's size as the Node gateway's HTTP parser counts it against its limit (see
    /// [`crate::http::head_count`]): the target and every header's name and value.
    pub fn count(&self) -> usize {
        let headers: usize = self.headers.iter().map(|(k, v)| k.len() + v.len()).sum();
        self.path.len() + headers
    }

    /// First header value by lower-case name.
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

/// The sniffer's verdict.
#[derive(Debug)]
pub enum Sniffed {
    /// A WebSocket upgrade request.
    WebSocket(UpgradeHead),
    /// Anything else: replay these bytes to the HTTP stack.
    Http(Bytes),
    /// The peer closed before sending anything.
    Eof,
}

/// Read until the request head is complete (or clearly not a WS upgrade) and classify it.
///
/// # Errors
/// I/O errors of the socket.
pub async fn sniff<S: AsyncRead + Unpin>(
    stream: &mut S,
    max_bytes: usize,
) -> std::io::Result<Sniffed> {
    let mut buf = BytesMut::with_capacity(1024);
    loop {
        let n = stream.read_buf(&mut buf).await?;
        if n == 0 {
            return Ok(if buf.is_empty() {
                Sniffed::Eof
            } else {
                Sniffed::Http(buf.freeze())
            });
        }
        // Not a GET: HTTP, no need to wait for the whole head.
        let probe = &buf[..buf.len().min(4)];
        if !b"GET ".starts_with(probe) {
            return Ok(Sniffed::Http(buf.freeze()));
        }
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&buf) {
            Ok(httparse::Status::Complete(len)) => {
                let is_ws = req.headers.iter().any(|h| {
                    h.name.eq_ignore_ascii_case("upgrade")
                        && std::str::from_utf8(h.value)
                            .map(|v| v.trim().eq_ignore_ascii_case("websocket"))
                            .unwrap_or(false)
                });
                if !is_ws {
                    return Ok(Sniffed::Http(buf.freeze()));
                }
                let path = req.path.unwrap_or("/").to_string();
                let headers = req
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            h.name.to_ascii_lowercase(),
                            String::from_utf8_lossy(h.value).into_owned(),
                        )
                    })
                    .collect();
                // Copy the (usually empty) remainder so the sniff buffer is freed now rather
                // than living as long as the connection.
                let rest = Bytes::copy_from_slice(&buf[len..]);
                return Ok(Sniffed::WebSocket(UpgradeHead {
                    path,
                    headers,
                    rest,
                }));
            }
            Ok(httparse::Status::Partial) if buf.len() < max_bytes => continue,
            _ => return Ok(Sniffed::Http(buf.freeze())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn run(input: &[u8]) -> Sniffed {
        let mut s = input;
        sniff(&mut s, crate::limits::DEFAULT_SNIFF_MAX_BYTES)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn classifies_upgrade_and_plain_requests() {
        let ws =
            b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nXY";
        match run(ws).await {
            Sniffed::WebSocket(h) => {
                assert_eq!(h.path, "/");
                assert_eq!(h.header("upgrade"), Some("websocket"));
                assert_eq!(&h.rest[..], b"XY");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            run(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await,
            Sniffed::Http(_)
        ));
        assert!(matches!(
            run(b"POST /v1 HTTP/1.1\r\n").await,
            Sniffed::Http(_)
        ));
        assert!(matches!(run(b"").await, Sniffed::Eof));
    }
}

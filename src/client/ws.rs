//! WebSocket transport of the CLI client: parse `ws://host:port/path`, a hand-written
//! HTTP/1.1 upgrade on a tokio `TcpStream`, then fastwebsockets in the client role with
//! fragments collected. Text frames in and out; everything else is handled or skipped.

use base64::Engine;
use fastwebsockets::{FragmentCollector, Frame, OpCode, Payload, Role, WebSocket};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::error::ClientError;

/// Largest upgrade response head accepted.
const MAX_RESPONSE_HEAD: usize = 16 * 1024;

/// A parsed `ws://` URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WsUrl {
    /// Host as written (IPv6 without brackets).
    pub host: String,
    pub port: u16,
    /// Request path, at least `/`.
    pub path: String,
}

impl WsUrl {
    /// Parse `ws://host[:port][/path]` (default port 80). `wss://` is refused: the CLI has no TLS.
    pub fn parse(url: &str) -> Result<WsUrl, ClientError> {
        let bad = || ClientError::BadUrl(url.to_string());
        let rest = url.trim().strip_prefix("ws://").ok_or_else(bad)?;
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_string()),
            Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
            None => (rest, "/".to_string()),
        };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let end = v6.find(']').ok_or_else(bad)?;
            let port = match &v6[end + 1..] {
                "" => 80,
                p => p
                    .strip_prefix(':')
                    .ok_or_else(bad)?
                    .parse()
                    .map_err(|_| bad())?,
            };
            (v6[..end].to_string(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), p.parse().map_err(|_| bad())?),
                None => (authority.to_string(), 80),
            }
        };
        if host.is_empty() || port == 0 {
            return Err(bad());
        }
        Ok(WsUrl { host, port, path })
    }

    /// `host:port` for the `Host` header and socket address (IPv6 bracketed).
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// Back to text.
    pub fn as_string(&self) -> String {
        let path = if self.path == "/" { "" } else { &self.path };
        format!("ws://{}{path}", self.authority())
    }
}

/// An open client WebSocket.
pub struct Ws {
    inner: FragmentCollector<BufReader<TcpStream>>,
}

impl Ws {
    /// TCP connect and HTTP upgrade. The caller bounds this with a timeout.
    pub async fn open(url: &WsUrl) -> Result<Ws, ClientError> {
        let stream = TcpStream::connect((url.host.as_str(), url.port))
            .await
            .map_err(|source| ClientError::Connect {
                url: url.as_string(),
                source,
            })?;
        let _ = stream.set_nodelay(true);
        let key = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 16]>());
        let request = format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\
             User-Agent: openclaw-rs-cli/{}\r\n\r\n",
            url.path,
            url.authority(),
            env!("CARGO_PKG_VERSION"),
        );
        let mut rd = BufReader::new(stream);
        let io = |e: std::io::Error| ClientError::Io(e.to_string());
        rd.get_mut()
            .write_all(request.as_bytes())
            .await
            .map_err(io)?;
        // Read the response head line by line; bytes after it (the challenge frame) stay
        // in the BufReader for the WebSocket layer.
        let mut status = String::new();
        let mut total = 0usize;
        loop {
            let mut line = String::new();
            let n = rd.read_line(&mut line).await.map_err(io)?;
            if n == 0 {
                return Err(ClientError::Handshake(
                    "connection closed during the HTTP upgrade".into(),
                ));
            }
            total += n;
            if total > MAX_RESPONSE_HEAD {
                return Err(ClientError::Handshake("response head too large".into()));
            }
            if status.is_empty() {
                status = line.trim_end().to_string();
                continue;
            }
            if line == "\r\n" || line == "\n" {
                break;
            }
        }
        let code = status.split_whitespace().nth(1).unwrap_or("");
        if !status.starts_with("HTTP/1.") || code != "101" {
            return Err(ClientError::Handshake(format!(
                "expected 101 Switching Protocols, got {status:?}"
            )));
        }
        let ws = WebSocket::after_handshake(rd, Role::Client);
        Ok(Ws {
            inner: FragmentCollector::new(ws),
        })
    }

    /// Send one text frame.
    pub async fn send(&mut self, text: &str) -> Result<(), ClientError> {
        self.inner
            .write_frame(Frame::text(Payload::Borrowed(text.as_bytes())))
            .await?;
        Ok(())
    }

    /// The next text message. A close frame ends the conversation with [`ClientError::Closed`].
    pub async fn recv(&mut self) -> Result<String, ClientError> {
        loop {
            let frame = self.inner.read_frame().await?;
            match frame.opcode {
                OpCode::Text | OpCode::Binary => {
                    return String::from_utf8(frame.payload.to_vec())
                        .map_err(|_| ClientError::Protocol("non-UTF-8 message".into()))
                }
                OpCode::Close => {
                    let p = &frame.payload[..];
                    let (code, reason) = if p.len() >= 2 {
                        (
                            u16::from_be_bytes([p[0], p[1]]),
                            String::from_utf8_lossy(&p[2..]).into_owned(),
                        )
                    } else {
                        (1005, String::new())
                    };
                    return Err(ClientError::Closed { code, reason });
                }
                _ => continue,
            }
        }
    }

    /// Send a normal close frame (best effort; the socket is dropped after).
    pub async fn close(&mut self) {
        let _ = self.inner.write_frame(Frame::close(1000, b"")).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let u = WsUrl::parse("ws://127.0.0.1:18789").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("127.0.0.1", 18789, "/")
        );
        assert_eq!(u.as_string(), "ws://127.0.0.1:18789");
        let u = WsUrl::parse("ws://[::1]:9/x?y=1").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("::1", 9, "/x?y=1")
        );
        assert_eq!(u.authority(), "[::1]:9");
        assert_eq!(WsUrl::parse("ws://localhost").unwrap().port, 80);
        assert!(WsUrl::parse("wss://h:1").is_err());
        assert!(WsUrl::parse("http://h:1").is_err());
        assert!(WsUrl::parse("ws://h:x").is_err());
        assert!(WsUrl::parse("ws://:1").is_err());
    }
}

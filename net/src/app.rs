//! The seam between transport and application: what the gateway implements.

use std::future::Future;
use std::net::SocketAddr;

use bytes::Bytes;
use hyper::body::Incoming;

use crate::http::HttpBody;
use crate::outbound::Outbound;

/// Facts about one accepted connection.
#[derive(Clone, Debug)]
pub struct ConnInfo {
    /// Process-unique connection number.
    pub conn_id: u64,
    /// The socket peer.
    pub peer: SocketAddr,
    /// Our local address of the socket.
    pub local: SocketAddr,
    /// Request path of the upgrade request (WS only; `/` for HTTP until parsed by hyper).
    pub path: String,
    /// Headers of the upgrade request, names lower-cased (WS only).
    pub headers: Vec<(String, String)>,
}

impl ConnInfo {
    /// First header value with this (lower-case) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        crate::sniff::find_header(&self.headers, name)
    }
}

/// One complete inbound WebSocket message (fragments already joined, text already UTF-8
/// validated).
#[derive(Debug)]
pub struct Message {
    /// `true` for a text message, `false` for binary.
    pub text: bool,
    /// The payload.
    pub data: Bytes,
}

/// What the session wants after a message.
#[derive(Debug, PartialEq, Eq)]
pub enum Flow {
    /// Keep reading.
    Continue,
    /// Send a close frame with this code and reason, then end the connection.
    Close(u16, String),
}

/// The application: answers HTTP requests and opens WebSocket sessions.
pub trait App: Send + Sync + 'static {
    /// The per-socket WebSocket state machine.
    type Session: WsSession;

    /// Answer one HTTP request (anything that is not a WebSocket upgrade).
    fn http(
        &self,
        req: hyper::Request<Incoming>,
        info: &ConnInfo,
    ) -> impl Future<Output = hyper::Response<HttpBody>> + Send;

    /// Decide on an upgrade request before the 101 is written: `Err((status, body))` refuses it.
    fn ws_check(&self, _info: &ConnInfo) -> Result<(), (u16, String)> {
        Ok(())
    }

    /// A WebSocket is open: build its session. `out` is the socket's outbound queue; anything
    /// pushed here (e.g. a challenge) is written right after the 101.
    fn ws_open(&self, out: Outbound, info: ConnInfo) -> Self::Session;
}

/// Per-socket WebSocket state. The reader task owns it and calls it in order, one message at
/// a time; long work should be spawned and answered through the [`Outbound`].
pub trait WsSession: Send + 'static {
    /// Handle one message.
    fn on_message(&mut self, msg: Message) -> impl Future<Output = Flow> + Send;

    /// `true` once the handshake is complete: disarms the handshake deadline, releases the
    /// pre-auth permit and raises the message limit to the post-auth size.
    fn established(&self) -> bool;

    /// The connection ended (after any close frame). Called exactly once.
    fn on_close(&mut self);
}

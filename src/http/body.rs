//! Request bodies (size limit, slow-body deadline, JSON) and streamed response bodies
//! (SSE produced straight from a run's tap; dropping the body — the client went away —
//! runs a cleanup that aborts the run).

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::Frame;
use http_body_util::BodyExt;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use openclaw_net::HttpBody;
use serde_json::Value;
use tokio::sync::mpsc::UnboundedReceiver;

use super::auth::openai_error;
use crate::agents::Tap;

/// Largest body of `/tools/invoke` (2 MB).
pub const MAX_TOOLS_BODY_BYTES: usize = 2 * 1024 * 1024;

/// Why a body was refused, as the response to send.
pub type Refusal = Box<Response<HttpBody>>;

/// Read the whole body (≤ `limit` bytes, within `deadline`) and parse JSON.
///
/// # Errors
/// 413 too large, 408 too slow, 400 not JSON (OpenAI-style error bodies).
pub async fn read_json(
    req: Request<hyper::body::Incoming>,
    limit: usize,
    deadline: Duration,
) -> Result<(hyper::http::request::Parts, Value), Refusal> {
    let (parts, body) = req.into_parts();
    if let Some(len) = parts
        .headers
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
    {
        if len > limit {
            return Err(too_large(limit));
        }
    }
    let limited = http_body_util::Limited::new(body, limit);
    let bytes = match tokio::time::timeout(deadline, limited.collect()).await {
        Err(_) => {
            return Err(Box::new(openai_error(
                StatusCode::REQUEST_TIMEOUT,
                "invalid_request_error",
                "Request body timed out.",
            )))
        }
        Ok(Err(e))
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            return Err(too_large(limit))
        }
        Ok(Err(_)) => {
            return Err(Box::new(openai_error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "Request body could not be read.",
            )))
        }
        Ok(Ok(c)) => c.to_bytes(),
    };
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(v) if v.is_object() => Ok((parts, v)),
        _ => Err(Box::new(openai_error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "Invalid JSON body.",
        ))),
    }
}

fn too_large(limit: usize) -> Refusal {
    Box::new(openai_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "invalid_request_error",
        &format!("Request body exceeds {} bytes.", limit),
    ))
}

/// Turns tap items into SSE frames; `None` ends the stream.
pub trait SseFormat: Send + Sync + 'static {
    /// Frames for one tap item; `true` when the stream is complete.
    fn frames(&mut self, item: Tap, out: &mut VecDeque<Bytes>) -> bool;
}

/// An SSE response body fed by a run's tap.
pub struct SseBody<F: SseFormat> {
    rx: UnboundedReceiver<Tap>,
    fmt: F,
    queue: VecDeque<Bytes>,
    done: bool,
    on_drop: parking_lot::Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

impl<F: SseFormat> SseBody<F> {
    /// A body that first sends `prelude`, then formats what the tap yields.
    pub fn new(
        rx: UnboundedReceiver<Tap>,
        fmt: F,
        prelude: Vec<Bytes>,
        on_drop: Box<dyn FnOnce() + Send>,
    ) -> Self {
        Self {
            rx,
            fmt,
            queue: prelude.into(),
            done: false,
            on_drop: parking_lot::Mutex::new(Some(on_drop)),
        }
    }
}

impl<F: SseFormat> Drop for SseBody<F> {
    fn drop(&mut self) {
        if let Some(f) = self.on_drop.get_mut().take() {
            f();
        }
    }
}

impl<F: SseFormat + Unpin> http_body::Body for SseBody<F> {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        loop {
            if !this.queue.is_empty() {
                // Coalesce what is ready into one frame (one write).
                let mut buf = Vec::new();
                while let Some(b) = this.queue.pop_front() {
                    buf.extend_from_slice(&b);
                }
                return Poll::Ready(Some(Ok(Frame::data(Bytes::from(buf)))));
            }
            if this.done {
                return Poll::Ready(None);
            }
            match this.rx.poll_recv(cx) {
                Poll::Ready(Some(item)) => {
                    if this.fmt.frames(item, &mut this.queue) {
                        this.done = true;
                    }
                }
                Poll::Ready(None) => this.done = true,
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// A `200 text/event-stream` response around an SSE body.
pub fn sse_response<F: SseFormat + Unpin>(body: SseBody<F>) -> Response<HttpBody> {
    let mut r = Response::new(HttpBody::new(body));
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream; charset=utf-8"),
    );
    r.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r.headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    r
}

/// `data: <json>\n\n`.
pub fn data_line(v: &impl serde::Serialize) -> Bytes {
    let mut s = Vec::with_capacity(128);
    s.extend_from_slice(b"data: ");
    let _ = serde_json::to_writer(&mut s, v);
    s.extend_from_slice(b"\n\n");
    Bytes::from(s)
}

/// `event: <type>\ndata: <json>\n\n`.
pub fn event_line(kind: &str, v: &Value) -> Bytes {
    let mut s = Vec::with_capacity(160);
    s.extend_from_slice(b"event: ");
    s.extend_from_slice(kind.as_bytes());
    s.extend_from_slice(b"\ndata: ");
    let _ = serde_json::to_writer(&mut s, v);
    s.extend_from_slice(b"\n\n");
    Bytes::from(s)
}

/// `data: [DONE]\n\n`.
pub const DONE: &[u8] = b"data: [DONE]\n\n";

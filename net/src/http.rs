//! HTTP/1.1 on a sniffed connection: hyper's server with the replayed prefix, a header read
//! timeout, the Node gateway's request-head limit (431), and graceful shutdown when the
//! gateway stops. What a request gets is the app's.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpStream;

use crate::app::{App, ConnInfo};
use crate::limits::NetLimits;
use crate::rewind::Rewind;
use crate::shutdown::Shutdown;

/// Response body type the application returns (full or streamed).
pub type HttpBody = BoxBody<Bytes, std::io::Error>;

/// A complete body from bytes.
pub fn full_body(b: impl Into<Bytes>) -> HttpBody {
    Full::new(b.into())
        .map_err(|never: Infallible| match never {})
        .boxed()
}

/// Serve HTTP/1.1 on `stream` (with `prefix` replayed) until the client leaves or shutdown.
pub async fn serve_http<A: App>(
    app: Arc<A>,
    stream: TcpStream,
    prefix: Bytes,
    info: ConnInfo,
    limits: &NetLimits,
    shutdown: Shutdown,
) {
    let io = TokioIo::new(Rewind::new(prefix, stream));
    let info = Arc::new(info);
    let max_head = limits.max_http_head_bytes;
    let svc = service_fn(move |req| {
        let app = app.clone();
        let info = info.clone();
        async move {
            if head_count(&req) >= max_head {
                return Ok::<_, Infallible>(head_too_large());
            }
            Ok(app.http(req, &info).await)
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.http_header_timeout)
        // A head still incomplete at this size gets hyper's own 431; smaller ones are
        // counted exactly above. (Hyper's floor is 8 KiB; this also bounds one body read.)
        .max_buf_size(max_head.saturating_mul(2).max(8192))
        .keep_alive(true)
        .serve_connection(io, svc);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = shutdown.wait() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// What the Node gateway's HTTP parser counts against its head limit: the request target
/// and every header's name and value (not the method, the version or the separators).
pub fn head_count<B>(req: &hyper::Request<B>) -> usize {
    let target = req
        .uri()
        .path_and_query()
        .map_or(req.uri().path().len(), |pq| pq.as_str().len());
    req.headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len())
        .sum::<usize>()
        + target
}

/// 431 with `Connection: close`, as the Node gateway answers an oversized head.
fn head_too_large() -> hyper::Response<HttpBody> {
    let mut r = hyper::Response::new(full_body(Bytes::new()));
    *r.status_mut() = hyper::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE;
    r.headers_mut().insert(
        hyper::header::CONNECTION,
        hyper::header::HeaderValue::from_static("close"),
    );
    r
}

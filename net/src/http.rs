//! HTTP/1.1 on a sniffed connection: hyper's server with the replayed prefix, a header read
//! timeout, and graceful shutdown when the gateway stops.

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
    let svc = service_fn(move |req| {
        let app = app.clone();
        let info = info.clone();
        async move { Ok::<_, Infallible>(app.http(req, &info).await) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.http_header_timeout)
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

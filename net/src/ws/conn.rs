//! One WebSocket connection from 101 to close: spawns the writer, runs the reader loop
//! against the session, enforces the handshake deadline and the pre-auth message limit.
//!
//! The phases that end (the upgrade, the pre-auth handshake with its deadline, the close
//! linger) run as boxed futures, so the state an idle authenticated socket keeps for its
//! whole life is only the established loop's.

use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use crate::app::{App, ConnInfo, Flow, WsSession};
use crate::limits::NetLimits;
use crate::listener::PreauthPermit;
use crate::outbound::Outbound;
use crate::shutdown::Shutdown;
use crate::sniff::UpgradeHead;
use crate::stats::{ConnState, StateGuard};
use crate::ws::frame::{FrameReader, Source};
use crate::ws::handshake;
use crate::ws::reader::{code, ReadEnd, Reader};
use crate::ws::writer::run_writer;

/// Close code sent to every socket when the server shuts down or restarts (RFC 6455 1012).
pub const SERVICE_RESTART: u16 = 1012;

/// What the accept loop hands a WebSocket connection: its pre-auth slot (released once the
/// application's handshake ends) and its place in the socket-state gauges.
#[derive(Debug)]
pub struct Admitted {
    /// The pre-auth slot, if one was free.
    pub permit: Option<PreauthPermit>,
    /// The socket's state in [`crate::stats`].
    pub state: StateGuard,
}

/// Complete the upgrade on `stream` and run the connection to its end.
pub async fn run_ws<A: App>(
    app: &A,
    stream: TcpStream,
    head: UpgradeHead,
    info: ConnInfo,
    limits: &NetLimits,
    conn: Admitted,
    shutdown: Shutdown,
) {
    let Admitted { permit, mut state } = conn;
    let Some((stream, rest, info)) = Box::pin(upgrade(app, stream, head, info)).await else {
        return;
    };
    let out = Outbound::new(limits.max_buffered_bytes);
    let Some((source, writer)) = attach(stream, &out, limits) else {
        return;
    };
    let mut session = app.ws_open(out.clone(), info);
    let mut reader = Reader::new(
        FrameReader::new(source, rest),
        limits.max_control_frames_per_sec,
        limits.max_control_flood_secs,
    );
    let pre = Box::pin(preauth(&mut session, &mut reader, &out, limits, &shutdown)).await;
    drop(permit);
    let end = match pre {
        Some(end) => end,
        None => {
            state.set(ConnState::WsEstablished);
            established(
                &mut session,
                &mut reader,
                &out,
                limits.max_payload,
                &shutdown,
            )
            .await
        }
    };
    Box::pin(teardown(reader, writer, &out, end, limits.close_linger)).await;
    session.on_close();
}

/// The 101 (or the refusal). `None` when the connection is over.
async fn upgrade<A: App>(
    app: &A,
    mut stream: TcpStream,
    head: UpgradeHead,
    mut info: ConnInfo,
) -> Option<(TcpStream, bytes::Bytes, ConnInfo)> {
    let UpgradeHead {
        path,
        headers,
        rest,
    } = head;
    info.path = path;
    info.headers = headers;
    if let Err((status, body)) = app.ws_check(&info) {
        let reason = match status {
            401 => "Unauthorized",
            403 => "Forbidden",
            429 => "Too Many Requests",
            _ => "Bad Request",
        };
        let _ = stream
            .write_all(&handshake::error_response(status, reason, &body))
            .await;
        return None;
    }
    match handshake::respond(&info.headers) {
        Ok(resp) => stream.write_all(&resp).await.ok()?,
        Err(resp) => {
            let _ = stream.write_all(&resp).await;
            return None;
        }
    }
    Some((stream, rest, info))
}

/// What ended a wait for the next message, besides a message.
async fn stopped(shutdown: &Shutdown, out: &Outbound) -> ReadEnd {
    tokio::select! {
        _ = shutdown.wait() => {
            // The app broadcasts its own goodbye; make sure a close follows it.
            out.close(SERVICE_RESTART, "service restart");
        }
        _ = out.wait_closing() => {}
    }
    ReadEnd::Violation
}

/// Give a message to the session. `Some(end)` when the session closes the socket.
async fn deliver<S: WsSession>(
    session: &mut S,
    out: &Outbound,
    msg: crate::app::Message,
) -> Option<ReadEnd> {
    // Boxed per message: awaited inline, the largest handler future (e.g. the connect
    // handshake) would be embedded in this task for the socket's lifetime.
    match Box::pin(session.on_message(msg)).await {
        Flow::Continue => None,
        Flow::Close(c, reason) => {
            out.close(c, &reason);
            Some(ReadEnd::Violation)
        }
    }
}

/// Until the session is established (`None`) or the socket ends: pre-auth frame limit and
/// the handshake deadline apply.
async fn preauth<S: WsSession>(
    session: &mut S,
    reader: &mut Reader,
    out: &Outbound,
    limits: &NetLimits,
    shutdown: &Shutdown,
) -> Option<ReadEnd> {
    let deadline = tokio::time::Instant::now() + limits.handshake_timeout;
    while !session.established() {
        let next = async {
            match tokio::time::timeout_at(deadline, reader.next(out, limits.preauth_max_payload))
                .await
            {
                Ok(r) => r,
                Err(_) => {
                    out.close(code::NORMAL, "");
                    Err(ReadEnd::Violation)
                }
            }
        };
        let res = tokio::select! {
            r = next => r,
            end = stopped(shutdown, out) => return Some(end),
        };
        match res {
            Ok(msg) => {
                if let Some(end) = deliver(session, out, msg).await {
                    return Some(end);
                }
            }
            Err(end) => return Some(end),
        }
    }
    None
}

/// The authenticated socket's life: messages in, until close.
async fn established<S: WsSession>(
    session: &mut S,
    reader: &mut Reader,
    out: &Outbound,
    limit: usize,
    shutdown: &Shutdown,
) -> ReadEnd {
    loop {
        let res = tokio::select! {
            r = reader.next(out, limit) => r,
            end = stopped(shutdown, out) => return end,
        };
        match res {
            Ok(msg) => {
                if let Some(end) = deliver(session, out, msg).await {
                    return end;
                }
            }
            Err(end) => return end,
        }
    }
}

/// Who reads and who writes the socket: tokio (the reactor, a writer task of its own), or
/// a ring (io_uring: the writes, and unless `io_uring_writes` the reads too; tokio again
/// once every ring has failed). `None` if the socket could not be handed over (it is
/// closed).
fn attach(stream: TcpStream, out: &Outbound, limits: &NetLimits) -> Option<(Source, Writer)> {
    #[cfg(all(target_os = "linux", feature = "io-uring"))]
    if let Some(pool) = limits.rings.as_ref().filter(|p| p.alive()) {
        if pool.reads() {
            return match pool.attach_socket(stream, out) {
                Ok((w, r)) => Some((Source::Ring(r), Writer::Ring(w))),
                Err(e) => {
                    tracing::debug!(target: "gateway", "socket not handed to a ring: {e}");
                    None
                }
            };
        }
        // Reads stay on tokio, on this ring thread's reactor (the socket was accepted on
        // the main runtime's).
        let moved = stream
            .into_std()
            .and_then(TcpStream::from_std)
            .map_err(|e| tracing::debug!(target: "gateway", "socket not moved: {e}"))
            .ok()?;
        let (rd, wr) = moved.into_split();
        return Some((Source::Tokio(rd), Writer::Ring(pool.attach(wr, out))));
    }
    let (rd, wr) = stream.into_split();
    let task = tokio::spawn(run_writer(wr, out.clone(), limits.seq_splice_prefix));
    Some((Source::Tokio(rd), Writer::Task(task)))
}

/// Whoever writes the socket: its own task (tokio) or a ring's driver task (io_uring).
enum Writer {
    Task(JoinHandle<()>),
    #[cfg(all(target_os = "linux", feature = "io-uring"))]
    Ring(crate::uring::RingWriter),
}

impl Writer {
    /// Give the writer `linger` to flush (the close frame); then stop it and release the
    /// socket.
    async fn finish(self, linger: Duration) {
        match self {
            // A peer that stopped reading leaves the writer blocked in write(2) forever.
            Writer::Task(mut writer) => {
                if tokio::time::timeout(linger, &mut writer).await.is_err() {
                    writer.abort();
                    let _ = writer.await;
                }
            }
            #[cfg(all(target_os = "linux", feature = "io-uring"))]
            Writer::Ring(w) => w.finish(linger).await,
        }
    }
}

/// Close handshake linger, then release the writer.
async fn teardown(
    mut reader: Reader,
    writer: Writer,
    out: &Outbound,
    end: ReadEnd,
    linger: Duration,
) {
    if matches!(end, ReadEnd::Violation) {
        // We sent (or are sending) a close: give the peer a moment to answer it.
        let _ = tokio::time::timeout(linger, reader.linger()).await;
    }
    // A flooding peer is not read while the close frame goes out: its writes back up on its
    // side instead of costing us a decode each.
    out.mark_closed();
    writer.finish(linger).await;
}

//! One WebSocket connection from 101 to close: spawns the writer, runs the reader loop
//! against the session, enforces the handshake deadline and the pre-auth message limit.

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::app::{App, ConnInfo, Flow, WsSession};
use crate::limits::{NetLimits, CLOSE_LINGER};
use crate::listener::PreauthPermit;
use crate::outbound::Outbound;
use crate::shutdown::Shutdown;
use crate::sniff::UpgradeHead;
use crate::ws::frame::FrameReader;
use crate::ws::handshake;
use crate::ws::reader::{code, ReadEnd, Reader};
use crate::ws::writer::run_writer;

/// Complete the upgrade on `stream` and run the connection to its end.
pub async fn run_ws<A: App>(
    app: &A,
    mut stream: TcpStream,
    head: UpgradeHead,
    mut info: ConnInfo,
    limits: &NetLimits,
    mut permit: Option<PreauthPermit>,
    shutdown: Shutdown,
) {
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
        return;
    }
    match handshake::respond(&info.headers) {
        Ok(resp) => {
            if stream.write_all(&resp).await.is_err() {
                return;
            }
        }
        Err(resp) => {
            let _ = stream.write_all(&resp).await;
            return;
        }
    }
    let (rd, wr) = stream.into_split();
    let out = Outbound::new(limits.max_buffered_bytes);
    let mut session = app.ws_open(out.clone(), info);
    let writer = tokio::spawn(run_writer(wr, out.clone(), limits.seq_splice_prefix));

    let mut reader = Reader::new(FrameReader::new(rd, rest));
    let deadline = tokio::time::Instant::now() + limits.handshake_timeout;

    let end = loop {
        let established = session.established();
        if established {
            permit.take();
        }
        let limit = if established {
            limits.max_payload
        } else {
            limits.preauth_max_payload
        };
        let next = async {
            if established {
                reader.next(&out, limit).await
            } else {
                match tokio::time::timeout_at(deadline, reader.next(&out, limit)).await {
                    Ok(r) => r,
                    Err(_) => {
                        out.close(code::NORMAL, "");
                        Err(ReadEnd::Violation)
                    }
                }
            }
        };
        let res = tokio::select! {
            r = next => r,
            _ = shutdown.wait() => {
                // The app broadcasts its own goodbye; make sure a close follows it.
                out.close(1012, "service restart");
                break ReadEnd::Violation;
            }
            _ = out.wait_closing() => break ReadEnd::Violation,
        };
        match res {
            // Boxed per message: awaited inline, the largest handler future (e.g. the
            // connect handshake) would be embedded in this task for the socket's lifetime.
            Ok(msg) => match Box::pin(session.on_message(msg)).await {
                Flow::Continue => {}
                Flow::Close(c, reason) => {
                    out.close(c, &reason);
                    break ReadEnd::Violation;
                }
            },
            Err(end) => break end,
        }
    };
    drop(permit);
    if matches!(end, ReadEnd::Violation) {
        // We sent (or are sending) a close: give the peer a moment to answer it.
        let _ = tokio::time::timeout(CLOSE_LINGER, reader.linger()).await;
    }
    out.mark_closed();
    // A peer that stopped reading leaves the writer blocked in write(2) forever: give it
    // the linger to flush the close frame, then abort it so the socket is released.
    let mut writer = writer;
    if tokio::time::timeout(CLOSE_LINGER, &mut writer)
        .await
        .is_err()
    {
        writer.abort();
        let _ = writer.await;
    }
    session.on_close();
}

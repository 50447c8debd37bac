//! The console sink's writer thread: log lines reach stderr (or a test writer) from here, so
//! a slow or stuck stderr pipe never blocks an async worker. Lines queue in a bounded
//! channel; when it is full they are dropped and counted, like the file sink.

use std::io::Write;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;

use super::{Msg, LOG_QUEUE_CAPACITY};

/// Start the console writer thread over `out`.
pub(super) fn spawn(
    mut out: Box<dyn Write + Send>,
) -> std::io::Result<(SyncSender<Msg>, JoinHandle<()>)> {
    let (tx, rx): (SyncSender<Msg>, Receiver<Msg>) = mpsc::sync_channel(LOG_QUEUE_CAPACITY);
    let handle = std::thread::Builder::new()
        .name("openclaw-console".into())
        .spawn(move || {
            while let Ok(first) = rx.recv() {
                let mut next = Some(first);
                while let Some(msg) = next.take() {
                    match msg {
                        Msg::Line(l) => {
                            let _ = out.write_all(l.as_bytes());
                        }
                        Msg::Flush(ack) => {
                            let _ = out.flush();
                            let _ = ack.try_send(());
                        }
                        Msg::Shutdown => {
                            let _ = out.flush();
                            return;
                        }
                    }
                    next = rx.try_recv().ok();
                }
                let _ = out.flush();
            }
        })?;
    Ok((tx, handle))
}

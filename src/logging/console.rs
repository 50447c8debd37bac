//! The console sink's writer thread: log lines reach stderr (or a test writer) from here, so
//! a slow or stuck stderr pipe never blocks an async worker. Lines queue in a bounded
//! channel; when it is full they are dropped and counted, like the file sink.

use std::fmt::Write as _;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;

use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

use super::{json_line, record, Msg, Record, LOG_QUEUE_CAPACITY};

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

/// One human console line: `HH:MM:SS.mmm level [subsystem] message`.
pub(super) fn console_line(r: &Record, color: bool) -> String {
    let (paint, reset) = if color {
        let c = match r.level {
            "error" => "\x1b[31m",
            "warn" => "\x1b[33m",
            "info" => "\x1b[32m",
            "debug" => "\x1b[34m",
            _ => "\x1b[2m",
        };
        (c, "\x1b[0m")
    } else {
        ("", "")
    };
    let mut line = String::with_capacity(r.text.len() + 48);
    if color {
        let _ = write!(line, "\x1b[2m{}\x1b[0m ", r.now.clock_string());
    } else {
        let _ = write!(line, "{} ", r.now.clock_string());
    }
    let _ = write!(line, "{paint}{:<5}{reset} ", r.level);
    if let Some(s) = &r.subsystem {
        if color {
            let _ = write!(line, "\x1b[36m[{s}]\x1b[0m ");
        } else {
            let _ = write!(line, "[{s}] ");
        }
    }
    line.push_str(&r.text);
    line.push('\n');
    line
}

/// The console sink as a tracing layer: formats on the caller's thread, writes on ours.
pub(super) struct ConsoleLayer {
    /// Lines go to the console thread; never written from the caller's (async) thread.
    pub(super) tx: SyncSender<Msg>,
    pub(super) dropped: Arc<AtomicU64>,
    pub(super) color: bool,
    pub(super) json: bool,
    pub(super) hostname: String,
}

impl<S: Subscriber> Layer<S> for ConsoleLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let r = record(event);
        let line = if self.json {
            let mut l = json_line(&r, &self.hostname);
            l.push('\n');
            l
        } else {
            console_line(&r, self.color)
        };
        if let Err(TrySendError::Full(_)) = self.tx.try_send(Msg::Line(line)) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

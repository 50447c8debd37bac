//! Logging: a human console layer on stderr and a JSON-lines file layer written by a
//! background thread (bounded queue, drops instead of blocking, size rotation `.1`…`.5`).
//!
//! File records use the stock gateway's shape so `openclaw logs` (Node CLI) and the Control
//! UI log page format them: `time`, `_meta.logLevelName`, `_meta.name` (`{"subsystem":…}`),
//! top-level `subsystem`, and `message` are the fields their `parseLogLine` reads.

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, IsTerminal, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

use crate::config::clock::LocalTime;
use crate::config::limits::LOG_ROTATE_KEEP;
use crate::config::{rolling_log_file_name, ConfigError, LogLevel, LoggingConfig, DEFAULT_LOG_DIR};

/// Queued file-log records before new ones are dropped (stock gateway: 4096). A full queue
/// means the disk is slower than the log rate; dropping keeps async workers non-blocking.
pub const LOG_QUEUE_CAPACITY: usize = 4096;
/// Longest message written to the file log (stock: 4096 chars, then `...(truncated)`).
pub const MAX_FILE_LOG_MESSAGE_CHARS: usize = 4096;
/// How long `LogGuard::flush` waits for the writer thread.
pub const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);
/// Third-party crates are capped at this level so `--verbose` stays readable.
const DEPENDENCY_MAX_LEVEL: LevelFilter = LevelFilter::INFO;
const NOISY_DEPENDENCIES: &[&str] = &[
    "hyper",
    "hyper_util",
    "h2",
    "mio",
    "rustls",
    "tungstenite",
    "tokio_tungstenite",
    "fastwebsockets",
    "rusqlite",
];

mod console;

enum Msg {
    Line(String),
    Flush(SyncSender<()>),
    Shutdown,
}

/// Keeps the file writer alive; flushes and joins it on drop.
pub struct LogGuard {
    tx: SyncSender<Msg>,
    handle: Option<JoinHandle<()>>,
    /// The console writer thread, when console output is on.
    console: Option<(SyncSender<Msg>, JoinHandle<()>)>,
    dropped: Arc<AtomicU64>,
    path: PathBuf,
}

impl LogGuard {
    /// Block (up to [`FLUSH_TIMEOUT`]) until queued lines are on disk.
    pub fn flush(&self) {
        let senders = std::iter::once(&self.tx).chain(self.console.as_ref().map(|(tx, _)| tx));
        for tx in senders {
            let (ack_tx, ack_rx) = mpsc::sync_channel(1);
            if tx.send(Msg::Flush(ack_tx)).is_ok() {
                let _ = ack_rx.recv_timeout(FLUSH_TIMEOUT);
            }
        }
    }
    /// Records dropped because the queue was full (not yet reported in the file).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
    /// File the writer started with (rolling logs switch at local midnight).
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        let _ = self.tx.send(Msg::Shutdown);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
        if let Some((tx, h)) = self.console.take() {
            let _ = tx.send(Msg::Shutdown);
            let _ = h.join();
        }
    }
}

/// Where console output goes.
pub enum ConsoleTarget {
    Stderr,
    Writer(Box<dyn Write + Send>),
    Off,
}

/// Effective log file: `cfg.file`, except that for the default rolling location an unsafe
/// `/tmp/openclaw` (symlink, foreign owner, group/world-writable) is replaced by
/// `/tmp/openclaw-<uid>`, as upstream does.
pub fn log_file_path(cfg: &LoggingConfig) -> PathBuf {
    let default_dir = Path::new(DEFAULT_LOG_DIR);
    if !cfg.rolling || cfg.file.parent() != Some(default_dir) || dir_is_safe(default_dir) {
        return cfg.file.clone();
    }
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    let name = cfg.file.file_name().map(PathBuf::from).unwrap_or_default();
    PathBuf::from(format!("{DEFAULT_LOG_DIR}-{uid}")).join(name)
}

fn dir_is_safe(dir: &Path) -> bool {
    match std::fs::symlink_metadata(dir) {
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
        // SAFETY: geteuid has no preconditions.
        Ok(m) => m.is_dir() && m.uid() == unsafe { libc::geteuid() } && m.mode() & 0o022 == 0,
    }
}

fn levels(cfg: &LoggingConfig, verbose: bool) -> (LogLevel, LogLevel) {
    let mut console = cfg.console_level;
    if verbose && console < LogLevel::Debug {
        console = LogLevel::Debug;
    }
    (console, cfg.level)
}

fn targets(level: LogLevel) -> Targets {
    let filter = level.to_filter();
    let dep = filter.min(DEPENDENCY_MAX_LEVEL);
    NOISY_DEPENDENCIES
        .iter()
        .fold(Targets::new().with_default(filter), |t, d| {
            t.with_target(*d, dep)
        })
}

/// Build the subscriber without installing it (tests use `tracing::subscriber::with_default`).
pub fn build(
    cfg: &LoggingConfig,
    verbose: bool,
    json_console: bool,
    console: ConsoleTarget,
) -> Result<(impl Subscriber + Send + Sync, LogGuard), ConfigError> {
    let (console_level, file_level) = levels(cfg, verbose);
    let path = log_file_path(cfg);
    let hostname = hostname();
    let dropped = Arc::new(AtomicU64::new(0));
    let (tx, rx) = mpsc::sync_channel::<Msg>(LOG_QUEUE_CAPACITY);
    let writer = FileWriter::new(&path, cfg, dropped.clone(), hostname.clone());
    let handle = std::thread::Builder::new()
        .name("openclaw-log".into())
        .spawn(move || writer.run(rx))
        .map_err(|e| ConfigError::Logging(format!("cannot start log writer thread: {e}")))?;
    let color = match &console {
        ConsoleTarget::Stderr => {
            !cfg.no_color && (cfg.force_color || std::io::stderr().is_terminal())
        }
        _ => false,
    };
    let out: Option<Box<dyn Write + Send>> = match console {
        ConsoleTarget::Stderr => Some(Box::new(std::io::stderr())),
        ConsoleTarget::Writer(w) => Some(w),
        ConsoleTarget::Off => None,
    };
    let console_thread = out
        .map(console::spawn)
        .transpose()
        .map_err(|e| ConfigError::Logging(format!("cannot start console writer thread: {e}")))?;
    let console_layer = console_thread.as_ref().map(|(ctx, _)| {
        console::ConsoleLayer {
            tx: ctx.clone(),
            dropped: dropped.clone(),
            color,
            json: json_console,
            hostname: hostname.clone(),
        }
        .with_filter(targets(console_level))
    });
    let guard = LogGuard {
        tx: tx.clone(),
        handle: Some(handle),
        console: console_thread,
        dropped: dropped.clone(),
        path,
    };
    let file_layer = FileLayer {
        tx,
        dropped,
        hostname,
    }
    .with_filter(targets(file_level));
    let subscriber = tracing_subscriber::registry()
        .with(console_layer)
        .with(file_layer);
    Ok((subscriber, guard))
}

/// Install the global subscriber: console on stderr + JSON file log.
pub fn init(
    cfg: &LoggingConfig,
    verbose: bool,
    json_console: bool,
) -> Result<LogGuard, ConfigError> {
    let (subscriber, guard) = build(cfg, verbose, json_console, ConsoleTarget::Stderr)?;
    tracing::subscriber::set_global_default(subscriber)
        .map_err(|e| ConfigError::Logging(format!("a global subscriber is already set: {e}")))?;
    Ok(guard)
}

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: buffer is valid for buf.len() bytes; gethostname NUL-terminates on success.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".into();
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// `openclaw::gateway::ws` → `gateway/ws`; `gateway/ws` stays; other crates → crate name.
pub fn subsystem_of(target: &str) -> Option<String> {
    if !target.contains("::") {
        return (!target.is_empty() && target != "openclaw").then(|| target.to_string());
    }
    let mut parts = target.split("::");
    let first = parts.next().unwrap_or("");
    if first.starts_with("openclaw") {
        let rest: Vec<&str> = parts.collect();
        (!rest.is_empty()).then(|| rest.join("/"))
    } else {
        Some(first.to_string())
    }
}

/// Collects the `message` field and the other fields as ` k=v`.
#[derive(Default)]
struct Fields {
    message: String,
    kv: String,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else if !field.name().starts_with("log.") {
            let needs_quotes = value.is_empty()
                || value.contains(|c: char| c.is_whitespace() || c == '"' || c == '=');
            if needs_quotes {
                let _ = write!(self.kv, " {}={:?}", field.name(), value);
            } else {
                let _ = write!(self.kv, " {}={}", field.name(), value);
            }
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else if !field.name().starts_with("log.") {
            let _ = write!(self.kv, " {}={:?}", field.name(), value);
        }
    }
}

struct Record {
    now: LocalTime,
    level: &'static str,
    level_id: u8,
    subsystem: Option<String>,
    text: String,
}

fn record(event: &Event<'_>) -> Record {
    let mut f = Fields::default();
    event.record(&mut f);
    let mut text = f.message;
    if !f.kv.is_empty() {
        if text.is_empty() {
            text.push_str(f.kv.trim_start());
        } else {
            text.push_str(&f.kv);
        }
    }
    let meta = event.metadata();
    // tslog level ids used by the stock logger: trace 1, debug 2, info 3, warn 4, error 5.
    let (level, level_id) = match *meta.level() {
        Level::TRACE => ("trace", 1),
        Level::DEBUG => ("debug", 2),
        Level::INFO => ("info", 3),
        Level::WARN => ("warn", 4),
        Level::ERROR => ("error", 5),
    };
    Record {
        now: LocalTime::now(),
        level,
        level_id,
        subsystem: subsystem_of(meta.target()),
        text,
    }
}

fn clamp_message(text: &str) -> String {
    match text.char_indices().nth(MAX_FILE_LOG_MESSAGE_CHARS) {
        Some((idx, _)) => format!("{}...(truncated)", &text[..idx]),
        None => text.to_string(),
    }
}

/// One JSON log line (without newline) in the stock gateway's file format.
fn json_line(r: &Record, hostname: &str) -> String {
    let message = clamp_message(&r.text);
    let time = r.now.long_string();
    let name = match &r.subsystem {
        Some(s) => serde_json::json!({ "subsystem": s }).to_string(),
        None => "openclaw".to_string(),
    };
    let mut meta = Map::new();
    meta.insert("runtime".into(), Value::from("rust"));
    meta.insert("date".into(), Value::from(r.now.utc_iso_string()));
    meta.insert("hostname".into(), Value::from(hostname));
    meta.insert("name".into(), Value::from(name));
    if r.subsystem.is_some() {
        meta.insert("parentNames".into(), serde_json::json!(["openclaw"]));
    }
    meta.insert("logLevelId".into(), Value::from(r.level_id));
    meta.insert(
        "logLevelName".into(),
        Value::from(r.level.to_ascii_uppercase()),
    );
    let mut obj = Map::new();
    obj.insert("time".into(), Value::from(time));
    obj.insert("level".into(), Value::from(r.level));
    if let Some(s) = &r.subsystem {
        obj.insert("subsystem".into(), Value::from(s.as_str()));
    }
    obj.insert("message".into(), Value::from(message.clone()));
    obj.insert("0".into(), Value::from(message));
    obj.insert("_meta".into(), Value::Object(meta));
    obj.insert("hostname".into(), Value::from(hostname));
    Value::Object(obj).to_string()
}

struct FileLayer {
    tx: SyncSender<Msg>,
    dropped: Arc<AtomicU64>,
    hostname: String,
}

impl<S: Subscriber> Layer<S> for FileLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut line = json_line(&record(event), &self.hostname);
        line.push('\n');
        match self.tx.try_send(Msg::Line(line)) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => {}
            Err(TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Background writer: owns the file, rotates by size, rolls daily for default paths.
struct FileWriter {
    path: PathBuf,
    rolling: bool,
    profile: Option<String>,
    max_bytes: u64,
    dropped: Arc<AtomicU64>,
    hostname: String,
    file: Option<BufWriter<File>>,
    size: u64,
    date: String,
    open_error_reported: bool,
}

impl FileWriter {
    fn new(path: &Path, cfg: &LoggingConfig, dropped: Arc<AtomicU64>, hostname: String) -> Self {
        FileWriter {
            path: path.to_path_buf(),
            rolling: cfg.rolling,
            profile: cfg.profile.clone(),
            max_bytes: cfg.max_file_bytes.max(1),
            dropped,
            hostname,
            file: None,
            size: 0,
            date: LocalTime::now().date_string(),
            open_error_reported: false,
        }
    }

    fn run(mut self, rx: Receiver<Msg>) {
        while let Ok(first) = rx.recv() {
            self.roll_if_new_day();
            let mut next = Some(first);
            while let Some(msg) = next.take() {
                match msg {
                    Msg::Line(l) => self.write(&l),
                    Msg::Flush(ack) => {
                        self.report_drops();
                        self.flush();
                        let _ = ack.try_send(());
                    }
                    Msg::Shutdown => {
                        self.report_drops();
                        self.flush();
                        return;
                    }
                }
                next = rx.try_recv().ok();
            }
            self.report_drops();
            self.flush();
        }
        self.flush();
    }

    fn roll_if_new_day(&mut self) {
        if !self.rolling {
            return;
        }
        let now = LocalTime::now();
        let today = now.date_string();
        if today != self.date {
            self.flush();
            self.file = None;
            self.date = today;
            let dir = self
                .path
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default();
            self.path = dir.join(rolling_log_file_name(self.profile.as_deref(), &now));
        }
    }

    fn report_drops(&mut self) {
        let n = self.dropped.swap(0, Ordering::Relaxed);
        if n > 0 {
            let r = Record {
                now: LocalTime::now(),
                level: "warn",
                level_id: 4,
                subsystem: None,
                text: format!(
                    "[openclaw] file log queue overflow; dropped {n} record{}",
                    if n == 1 { "" } else { "s" }
                ),
            };
            let mut line = json_line(&r, &self.hostname);
            line.push('\n');
            self.write(&line);
        }
    }

    fn open(&mut self) -> Option<&mut BufWriter<File>> {
        if self.file.is_none() {
            let result = (|| {
                if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::DirBuilder::new()
                        .recursive(true)
                        .mode(0o700)
                        .create(dir)?;
                }
                let f = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .mode(0o600)
                    .open(&self.path)?;
                let size = f.metadata()?.len();
                Ok::<_, std::io::Error>((f, size))
            })();
            match result {
                Ok((f, size)) => {
                    self.file = Some(BufWriter::new(f));
                    self.size = size;
                    self.open_error_reported = false;
                }
                Err(e) => {
                    if !self.open_error_reported {
                        eprintln!(
                            "openclaw: cannot open log file {}: {e}",
                            self.path.display()
                        );
                        self.open_error_reported = true;
                    }
                    return None;
                }
            }
        }
        self.file.as_mut()
    }

    fn write(&mut self, line: &str) {
        if self.size > 0 && self.size + line.len() as u64 > self.max_bytes {
            self.rotate();
        }
        let len = line.len() as u64;
        if let Some(f) = self.open() {
            if f.write_all(line.as_bytes()).is_ok() {
                self.size += len;
            }
        }
    }

    fn flush(&mut self) {
        if let Some(f) = self.file.as_mut() {
            let _ = f.flush();
        }
    }

    fn rotate(&mut self) {
        self.flush();
        self.file = None;
        for i in (1..LOG_ROTATE_KEEP).rev() {
            let from = rotated_path(&self.path, i);
            if from.exists() {
                let _ = std::fs::rename(&from, rotated_path(&self.path, i + 1));
            }
        }
        let _ = std::fs::rename(&self.path, rotated_path(&self.path, 1));
        self.size = 0;
    }
}

/// Stock naming: `openclaw-2026-11-22.log` → `openclaw-2026-11-22.1.log`.
pub fn rotated_path(file: &Path, index: u32) -> PathBuf {
    let stem = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = match file.extension() {
        Some(ext) => format!("{stem}.{index}.{}", ext.to_string_lossy()),
        None => format!("{stem}.{index}"),
    };
    file.with_file_name(name)
}

#[cfg(test)]
#[path = "../config/tests_logging.rs"]
mod tests;

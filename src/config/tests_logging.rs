//! Unit tests of `crate::logging` (kept here to keep `src/logging.rs` under the size limit;
//! included from `src/logging.rs` via `#[path]`, so they are a child module with private access).
use super::*;
use parking_lot::Mutex;

fn cfg(dir: &Path, max: u64) -> LoggingConfig {
    LoggingConfig {
        file: dir.join("gw.log"),
        rolling: false,
        profile: None,
        level: LogLevel::Debug,
        console_level: LogLevel::Info,
        console_style: None,
        max_file_bytes: max,
        no_color: true,
        force_color: false,
    }
}

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);
impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("openclaw-logtest-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn subsystems_and_rotated_names() {
    assert_eq!(subsystem_of("gateway/ws").as_deref(), Some("gateway/ws"));
    assert_eq!(
        subsystem_of("openclaw::gateway::ws").as_deref(),
        Some("gateway/ws")
    );
    assert_eq!(subsystem_of("openclaw"), None);
    assert_eq!(subsystem_of("hyper::proto::h1").as_deref(), Some("hyper"));
    let p = rotated_path(Path::new("/t/openclaw-2026-11-22.log"), 3);
    assert_eq!(p, Path::new("/t/openclaw-2026-11-22.3.log"));
}

#[test]
fn console_and_file_lines() {
    let dir = tmpdir("lines");
    let console = Buf::default();
    let (sub, guard) = build(
        &cfg(&dir, 1 << 20),
        false,
        false,
        ConsoleTarget::Writer(Box::new(console.clone())),
    )
    .unwrap();
    tracing::subscriber::with_default(sub, || {
        tracing::info!(target: "gateway/ws", remote = "1.2.3.4", "← open");
        tracing::debug!(target: "gateway", "debug only in file");
    });
    guard.flush();
    let out = String::from_utf8(console.0.lock().clone()).unwrap();
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(
        out.contains("info  [gateway/ws] ← open remote=1.2.3.4"),
        "{out}"
    );
    assert_eq!(out.as_bytes()[2], b':');
    let text = std::fs::read_to_string(dir.join("gw.log")).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    let l = &lines[0];
    assert_eq!(l["level"], "info");
    assert_eq!(l["subsystem"], "gateway/ws");
    assert_eq!(l["message"], "← open remote=1.2.3.4");
    assert_eq!(l["0"], l["message"]);
    assert_eq!(l["_meta"]["logLevelName"], "INFO");
    assert_eq!(l["_meta"]["name"], "{\"subsystem\":\"gateway/ws\"}");
    let t = l["time"].as_str().unwrap();
    assert!(
        t.len() == 29 && &t[10..11] == "T" && matches!(&t[23..24], "+" | "-"),
        "{t}"
    );
    let m = std::fs::metadata(dir.join("gw.log")).unwrap();
    assert_eq!(m.mode() & 0o777, 0o600);
    drop(guard);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn rotates_by_size() {
    let dir = tmpdir("rotate");
    let (sub, guard) = build(&cfg(&dir, 400), false, false, ConsoleTarget::Off).unwrap();
    tracing::subscriber::with_default(sub, || {
        for i in 0..40 {
            tracing::info!(target: "gateway", "line {i}");
            if i % 5 == 0 {
                guard.flush();
            }
        }
    });
    drop(guard);
    assert!(dir.join("gw.log").exists());
    assert!(dir.join("gw.1.log").exists());
    assert!(dir.join("gw.5.log").exists());
    assert!(!dir.join("gw.6.log").exists());
    assert!(std::fs::metadata(dir.join("gw.log")).unwrap().len() <= 400);
    let _ = std::fs::remove_dir_all(&dir);
}

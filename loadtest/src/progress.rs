//! A live progress line on stderr: redrawn in place (`\r`) when stderr is a terminal, one plain line
//! every 5 s otherwise. Scenarios announce a phase with [`phase`] and count work with [`inc`]/[`fail`].

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

static LABEL: Mutex<String> = Mutex::new(String::new());
static TOTAL: AtomicU64 = AtomicU64::new(0);
static DONE: AtomicU64 = AtomicU64::new(0);
static FAILED: AtomicU64 = AtomicU64::new(0);
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// Start a phase of `total` units (0: unknown total).
pub fn phase(label: &str, total: u64) {
    if let Ok(mut l) = LABEL.lock() {
        l.clear();
        l.push_str(label);
    }
    TOTAL.store(total, Ordering::Relaxed);
    DONE.store(0, Ordering::Relaxed);
    FAILED.store(0, Ordering::Relaxed);
}

/// End the current phase and erase the line (before printing results).
pub fn clear() {
    phase("", 0);
    if ACTIVE.load(Ordering::Relaxed) && std::io::stderr().is_terminal() {
        eprint!("\r\x1b[2K");
    }
}

/// Count `n` completed units.
pub fn inc(n: u64) {
    DONE.fetch_add(n, Ordering::Relaxed);
}

/// Count one failed unit.
pub fn fail() {
    FAILED.fetch_add(1, Ordering::Relaxed);
}

/// The text of one progress line.
pub fn line(label: &str, done: u64, total: u64, failed: u64, rate: f64, secs: f64) -> String {
    let mut s = format!("{label:<14}");
    if total > 0 {
        let frac = (done as f64 / total as f64).clamp(0.0, 1.0);
        let fill = (frac * 24.0).round() as usize;
        s.push_str(&format!(
            " [{}{}] {done}/{total}",
            "#".repeat(fill),
            ".".repeat(24 - fill)
        ));
    } else {
        s.push_str(&format!(" {done}"));
    }
    s.push_str(&format!("  {rate:.0}/s  {secs:.1}s"));
    if failed > 0 {
        s.push_str(&format!("  {failed} failed"));
    }
    s
}

/// Handle of the redraw task; [`Ticker::stop`] clears the line.
pub struct Ticker {
    task: Option<tokio::task::JoinHandle<()>>,
    tty: bool,
}

/// Start redrawing (inside a tokio runtime).
pub fn start() -> Ticker {
    let tty = std::io::stderr().is_terminal();
    ACTIVE.store(true, Ordering::Relaxed);
    let every = if tty {
        Duration::from_millis(250)
    } else {
        Duration::from_secs(5)
    };
    let task = tokio::spawn(async move {
        let t0 = Instant::now();
        let (mut last_done, mut last_t) = (0u64, Instant::now());
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        loop {
            tick.tick().await;
            if !ACTIVE.load(Ordering::Relaxed) {
                break;
            }
            let done = DONE.load(Ordering::Relaxed);
            let now = Instant::now();
            let dt = now.duration_since(last_t).as_secs_f64().max(1e-3);
            let rate = done.saturating_sub(last_done) as f64 / dt;
            (last_done, last_t) = (done, now);
            let label = LABEL.lock().map(|l| l.clone()).unwrap_or_default();
            if label.is_empty() {
                continue;
            }
            let text = line(
                &label,
                done,
                TOTAL.load(Ordering::Relaxed),
                FAILED.load(Ordering::Relaxed),
                rate,
                t0.elapsed().as_secs_f64(),
            );
            let mut e = std::io::stderr().lock();
            let _ = if tty {
                write!(e, "\r\x1b[2K{text}")
            } else {
                writeln!(e, "progress: {text}")
            };
            let _ = e.flush();
        }
    });
    Ticker {
        task: Some(task),
        tty,
    }
}

impl Ticker {
    /// Stop redrawing and clear the line.
    pub fn stop(mut self) {
        ACTIVE.store(false, Ordering::Relaxed);
        if let Some(t) = self.task.take() {
            t.abort();
        }
        if self.tty {
            eprint!("\r\x1b[2K");
        }
        phase("", 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_format() {
        let l = line("handshakes", 50, 100, 2, 1234.4, 1.25);
        assert!(l.contains("[############............] 50/100"), "{l}");
        assert!(l.contains("1234/s") && l.contains("1.2s") && l.ends_with("2 failed"));
        let l = line("requests", 7, 0, 0, 3.0, 0.0);
        assert!(l.contains(" 7  3/s") && !l.contains('['), "{l}");
    }
}

//! `--workers N`: spread `hold` and `connect-storm` over N child processes of this binary (every
//! process is capped at 20,000 open files on the project's machine, so one harness process cannot
//! hold more than ~19k sockets).
//!
//! The parent re-executes itself (`std::env::current_exe`) with its own arguments plus
//! `--worker-index i`. Worker i takes `share(total, N, i)` of `-n`/`--conns`/`--concurrency` and
//! the source addresses i, i+N, i+2N… of `--source-ips`; it never forks again, never samples the
//! gateway and writes no files. It reports on stdout with one `@lt-worker {json}` line per step
//! (histograms as base64 HDR V2). The parent merges, samples the gateway's `/proc` (RSS, CPU)
//! itself, and prints the usual table and `--json`. `hold` steps are synchronised over the
//! workers' stdin: the parent writes `next` (open up to the next step) or `stop`.

use std::io::Write;
use std::net::Ipv4Addr;
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};
use base64::Engine;
use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::time::timeout;

use crate::report::{new_hist, Outcome};
use crate::scenarios::handshake::{self, HandshakeArgs};
use crate::scenarios::{Common, Scenario, SourceIps};

/// Prefix of a worker's machine-readable stdout lines.
pub const MARK: &str = "@lt-worker ";
/// Upper bound on N (each worker is a whole process with its own runtime).
pub const MAX_WORKERS: usize = 64;

/// This process's place: N workers, and our index when we are one of them.
#[derive(Clone, Copy, Debug)]
pub struct Role {
    pub workers: usize,
    pub index: Option<usize>,
}

static ROLE: OnceLock<Role> = OnceLock::new();

/// Set once from the command line (`--workers`, `--worker-index`).
pub fn set_role(workers: usize, index: Option<usize>) -> Result<()> {
    if workers == 0 || workers > MAX_WORKERS {
        bail!("--workers must be 1..={MAX_WORKERS}");
    }
    if let Some(i) = index {
        if i >= workers {
            bail!("--worker-index {i} out of range for --workers {workers}");
        }
    }
    let _ = ROLE.set(Role { workers, index });
    Ok(())
}

fn role() -> Role {
    ROLE.get().copied().unwrap_or(Role {
        workers: 1,
        index: None,
    })
}

/// N of `--workers`.
pub fn role_workers() -> usize {
    role().workers
}

/// The parent of N > 1 workers.
pub fn is_parent() -> bool {
    let r = role();
    r.workers > 1 && r.index.is_none()
}

/// `(index, workers)` when this process is a worker.
pub fn child() -> Option<(usize, usize)> {
    let r = role();
    r.index.map(|i| (i, r.workers))
}

/// Worker i's part of `total` over `workers`: the first `total % workers` workers get one more.
/// Summed over i it is `total`; for a fixed i it never decreases as `total` grows (cumulative
/// `hold` steps stay cumulative per worker).
pub fn share(total: usize, workers: usize, i: usize) -> usize {
    let w = workers.max(1);
    total / w + usize::from(i < total % w)
}

/// Worker i's source addresses: i, i+N, i+2N… of the list (the i-th when the list has N entries);
/// with fewer addresses than workers, worker i uses address `i % len`.
pub fn source_ips_for(ips: &[Ipv4Addr], workers: usize, i: usize) -> Vec<Ipv4Addr> {
    let mine: Vec<Ipv4Addr> = ips
        .iter()
        .skip(i)
        .step_by(workers.max(1))
        .copied()
        .collect();
    if mine.is_empty() && !ips.is_empty() {
        return vec![ips[i % ips.len()]];
    }
    mine
}

/// Worker i's common options: its source addresses; no `--pid`/`--json`/`--svg`/`--strict`
/// (the parent samples the gateway, writes the files and judges the merged result).
pub fn child_common(c: &Common, workers: usize, i: usize) -> Common {
    let mut c = c.clone();
    c.source_ips = c
        .source_ips
        .map(|s| SourceIps(source_ips_for(&s.0, workers, i)));
    c.pid = None;
    c.json = None;
    c.svg = None;
    c.strict = false;
    c
}

/// Print one machine-readable line (a worker's report).
pub fn emit(v: &Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{MARK}{v}");
    let _ = out.flush();
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A histogram as base64 of its HDR V2 serialization.
pub fn hist_b64(h: &Histogram<u64>) -> Result<String> {
    let mut buf = Vec::new();
    V2Serializer::new()
        .serialize(h, &mut buf)
        .map_err(|e| anyhow!("hdr serialize: {e:?}"))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(buf))
}

/// Inverse of [`hist_b64`].
pub fn hist_from_b64(s: &str) -> Result<Histogram<u64>> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(s)?;
    Deserializer::new()
        .deserialize(&mut &bytes[..])
        .map_err(|e| anyhow!("hdr deserialize: {e:?}"))
}

struct Kid {
    proc: Child,
    stdin: Option<ChildStdin>,
    lines: Lines<BufReader<ChildStdout>>,
}

/// The N worker processes of a parent.
pub struct Pool {
    kids: Vec<Kid>,
}

impl Pool {
    /// Start N copies of this binary with our arguments plus `--worker-index i`.
    pub fn spawn(workers: usize) -> Result<Pool> {
        let exe = std::env::current_exe().context("current_exe")?;
        let args: Vec<_> = std::env::args_os().skip(1).collect();
        let mut kids = Vec::with_capacity(workers);
        for i in 0..workers {
            let mut proc = Command::new(&exe)
                .args(&args)
                .arg("--worker-index")
                .arg(i.to_string())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .kill_on_drop(true)
                .spawn()
                .with_context(|| format!("spawning worker {i}"))?;
            let stdin = proc.stdin.take();
            let out = proc.stdout.take().ok_or_else(|| anyhow!("worker stdout"))?;
            kids.push(Kid {
                proc,
                stdin,
                lines: BufReader::new(out).lines(),
            });
        }
        Ok(Pool { kids })
    }

    /// Write one line to every worker.
    pub async fn send_all(&mut self, line: &str) -> Result<()> {
        for (i, k) in self.kids.iter_mut().enumerate() {
            let w = k
                .stdin
                .as_mut()
                .ok_or_else(|| anyhow!("worker {i}: stdin"))?;
            w.write_all(format!("{line}\n").as_bytes())
                .await
                .with_context(|| format!("worker {i}: stdin"))?;
            w.flush().await?;
        }
        Ok(())
    }

    /// The next report line of every worker (other stdout lines are dropped), within `limit`.
    pub async fn recv_all(&mut self, limit: Duration) -> Result<Vec<Value>> {
        let end = Instant::now() + limit;
        let mut out = Vec::with_capacity(self.kids.len());
        for (i, k) in self.kids.iter_mut().enumerate() {
            loop {
                let left = end.saturating_duration_since(Instant::now());
                let line = timeout(left, k.lines.next_line())
                    .await
                    .map_err(|_| anyhow!("worker {i}: no report within {limit:?}"))??
                    .ok_or_else(|| anyhow!("worker {i} exited without a report"))?;
                if let Some(j) = line.strip_prefix(MARK) {
                    out.push(serde_json::from_str(j).context("worker report")?);
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Close the workers' stdin and wait for them (killed after `limit`); error on a failure.
    pub async fn finish(mut self, limit: Duration) -> Result<()> {
        let end = Instant::now() + limit;
        let mut bad = Vec::new();
        for (i, k) in self.kids.iter_mut().enumerate() {
            k.stdin = None;
            let left = end.saturating_duration_since(Instant::now());
            match timeout(left, k.proc.wait()).await {
                Ok(Ok(st)) if st.success() => {}
                Ok(Ok(st)) => bad.push(format!("worker {i}: {st}")),
                Ok(Err(e)) => bad.push(format!("worker {i}: {e}")),
                Err(_) => {
                    let _ = k.proc.kill().await;
                    bad.push(format!("worker {i}: killed after {limit:?}"));
                }
            }
        }
        if !bad.is_empty() {
            bail!("{}", bad.join("; "));
        }
        Ok(())
    }
}

/// A worker process: run our share of the scenario and report on stdout.
pub async fn child_main(s: &Scenario, i: usize, w: usize) -> Result<()> {
    match s {
        Scenario::ConnectStorm(a) => storm_child(a, i, w).await,
        Scenario::Hold(a) => crate::scenarios::hold::child(a, i, w).await,
        _ => bail!("--workers: only hold and connect-storm run in worker processes"),
    }
}

async fn storm_child(a: &HandshakeArgs, i: usize, w: usize) -> Result<()> {
    let mine = HandshakeArgs {
        common: child_common(&a.common, w, i),
        n: share(a.n, w, i),
        concurrency: share(a.concurrency, w, i).max(1),
    };
    let start_ms = now_ms();
    let out = handshake::run(&mine).await?;
    let end_ms = now_ms();
    let hist = |name: &str| -> Result<String> {
        let h = out.hists.iter().find(|(n, _)| n == name).map(|(_, h)| h);
        hist_b64(h.ok_or_else(|| anyhow!("no {name} histogram"))?)
    };
    emit(&json!({
        "worker": i,
        "n": mine.n,
        "start_ms": start_ms,
        "end_ms": end_ms,
        "failed": out.json["failed"],
        "errors": out.json["errors"],
        "hello": hist(handshake::HELLO)?,
        "total": hist(handshake::TOTAL)?,
    }));
    Ok(())
}

/// `connect-storm` as the parent of N workers: merged histograms, rate over the union of the
/// workers' wall time.
pub async fn storm(a: &HandshakeArgs) -> Result<Outcome> {
    let w = role().workers;
    let mut pool = Pool::spawn(w)?;
    let docs = pool
        .recv_all(Duration::from_secs(a.common.max_secs + 30))
        .await?;
    pool.finish(Duration::from_secs(10)).await?;
    let (mut hello, mut total) = (new_hist(), new_hist());
    let (mut failed, mut errors) = (0u64, Vec::new());
    let (mut t0, mut t1) = (u64::MAX, 0u64);
    let mut per = Vec::new();
    for d in &docs {
        let h = hist_from_b64(d["hello"].as_str().unwrap_or_default())?;
        per.push(json!({"worker": d["worker"], "n": d["n"], "ok": h.len(),
            "failed": d["failed"], "elapsed_s": (d["end_ms"].as_u64().unwrap_or(0)
                .saturating_sub(d["start_ms"].as_u64().unwrap_or(0))) as f64 / 1000.0}));
        hello.add(&h)?;
        total.add(&hist_from_b64(d["total"].as_str().unwrap_or_default())?)?;
        failed += d["failed"].as_u64().unwrap_or(0);
        for e in d["errors"].as_array().into_iter().flatten() {
            errors.push(e.as_str().unwrap_or_default().to_string());
        }
        t0 = t0.min(d["start_ms"].as_u64().unwrap_or(0));
        t1 = t1.max(d["end_ms"].as_u64().unwrap_or(0));
    }
    let secs = (t1.saturating_sub(t0) as f64 / 1000.0).max(1e-3);
    let mut out = handshake::summarize(a, hello, total, failed, errors, secs);
    out.json["workers"] = json!(w);
    out.json["per_worker"] = json!(per);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_sum_and_stay_cumulative() {
        for w in 1..=7 {
            for total in [0usize, 1, 2, 5, 16, 999, 1000, 19_000, 100_001] {
                let parts: Vec<usize> = (0..w).map(|i| share(total, w, i)).collect();
                assert_eq!(parts.iter().sum::<usize>(), total, "w={w} total={total}");
                let (lo, hi) = (parts.iter().min().unwrap(), parts.iter().max().unwrap());
                assert!(hi - lo <= 1, "{parts:?}");
                for (i, &p) in parts.iter().enumerate() {
                    assert!(share(total + 1, w, i) >= p, "monotone w={w} i={i}");
                }
            }
        }
        assert_eq!(share(5, 2, 0), 3);
        assert_eq!(share(5, 2, 1), 2);
        assert_eq!(share(3, 4, 3), 0);
    }

    #[test]
    fn source_ips_per_worker() {
        let ips: Vec<Ipv4Addr> = (1..=4).map(|d| Ipv4Addr::new(127, 0, 0, d)).collect();
        assert_eq!(
            source_ips_for(&ips, 4, 2),
            vec![Ipv4Addr::new(127, 0, 0, 3)]
        );
        assert_eq!(source_ips_for(&ips, 2, 1), vec![ips[1], ips[3]]);
        assert_eq!(source_ips_for(&ips[..1], 3, 2), vec![ips[0]]);
        assert_eq!(source_ips_for(&ips, 1, 0), ips);
    }

    #[test]
    fn hist_roundtrip() {
        let mut h = new_hist();
        for v in [1u64, 10, 100, 1000, 123_456] {
            h.record(v).unwrap();
        }
        let back = hist_from_b64(&hist_b64(&h).unwrap()).unwrap();
        assert_eq!(back.len(), h.len());
        assert_eq!(back.value_at_quantile(0.99), h.value_at_quantile(0.99));
        assert_eq!(back.max(), h.max());
    }
}

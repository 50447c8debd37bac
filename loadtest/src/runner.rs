//! Running one scenario: header line, live progress, the hard wall bound, the target's CPU time
//! (and RSS) over the run when `--pid` is given, and the JSON document of the run.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Result};
use serde_json::{json, Value};

use crate::report::{r3, Outcome};
use crate::scenarios::Scenario;
use crate::{progress, sys};

/// The scenario ran past `--max-secs` + 60 s.
#[derive(Debug)]
pub struct HardTimeout(pub Duration);

impl std::fmt::Display for HardTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "gave up after the hard wall bound of {:?}", self.0)
    }
}

impl std::error::Error for HardTimeout {}

/// A finished run: its JSON document and the scenario's outcome.
pub struct Run {
    pub doc: Value,
    pub outcome: Outcome,
}

/// Run `s` (inside the runtime). `tag` is printed in the header (e.g. the target's name).
pub async fn run_one(s: &Scenario, tag: &str, threads: Option<usize>) -> Result<Run> {
    let c = s.common();
    let started_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    println!(
        "openclaw-loadtest {} → 127.0.0.1:{}{}",
        s.name(),
        c.port,
        if tag.is_empty() {
            String::new()
        } else {
            format!(" [{tag}]")
        }
    );
    let cpu0 = c.pid.and_then(sys::cpu_total);
    let t0 = Instant::now();
    let ticker = progress::start();
    let hard = Duration::from_secs(c.max_secs + 60);
    let r = tokio::time::timeout(hard, s.run()).await;
    ticker.stop();
    let outcome = r.map_err(|_| HardTimeout(hard))??;
    let wall = t0.elapsed().as_secs_f64();
    let server = match (c.pid, cpu0, c.pid.and_then(sys::cpu_total)) {
        (Some(pid), Some(a), Some(b)) => {
            let cpu_s = b.saturating_sub(a) as f64 / sys::clk_tck() as f64;
            let rss = sys::rss(pid).map(|r| r.1);
            println!(
                "server pid {pid}: {cpu_s:.2} CPU s over {wall:.2} s ({:.1} %), RSS {} MB",
                cpu_s / wall * 100.0,
                rss.map(|k| format!("{:.1}", k as f64 / 1024.0))
                    .unwrap_or("-".into())
            );
            // Per unit of the headline histogram (handshake, call, receipt, request).
            let first = outcome.hists.first().map(|(_, h)| h.len());
            let ops = outcome.ops.or(first).unwrap_or(0);
            let per_op = (ops > 0).then(|| r3(cpu_s * 1e6 / ops as f64));
            json!({"pid": pid, "cpu_s": r3(cpu_s), "cpu_pct": r3(cpu_s / wall * 100.0),
                "cpu_us_per_op": per_op, "rss_kb_end": rss})
        }
        _ => Value::Null,
    };
    if c.strict {
        let mut bad = Vec::new();
        violations(&outcome.json, "", &mut bad);
        if !bad.is_empty() {
            bail!("--strict: {}", bad.join(", "));
        }
    }
    let doc = json!({
        "scenario": s.name(),
        "target": tag,
        "started_unix_ms": started_ms,
        "wall_s": r3(wall),
        "threads": threads,
        "options": c.to_json(),
        "server": server,
        "results": outcome.json.clone(),
    });
    Ok(Run { doc, outcome })
}

/// Everything in a result document that `--strict` counts as a failure, as `path=value`.
pub fn violations(v: &Value, path: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let p = format!("{path}/{k}");
                let bad = match k.as_str() {
                    "failed" | "connect_failed" | "non_200" | "missing" => {
                        x.as_u64().is_some_and(|n| n > 0)
                    }
                    "cut_short" => x.as_bool() == Some(true),
                    _ => false,
                };
                if bad {
                    out.push(format!("{p}={x}"));
                }
                violations(x, &p, out);
            }
            if let (Some(r), Some(e)) = (m.get("received"), m.get("expected")) {
                if r.as_u64() < e.as_u64() {
                    out.push(format!("{path} received {r}/{e}"));
                }
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                violations(x, &format!("{path}/{i}"), out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_finds_failures() {
        let mut bad = Vec::new();
        violations(
            &json!({"failed": 0, "cut_short": false, "rounds": [{"received": 5, "expected": 5}]}),
            "",
            &mut bad,
        );
        assert!(bad.is_empty(), "{bad:?}");
        let v = json!({"non_200": 3, "steps": [{"failed": 1}], "rounds": [{"received": 4, "expected": 5}], "cut_short": true});
        violations(&v, "", &mut bad);
        assert_eq!(bad.len(), 4, "{bad:?}");
        assert!(bad.contains(&"/steps/0/failed=1".to_string()));
    }
}

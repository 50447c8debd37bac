//! `compare`: the same scenario against two (or three) targets in one run, interleaved
//! (A, B, [C], A, B, [C] … `--repeat` times); per metric the median over repeats and a ratio of
//! how many times better B is than each other target (latency: X/B, throughput: B/X).

use std::path::PathBuf;

use anyhow::{anyhow, bail, Result};
use clap::{Args, Parser};
use serde_json::{json, Value};

use crate::report::{self, hist_headers, hist_json, hist_row, new_hist, Table};
use crate::runner::{run_one, Run};
use crate::scenarios::Scenario;
use crate::svg;

#[derive(Args, Debug)]
pub struct CompareArgs {
    /// Port of target A (e.g. the Node gateway).
    #[arg(long)]
    pub a: u16,
    #[arg(long, default_value = "a")]
    pub a_name: String,
    /// Pid of target A (CPU per run; RSS for `hold`).
    #[arg(long)]
    pub a_pid: Option<u32>,
    /// Port of target B (the one the ratios are about, e.g. ours).
    #[arg(long)]
    pub b: u16,
    #[arg(long, default_value = "b")]
    pub b_name: String,
    #[arg(long)]
    pub b_pid: Option<u32>,
    /// Optional third target (e.g. `limit-server`, the floor).
    #[arg(long)]
    pub c: Option<u16>,
    #[arg(long, default_value = "limit")]
    pub c_name: String,
    #[arg(long)]
    pub c_pid: Option<u32>,
    /// Gateway token passed to every run.
    #[arg(
        long,
        env = "OPENCLAW_GATEWAY_TOKEN",
        hide_env_values = true,
        default_value = ""
    )]
    pub token: String,
    /// Rounds of A, B[, C].
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,
    /// Write every run and the summary as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write the latency plot, one line per target (headline histograms merged over repeats).
    #[arg(long)]
    pub svg: Option<PathBuf>,
    /// The scenario and its arguments (without --port/--token/--pid), e.g. `rpc -n 5000`.
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true, num_args = 1..)]
    pub scenario: Vec<String>,
}

#[derive(Parser, Debug)]
#[command(name = "compare")]
struct ScenarioCli {
    #[command(subcommand)]
    s: Scenario,
}

/// Which direction is better for a metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Better {
    Lower,
    Higher,
}

/// The metrics compared for `scenario`: (label, path under the run document, direction).
/// Path segments are object keys; `last` on an array takes its last element.
pub fn metrics(scenario: &str) -> Vec<(&'static str, &'static str, Better)> {
    use Better::*;
    let mut m = match scenario {
        "connect-storm" => vec![
            ("hello-ok p50 ms", "results/hello_ok/p50_ms", Lower),
            ("hello-ok p99 ms", "results/hello_ok/p99_ms", Lower),
            ("handshakes/s", "results/handshakes_per_s", Higher),
        ],
        "rpc" => vec![
            ("rtt p50 ms", "results/rtt/p50_ms", Lower),
            ("rtt p99 ms", "results/rtt/p99_ms", Lower),
            ("rtt p99.9 ms", "results/rtt/p99.9_ms", Lower),
            ("calls/s", "results/calls_per_s", Higher),
        ],
        "fanout" => vec![
            ("last receiver median ms", "results/last_median_ms", Lower),
            ("receipts p50 ms", "results/receipts/p50_ms", Lower),
            ("receipts p99 ms", "results/receipts/p99_ms", Lower),
            ("CPU µs/frame (rounds)", "results/cpu_us_per_receipt", Lower),
        ],
        "hold" => vec![
            (
                "RSS MB (last step)",
                "results/steps/last/rss_total_kb",
                Lower,
            ),
            ("KB/conn", "results/steps/last/rss_delta_kb_per_conn", Lower),
            ("idle CPU %", "results/steps/last/idle_cpu_pct", Lower),
            (
                "health ms while holding",
                "results/steps/last/health_ms",
                Lower,
            ),
            ("opened/s", "results/steps/last/open_per_s", Higher),
        ],
        "slow-consumer" => vec![
            ("baseline p99 ms", "results/baseline_p99_ms", Lower),
            ("with slow p99 ms", "results/with_slow_p99_ms", Lower),
            ("p99 ratio with/without", "results/p99_ratio", Lower),
        ],
        "http" => vec![
            ("req/s", "results/req_per_s", Higher),
            ("latency p50 ms", "results/latency/p50_ms", Lower),
            ("latency p99 ms", "results/latency/p99_ms", Lower),
            ("non-200", "results/non_200", Lower),
            ("chunk added p50 ms", "results/chunk_added/p50_ms", Lower),
            ("chunk added p99 ms", "results/chunk_added/p99_ms", Lower),
            ("TTFT p50 ms", "results/ttft/p50_ms", Lower),
        ],
        "agent-streams" => vec![
            (
                "added/token p50 ms",
                "results/added_per_token/p50_ms",
                Lower,
            ),
            (
                "added/token p99 ms",
                "results/added_per_token/p99_ms",
                Lower,
            ),
            (
                "added/token max ms",
                "results/added_per_token/max_ms",
                Lower,
            ),
            ("TTFT p50 ms", "results/ttft/p50_ms", Lower),
            ("TTFT p99 ms", "results/ttft/p99_ms", Lower),
            ("run p50 ms", "results/run/p50_ms", Lower),
            ("runs ok", "results/ok", Higher),
            ("RSS peak MB", "results/gateway/rss_kb_peak", Lower),
        ],
        _ => Vec::new(),
    };
    m.push(("server CPU s", "server/cpu_s", Lower));
    m.push(("server CPU µs/op", "server/cpu_us_per_op", Lower));
    m
}

/// Look up `path` (see [`metrics`]) in `v` as a number.
pub fn lookup(v: &Value, path: &str) -> Option<f64> {
    let mut cur = v;
    for seg in path.split('/') {
        cur = match (seg, cur) {
            ("last", Value::Array(a)) => a.last()?,
            (k, Value::Object(m)) => m.get(k)?,
            _ => return None,
        };
    }
    let x = cur.as_f64()?;
    // RSS is stored in KiB; shown in MB.
    Some(
        if path.ends_with("rss_total_kb") || path.ends_with("rss_kb_peak") {
            x / 1024.0
        } else {
            x
        },
    )
}

/// Median of the values present.
pub fn median(mut xs: Vec<f64>) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    xs.sort_by(|a, b| a.total_cmp(b));
    let n = xs.len();
    Some(if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    })
}

/// How many times better `b` is than `x` (> 1: b better).
pub fn ratio(better: Better, x: f64, b: f64) -> Option<f64> {
    let (num, den) = match better {
        Better::Lower => (x, b),
        Better::Higher => (b, x),
    };
    (den > 0.0 && num.is_finite()).then(|| num / den)
}

struct Target {
    name: String,
    port: u16,
    pid: Option<u32>,
    runs: Vec<Run>,
}

pub async fn run(a: &CompareArgs, threads: Option<usize>) -> Result<Value> {
    let mut targets = targets_of(a);
    let scenarios: Vec<Scenario> = targets
        .iter()
        .map(|t| scenario_for(a, t))
        .collect::<Result<_>>()?;
    let name = scenarios[0].name();
    if scenarios[0].common().json.is_some() || scenarios[0].common().svg.is_some() {
        bail!("give --json/--svg to compare itself, before the scenario name");
    }
    let mut failures = Vec::new();
    for rep in 1..=a.repeat.max(1) {
        for (t, s) in targets.iter_mut().zip(&scenarios) {
            let tag = format!("{} {rep}/{}", t.name, a.repeat.max(1));
            match run_one(s, &tag, threads).await {
                Ok(r) => t.runs.push(r),
                Err(e) => {
                    eprintln!("error [{tag}]: {e:#}");
                    failures.push(format!("{tag}: {e:#}"));
                }
            }
            println!();
        }
    }
    let b = 1usize;
    let (table, summary) = summarize(&targets, name, b);
    let (ht, merged) = merge_hists(&targets);
    println!(
        "== compare {}: median of {} repeat(s); ratio > 1 means {} is better",
        a.scenario.join(" "),
        a.repeat.max(1),
        targets[b].name
    );
    table.print();
    if merged.iter().any(|(_, h)| !h.is_empty()) {
        ht.print();
    }
    if a.svg.is_some() && merged.iter().all(|(_, h)| h.is_empty()) {
        eprintln!("--svg: {name} records no latency histogram");
    } else if let Some(p) = &a.svg {
        let hs: Vec<(String, &hdrhistogram::Histogram<u64>)> = merged
            .iter()
            .filter(|(_, h)| !h.is_empty())
            .map(|(n, h)| (n.clone(), h))
            .collect();
        svg::write(p, &format!("compare: {}", a.scenario.join(" ")), &hs)?;
    }
    let doc = json!({
        "compare": name,
        "args": a.scenario,
        "repeat": a.repeat,
        "targets": targets.iter().map(|t| json!({"name": t.name, "port": t.port, "pid": t.pid})).collect::<Vec<_>>(),
        "summary": summary,
        "merged": merged.iter().map(|(n, h)| (n.clone(), hist_json(h))).collect::<serde_json::Map<_, _>>(),
        "runs": targets.iter().map(|t| (t.name.clone(), Value::Array(t.runs.iter().map(|r| r.doc.clone()).collect()))).collect::<serde_json::Map<_, _>>(),
        "failures": failures,
    });
    report::write_json(a.json.as_deref(), &doc)?;
    if !failures.is_empty() {
        bail!("{} run(s) failed", failures.len());
    }
    Ok(doc)
}

/// The targets compared: a, b, and the optional third.
fn targets_of(a: &CompareArgs) -> Vec<Target> {
    let mut targets = vec![
        Target {
            name: a.a_name.clone(),
            port: a.a,
            pid: a.a_pid,
            runs: Vec::new(),
        },
        Target {
            name: a.b_name.clone(),
            port: a.b,
            pid: a.b_pid,
            runs: Vec::new(),
        },
    ];
    if let Some(c) = a.c {
        targets.push(Target {
            name: a.c_name.clone(),
            port: c,
            pid: a.c_pid,
            runs: Vec::new(),
        });
    }
    targets
}

/// The scenario's arguments pointed at target `t` (its port, the token, its pid).
fn scenario_for(a: &CompareArgs, t: &Target) -> Result<Scenario> {
    let mut argv = vec!["compare".to_string()];
    argv.extend(a.scenario.iter().cloned());
    argv.extend(["--port".into(), t.port.to_string()]);
    if !a.token.is_empty() {
        argv.extend(["--token".into(), a.token.clone()]);
    }
    if let Some(p) = t.pid {
        argv.extend(["--pid".into(), p.to_string()]);
    }
    ScenarioCli::try_parse_from(argv)
        .map(|c| c.s)
        .map_err(|e| anyhow!("scenario arguments: {e}"))
}

/// The metrics table (median per target, target `b` against each other) and its JSON rows.
fn summarize(targets: &[Target], name: &str, b: usize) -> (Table, Vec<Value>) {
    let others: Vec<usize> = (0..targets.len()).filter(|&i| i != b).collect();
    let mut headers = vec!["metric".to_string()];
    headers.extend(targets.iter().map(|t| t.name.clone()));
    headers.extend(
        others
            .iter()
            .map(|&i| format!("{} vs {}", targets[b].name, targets[i].name)),
    );
    let mut table = Table::new(headers);
    let mut summary = Vec::new();
    for (label, path, better) in metrics(name) {
        let vals: Vec<Option<f64>> = targets
            .iter()
            .map(|t| median(t.runs.iter().filter_map(|r| lookup(&r.doc, path)).collect()))
            .collect();
        if vals.iter().all(Option::is_none) {
            continue;
        }
        let cell = |v: &Option<f64>| v.map(|x| format!("{x:.3}")).unwrap_or("-".into());
        let mut row = vec![label.to_string()];
        row.extend(vals.iter().map(cell));
        let mut ratios = serde_json::Map::new();
        for &i in &others {
            let r = match (vals[i], vals[b]) {
                (Some(x), Some(y)) => ratio(better, x, y),
                _ => None,
            };
            row.push(r.map(|r| format!("{r:.2}×")).unwrap_or("-".into()));
            ratios.insert(targets[i].name.clone(), json!(r.map(report::r3)));
        }
        table.row(row);
        let values: serde_json::Map<String, Value> = targets
            .iter()
            .zip(&vals)
            .map(|(t, v)| (t.name.clone(), json!(v.map(report::r3))))
            .collect();
        summary.push(
            json!({"metric": label, "better": format!("{better:?}").to_lowercase(),
            "median": values, "b_better_by": ratios}),
        );
    }
    (table, summary)
}

/// Each target's headline histogram merged over its runs, and their table.
fn merge_hists(targets: &[Target]) -> (Table, Vec<(String, hdrhistogram::Histogram<u64>)>) {
    let mut merged = Vec::new();
    let mut ht = Table::new(hist_headers("merged headline"));
    for t in targets {
        let mut h = new_hist();
        let mut hname = String::new();
        for r in &t.runs {
            if let Some((n, x)) = r.outcome.hists.first() {
                hname.clone_from(n);
                let _ = h.add(x);
            }
        }
        if !h.is_empty() {
            ht.row(hist_row(&format!("{} {hname}", t.name), &h));
        }
        merged.push((t.name.clone(), h));
    }
    (ht, merged)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_and_medians() {
        assert_eq!(ratio(Better::Lower, 9.0, 1.0), Some(9.0));
        assert_eq!(ratio(Better::Higher, 100.0, 900.0), Some(9.0));
        assert_eq!(ratio(Better::Lower, 1.0, 0.0), None);
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0]), Some(2.5));
        assert_eq!(median(vec![]), None);
    }

    #[test]
    fn lookups() {
        let v = json!({"results": {"rtt": {"p99_ms": 0.5}, "steps": [{"rss_total_kb": 1024}, {"rss_total_kb": 2048}]}});
        assert_eq!(lookup(&v, "results/rtt/p99_ms"), Some(0.5));
        assert_eq!(lookup(&v, "results/steps/last/rss_total_kb"), Some(2.0));
        assert_eq!(lookup(&v, "results/nope"), None);
        for s in [
            "connect-storm",
            "rpc",
            "fanout",
            "hold",
            "slow-consumer",
            "http",
            "agent-streams",
        ] {
            assert!(metrics(s).len() > 1, "{s}");
        }
    }

    #[test]
    fn scenario_args_parse() {
        for argv in [
            vec!["compare", "connect-storm", "-n", "10", "--port", "1"],
            vec!["compare", "handshake", "--port", "1"],
            vec!["compare", "rpc", "--rate", "100", "--port", "1"],
            vec!["compare", "slow-consumer", "--slow", "2", "--port", "1"],
            vec!["compare", "http", "--path", "/v1/models", "--port", "1"],
            vec![
                "compare",
                "agent-streams",
                "--runs",
                "5",
                "--upstream-port",
                "2",
                "--port",
                "1",
            ],
            vec![
                "compare",
                "http",
                "--chat-stream",
                "--upstream-port",
                "2",
                "--port",
                "1",
            ],
        ] {
            ScenarioCli::try_parse_from(argv.clone()).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
        }
        assert!(ScenarioCli::try_parse_from(["compare", "bogus", "--port", "1"]).is_err());
    }
}

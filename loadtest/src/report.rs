//! Result reporting: HDR histogram summaries (µs in, ms out), aligned text tables, JSON output.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use serde_json::{json, Value};

/// What a scenario hands back: its JSON results and its latency histograms (µs), the first one
/// being the headline (plotted by `--svg`, merged across repeats by `compare`).
pub struct Outcome {
    pub json: Value,
    pub hists: Vec<(String, Histogram<u64>)>,
    /// Units of work for "server CPU per op" when not the headline histogram's count.
    pub ops: Option<u64>,
}

impl Outcome {
    pub fn new(json: Value) -> Self {
        Outcome {
            json,
            hists: Vec::new(),
            ops: None,
        }
    }

    /// Add a named histogram.
    pub fn hist(mut self, name: &str, h: Histogram<u64>) -> Self {
        self.hists.push((name.to_string(), h));
        self
    }
}

/// A latency histogram in microseconds, 1 µs .. 1 h, 3 significant digits.
pub fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("histogram bounds")
}

/// Record a duration (µs, clamped to the histogram range).
pub fn record(h: &mut Histogram<u64>, d: Duration) {
    h.saturating_record((d.as_micros() as u64).max(1));
}

/// Milliseconds with 3 decimals from microseconds.
pub fn ms(us: u64) -> String {
    format!("{:.3}", us as f64 / 1000.0)
}

/// Round to 3 decimals (for JSON).
pub fn r3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Quantiles reported for every latency histogram.
const QUANTILES: [(&str, f64); 4] = [
    ("p50", 0.50),
    ("p90", 0.90),
    ("p99", 0.99),
    ("p99.9", 0.999),
];

/// Column headers matching [`hist_row`].
pub fn hist_headers(first: &str) -> Vec<String> {
    let mut h = vec![first.to_string(), "count".into(), "min ms".into()];
    h.extend(QUANTILES.iter().map(|(n, _)| format!("{n} ms")));
    h.extend(["max ms".to_string(), "mean ms".to_string()]);
    h
}

/// One table row: label, count, min, p50, p90, p99, p99.9, max, mean (ms).
pub fn hist_row(label: &str, h: &Histogram<u64>) -> Vec<String> {
    let mut row = vec![label.to_string(), h.len().to_string()];
    if h.is_empty() {
        row.resize(9, "-".to_string());
        return row;
    }
    row.push(ms(h.min()));
    row.extend(QUANTILES.iter().map(|(_, q)| ms(h.value_at_quantile(*q))));
    row.push(ms(h.max()));
    row.push(format!("{:.3}", h.mean() / 1000.0));
    row
}

/// JSON summary of a histogram, all values in ms.
pub fn hist_json(h: &Histogram<u64>) -> Value {
    if h.is_empty() {
        return json!({"count": 0});
    }
    let f = |us: u64| r3(us as f64 / 1000.0);
    let mut v = json!({
        "count": h.len(),
        "min_ms": f(h.min()),
        "max_ms": f(h.max()),
        "mean_ms": r3(h.mean() / 1000.0),
    });
    for (n, q) in QUANTILES {
        v[format!("{n}_ms")] = json!(f(h.value_at_quantile(q)));
    }
    v
}

/// A text table printed with right-aligned columns (first column left-aligned).
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: Vec<String>) -> Self {
        Table {
            headers,
            rows: Vec::new(),
        }
    }

    /// Table with string-literal headers.
    pub fn with(headers: &[&str]) -> Self {
        Self::new(headers.iter().map(|s| s.to_string()).collect())
    }

    pub fn row(&mut self, row: Vec<String>) {
        self.rows.push(row);
    }

    pub fn print(&self) {
        let n = self.headers.len();
        let mut w: Vec<usize> = self.headers.iter().map(|h| h.len()).collect();
        for r in &self.rows {
            for (i, c) in r.iter().enumerate().take(n) {
                w[i] = w[i].max(c.len());
            }
        }
        let line = |cells: &[String]| {
            let mut s = String::new();
            for (i, c) in cells.iter().enumerate().take(n) {
                if i == 0 {
                    s.push_str(&format!("{c:<width$}", width = w[0]));
                } else {
                    s.push_str(&format!("  {c:>width$}", width = w[i]));
                }
            }
            println!("{}", s.trim_end());
        };
        line(&self.headers);
        let total: usize = w.iter().sum::<usize>() + 2 * (n.saturating_sub(1));
        println!("{}", "-".repeat(total));
        for r in &self.rows {
            line(r);
        }
    }
}

/// Write `v` pretty-printed to `path` if given.
pub fn write_json(path: Option<&Path>, v: &Value) -> Result<()> {
    if let Some(p) = path {
        let s = serde_json::to_string_pretty(v)?;
        std::fs::write(p, s + "\n").with_context(|| format!("writing {}", p.display()))?;
        eprintln!("wrote {}", p.display());
    }
    Ok(())
}

/// Print up to 5 distinct error messages and the total count.
pub fn print_errors(errors: &[String], total: u64) {
    if total == 0 {
        return;
    }
    eprintln!("{total} error(s); first ones:");
    let mut seen: Vec<&String> = Vec::new();
    for e in errors {
        if !seen.contains(&e) && seen.len() < 5 {
            seen.push(e);
            eprintln!("  {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries() {
        let mut h = new_hist();
        for us in 1..=1000u64 {
            h.record(us).unwrap();
        }
        let row = hist_row("x", &h);
        assert_eq!(row.len(), hist_headers("x").len());
        assert_eq!(row[3], "0.500");
        assert_eq!(hist_json(&h)["count"], 1000);
        assert_eq!(hist_row("e", &new_hist()).len(), row.len());
    }
}

//! `--svg FILE`: a hand-written SVG latency plot, one percentile curve (p0 .. p99.99) per series,
//! percentile on a log axis (`1/(1-p)`: 0 %, 90 %, 99 %, 99.9 %, 99.99 %) and latency on a log axis.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use hdrhistogram::Histogram;

const W: f64 = 820.0;
const H: f64 = 480.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 190.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 50.0;
/// x runs over log10(1/(1-p)) in [0, X_MAX]: p0 .. p99.99.
const X_MAX: f64 = 4.0;
const COLORS: [&str; 6] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
];

/// Points (log10(1/(1-p)), latency ms) of a µs histogram, 10 per decade of percentile.
pub fn curve(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    if h.is_empty() {
        return Vec::new();
    }
    (0..=(X_MAX * 10.0) as u32)
        .map(|k| {
            let x = k as f64 / 10.0;
            let p = 1.0 - 10f64.powf(-x);
            (x, h.value_at_quantile(p) as f64 / 1000.0)
        })
        .collect()
}

/// XML-escape text.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Render the plot of `series` (name, points from [`curve`]).
pub fn render(title: &str, series: &[(String, Vec<(f64, f64)>)]) -> String {
    let vals = series.iter().flat_map(|(_, p)| p.iter().map(|&(_, y)| y));
    let (mut lo, mut hi) = (f64::MAX, f64::MIN);
    for v in vals {
        let v = v.max(0.001);
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if lo > hi {
        (lo, hi) = (0.1, 1.0);
    }
    let (dlo, mut dhi) = (lo.log10().floor(), hi.log10().ceil());
    if dhi <= dlo {
        dhi = dlo + 1.0;
    }
    let pw = W - LEFT - RIGHT;
    let ph = H - TOP - BOTTOM;
    let px = |x: f64| LEFT + x / X_MAX * pw;
    let py = |ms: f64| TOP + ph - (ms.max(0.001).log10() - dlo) / (dhi - dlo) * ph;
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{}" y="22" text-anchor="middle" font-size="15">{}</text>
"##,
        LEFT + pw / 2.0,
        esc(title)
    );
    // y grid: decades labelled; 2 and 5 as well when the span is small.
    let small = dhi - dlo <= 2.0;
    for d in dlo as i32..=dhi as i32 {
        for m in [1.0, 2.0, 5.0] {
            let v = m * 10f64.powi(d);
            if v.log10() > dhi + 1e-9 {
                continue;
            }
            let y = py(v);
            let major = m == 1.0;
            let stroke = if major { "#bbb" } else { "#eee" };
            let _ = writeln!(
                s,
                r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{stroke}"/>"##,
                LEFT + pw
            );
            if major || small {
                let _ = writeln!(
                    s,
                    r##"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
                    LEFT - 6.0,
                    y + 4.0,
                    fmt_ms(v)
                );
            }
        }
    }
    for (i, label) in ["0%", "90%", "99%", "99.9%", "99.99%"].iter().enumerate() {
        let x = px(i as f64);
        let _ = writeln!(
            s,
            r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{:.1}" stroke="#ddd"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{label}</text>"##,
            TOP + ph,
            TOP + ph + 18.0
        );
    }
    let _ = writeln!(
        s,
        r##"<text x="{:.1}" y="{:.1}" text-anchor="middle">percentile</text><text x="16" y="{:.1}" text-anchor="middle" transform="rotate(-90 16 {:.1})">latency (ms, log)</text>"##,
        LEFT + pw / 2.0,
        H - 8.0,
        TOP + ph / 2.0,
        TOP + ph / 2.0
    );
    let _ = writeln!(
        s,
        r##"<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="#444"/>"##
    );
    for (i, (name, pts)) in series.iter().enumerate() {
        let c = COLORS[i % COLORS.len()];
        let path: Vec<String> = pts
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y)))
            .collect();
        let _ = writeln!(
            s,
            r##"<polyline fill="none" stroke="{c}" stroke-width="2" points="{}"/>"##,
            path.join(" ")
        );
        let ly = TOP + 10.0 + i as f64 * 20.0;
        let lx = LEFT + pw + 12.0;
        let _ = writeln!(
            s,
            r##"<line x1="{lx}" y1="{ly}" x2="{}" y2="{ly}" stroke="{c}" stroke-width="3"/><text x="{}" y="{}">{}</text>"##,
            lx + 20.0,
            lx + 26.0,
            ly + 4.0,
            esc(name)
        );
    }
    s.push_str("</svg>\n");
    s
}

fn fmt_ms(v: f64) -> String {
    if v >= 1.0 {
        format!("{v:.0} ms")
    } else {
        let s = format!("{v:.3}");
        format!("{} ms", s.trim_end_matches('0'))
    }
}

/// Write the plot of `hists` (name, histogram in µs) to `path`.
pub fn write(path: &Path, title: &str, hists: &[(String, &Histogram<u64>)]) -> Result<()> {
    let series: Vec<(String, Vec<(f64, f64)>)> =
        hists.iter().map(|(n, h)| (n.clone(), curve(h))).collect();
    std::fs::write(path, render(title, &series))
        .with_context(|| format!("writing {}", path.display()))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::new_hist;

    #[test]
    fn curve_is_monotonic() {
        let mut h = new_hist();
        for us in 1..=10_000u64 {
            h.record(us).unwrap();
        }
        let c = curve(&h);
        assert_eq!(c.len(), 41);
        assert_eq!(c[0].0, 0.0);
        assert!((c[40].0 - 4.0).abs() < 1e-9);
        assert!(c.windows(2).all(|w| w[1].1 >= w[0].1));
        assert!(
            (c[10].1 - 9.0).abs() < 0.1,
            "p90 of 1..10ms is 9 ms: {}",
            c[10].1
        );
        assert!(curve(&new_hist()).is_empty());
    }

    #[test]
    fn renders_one_line_per_series() {
        let mut a = new_hist();
        let mut b = new_hist();
        for us in 100..2000u64 {
            a.record(us).unwrap();
            b.record(us * 9).unwrap();
        }
        let s = render(
            "rpc <health>",
            &[("node".into(), curve(&a)), ("rs & co".into(), curve(&b))],
        );
        assert!(s.starts_with("<svg") && s.ends_with("</svg>\n"));
        assert_eq!(s.matches("<polyline").count(), 2);
        assert!(s.contains("rpc &lt;health&gt;") && s.contains("rs &amp; co"));
        assert!(s.contains(">99.99%<") && s.contains(">1 ms<"));
        let empty = render("none", &[]);
        assert!(empty.contains("</svg>"));
        assert_eq!(fmt_ms(0.05), "0.05 ms");
    }
}

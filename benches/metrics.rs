//! The cost `/metrics` adds to the hot path: one answered request counted (a latency
//! histogram observation and a counter, by method), with counting off and on, and a bare
//! histogram observation. BENCHMARKS.md's metrics section quotes these beside the rpc and
//! fan-out load runs with metrics on and off.

use std::time::Duration;

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use openclaw::metrics::{self, Hist, Switch};

fn count(c: &mut Criterion) {
    metrics::init_rpc(["health", "status", "chat.send"].into_iter());
    let mut g = c.benchmark_group("metrics");
    g.bench_function("rpc_counted_off", |b| {
        b.iter(|| {
            metrics::rpc(
                black_box(Some(1)),
                None,
                black_box(Duration::from_micros(42)),
            )
        })
    });
    let on = Switch::new(true);
    g.bench_function("rpc_counted_on", |b| {
        b.iter(|| {
            metrics::rpc(
                black_box(Some(1)),
                None,
                black_box(Duration::from_micros(42)),
            )
        })
    });
    g.bench_function("rpc_error_counted_on", |b| {
        b.iter(|| {
            let code = black_box(Some("NOT_FOUND"));
            metrics::rpc(
                black_box(Some(2)),
                code,
                black_box(Duration::from_micros(420)),
            )
        })
    });
    drop(on);
    let h = Hist::new();
    g.bench_function("hist_observe", |b| {
        b.iter(|| h.observe(black_box(Duration::from_micros(1234))))
    });
    g.finish();
}

criterion_group!(benches, count);
criterion_main!(benches);

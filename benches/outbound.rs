//! Outbound drain: N events queued on one socket (shared head/tail bytes, the per-socket
//! `seq` spliced at write time) framed and written by the socket's writer task into an
//! in-memory sink, a batch per wake-up. The write path every event takes.

use bytes::Bytes;
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use openclaw_net::ws::run_writer;
use openclaw_net::Outbound;
use openclaw_proto::encode::event_parts;
use openclaw_proto::SEQ_SPLICE_PREFIX;
use serde_json::json;

fn drain(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let payload = json!({ "runId": "r1", "seq": 7, "stream": "assistant", "ts": 1u64,
                          "data": { "text": "echo: hello there", "delta": " there" } });
    let parts = event_parts("agent", &payload, None);
    let mut g = c.benchmark_group("outbound_drain");
    for n in [1usize, 64, 1024] {
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
            b.iter(|| {
                let out = Outbound::new(64 * 1024 * 1024);
                for _ in 0..n {
                    out.send_seq(&parts.head, &parts.tail, false);
                }
                out.close(1000, "");
                rt.block_on(run_writer(
                    tokio::io::sink(),
                    out.clone(),
                    SEQ_SPLICE_PREFIX,
                ));
                black_box(out.queued_bytes());
            })
        });
    }
    g.finish();
    // The same frames as one pre-encoded buffer each (no splice): what the splice costs.
    let full: Bytes = parts.with_seq(7);
    c.bench_function("outbound_drain/1024_presplice", |b| {
        b.iter(|| {
            let out = Outbound::new(64 * 1024 * 1024);
            for _ in 0..1024 {
                out.send_text(full.clone());
            }
            out.close(1000, "");
            rt.block_on(run_writer(
                tokio::io::sink(),
                out.clone(),
                SEQ_SPLICE_PREFIX,
            ));
        })
    });
}

criterion_group!(benches, drain);
criterion_main!(benches);

//! Fan-out 1→N: one `Hub::publish` (encode once, scope check, push a shared `Bytes` clone
//! into each socket's byte-budgeted queue) for N subscribers; and the queue push alone.

use std::sync::Arc;

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use openclaw::hub::{Hub, Subscriber};
use openclaw_net::Outbound;
use openclaw_proto::GrantedScopes;
use serde_json::json;

fn hub_with(n: usize) -> (Hub, Vec<Outbound>) {
    let hub = Hub::default();
    let mut outs = Vec::with_capacity(n);
    for i in 0..n {
        let out = Outbound::new(64 * 1024 * 1024);
        hub.join(Arc::new(Subscriber {
            conn: i as u64,
            out: out.clone(),
            scopes: GrantedScopes::new(vec!["operator.read".into()]),
            operator: true,
            device: None,
            approval_client: false,
        }));
        outs.push(out);
    }
    (hub, outs)
}

fn fanout(c: &mut Criterion) {
    let mut g = c.benchmark_group("fanout_publish");
    let payload = json!({ "presence": [{ "host": "vm", "mode": "gateway", "reason": "self", "text": "Gateway: vm", "ts": 1u64 }] });
    for n in [1usize, 100, 1000, 10_000] {
        let (hub, outs) = hub_with(n);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                // Droppable, so queues that fill are measured as drops, not growth.
                black_box(hub.publish("presence", black_box(&payload), None));
            })
        });
        drop(outs);
    }
    g.finish();
}

criterion_group!(benches, fanout);
criterion_main!(benches);

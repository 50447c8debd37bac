//! Frame codec benches: inbound request parsing with sonic-rs (our hot path,
//! `openclaw_proto::parse_inbound`) against serde_json doing the same job, on the frames the
//! gateway sees most (100–500 B), plus response/event encoding.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use serde::Deserialize;
use serde_json::json;

const HEALTH: &str =
    r#"{"type":"req","id":"2:5f0c3c5e-2b9e-4a53-9a7e-4f1c2d3e4f50","method":"health","params":{}}"#;
const LOGS: &str = r#"{"type":"req","id":"7:0bfd2c9e-1111-4a53-9a7e-4f1c2d3e4f50","method":"logs.tail","params":{"cursor":123456,"limit":200,"maxBytes":250000}}"#;
const CONNECT: &str = r#"{"type":"req","id":"1:9a0b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d","method":"connect","params":{"minProtocol":4,"maxProtocol":4,"client":{"id":"cli","version":"2026.9.6","platform":"linux","mode":"cli","deviceFamily":"Linux","instanceId":"0bfd2c9e-1111-4a53-9a7e-4f1c2d3e4f50","displayName":"gateway:health"},"role":"operator","scopes":["operator.admin","operator.read","operator.write","operator.approvals","operator.pairing"],"caps":[],"auth":{"token":"peer-token-0123456789abcdef"}}}"#;

/// What serde_json must do to match `parse_inbound`: type/id/method, params kept raw.
#[derive(Deserialize)]
struct SerdeFrame<'a> {
    #[serde(rename = "type")]
    ty: &'a str,
    id: Option<&'a str>,
    method: Option<&'a str>,
    #[serde(borrow)]
    params: Option<&'a serde_json::value::RawValue>,
}

/// The same borrowed struct through sonic-rs's serde path (params kept lazy).
#[derive(Deserialize)]
struct SonicFrame<'a> {
    #[serde(rename = "type")]
    ty: &'a str,
    id: Option<&'a str>,
    method: Option<&'a str>,
    #[serde(borrow)]
    params: Option<sonic_rs::LazyValue<'a>>,
}

fn parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse_request");
    for (name, frame) in [
        ("health", HEALTH),
        ("logs.tail", LOGS),
        ("connect", CONNECT),
    ] {
        g.throughput(Throughput::Bytes(frame.len() as u64));
        g.bench_with_input(BenchmarkId::new("sonic_rs", name), frame, |b, f| {
            b.iter(|| {
                let r = openclaw_proto::parse_inbound(black_box(f.as_bytes())).unwrap();
                black_box(r);
            })
        });
        g.bench_with_input(BenchmarkId::new("sonic_rs_struct", name), frame, |b, f| {
            b.iter(|| {
                let r: SonicFrame = sonic_rs::from_str(black_box(f)).unwrap();
                assert_eq!(r.ty, "req");
                black_box((r.id, r.method, r.params));
            })
        });
        g.bench_with_input(BenchmarkId::new("serde_json", name), frame, |b, f| {
            b.iter(|| {
                let r: SerdeFrame = serde_json::from_str(black_box(f)).unwrap();
                assert_eq!(r.ty, "req");
                black_box((r.id, r.method, r.params));
            })
        });
    }
    g.finish();
}

fn encode(c: &mut Criterion) {
    let mut g = c.benchmark_group("encode");
    let presence = json!({ "presence": [
        { "host": "vm", "mode": "gateway", "reason": "self", "text": "Gateway: vm · app 2026.9.6", "ts": 1_795_373_621_469u64 },
        { "host": "tui", "mode": "ui", "reason": "connect", "text": "Node: tui · mode ui", "ts": 1_795_373_621_470u64 },
    ]});
    g.bench_function("event_parts/presence", |b| {
        b.iter(|| {
            black_box(openclaw_proto::event_parts(
                "presence",
                black_box(&presence),
                None,
            ))
        })
    });
    let health = json!({ "ok": true, "ts": 1u64, "durationMs": 0 });
    g.bench_function("res_ok/small", |b| {
        b.iter(|| {
            black_box(openclaw_proto::res_ok(
                "2:5f0c3c5e-2b9e",
                black_box(&health),
            ))
        })
    });
    g.finish();
}

criterion_group!(benches, parse, encode);
criterion_main!(benches);

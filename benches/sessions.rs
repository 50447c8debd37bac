//! `sessions.list` over a large session store: one page of 100 (newest first) from 100k
//! sessions, unfiltered, deep (`offset` 50 000), with a `search` substring and with an
//! `agent_id` filter — the SQL the gateway runs on its read pool.
//!
//! Under `cargo test --all-targets` (criterion's test mode, no `--bench` argument) the store
//! holds 10k sessions so CI stays fast; `cargo bench --bench sessions` uses 100k.

use std::path::PathBuf;

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use openclaw::store::sessions::{list_sessions, ListQuery, SessionRow};
use openclaw::store::SessionStore;

/// Sessions in the store for a real measurement.
const SESSIONS: usize = 100_000;
/// Sessions in the store in test mode.
const SESSIONS_TEST_MODE: usize = 10_000;
/// Page size of every listing.
const PAGE: u64 = 100;
/// Distinct agent ids the sessions are spread over.
const AGENTS: usize = 8;

fn rows(n: usize) -> Vec<SessionRow> {
    let base = 1_790_000_000_000u64;
    (0..n)
        .map(|i| {
            // Scatter update times so the order by updated_ms is not the insertion order.
            let spread = (i as u64).wrapping_mul(2_654_435_761) % (n as u64 * 10);
            let agent = format!("agent{}", i % AGENTS);
            SessionRow {
                key: format!("agent:{agent}:bench-{i:06}"),
                session_id: format!("sess-{i:06}"),
                agent_id: agent,
                created_ms: base + i as u64,
                updated_ms: base + spread,
                label: (i % 10 == 0).then(|| format!("label {}", i % 1000)),
                provider: None,
                model: None,
                input_tokens: 0,
                output_tokens: 0,
                message_count: (i % 50) as u64,
                last_preview: None,
                last_run: None,
            }
        })
        .collect()
}

fn store_dir() -> PathBuf {
    std::env::temp_dir().join(format!("openclaw-bench-sessions-{}", std::process::id()))
}

fn sessions(c: &mut Criterion) {
    let bench_mode = std::env::args().any(|a| a == "--bench");
    let n = if bench_mode {
        SESSIONS
    } else {
        SESSIONS_TEST_MODE
    };
    let dir = store_dir();
    let _ = std::fs::remove_dir_all(&dir);
    let store = SessionStore::open(&dir.join("sessions.sqlite")).expect("open store");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(store.bulk_insert(rows(n)))
        .expect("bulk insert");
    let total = store.count();
    assert_eq!(total, n as u64, "sessions inserted");
    let conn = rusqlite::Connection::open(store.path()).expect("read connection");

    let page = |q: ListQuery| ListQuery { limit: PAGE, ..q };
    let cases = [
        ("unfiltered", page(ListQuery::default())),
        (
            "offset_half",
            page(ListQuery {
                offset: n as u64 / 2,
                ..ListQuery::default()
            }),
        ),
        (
            "search",
            page(ListQuery {
                search: Some("bench-00012".into()),
                ..ListQuery::default()
            }),
        ),
        (
            "agent_id",
            page(ListQuery {
                agent_id: Some("agent3".into()),
                ..ListQuery::default()
            }),
        ),
    ];
    let mut g = c.benchmark_group(format!("sessions_list_{}k", n / 1000));
    for (name, q) in &cases {
        let (rows, matched) = list_sessions(&conn, q, total).expect("list");
        assert!(!rows.is_empty() && matched > 0, "{name}: empty page");
        g.bench_with_input(BenchmarkId::from_parameter(name), q, |b, q| {
            b.iter(|| black_box(list_sessions(&conn, black_box(q), total).expect("list")))
        });
    }
    g.finish();
    drop(conn);
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, sessions);
criterion_main!(benches);

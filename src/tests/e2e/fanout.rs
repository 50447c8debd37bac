//! Fan-out (architecture.md §5-6): a client that never reads must not slow the others —
//! droppable events are dropped for it (seq still advances), a non-droppable one past the
//! budget closes it as a slow consumer — and one broadcast reaches 200 sockets.

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::{json, Value};

use crate::util::*;

/// Outbound budget for these tests (`gateway.limits.maxBufferedBytes`).
const BUDGET: u64 = 1024 * 1024;
/// Bulk events published, and their padding.
const EVENTS: usize = 3000;
const PAD: usize = 16 * 1024;
/// Events published before the normal client reads them back: well under the budget, so the
/// normal client can never be the slow one.
const WINDOW: usize = 16;

/// A config whose periodic tick never fires during a test.
const QUIET: &str = r#"{ gateway: { mode: "local", auth: { mode: "token" }, limits: { tickIntervalMs: 3600000 } } }"#;

/// Guard against a hang turning into a stuck suite (not a latency assertion).
const GUARD: Duration = Duration::from_secs(120);

/// Reads events, checking that `seq` never skips, until one named `name` arrives.
struct SeqReader {
    next: u64,
}

impl SeqReader {
    async fn until(&mut self, c: &mut Client, name: &str) -> Value {
        loop {
            let v = Client::next_event(c).await;
            assert_eq!(
                v["seq"], self.next,
                "consecutive seq on the normal client: {}",
                v["event"]
            );
            self.next += 1;
            if v["event"] == name {
                return v;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_consumer_is_dropped_then_closed_without_slowing_others() {
    let cfg = format!(
        r#"{{ gateway: {{ mode: "local", auth: {{ mode: "token" }}, limits: {{ maxBufferedBytes: {BUDGET} }} }} }}"#
    );
    let g = start_with(Setup::config(&cfg)).await;

    // The slow client is a webchat client, so its eventual teardown is announced as presence.
    let mut slow = Client::open(g.addr).await;
    let mut p = connect_params("webchat", "webchat", ALL_SCOPES, Some(TOKEN));
    p["client"]["instanceId"] = json!("slow-consumer");
    let hello = slow.call("connect", p).await;
    assert_eq!(hello["ok"], true, "{hello}");
    assert_eq!(hello["payload"]["policy"]["maxBufferedBytes"], BUDGET);
    // From here on `slow` is never read again.

    let (mut fast, _) = operator(g.addr, ALL_SCOPES).await;
    let subs = g.gw.hub.all();
    assert_eq!(subs.len(), 2);
    let outs: Vec<_> = subs.iter().map(|s| s.out.clone()).collect();
    let (slow_out, fast_out) = (outs[0].clone(), outs[1].clone());
    drop(subs);
    let mut seq = SeqReader { next: 1 };
    seq.until(&mut fast, "health").await;

    let dropped_before = g.gw.hub.stats.dropped.load(Ordering::Relaxed);
    let pad = "x".repeat(PAD);
    let bulk = async {
        for start in (0..EVENTS).step_by(WINDOW) {
            let end = (start + WINDOW).min(EVENTS);
            for i in start..end {
                // Droppable: publishing never waits on any client.
                g.gw.hub
                    .publish("sessions.changed", &json!({ "i": i, "pad": pad }), None);
            }
            for i in start..end {
                let ev = seq.until(&mut fast, "sessions.changed").await;
                assert_eq!(ev["payload"]["i"], i, "in order, none missing");
            }
        }
    };
    tokio::time::timeout(GUARD, bulk)
        .await
        .expect("bulk fan-out finished");

    assert_eq!(fast_out.dropped(), 0, "the normal client lost nothing");
    assert!(
        slow_out.dropped() > 0,
        "the slow client's queue overflowed and dropped events"
    );
    assert!(g.gw.hub.stats.dropped.load(Ordering::Relaxed) - dropped_before >= slow_out.dropped());
    assert!(
        !slow_out.is_closed(),
        "dropping droppable events does not close the socket"
    );
    assert!(
        slow_out.queued_bytes() as u64 <= BUDGET + 2 * PAD as u64,
        "queue stays near the budget"
    );

    // Non-droppable events past the budget close the slow socket (1008 slow consumer).
    let mut pushes = 0;
    let close = async {
        while !slow_out.is_closed() {
            pushes += 1;
            assert!(
                pushes <= 64,
                "slow socket not closed after {pushes} non-droppable events"
            );
            // Not droppable (the hub's drop policy): must be delivered or the socket closed.
            g.gw.hub.publish(
                "config.changed",
                &json!({ "i": EVENTS + pushes, "pad": pad }),
                None,
            );
            let ev = seq.until(&mut fast, "config.changed").await;
            assert_eq!(ev["payload"]["i"], EVENTS + pushes);
        }
    };
    tokio::time::timeout(GUARD, close)
        .await
        .expect("slow socket closed");
    assert!(slow_out.was_slow(), "closed as a slow consumer");
    assert_eq!(
        g.gw.hub.publish("config.changed", &json!({ "i": 0 }), None),
        1,
        "a closed socket takes no more events"
    );
    seq.until(&mut fast, "config.changed").await;
    assert!(!fast_out.is_closed());
    assert_eq!(
        fast.ok("health", json!({})).await["ok"],
        true,
        "the normal client is unaffected"
    );
    g.stop().await;
    drop(slow);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_consumer_is_released_from_the_hub() {
    let cfg = format!(
        r#"{{ gateway: {{ mode: "local", auth: {{ mode: "token" }}, limits: {{ maxBufferedBytes: {BUDGET} }} }} }}"#
    );
    let g = start_with(Setup::config(&cfg)).await;
    let mut slow = Client::open(g.addr).await;
    let mut p = connect_params("webchat", "webchat", ALL_SCOPES, Some(TOKEN));
    p["client"]["instanceId"] = json!("slow-consumer");
    assert_eq!(slow.call("connect", p).await["ok"], true);
    let (mut fast, _) = operator(g.addr, ALL_SCOPES).await;
    let slow_out = g.gw.hub.all().iter().next().unwrap().out.clone();
    Client::next_event(&mut fast).await;

    // Fill the slow socket's kernel buffers and queue, then push one frame it cannot take.
    let pad = "y".repeat(PAD);
    let mut i = 0;
    while !slow_out.is_closed() {
        i += 1;
        assert!(i < 10_000, "never closed");
        // Droppable until the first drop, then one the slow socket must take or be closed.
        let name = if slow_out.dropped() == 0 {
            "sessions.changed"
        } else {
            "config.changed"
        };
        g.gw.hub.publish(name, &json!({ "i": i, "pad": pad }), None);
        fast.event(name).await;
    }
    // Teardown is announced: the webchat entry turns to reason "disconnect".
    let gone = async {
        loop {
            let ev = fast.event("presence").await;
            let list = ev["payload"]["presence"].as_array().unwrap().clone();
            if list
                .iter()
                .any(|e| e["instanceId"] == "slow-consumer" && e["reason"] == "disconnect")
            {
                return;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), gone)
        .await
        .expect("slow socket torn down");
    assert_eq!(g.gw.hub.len(), 1, "only the normal client is left");
    g.stop().await;
    drop(slow);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_system_event_reaches_200_sockets() {
    // No periodic tick during the test, so every socket's seq is exact.
    let g = start_with(Setup::config(QUIET)).await;
    let mut clients = Vec::with_capacity(200);
    for _ in 0..200 {
        let (c, _) = operator(g.addr, &["operator.read"]).await;
        clients.push(c);
    }
    let (mut admin, _) = operator(g.addr, &["operator.admin"]).await;
    assert_eq!(g.gw.hub.len(), 201);
    let text = format!("fan-out {}", uuid::Uuid::new_v4());
    assert_eq!(
        admin.ok("system-event", json!({ "text": text })).await,
        json!({ "ok": true })
    );
    let published = g.gw.hub.stats.published.load(Ordering::Relaxed);
    let want = admin.event("presence").await["stateVersion"]["presence"].clone();
    for (n, c) in clients.iter_mut().enumerate() {
        let ev = c.event("presence").await;
        let list = ev["payload"]["presence"].as_array().unwrap();
        assert!(
            list.iter().any(|e| e["text"] == text.as_str()),
            "socket {n}: {ev}"
        );
        assert_eq!(
            ev["stateVersion"]["presence"], want,
            "socket {n} got the same broadcast"
        );
        assert_eq!(
            ev["seq"], 2,
            "socket {n}: after the connect-time health event"
        );
    }
    assert!(g.gw.hub.stats.published.load(Ordering::Relaxed) >= published);
    g.stop().await;
}

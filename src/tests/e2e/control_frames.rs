//! Control frames under a per-socket budget (`gateway.limits.maxControlFramesPerSec`): pings
//! within it are answered at once; past it the socket is not read until its second is over
//! (then everything queued behind is handled, nothing lost); a socket over the budget for
//! `maxControlFloodSecs` seconds in a row is closed 1008; and 0 turns it off.

use crate::util::*;
use serde_json::json;
use std::time::Duration;

fn cfg(per_sec: u64) -> String {
    format!(
        r#"{{ gateway: {{ mode: "local", auth: {{ mode: "token" }},
             limits: {{ maxControlFramesPerSec: {per_sec}, maxControlFloodSecs: 3 }} }} }}"#
    )
}

/// Paused clock: the budget's one-second windows pass as the runtime idles, and a read held
/// back until a window's end shows as virtual time gone by.
#[tokio::test(start_paused = true)]
async fn a_ping_flood_is_slowed_then_closed_after_three_seconds_over_the_budget() {
    let g = start_with(Setup::config(&cfg(20)).paused_clock()).await;
    let (mut c, _) = operator(g.addr, ALL_SCOPES).await;
    let t0 = tokio::time::Instant::now();
    for i in 0..10u8 {
        c.send_ping(&[i]).await;
        assert_eq!(
            c.pong().await,
            vec![i],
            "pings within the budget are answered"
        );
    }
    assert!(
        t0.elapsed() < Duration::from_millis(100),
        "answered without a pause"
    );
    // 30 more in one write: 10 fit this second's budget of 20, the 21st waits for the next
    // second, and so does the request behind it — answered then, the socket still open.
    c.send_pings_at_once(30).await;
    c.ok("health", json!({})).await;
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_secs(1),
        "the request behind the over-budget ping was read after {waited:?}"
    );
    // Second 2 runs over (10 used + 50) and second 3 too: closed 1008 in the third.
    // (Sent in one write, so nothing is left unread when it closes: unread bytes would turn
    // the close into a reset and lose the close frame.)
    c.send_pings_at_once(50).await;
    match c.closed().await {
        Closed::Frame(code, reason) => {
            assert_eq!((code, reason.as_str()), (1008, "too many control frames"))
        }
        other => panic!("expected a 1008 close, got {other:?}"),
    }
    let waited = t0.elapsed();
    assert!(waited >= Duration::from_secs(2), "closed after {waited:?}");
    assert!(waited < Duration::from_secs(4), "closed after {waited:?}");
    // Other sockets are not affected.
    let (mut d, _) = operator(g.addr, ALL_SCOPES).await;
    d.ok("health", json!({})).await;
    g.stop().await;
}

/// A burst over the budget in one second, then quiet: slowed, never closed.
#[tokio::test(start_paused = true)]
async fn a_burst_then_quiet_is_not_a_flood() {
    let g = start_with(Setup::config(&cfg(20)).paused_clock()).await;
    let (mut c, _) = operator(g.addr, ALL_SCOPES).await;
    for _ in 0..3 {
        c.send_pings_at_once(30).await;
        c.ok("health", json!({})).await;
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    c.ok("health", json!({})).await;
    g.stop().await;
}

#[tokio::test]
async fn a_zero_budget_means_no_limit() {
    let g = start_with(Setup::config(&cfg(0))).await;
    let (mut c, _) = operator(g.addr, ALL_SCOPES).await;
    for i in 0..500u32 {
        c.send_ping(&i.to_be_bytes()).await;
    }
    c.ok("health", json!({})).await;
    g.stop().await;
}

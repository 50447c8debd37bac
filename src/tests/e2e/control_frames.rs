//! Control frames under a per-socket budget (`gateway.limits.maxControlFramesPerSec`): pings
//! within it are answered, a flood past it closes the socket 1008 (and is not read any further),
//! and 0 turns it off.

use crate::util::*;
use serde_json::json;

fn cfg(per_sec: u64) -> String {
    format!(
        r#"{{ gateway: {{ mode: "local", auth: {{ mode: "token" }},
             limits: {{ maxControlFramesPerSec: {per_sec} }} }} }}"#
    )
}

#[tokio::test]
async fn a_ping_flood_past_the_budget_closes_the_socket() {
    let g = start_with(Setup::config(&cfg(20))).await;
    let (mut c, _) = operator(g.addr, ALL_SCOPES).await;
    for i in 0..10u8 {
        c.send_ping(&[i]).await;
        assert_eq!(
            c.pong().await,
            vec![i],
            "pings within the budget are answered"
        );
    }
    // 30 more in one write: over the budget of this one-second window (10 used) at once.
    // The gateway reads them together, so none is left unread in its socket when it closes
    // (unread bytes would make that close a reset and lose the close frame).
    c.send_pings_at_once(30).await;
    match c.closed().await {
        Closed::Frame(code, reason) => {
            assert_eq!((code, reason.as_str()), (1008, "too many control frames"))
        }
        other => panic!("expected a 1008 close, got {other:?}"),
    }
    // Other sockets are not affected.
    let (mut d, _) = operator(g.addr, ALL_SCOPES).await;
    d.ok("health", json!({})).await;
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

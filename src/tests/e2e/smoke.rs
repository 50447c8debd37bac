//! Smoke: challenge → connect → hello-ok → health, with every frame schema-checked.

use crate::util::*;
use serde_json::json;

#[tokio::test]
async fn connect_hello_ok_and_health() {
    let g = start().await;
    let (mut c, hello) = operator(g.addr, ALL_SCOPES).await;
    assert_eq!(hello["type"], "hello-ok");
    assert_eq!(hello["protocol"], 4);
    assert_eq!(hello["auth"]["method"], "token");
    assert_eq!(hello["auth"]["scopes"].as_array().unwrap().len(), 8);
    assert_eq!(hello["policy"]["maxPayload"], 26214400);
    assert_eq!(hello["policy"]["tickIntervalMs"], 30000);
    assert_eq!(hello["policy"]["attachments"]["maxBytes"], 20 * 1024 * 1024);
    assert_eq!(
        hello["policy"]["attachments"]["maxImageBytes"],
        6 * 1024 * 1024
    );
    let h = c.ok("health", json!({})).await;
    assert_eq!(h["ok"], true);
    assert!(CHECKED.load(std::sync::atomic::Ordering::Relaxed) >= 3);
    g.stop().await;
}

/// The per-frame schema check must be able to fail: a hello-ok without `server`.
#[test]
#[should_panic(expected = "does not validate against HelloOk")]
fn schema_check_rejects_an_invalid_hello() {
    let bad = json!({ "type": "res", "id": "1", "ok": true, "payload": {
        "type": "hello-ok", "protocol": 4,
        "features": { "methods": [], "events": [] },
        "snapshot": { "presence": [], "health": {}, "stateVersion": { "presence": 1, "health": 1 }, "uptimeMs": 1 },
        "auth": { "role": "operator", "scopes": [] },
        "policy": { "maxPayload": 1, "maxBufferedBytes": 1, "tickIntervalMs": 1 }
    }});
    check_frame(&bad, Some("connect"));
}

/// …and an event frame with an unknown top-level key.
#[test]
#[should_panic(expected = "does not validate against __Frame")]
fn schema_check_rejects_an_invalid_event_frame() {
    check_frame(
        &json!({ "type": "event", "event": "tick", "payload": { "ts": 1 }, "extra": 1 }),
        None,
    );
}

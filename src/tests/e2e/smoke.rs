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

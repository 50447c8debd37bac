//! The two reload modes reload.rs does not cover, on the real binary: `restart` (even a
//! hot-able edit restarts in-process: `shutdown`, close 1012, back on the same port with the
//! new config) and `off` (no watcher: edits are ignored until something restarts the gateway).

use openclaw::reload::{RELOAD_POLL, RELOAD_SETTLE};
use serde_json::json;

use crate::lifecycle::Proc;
use crate::reload::{config, write};
use crate::util::*;

/// A hot-able edit: one model in the catalogue.
const MODELS: &str = r#", models: { providers: { local: { baseUrl: "http://127.0.0.1:9", apiKey: "k", api: "openai-completions", models: [{ id: "m1" }] } } }"#;

fn with_mode(dir: &std::path::Path, mode: &str, extra: &str) -> String {
    config(dir, TOKEN, extra).replacen(
        "gateway: {",
        &format!(r#"gateway: {{ reload: {{ mode: "{mode}" }},"#),
        1,
    )
}

#[tokio::test]
async fn restart_mode_restarts_even_for_hot_edits() {
    let dir = temp_dir("reload-mode-restart");
    let (mut p, addr) = Proc::start(&dir, &with_mode(&dir, "restart", "")).await;
    let (mut c, _) = operator(addr, &["operator.read"]).await;
    assert_eq!(c.ok("models.list", json!({})).await["models"], json!([]));

    write(&dir, &with_mode(&dir, "restart", MODELS));
    let ev = c.event("shutdown").await;
    assert_eq!(ev["payload"]["reason"], "gateway restarting");
    match c.closed().await {
        Closed::Frame(code, _) => assert_eq!(code, 1012),
        other => panic!("expected close 1012, got {other:?}"),
    }
    p.line_with("config change needs a restart (models)").await;
    assert_eq!(p.listening().await, addr, "same port after the restart");
    let (mut n, _) = operator(addr, &["operator.read"]).await;
    assert_eq!(
        n.ok("models.list", json!({})).await["models"][0]["id"],
        "m1",
        "the edited config is in force after the restart"
    );
    p.signal(libc::SIGTERM);
    assert_eq!(p.finish().await.0, 0);
}

#[tokio::test]
async fn off_mode_ignores_edits() {
    let dir = temp_dir("reload-mode-off");
    let (mut p, addr) = Proc::start(&dir, &with_mode(&dir, "off", "")).await;
    let (mut c, _) = operator(addr, &["operator.read"]).await;
    let hash = c.ok("config.get", json!({})).await["hash"].clone();
    assert!(hash.as_str().is_some_and(|h| h.starts_with("sha256:")));

    write(&dir, &with_mode(&dir, "off", MODELS));
    // Proving an absence needs a window: a watcher (hybrid/hot) reacts within one poll plus
    // the settle time; give it three times that before concluding nothing happened.
    let window = (RELOAD_POLL + RELOAD_SETTLE) * 3;
    let got = tokio::time::timeout(window, c.event("config.changed")).await;
    assert!(got.is_err(), "config.changed in mode off: {got:?}");
    assert_eq!(c.ok("config.get", json!({})).await["hash"], hash);
    assert_eq!(c.ok("models.list", json!({})).await["models"], json!([]));

    // The edit was valid and different: an explicit restart picks it up.
    p.signal(libc::SIGUSR1);
    let _ = c.event("shutdown").await;
    assert_eq!(p.listening().await, addr);
    let (mut n, _) = operator(addr, &["operator.read"]).await;
    assert_ne!(n.ok("config.get", json!({})).await["hash"], hash);
    assert_eq!(
        n.ok("models.list", json!({})).await["models"][0]["id"],
        "m1"
    );
    p.signal(libc::SIGTERM);
    let (code, log) = p.finish().await;
    assert_eq!(code, 0, "{log}");
    assert!(!log.contains("config reloaded"), "mode off reloaded: {log}");
}

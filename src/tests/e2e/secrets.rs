//! `secrets.reload` and `openclaw secrets reload`: a file SecretRef token is re-read without a
//! restart (also with `gateway.reload.mode=off`), an invalid config or an unresolvable ref is
//! refused and the old token keeps working, and the method needs operator.admin.

use std::net::SocketAddr;
use std::path::Path;

use serde_json::json;

use crate::doctor::{run_bin, Out};
use crate::lifecycle::Proc;
use crate::util::*;

/// Gateway config: token from `<dir>/token.txt`, reload mode `off`.
fn file_ref_config(dir: &Path) -> String {
    format!(
        r#"{{ gateway: {{ mode: "local", reload: {{ mode: "off" }}, auth: {{ mode: "token", token: {{ source: "file", path: "{}" }} }} }}, logging: {{ file: "{}" }} }}"#,
        dir.join("token.txt").display(),
        dir.join("openclaw.log").display()
    )
}

/// `openclaw secrets reload --url … --token … [extra]` from an empty, isolated HOME.
async fn reload_cli(dir: &Path, addr: SocketAddr, token: &str, extra: &[&str]) -> Out {
    let home = dir.join("cli");
    std::fs::create_dir_all(&home).unwrap();
    let url = format!("ws://{addr}");
    let mut args = vec!["secrets", "reload", "--url", &url, "--token", token];
    args.extend_from_slice(extra);
    let envs = [
        ("HOME", home.display().to_string()),
        (
            "OPENCLAW_STATE_DIR",
            home.join("state").display().to_string(),
        ),
        (
            "OPENCLAW_CONFIG_PATH",
            home.join("openclaw.json").display().to_string(),
        ),
    ];
    run_bin(&envs, &args).await
}

/// `connect` with `token`: the response frame.
async fn connect_with(addr: SocketAddr, token: &str) -> serde_json::Value {
    let mut c = Client::open(addr).await;
    c.call(
        "connect",
        connect_params("gateway-client", "backend", &["operator.read"], Some(token)),
    )
    .await
}

async fn assert_accepts(addr: SocketAddr, token: &str) {
    let r = connect_with(addr, token).await;
    assert_eq!(r["ok"], true, "{token} should authenticate: {r}");
}

async fn assert_rejects(addr: SocketAddr, token: &str) {
    let r = connect_with(addr, token).await;
    assert_eq!(r["ok"], false, "{token} should be refused: {r}");
    assert_eq!(r["error"]["details"]["code"], "AUTH_TOKEN_MISMATCH", "{r}");
}

#[tokio::test]
async fn file_ref_token_rotates_on_secrets_reload_with_reload_off() {
    let dir = temp_dir("secrets-rotate");
    std::fs::write(dir.join("token.txt"), "token-one-0123456789\n").unwrap();
    let (p, addr) = Proc::start(&dir, &file_ref_config(&dir)).await;
    assert_accepts(addr, "token-one-0123456789").await;

    std::fs::write(dir.join("token.txt"), "token-two-0123456789\n").unwrap();
    // Nothing watches the secret file: the old token is still the one in force.
    assert_accepts(addr, "token-one-0123456789").await;
    let o = reload_cli(&dir, addr, "token-one-0123456789", &[]).await;
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(o.stdout.trim(), "Secrets reloaded.");
    assert_accepts(addr, "token-two-0123456789").await;
    assert_rejects(addr, "token-one-0123456789").await;

    let o = reload_cli(&dir, addr, "token-two-0123456789", &["--json"]).await;
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(o.json(), json!({ "ok": true, "warningCount": 0 }));
    p.signal(libc::SIGTERM);
    assert_eq!(p.finish().await.0, 0);
}

#[tokio::test]
async fn invalid_config_or_unresolvable_ref_keeps_the_old_snapshot() {
    let dir = temp_dir("secrets-invalid");
    let token = "token-one-0123456789";
    std::fs::write(dir.join("token.txt"), token).unwrap();
    let good = file_ref_config(&dir);
    let (p, addr) = Proc::start(&dir, &good).await;

    std::fs::write(dir.join("openclaw.json"), "{ gateway: { mode: ").unwrap();
    std::fs::write(dir.join("token.txt"), "token-two-0123456789").unwrap();
    let o = reload_cli(&dir, addr, token, &[]).await;
    assert_ne!(o.code, 0, "{o:?}");
    assert!(o.stderr.contains("INVALID_REQUEST"), "{o:?}");
    assert!(o.stderr.contains("Invalid config at"), "the reason: {o:?}");
    assert_accepts(addr, token).await;
    assert_rejects(addr, "token-two-0123456789").await;

    // Valid config, but the SecretRef cannot be resolved.
    std::fs::write(dir.join("openclaw.json"), &good).unwrap();
    std::fs::remove_file(dir.join("token.txt")).unwrap();
    let o = reload_cli(&dir, addr, token, &["--json"]).await;
    assert_ne!(o.code, 0, "{o:?}");
    assert_eq!(o.json()["ok"], false, "{o:?}");
    assert!(o.stderr.contains("gateway.auth.token"), "{o:?}");
    assert_accepts(addr, token).await;
    p.signal(libc::SIGTERM);
    assert_eq!(p.finish().await.0, 0);
}

#[tokio::test]
async fn secrets_reload_needs_operator_admin() {
    let gw = start().await;
    let (mut c, _) = operator(gw.addr, &["operator.read", "operator.write"]).await;
    let r = c.call("secrets.reload", json!({})).await;
    assert_eq!(r["ok"], false, "{r}");
    assert_eq!(r["error"]["code"], "FORBIDDEN", "{r}");
    assert_eq!(r["error"]["details"]["code"], "MISSING_SCOPE", "{r}");

    let (mut a, _) = operator(gw.addr, &["operator.admin"]).await;
    // Unknown keys are ignored, as on the Node gateway (observed).
    let r = a.ok("secrets.reload", json!({ "bogus": 1 })).await;
    assert_eq!(r, json!({ "ok": true, "warningCount": 0 }));
    let v = a.ok("secrets.reload", json!({})).await;
    assert_eq!(v, json!({ "ok": true, "warningCount": 0 }));
    // The in-process gateway keeps serving with the re-read snapshot.
    assert_eq!(a.ok("health", json!({})).await["ok"], true);
    gw.stop().await;
}

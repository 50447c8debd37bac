//! Config hot reload and in-process restart of the real binary: hot keys swap live and
//! broadcast `config.changed`; an invalid edit is skipped and the old config keeps serving;
//! a `gateway.*` change restarts in-process on the same port (`shutdown` first, close 1012);
//! SIGUSR1 does the same.

use serde_json::json;

use crate::lifecycle::Proc;
use crate::util::*;

pub(crate) fn config(dir: &std::path::Path, token: &str, extra: &str) -> String {
    format!(
        r#"{{ gateway: {{ mode: "local", auth: {{ mode: "token", token: "{token}" }} }}, logging: {{ file: "{}" }}{extra} }}"#,
        dir.join("openclaw.log").display()
    )
}

pub(crate) fn write(dir: &std::path::Path, body: &str) {
    // Atomic replace, as editors and `config.apply` do.
    let tmp = dir.join("openclaw.json.tmp");
    std::fs::write(&tmp, body).unwrap();
    std::fs::rename(&tmp, dir.join("openclaw.json")).unwrap();
}

#[tokio::test]
async fn hot_keys_swap_live_and_invalid_edits_are_skipped() {
    let dir = temp_dir("reload-hot");
    let (mut p, addr) = Proc::start(&dir, &config(&dir, TOKEN, "")).await;
    let (mut c, _) = operator(addr, &["operator.read"]).await;
    assert_eq!(c.ok("models.list", json!({})).await["models"], json!([]));

    let models = r#", models: { providers: { local: { baseUrl: "http://127.0.0.1:9", apiKey: "k", api: "openai-completions", models: [{ id: "m1" }] } } }"#;
    write(&dir, &config(&dir, TOKEN, models));
    let ev = c.event("config.changed").await;
    assert_eq!(
        ev["payload"]["path"],
        dir.join("openclaw.json").display().to_string()
    );
    assert!(ev["payload"]["hash"]
        .as_str()
        .is_some_and(|h| !h.is_empty()));
    assert_eq!(
        c.ok("models.list", json!({})).await["models"][0]["id"],
        "m1"
    );

    write(&dir, "{ gateway: { mode: ");
    p.line_with("config reload skipped (invalid config)").await;
    // Still the same process, same socket, old (valid) config in force.
    assert_eq!(
        c.ok("models.list", json!({})).await["models"][0]["id"],
        "m1"
    );
    p.signal(libc::SIGTERM);
    assert_eq!(p.finish().await.0, 0);
}

#[tokio::test]
async fn gateway_changes_restart_in_process_on_the_same_port() {
    let dir = temp_dir("reload-restart");
    let (mut p, addr) = Proc::start(&dir, &config(&dir, TOKEN, "")).await;
    let (mut c, _) = operator(addr, &["operator.read"]).await;

    write(&dir, &config(&dir, "rotated-token-42", ""));
    let ev = c.event("shutdown").await;
    assert_eq!(ev["payload"]["reason"], "gateway restarting");
    assert!(ev["payload"]["restartExpectedMs"].is_u64());
    match c.closed().await {
        Closed::Frame(code, _) => assert_eq!(code, 1012),
        other => panic!("{other:?}"),
    }
    let again = p.listening().await;
    assert_eq!(again, addr, "same port after an in-process restart");
    // The new token is in force, the old one is not.
    let mut n = Client::open(addr).await;
    let r = n
        .call(
            "connect",
            connect_params(
                "gateway-client",
                "backend",
                &["operator.read"],
                Some("rotated-token-42"),
            ),
        )
        .await;
    assert_eq!(r["ok"], true, "{r}");
    let mut o = Client::open(addr).await;
    let r = o
        .call(
            "connect",
            connect_params("gateway-client", "backend", &["operator.read"], Some(TOKEN)),
        )
        .await;
    assert_eq!(r["error"]["details"]["code"], "AUTH_TOKEN_MISMATCH");

    // SIGUSR1: the same in-process restart.
    p.signal(libc::SIGUSR1);
    let ev = n.event("shutdown").await;
    assert_eq!(ev["payload"]["reason"], "gateway restarting");
    assert_eq!(p.listening().await, addr);
    p.signal(libc::SIGTERM);
    assert_eq!(p.finish().await.0, 0);
}

#[tokio::test]
async fn hot_mode_does_not_apply_restart_changes() {
    let dir = temp_dir("reload-hotmode");
    let extra = "";
    let hot = |token: &str| {
        config(&dir, token, extra).replacen(
            "gateway: {",
            r#"gateway: { reload: { mode: "hot" },"#,
            1,
        )
    };
    let (mut p, addr) = Proc::start(&dir, &hot(TOKEN)).await;
    write(&dir, &hot("other-token"));
    p.line_with("not applied (gateway.reload.mode=hot)").await;
    let (mut c, _) = operator(addr, &["operator.read"]).await;
    assert_eq!(
        c.ok("health", json!({})).await["ok"],
        true,
        "old token still in force"
    );
    p.signal(libc::SIGTERM);
    assert_eq!(p.finish().await.0, 0);
}

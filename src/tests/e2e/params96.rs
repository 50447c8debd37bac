//! What the 2026.9.6 params we accept actually do: `status {includeCliProjection}`,
//! `sessions.list` filters on features we lack and `activeOnly`, `models.list {provider,
//! sessionKey}`, `chat.history {maxBytes}`, `sessions.reset {expectedSessionId}`, and the
//! 9.6 `sessions.subscribe` result; and which methods refuse unknown params (as observed).

use serde_json::{json, Value};

use crate::agents::{setup, wait_chat_state};
use crate::rpc::assert_invalid;
use crate::upstream::UpstreamOpts;
use crate::util::*;

async fn turn(c: &mut Client, key: &str, msg: &str, run: &str) {
    c.ok(
        "chat.send",
        json!({ "sessionKey": key, "message": msg, "idempotencyKey": run }),
    )
    .await;
    wait_chat_state(c, run, &["final"]).await;
}

#[tokio::test]
async fn status_cli_projection_and_subscribe_result() {
    let (_up, g) = setup(UpstreamOpts::default()).await;
    let (mut c, _) = operator(g.addr, ALL_SCOPES).await;
    let st = c
        .ok("status", json!({ "includeCliProjection": true }))
        .await;
    assert_eq!(
        st["cliProjection"],
        json!({
            "agents": { "defaultId": "main", "ownership": "sole", "selectionRequired": false, "rows": [{ "id": "main" }] },
            "updateChannel": null,
            "memoryPlugin": { "enabled": false, "slot": null, "reason": "plugins disabled" },
        })
    );
    let st = c
        .ok("status", json!({ "includeChannelSummary": false }))
        .await;
    assert!(st.get("cliProjection").is_none());
    let r = c.ok("sessions.subscribe", json!({})).await;
    assert_eq!(r, json!({ "subscribed": true }));
    g.stop().await;
}

#[tokio::test]
async fn sessions_list_filters_of_absent_features_and_active_only() {
    let (up, g) = setup(UpstreamOpts::default()).await;
    let (mut c, _) = operator(g.addr, ALL_SCOPES).await;
    turn(&mut c, "done", "hello", "d-1").await;
    c.ok(
        "chat.send",
        json!({ "sessionKey": "busy", "message": "HANG", "idempotencyKey": "b-1" }),
    )
    .await;
    up.state.wait_held(1).await;
    let count = |v: &serde_json::Value| v["totalCount"].as_u64().unwrap();
    assert_eq!(count(&c.ok("sessions.list", json!({})).await), 2);
    for f in [
        json!({ "hasBoard": true }),
        json!({ "pinned": true }),
        json!({ "projectId": "p1" }),
        json!({ "group": "g" }),
        json!({ "workspaceDir": "/tmp" }),
    ] {
        let l = c.ok("sessions.list", f.clone()).await;
        assert_eq!(count(&l), 0, "{f}: {l}");
        assert_eq!(l["sessions"], json!([]));
    }
    for f in [
        json!({ "hasBoard": false }),
        json!({ "excludeSubagents": true, "excludeCron": true, "excludeSystem": true }),
    ] {
        assert_eq!(count(&c.ok("sessions.list", f.clone()).await), 2, "{f}");
    }
    let l = c.ok("sessions.list", json!({ "activeOnly": true })).await;
    assert_eq!(count(&l), 1, "{l}");
    assert_eq!(l["sessions"][0]["key"], "agent:main:busy");
    c.ok("chat.abort", json!({ "sessionKey": "busy" })).await;
    wait_chat_state(&mut c, "b-1", &["aborted"]).await;
    let l = c.ok("sessions.list", json!({ "activeOnly": true })).await;
    assert_eq!(count(&l), 0, "{l}");
    g.stop().await;
}

#[tokio::test]
async fn models_history_and_reset_params() {
    let (_up, g) = setup(UpstreamOpts::default()).await;
    let (mut c, _) = operator(g.addr, ALL_SCOPES).await;
    let m = c
        .ok(
            "models.list",
            json!({ "sessionKey": "agent:main:main", "provider": "fake" }),
        )
        .await;
    assert_eq!(m["models"][0]["id"], "echo-1");
    // As the Node gateway lists a configured model: the default tagged, callable, and (no
    // thinking level reaches a provider here) thinking off.
    let e = &m["models"][0];
    assert_eq!(
        (&e["tags"], &e["available"]),
        (&json!(["default"]), &json!(true))
    );
    assert_eq!(
        (&e["reasoning"], &e["thinkingDefault"]),
        (&json!(false), &json!("off"))
    );
    let m = c.ok("models.list", json!({ "provider": "other" })).await;
    assert_eq!(m["models"], json!([]));

    let long = "word ".repeat(300);
    for i in 0..3 {
        turn(&mut c, "h", &format!("{i} {long}"), &format!("h-{i}")).await;
    }
    let all = c.ok("chat.history", json!({ "sessionKey": "h" })).await;
    assert_eq!(all["messages"].as_array().unwrap().len(), 6);
    let cut = c
        .ok(
            "chat.history",
            json!({ "sessionKey": "h", "maxBytes": 4000 }),
        )
        .await;
    let n = cut["messages"].as_array().unwrap().len();
    assert!(
        (1..6).contains(&n),
        "a byte budget keeps the newest few: {n}"
    );
    assert!(
        cut.to_string().len() < 4000 + 1500,
        "{}",
        cut.to_string().len()
    );
    assert_eq!(cut["hasMore"], true);
    assert_eq!(cut["nextOffset"], n);
    assert_eq!(
        cut["messages"].as_array().unwrap().last(),
        all["messages"].as_array().unwrap().last()
    );

    let sid = all["sessionId"].as_str().unwrap().to_string();
    let r = c
        .call(
            "sessions.reset",
            json!({ "key": "h", "expectedSessionId": "not-the-id" }),
        )
        .await;
    assert_eq!(r["error"]["code"], "INVALID_REQUEST", "{r}");
    assert_eq!(r["error"]["details"]["reason"], "session-id-mismatch");
    let r = c
        .ok(
            "sessions.reset",
            json!({ "key": "h", "expectedSessionId": sid }),
        )
        .await;
    assert_eq!(r["reset"], true);
    g.stop().await;
}

#[tokio::test]
async fn unknown_params_are_rejected() {
    let g = start().await;
    let (mut c, _) = operator(g.addr, ALL_SCOPES).await;
    // As observed on the Node gateway: schema-checked methods refuse unknown keys in the
    // ajv wording, hand-checked ones ignore them.
    let refused: &[(&str, Value, &str)] = &[
        (
            "config.get",
            json!({ "bogus": 1 }),
            "at root: unexpected property 'bogus'",
        ),
        (
            "models.list",
            json!({ "bogus": 1 }),
            "at root: unexpected property 'bogus'",
        ),
        (
            "logs.tail",
            json!({ "bogus": 1 }),
            "at root: unexpected property 'bogus'",
        ),
        (
            "system-event",
            json!({ "text": "t", "bogus": 1 }),
            "at root: unexpected property 'bogus'",
        ),
        ("system-event", json!({ "text": "t", "mode": "later" }), ""),
        ("set-heartbeats", json!({}), "enabled (boolean) required"),
        (
            "set-heartbeats",
            json!({ "enabled": "yes" }),
            "enabled (boolean) required",
        ),
        (
            "models.list",
            json!({ "preparedOnly": true, "refresh": true }),
            "",
        ),
    ];
    for (m, p, detail) in refused {
        let r = c.call(m, p.clone()).await;
        assert_invalid(&r, &format!("invalid {m} params: {detail}"));
    }
    let r = c.call("system-event", json!({ "text": "   " })).await;
    assert_eq!(
        r["error"],
        json!({ "code": "INVALID_REQUEST", "message": "text required" })
    );
    for m in [
        "health",
        "status",
        "system-presence",
        "last-heartbeat",
        "gateway.identity.get",
    ] {
        let r = c.call(m, json!({ "bogus": 1 })).await;
        assert_eq!(r["ok"], true, "{m} ignores unknown params: {r}");
    }
    let r = c
        .ok("set-heartbeats", json!({ "enabled": true, "bogus": 1 }))
        .await;
    assert_eq!(r, json!({ "ok": true, "enabled": true }));
    assert_eq!(c.ok("health", json!({ "probe": "yes" })).await["ok"], true);
    g.stop().await;
}

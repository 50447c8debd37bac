//! The methods the stock Control UI calls as it boots and on its chat page: `chat.startup`
//! and `sessions.describe` with real data, the rest with the Node gateway's answers for
//! features we do not have (observed on the wire).

use serde_json::{json, Value};

use crate::agents::{setup, wait_chat_state};
use crate::upstream::UpstreamOpts;
use crate::util::*;

#[tokio::test]
async fn chat_startup_and_describe_show_the_session_and_its_model() {
    let (_up, g) = setup(UpstreamOpts::default()).await;
    let (mut c, _) = operator(g.addr, ALL_SCOPES).await;
    let empty = c.ok("chat.startup", json!({ "sessionKey": "main" })).await;
    assert_eq!(empty["messages"], json!([]));
    assert_eq!(empty["sessionInfo"]["key"], "agent:main:main");
    assert_eq!(empty["sessionInfo"]["updatedAt"], Value::Null);
    assert_eq!(
        c.ok("sessions.describe", json!({ "key": "main" })).await,
        json!({ "session": null })
    );

    c.ok(
        "chat.send",
        json!({ "sessionKey": "main", "message": "hi there", "idempotencyKey": "s-1" }),
    )
    .await;
    wait_chat_state(&mut c, "s-1", &["final"]).await;
    let st = c
        .ok("chat.startup", json!({ "sessionKey": "main", "limit": 10 }))
        .await;
    // The key as asked (the Node gateway echoes it; the row carries the canonical one).
    assert_eq!(st["sessionKey"], "main");
    assert_eq!(st["totalMessages"], 2);
    assert!(st.get("nextOffset").is_none(), "{st}");
    // The user message carries its send's key; the reply, the API it came through.
    let (user, reply) = (&st["messages"][0], &st["messages"][1]);
    assert_eq!(user["idempotencyKey"], "s-1:user", "{user}");
    assert_eq!(reply["api"], "openai-completions", "{reply}");
    let info = &st["sessionInfo"];
    assert_eq!(
        (&info["key"], &info["kind"], &info["classification"]),
        (&json!("agent:main:main"), &json!("direct"), &json!("main"))
    );
    assert_eq!(
        (&info["isMain"], &info["chatType"]),
        (&json!(true), &json!("direct"))
    );
    // Its last run, from the stored reply.
    assert_eq!(
        (&info["status"], &info["lastRunId"]),
        (&json!("done"), &json!("s-1"))
    );
    let (started, ended) = (info["startedAt"].as_u64(), info["endedAt"].as_u64());
    assert!(started.is_some() && started <= ended, "{info}");
    assert_eq!(info["abortedLastRun"], false);
    let list = c.ok("sessions.list", json!({})).await;
    let row = &list["sessions"][0];
    assert_eq!(
        (&row["key"], &row["status"]),
        (&json!("agent:main:main"), &json!("done"))
    );
    // `chat.history` answers the same page, with the same session and defaults.
    let mut h = c
        .ok("chat.history", json!({ "sessionKey": "main", "limit": 10 }))
        .await;
    let mut st2 = st.clone();
    for v in [&mut h, &mut st2] {
        v["sessionInfo"]["snapshotAt"] = Value::Null;
    }
    assert_eq!(h, st2);
    let other = c
        .ok("chat.history", json!({ "sessionKey": "agent:main:cron:x" }))
        .await;
    assert_eq!(
        (
            &other["sessionInfo"]["classification"],
            &other["sessionInfo"]["isBackground"]
        ),
        (&json!("cron"), &json!(true))
    );
    assert!(
        st["messages"].to_string().contains("echo: hi there"),
        "{st}"
    );
    assert_eq!(st["pendingInputs"], json!({ "total": 0, "items": [] }));
    assert_eq!(
        (
            st["defaults"]["modelProvider"].as_str(),
            st["defaults"]["model"].as_str()
        ),
        (Some("fake"), Some("echo-1"))
    );
    assert_eq!(st["defaults"]["contextTokens"], 128_000);
    assert_eq!(st["sessionInfo"]["hasActiveRun"], false);
    let d = c.ok("sessions.describe", json!({ "key": "main" })).await;
    assert_eq!(d["session"]["key"], "agent:main:main");
    let share = json!({ "shortId": "xyz", "agentId": "main" });
    let bad = c.call("chat.startup", share).await;
    assert_eq!(
        bad["error"]["message"],
        "shortId must be 8-32 hexadecimal characters"
    );
    // Without `agentId` the params fit neither branch: the Node gateway's validator lists why.
    let bad = c.call("chat.startup", json!({ "shortId": "xyz" })).await;
    assert_eq!(
        bad["error"]["message"],
        "invalid chat.startup params: must have required property 'sessionKey'; \
         at root: unexpected property 'shortId'; must have required property 'agentId'; \
         must match a schema in anyOf"
    );
    g.stop().await;
}

#[tokio::test]
async fn features_we_lack_answer_as_the_node_gateway_does() {
    let g = start().await;
    let (mut c, _) = operator(g.addr, ALL_SCOPES).await;
    let key = json!({ "sessionKey": "agent:main:main" });
    for (method, params, want) in [
        ("question.list", json!({}), json!({ "questions": [] })),
        (
            "sessions.groups.list",
            json!({}),
            json!({ "groups": [], "sectionOrder": [] }),
        ),
        (
            "sessions.groups.defaults",
            json!({}),
            json!({ "defaults": [] }),
        ),
        ("progressCard.get", key.clone(), json!({ "card": null })),
        (
            "taskSuggestions.list",
            json!({}),
            json!({ "suggestions": [] }),
        ),
        (
            "session.discussion.info",
            key.clone(),
            json!({ "state": "none" }),
        ),
        (
            "sessions.companion.state",
            key.clone(),
            json!({ "exchanges": [] }),
        ),
        (
            "sessions.branches.list",
            key.clone(),
            json!({ "branches": [] }),
        ),
        (
            "sessions.observer.visibility",
            json!({ "visible": true }),
            json!({ "ok": true }),
        ),
        (
            "sessions.catalog.list",
            json!({}),
            json!({ "catalogs": [] }),
        ),
        // What the stock UI sends at boot.
        (
            "sessions.catalog.list",
            json!({ "agentId": "main", "metadataOnly": true }),
            json!({ "catalogs": [] }),
        ),
        (
            "users.prefs.get",
            json!({ "keys": ["theme"] }),
            json!({ "status": "no_durable_identity" }),
        ),
        (
            "tasks.list",
            json!({ "status": "running" }),
            json!({ "tasks": [] }),
        ),
        (
            "board.get",
            key.clone(),
            json!({ "sessionKey": "agent:main:main", "revision": 0, "tabs": [], "widgets": [] }),
        ),
        (
            "sessions.viewers.set",
            json!({ "sessionKeys": ["agent:main:main"] }),
            json!({ "sessionKeys": ["agent:main:main"] }),
        ),
        (
            "plugins.list",
            json!({}),
            json!({ "plugins": [], "diagnostics": [], "mutationAllowed": false, "generation": 0 }),
        ),
        (
            "exec.approval.grants.list",
            json!({}),
            json!({ "grants": [] }),
        ),
        ("worktrees.list", json!({}), json!({ "worktrees": [] })),
        ("artifacts.list", key.clone(), json!({ "artifacts": [] })),
    ] {
        assert_eq!(c.ok(method, params).await, want, "{method}");
    }
    let plugins = c.ok("plugins.controlUi.list", json!({})).await;
    assert_eq!(
        (plugins["plugins"].clone(), plugins["diagnostics"].clone()),
        (json!([]), json!([]))
    );
    let up = c.ok("update.status", json!({})).await;
    assert_eq!(
        (
            up["updateAvailable"].clone(),
            up["schedule"]["autoEnabled"].clone()
        ),
        (Value::Null, json!(false))
    );
    let env = c.ok("environments.list", json!({})).await;
    assert_eq!(env["environments"][0]["id"], "gateway");
    assert_eq!(c.ok("node.list", json!({})).await["nodes"], json!([]));
    let lib = c.ok("skills.library.list", json!({})).await;
    assert_eq!(
        (lib["entries"].clone(), lib["canManageWorkspace"].clone()),
        (json!([]), json!(false))
    );
    let a = c.call("artifacts.list", json!({})).await;
    assert_eq!(a["error"]["details"]["type"], "artifact_query_unsupported");
    let m = c.call("mentions.list", json!({})).await;
    assert_eq!(m["error"]["code"], "FORBIDDEN");
    // Required properties and unknown ones are named together, as ajv words them.
    let r = c
        .call("sessions.branches.list", json!({ "key": "x" }))
        .await;
    assert_eq!(
        r["error"]["message"],
        "invalid sessions.branches.list params: must have required property 'sessionKey'; at root: unexpected property 'key'"
    );
    g.stop().await;
}

/// Agent identities as the Node gateway 2026.9.6 shows them (observed with the same
/// config): an identity's name and picture, the emoji or the name's first letter when there
/// is no picture, an agent's plain `name` not being its identity; agents listed default first,
/// then by id.
#[tokio::test]
async fn agent_identities_and_their_order() {
    let cfg = r#"{ gateway: { mode: "local" },
      models: { providers: { fake: { baseUrl: "http://127.0.0.1:9/v1", apiKey: "k",
        api: "openai-completions", models: [{ id: "echo-1" }] } } },
      agents: { defaults: { model: "fake/echo-1" }, list: [ { id: "main", default: true },
        { id: "emo", identity: { name: "Zed", emoji: "🦊" } },
        { id: "nm", name: "Named" },
        { id: "both", name: "Top", identity: { name: "Inner", avatar: "https://x.example/a.png" } } ] } }"#;
    let g = start_with(Setup::config(cfg)).await;
    let (mut c, _) = operator(g.addr, ALL_SCOPES).await;
    let id = |a: &str| json!({ "agentId": a });
    let expect = [
        (
            "main",
            json!({ "agentId": "main", "name": "Assistant", "nameSource": "default", "avatar": "A" }),
        ),
        (
            "emo",
            json!({ "agentId": "emo", "name": "Zed", "nameSource": "agent", "avatar": "🦊", "emoji": "🦊" }),
        ),
        (
            "nm",
            json!({ "agentId": "nm", "name": "Assistant", "nameSource": "default", "avatar": "A" }),
        ),
        (
            "both",
            json!({ "agentId": "both", "name": "Inner", "nameSource": "agent",
                         "avatar": "https://x.example/a.png", "avatarSource": "remote URL",
                         "avatarStatus": "remote" }),
        ),
    ];
    for (a, want) in expect {
        assert_eq!(c.ok("agent.identity.get", id(a)).await, want, "{a}");
    }
    let list = c.ok("agents.list", json!({})).await;
    let ids: Vec<&str> = list["agents"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["id"].as_str())
        .collect();
    assert_eq!(ids, ["main", "both", "emo", "nm"]);
    assert_eq!(
        list["agents"][1]["identity"]["avatarUrl"],
        "https://x.example/a.png"
    );
    // One owner and a default agent; each agent's workspace, whether it is a git checkout,
    // thinking just off; fallbacks only when configured.
    assert_eq!(
        (&list["ownership"], &list["selectionRequired"]),
        (&json!("sole"), &json!(false))
    );
    let main = &list["agents"][0];
    let ws = main["workspace"].as_str().unwrap_or("");
    assert!(ws.ends_with("/workspace"), "{main}");
    let git = std::path::Path::new(ws).join(".git").exists();
    assert_eq!(
        (&main["workspaceGit"], &main["thinkingDefault"]),
        (&json!(git), &json!("off"))
    );
    assert_eq!(main["model"], json!({ "primary": "fake/echo-1" }), "{main}");
    let defaults = &c.ok("sessions.list", json!({})).await["defaults"];
    assert_eq!(defaults["thinkingOptions"], json!(["off"]), "{defaults}");
    g.stop().await;
}

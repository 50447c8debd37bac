//! The operator surface behind the stock CLI: channels (none, Node's unconfigured answers),
//! approvals and users (none), usage and cost summed from recorded runs, system info and the
//! stability record, skills / hooks / tools status, and `wake`.

use serde_json::{json, Value};

use crate::agents::{agent_config, final_res};
use crate::upstream::{Upstream, UpstreamOpts};
use crate::util::*;

fn error_of(r: &Value) -> (String, String) {
    assert_eq!(r["ok"], false, "{r}");
    (
        r["error"]["code"].as_str().unwrap_or("").to_string(),
        r["error"]["message"].as_str().unwrap_or("").to_string(),
    )
}

#[tokio::test]
async fn channels_approvals_and_users_answer_as_an_unconfigured_node_gateway() {
    let g = start().await;
    let (mut c, _) = operator(g.addr, ALL_SCOPES).await;
    let st = c
        .ok(
            "channels.status",
            json!({ "probe": true, "timeoutMs": 1000 }),
        )
        .await;
    assert_eq!(st["channelOrder"], json!([]));
    assert_eq!(st["channelAccounts"], json!({}));
    assert!(st["eventLoop"]["delayP99Ms"].is_number(), "{st}");
    let pairing = c.ok("channels.pairing.list", json!({})).await;
    assert_eq!(pairing["requests"], json!([]));
    assert_eq!(
        pairing["limits"],
        json!({ "pendingPerAccount": 3, "ttlMs": 3_600_000 })
    );
    let (code, msg) = error_of(
        &c.call("channels.pairing.list", json!({ "channel": "telegram" }))
            .await,
    );
    assert_eq!(
        (code.as_str(), msg.as_str()),
        (
            "INVALID_REQUEST",
            "Error: unknown pairing channel: telegram"
        )
    );

    let send = |ch: Option<&str>| {
        let mut p = json!({ "to": "+15550001", "message": "hi", "idempotencyKey": "k" });
        if let Some(ch) = ch {
            p["channel"] = json!(ch);
        }
        p
    };
    let (code, msg) = error_of(&c.call("send", send(None)).await);
    assert_eq!(code, "INVALID_REQUEST");
    assert!(
        msg.starts_with("Error: Channel is required (no configured channels detected)"),
        "{msg}"
    );
    let r = c.call("send", send(Some("telegram"))).await;
    assert_eq!(error_of(&r).0, "UNAVAILABLE");
    assert_eq!(r["error"]["details"]["code"], "OUTBOUND_DELIVERY_QUEUED");
    assert_eq!(
        error_of(&c.call("send", send(Some("slack"))).await).1,
        "unsupported channel: slack"
    );
    let (_, msg) = error_of(
        &c.call("send", json!({ "message": "hi", "idempotencyKey": "k" }))
            .await,
    );
    assert_eq!(msg, "invalid send params: must have required property 'to'");
    let act = json!({ "channel": "foo", "action": "send", "params": {}, "idempotencyKey": "k" });
    assert_eq!(
        error_of(&c.call("message.action", act).await).1,
        "Channel foo does not support action send."
    );
    let act =
        json!({ "channel": "telegram", "action": "send", "params": {}, "idempotencyKey": "k" });
    assert_eq!(
        error_of(&c.call("message.action", act).await).0,
        "UNAVAILABLE"
    );
    let (code, msg) = error_of(
        &c.call("channels.status", json!({ "channel": "telegram" }))
            .await,
    );
    assert_eq!(
        (code.as_str(), msg.as_str()),
        ("INVALID_REQUEST", "unknown channel: telegram")
    );

    for m in [
        "exec.approval.list",
        "plugin.approval.list",
        "openclaw.approval.list",
    ] {
        assert_eq!(c.ok(m, json!({ "ignored": 1 })).await, json!([]), "{m}");
    }
    assert_eq!(
        c.ok("approval.history", json!({ "limit": 5 })).await,
        json!({ "items": [] })
    );
    let policy = c.ok("exec.approvals.get", json!({})).await;
    // The hash is of the stored text (its socket token included, as on the Node gateway):
    // stable from read to read.
    assert_eq!(policy["hash"].as_str().map(str::len), Some(64), "{policy}");
    assert_eq!(
        c.ok("exec.approvals.get", json!({})).await["hash"],
        policy["hash"]
    );
    assert!(policy["path"]
        .as_str()
        .unwrap()
        .ends_with("openclaw.sqlite#exec_approvals_config"));
    assert_eq!(
        c.ok("users.list", json!({})).await,
        json!({ "profiles": [] })
    );
    let (code, _) = error_of(&c.call("users.self", json!({})).await);
    assert_eq!(code, "FORBIDDEN");

    // The scope table still gates them: a read-only socket cannot send.
    let (mut ro, _) = operator(g.addr, &["operator.read"]).await;
    assert_eq!(
        error_of(&ro.call("send", send(Some("telegram"))).await).0,
        "FORBIDDEN"
    );
    assert_eq!(
        error_of(&ro.call("exec.approval.list", json!({})).await).0,
        "FORBIDDEN"
    );
    g.stop().await;
}

/// A provider whose `echo-1` costs $2 / $10 per million input / output tokens.
fn priced(base: &str) -> String {
    agent_config(
        &format!(
            r#"fake: {{ baseUrl: "{base}", apiKey: "sk-x", api: "openai-completions",
                models: [{{ id: "echo-1", cost: {{ input: 2, output: 10, cacheRead: 0, cacheWrite: 0 }} }}] }},"#
        ),
        &["fake/echo-1"],
    )
}

async fn run(c: &mut Client, key: &str, msg: &str, id: &str) -> (u64, u64) {
    let rid = c
        .send_req(
            "agent",
            json!({ "message": msg, "idempotencyKey": id, "sessionKey": key }),
        )
        .await;
    let fin = final_res(c, &rid).await;
    let u = &fin["payload"]["result"]["meta"]["agentMeta"]["usage"];
    (u["input"].as_u64().unwrap(), u["output"].as_u64().unwrap())
}

#[tokio::test]
async fn usage_and_cost_sum_the_recorded_runs() {
    // Chunks 2 ms apart: every run lasts long enough to record its duration.
    let opts = UpstreamOpts {
        chunk_delay: std::time::Duration::from_millis(2),
        ..UpstreamOpts::default()
    };
    let up = Upstream::start(opts).await;
    let g = start_with(Setup::config(&priced(&up.openai_base()))).await;
    let (mut c, _) = operator(g.addr, ALL_SCOPES).await;
    let a1 = run(&mut c, "alpha", "one two three", "u-1").await;
    let a2 = run(&mut c, "alpha", "four five", "u-2").await;
    let b1 = run(&mut c, "beta", "six", "u-3").await;
    let (input, output) = (a1.0 + a2.0 + b1.0, a1.1 + a2.1 + b1.1);
    assert!(input > 0 && output > 0, "the upstream reports usage");
    let cost = (input as f64 * 2.0 + output as f64 * 10.0) / 1e6;

    let uc = c.ok("usage.cost", json!({ "days": 7 })).await;
    assert_eq!(uc["days"], 7);
    assert_eq!(uc["daily"].as_array().unwrap().len(), 7);
    let t = &uc["totals"];
    assert_eq!(
        (t["input"].as_u64(), t["output"].as_u64()),
        (Some(input), Some(output)),
        "{a1:?} {a2:?} {b1:?} {uc}"
    );
    assert_eq!(t["totalTokens"].as_u64(), Some(input + output));
    assert!(
        (t["totalCost"].as_f64().unwrap() - cost).abs() < 1e-12,
        "{t}"
    );
    let today = &uc["daily"][6];
    assert_eq!(today["totalTokens"].as_u64(), Some(input + output), "{uc}");

    let su = c.ok("sessions.usage", json!({})).await;
    assert_eq!(su["aggregates"]["sessionCount"], 2);
    let alpha = su["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["key"] == "agent:main:alpha")
        .expect("alpha listed")
        .clone();
    assert_eq!(alpha["usage"]["input"].as_u64(), Some(a1.0 + a2.0));
    assert_eq!(alpha["usage"]["messageCounts"]["user"], 2);
    assert_eq!(alpha["usage"]["messageCounts"]["assistant"], 2);
    // Its model, per model and per day, and how long its runs took (as the Node gateway
    // reports them per session).
    assert_eq!(
        (alpha["modelProvider"].as_str(), alpha["chatType"].as_str()),
        (Some("fake"), Some("direct"))
    );
    let mu = &alpha["usage"]["modelUsage"][0];
    assert_eq!(
        (mu["model"].as_str(), mu["count"].as_u64()),
        (Some("echo-1"), Some(2))
    );
    assert_eq!(mu["totals"]["input"].as_u64(), Some(a1.0 + a2.0));
    assert_eq!(alpha["usage"]["dailyModelUsage"][0]["count"], 2);
    let dm = &alpha["usage"]["dailyMessageCounts"][0];
    assert_eq!(
        (dm["user"].as_u64(), dm["assistant"].as_u64()),
        (Some(2), Some(2)),
        "{alpha}"
    );
    let lat = &alpha["usage"]["latency"];
    assert_eq!(lat["count"], 2, "{alpha}");
    assert_eq!(alpha["usage"]["dailyLatency"][0]["count"], 2);
    assert!(alpha.get("label").is_none(), "{alpha}");
    let by_model = &su["aggregates"]["byModel"][0];
    assert_eq!(
        (by_model["provider"].as_str(), by_model["count"].as_u64()),
        (Some("fake"), Some(3))
    );
    assert_eq!(su["aggregates"]["byAgent"][0]["agentId"], "main");
    assert_eq!(su["aggregates"]["daily"][0]["messages"], 6);
    let only_beta = c
        .ok("sessions.usage", json!({ "key": "agent:main:beta" }))
        .await;
    assert_eq!(only_beta["totals"]["input"].as_u64(), Some(b1.0));
    assert_eq!(
        c.ok("usage.status", json!({})).await["providers"],
        json!([])
    );
    g.stop().await;
}

#[tokio::test]
async fn system_info_lanes_and_the_stability_record_are_real() {
    let up = Upstream::start(UpstreamOpts::default()).await;
    let g = start_with(Setup::config(&priced(&up.openai_base()))).await;
    let (mut c, _) = operator(g.addr, ALL_SCOPES).await;
    let info = c.ok("system.info", json!({})).await;
    assert_eq!(info["pid"], std::process::id());
    assert!(
        info["memoryTotalBytes"].as_u64().unwrap() >= info["memoryFreeBytes"].as_u64().unwrap()
    );
    assert!(info["cpuCount"].as_u64().unwrap() >= 1);
    assert!(info["diskTotalBytes"].as_u64().unwrap() > 0);
    assert_eq!(info["processInstanceId"], g.gw.boot.boot_id);

    c.ok(
        "chat.send",
        json!({ "sessionKey": "held", "message": "HANG", "idempotencyKey": "h-1" }),
    )
    .await;
    up.state.wait_held(1).await;
    c.ok(
        "chat.send",
        json!({ "sessionKey": "held", "message": "next", "idempotencyKey": "h-2" }),
    )
    .await;
    let lanes = c.ok("diagnostics.lanes", json!({})).await;
    let lane = &lanes["lanes"][0];
    assert_eq!(lane["lane"], "session:agent:main:held");
    assert_eq!(
        (lane["activeCount"].as_u64(), lane["queuedCount"].as_u64()),
        (Some(1), Some(1))
    );
    c.ok("chat.abort", json!({ "sessionKey": "held" })).await;

    let st = c
        .ok("diagnostics.stability", json!({ "limit": 1000 }))
        .await;
    let types: Vec<&str> = st["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["type"].as_str())
        .collect();
    for t in [
        "diagnostic.phase.completed",
        "queue.lane.enqueue",
        "queue.lane.dequeue",
    ] {
        assert!(types.contains(&t), "{t} in {types:?}");
    }
    assert_eq!(st["capacity"], 1000);
    let only = c
        .ok(
            "diagnostics.stability",
            json!({ "type": "queue.lane.enqueue" }),
        )
        .await;
    assert!(only["events"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["type"] == "queue.lane.enqueue"));
    assert_eq!(only["events"][0]["source"], "session:agent:main:held");
    g.stop().await;
}

#[tokio::test]
async fn skills_hooks_and_tools_report_what_the_gateway_has() {
    let dir = temp_dir("ops-skills");
    let skill = dir.join("state/workspace/skills/weather");
    std::fs::create_dir_all(&skill).unwrap();
    std::fs::write(
        skill.join("SKILL.md"),
        "---\nname: weather\ndescription: \"Look up the forecast\"\n---\nSteps.\n",
    )
    .unwrap();
    let cfg = r#"{ gateway: { mode: "local", auth: { mode: "token" } },
        hooks: { enabled: true, token: "hook-secret-1234567890", mappings: [{ id: "gh", match: { path: "github" }, action: "agent", messageTemplate: "x" }] } }"#;
    let g = start_with(Setup {
        dir: Some(dir.clone()),
        ..Setup::config(cfg)
    })
    .await;
    let (mut c, _) = operator(g.addr, ALL_SCOPES).await;
    let sk = c.ok("skills.status", json!({})).await;
    assert_eq!(sk["skills"].as_array().unwrap().len(), 1, "{sk}");
    assert_eq!(sk["skills"][0]["name"], "weather");
    assert_eq!(sk["skills"][0]["description"], "Look up the forecast");
    assert_eq!(sk["skills"][0]["source"], "openclaw-workspace");
    let hk = c.ok("hooks.status", json!({})).await;
    assert_eq!(hk["hooks"][0]["name"], "gh");
    assert_eq!(hk["hooks"][0]["enabledByConfig"], true);
    assert_eq!(hk["hooks"][0]["events"], json!(["webhook:github"]));
    let tools = c.ok("tools.catalog", json!({})).await;
    let ids: Vec<&str> = tools["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| {
            g["tools"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|t| t["id"].as_str())
        })
        .collect();
    assert_eq!(
        ids,
        [
            "sessions_list",
            "sessions_history",
            "session_status",
            "agents_list"
        ]
    );
    let (code, _) = error_of(
        &c.call("tools.catalog", json!({ "agentId": "nobody" }))
            .await,
    );
    assert_eq!(code, "INVALID_REQUEST");
    g.stop().await;
}

#[tokio::test]
async fn wake_now_starts_a_turn_and_next_heartbeat_waits_in_the_session() {
    let up = Upstream::start(UpstreamOpts::default()).await;
    let g = start_with(Setup::config(&priced(&up.openai_base()))).await;
    let (mut c, _) = operator(g.addr, ALL_SCOPES).await;
    c.ok(
        "sessions.messages.subscribe",
        json!({ "key": "agent:main:main" }),
    )
    .await;
    assert_eq!(
        c.ok(
            "wake",
            json!({ "mode": "next-heartbeat", "text": "remember the milk", "extra": 1 })
        )
        .await,
        json!({ "ok": true })
    );
    let h = c.ok("chat.history", json!({ "sessionKey": "main" })).await;
    assert!(
        h["messages"].to_string().contains("remember the milk"),
        "{h}"
    );
    assert_eq!(up.state.requests().len(), 0, "no turn yet");

    assert_eq!(
        c.ok("wake", json!({ "mode": "now", "text": "wake up" }))
            .await,
        json!({ "ok": true })
    );
    let fin = c
        .until("the woken turn's final", |v| {
            v["event"] == "chat" && v["payload"]["state"] == "final"
        })
        .await;
    assert_eq!(fin["payload"]["sessionKey"], "agent:main:main");
    assert_eq!(
        fin["payload"]["message"]["content"][0]["text"],
        "echo: wake up"
    );
    let hb = c
        .until("the heartbeat of the woken turn", |v| {
            v["event"] == "heartbeat"
        })
        .await;
    assert_eq!(hb["payload"]["status"], "sent");
    assert_eq!(hb["payload"]["preview"], "echo: wake up");
    assert_eq!(c.ok("last-heartbeat", json!({})).await["status"], "sent");
    let (code, _) = error_of(
        &c.call("wake", json!({ "mode": "later", "text": "x" }))
            .await,
    );
    assert_eq!(code, "INVALID_REQUEST");
    g.stop().await;
}

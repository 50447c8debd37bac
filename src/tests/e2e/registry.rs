//! The method registry end to end: `hello-ok` advertises exactly what is served, every
//! property of a served method's 2026.9.6 params is accepted (the param walk), `hello-ok` is
//! the first frame after the challenge even under a broadcast storm, a waiting request does
//! not block its socket, and the per-socket in-flight limit holds.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use openclaw::rpc::registry::{self, Params};
use serde_json::{json, Value};

use crate::agents::{agent_config, fake};
use crate::upstream::{Upstream, UpstreamOpts};
use crate::util::*;

#[tokio::test]
async fn hello_advertises_exactly_the_registry_and_each_method_is_served() {
    let g = start().await;
    let (mut c, hello) = operator(g.addr, ALL_SCOPES).await;
    let advertised: Vec<&str> = hello["features"]["methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    let listed: Vec<&str> = registry::all()
        .filter(|m| m.advertise)
        .map(|m| m.name)
        .collect();
    assert_eq!(advertised, listed);
    // Served but unlisted, as on the Node gateway.
    let hidden: Vec<&str> = registry::all()
        .filter(|m| !m.advertise)
        .map(|m| m.name)
        .collect();
    assert_eq!(hidden, ["chat.inject", "sessions.get"]);
    assert_eq!(
        hello["features"]["capabilities"],
        json!(["published-model-catalog", "session-scoped-model-catalog"])
    );
    let events: Vec<&str> = hello["features"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    assert_eq!(events, registry::EVENTS);
    for m in registry::all().map(|m| m.name) {
        // Params that fail validation are fine here: only "unknown method" is not.
        let r = c.call(m, json!({ "__probe": true })).await;
        let msg = r["error"]["message"].as_str().unwrap_or("");
        assert!(!msg.starts_with("unknown method"), "{m}: {r}");
    }
    let r = c.call("no.such.method", json!({})).await;
    assert_eq!(r["error"]["message"], "unknown method: no.such.method");
    g.stop().await;
}

/// The properties a method's params specification names.
fn spec_properties(p: &Params) -> Vec<(String, Value)> {
    let (file, def) = match p {
        Params::Schema96(d) => ("protocol-2026.9.6.schema.json", *d),
        Params::Schema91(d) => ("protocol.schema.json", *d),
        Params::Observed(keys) => {
            return keys.iter().map(|k| (k.to_string(), json!({}))).collect();
        }
    };
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/schema")
        .join(file);
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let d = &doc["definitions"][def];
    assert!(d.is_object(), "{file} has no definition {def}");
    // A root `anyOf` (`{id} | {jobId}`): the union of its branches' properties.
    let branches: Vec<&Value> = match d["anyOf"].as_array() {
        Some(b) => b.iter().collect(),
        None => vec![d],
    };
    let mut out: Vec<(String, Value)> = Vec::new();
    for b in branches {
        for (k, v) in b["properties"].as_object().into_iter().flatten() {
            if !out.iter().any(|(o, _)| o == k) {
                out.push((k.clone(), v.clone()));
            }
        }
    }
    out
}

/// Methods whose params schema is `{id} | {jobId}`: the walk names a job, and an unknown
/// property is refused with the schema's `anyOf` wording (as ajv words it on the Node gateway).
const BY_JOB_ID: &[&str] = &["cron.get", "cron.remove", "cron.run", "cron.update"];

/// A value of the property's schema type (its semantic validity does not matter here).
fn sample(schema: &Value) -> Value {
    let ty = schema["type"]
        .as_str()
        .or_else(|| schema["anyOf"][0]["type"].as_str());
    if let Some(c) = schema
        .get("const")
        .or_else(|| schema["anyOf"][0].get("const"))
    {
        return c.clone();
    }
    match ty {
        Some("boolean") => json!(true),
        Some("integer") | Some("number") => {
            json!(schema["minimum"].as_u64().unwrap_or(1).max(1))
        }
        Some("array") if schema["minItems"].as_u64().unwrap_or(0) > 0 => {
            json!([sample(&schema["items"])])
        }
        Some("array") => json!([]),
        Some("object") => json!({}),
        _ => json!("x"),
    }
}

/// Params every call of the walk carries: what a method checks before its schema
/// (`chat.send` needs a session target first), the branch of an `anyOf` of objects that
/// `prop` belongs to (`chat.startup`: by session key, or by short id), and no long waits.
fn base(method: &str, prop: &str) -> Value {
    match method {
        "chat.send" => json!({ "sessionKey": "walk" }),
        "chat.startup" if matches!(prop, "shortId" | "slugHint") => {
            json!({ "shortId": "0123abcd", "agentId": "main" })
        }
        "chat.startup" => json!({ "sessionKey": "walk" }),
        // An unknown run waits out its timeout, as on the Node gateway: keep it at zero.
        "agent.wait" => json!({ "timeoutMs": 0 }),
        "cron.update" => json!({ "id": "walk", "patch": {} }),
        m if BY_JOB_ID.contains(&m) => json!({ "id": "walk" }),
        _ => json!({}),
    }
}

fn unknown_property(r: &Value, method: &str) -> bool {
    let m = r["error"]["message"].as_str().unwrap_or("");
    // `approval.history` refuses without naming the property, as the Node gateway does.
    m.contains("unexpected property")
        || m.contains("unknown field")
        || (method == "approval.history" && m == "invalid approval.history params")
        || (method == "worktrees.list" && m == "invalid worktrees parameters")
        || (BY_JOB_ID.contains(&method) && m.ends_with("must match a schema in anyOf"))
}

#[tokio::test]
async fn every_specified_param_of_every_served_method_is_accepted() {
    let g = start().await;
    let (mut op, _) = operator(g.addr, ALL_SCOPES).await;
    // Node-role methods are walked from a node socket (operators are refused them).
    let mut node = Client::open(g.addr).await;
    let mut np = connect_params("node-host", "node", &[], Some(TOKEN));
    np["role"] = json!("node");
    assert_eq!(node.call("connect", np).await["ok"], true);
    let (mut checked, mut refused) = (0, Vec::new());
    for m in registry::all() {
        let node_role =
            openclaw_proto::required_scope(m.name) == openclaw_proto::RequiredScope::Node;
        let c = if node_role { &mut node } else { &mut op };
        for (prop, schema) in spec_properties(&m.params) {
            let mut p = base(m.name, &prop);
            if prop == "jobId" {
                p.as_object_mut().map(|o| o.remove("id"));
            }
            p[prop.as_str()] = sample(&schema);
            let r = c.call(m.name, p).await;
            if unknown_property(&r, m.name) {
                refused.push(format!("{}.{prop}", m.name));
            }
            checked += 1;
        }
        // The walk can fail: a property nobody specified is refused by the strict methods
        // and ignored by the loose ones (as on the Node gateway).
        let mut p = base(m.name, "");
        p["notAProperty"] = json!(1);
        let r = c.call(m.name, p).await;
        assert_eq!(
            unknown_property(&r, m.name),
            m.strict,
            "{} (strict: {}) answered notAProperty with {r}",
            m.name,
            m.strict
        );
    }
    assert!(refused.is_empty(), "specified but refused: {refused:?}");
    assert!(checked > 150, "walked {checked} properties");
    g.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_ok_is_the_first_frame_after_the_challenge_under_a_broadcast_storm() {
    let g = start().await;
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let (gw, flag, n) = (g.gw.clone(), stop.clone(), count.clone());
    let storm = tokio::spawn(async move {
        while !flag.load(Ordering::Relaxed) && n.load(Ordering::Relaxed) < 2_000_000 {
            let i = n.fetch_add(1, Ordering::Relaxed);
            gw.hub.publish("tick", &json!({ "ts": i }), None);
            if i.is_multiple_of(16) {
                tokio::task::yield_now().await;
            }
        }
    });
    // The storm is under way before the first connect (bounded wait).
    within(WAIT, "the storm to start", async {
        while count.load(Ordering::Relaxed) < 100 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    let at_start = count.load(Ordering::Relaxed);
    let mut clients = tokio::task::JoinSet::new();
    for i in 0..300 {
        let addr = g.addr;
        clients.spawn(async move {
            let mut c = Client::open(addr).await;
            let id = c
                .send_req(
                    "connect",
                    connect_params("gateway-client", "backend", &["operator.read"], Some(TOKEN)),
                )
                .await;
            let first = c.recv().await.expect("a frame after connect");
            assert_eq!(first["type"], "res", "client {i}: first frame {first}");
            assert_eq!(first["id"], id.as_str());
            assert_eq!(first["payload"]["type"], "hello-ok");
            // The socket is subscribed from then on: the storm reaches it.
            c.event("tick").await;
        });
    }
    while let Some(r) = clients.join_next().await {
        r.expect("client task");
    }
    let during = count.load(Ordering::Relaxed) - at_start;
    stop.store(true, Ordering::Relaxed);
    storm.await.unwrap();
    assert!(
        during > 0,
        "events were published while the clients connected"
    );
    g.stop().await;
}

/// A run held open by the scripted upstream (`HANG`), on a gateway with `limits`.
async fn held_run(limits: &str) -> (Upstream, TestGateway, Client) {
    let up = Upstream::start(UpstreamOpts::default()).await;
    let cfg = agent_config(
        &fake("fake", &up.openai_base(), "openai-completions"),
        &["fake/echo-1"],
    )
    .replacen(
        "auth: { mode: \"token\" }",
        &format!("auth: {{ mode: \"token\" }}, limits: {{ {limits} }}"),
        1,
    );
    let g = start_with(Setup::config(&cfg)).await;
    let (mut c, _) = operator(g.addr, ALL_SCOPES).await;
    c.ok(
        "chat.send",
        json!({ "sessionKey": "held", "message": "HANG", "idempotencyKey": "held-1" }),
    )
    .await;
    up.state.wait_held(1).await;
    (up, g, c)
}

#[tokio::test]
async fn a_slow_agent_wait_does_not_block_its_socket() {
    let (_up, g, mut c) = held_run("").await;
    let wait = c
        .send_req(
            "agent.wait",
            json!({ "runId": "held-1", "timeoutMs": 600_000 }),
        )
        .await;
    // Meanwhile the same socket answers quick and waiting requests alike.
    assert_eq!(c.ok("health", json!({})).await["ok"], true);
    let l = c.ok("sessions.list", json!({})).await;
    assert_eq!(l["totalCount"], 1);
    assert!(
        c.events.iter().all(|e| e["id"] != wait.as_str()),
        "the wait answered before the run ended"
    );
    c.ok("chat.abort", json!({ "sessionKey": "held" })).await;
    let w = c.response(&wait).await;
    assert_eq!(w["payload"]["status"], "error", "{w}");
    g.stop().await;
}

#[tokio::test]
async fn the_in_flight_limit_refuses_one_more_waiting_request() {
    let (_up, g, mut c) = held_run("maxInflightPerSocket: 2").await;
    let a = c
        .send_req(
            "agent.wait",
            json!({ "runId": "held-1", "timeoutMs": 600_000 }),
        )
        .await;
    let b = c
        .send_req(
            "agent.wait",
            json!({ "runId": "held-1", "timeoutMs": 600_000 }),
        )
        .await;
    let r = c
        .call(
            "agent.wait",
            json!({ "runId": "held-1", "timeoutMs": 600_000 }),
        )
        .await;
    assert_eq!(r["error"]["code"], "UNAVAILABLE", "{r}");
    assert_eq!(r["error"]["retryable"], true);
    assert_eq!(
        r["error"]["message"],
        "too many requests in flight on this connection (limit 2)"
    );
    // Quick requests never count; another socket is not limited by this one.
    assert_eq!(c.ok("health", json!({})).await["ok"], true);
    let (mut other, _) = operator(g.addr, ALL_SCOPES).await;
    other
        .ok("chat.abort", json!({ "sessionKey": "held" }))
        .await;
    for id in [a, b] {
        assert_eq!(c.response(&id).await["payload"]["status"], "error");
    }
    // The slots are free again.
    let w = c
        .ok(
            "agent.wait",
            json!({ "runId": "held-1", "timeoutMs": 1000 }),
        )
        .await;
    assert_eq!(w["status"], "error");
    g.stop().await;
}

#[tokio::test]
async fn agent_wait_is_capped_by_its_limit() {
    let (_up, g, mut c) = held_run("agentWaitMaxMs: 200").await;
    let t0 = std::time::Instant::now();
    let w = c
        .ok(
            "agent.wait",
            json!({ "runId": "held-1", "timeoutMs": 600_000 }),
        )
        .await;
    assert_eq!(w["status"], "timeout", "{w}");
    assert!(t0.elapsed() < Duration::from_secs(30), "{:?}", t0.elapsed());
    c.ok("chat.abort", json!({ "sessionKey": "held" })).await;
    g.stop().await;
}

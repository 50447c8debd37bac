//! RPC surface: the scope gate (probe / read / admin sockets), error shapes, strict params,
//! and the result shape of every Tier 1 system method (observed.md "RPC responses").

use std::io::Write;
use std::net::SocketAddr;

use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::util::*;

/// Connect the way the stock CLI's `gateway probe` does: `cli`/`probe`, protocol 3..4,
/// no device, asking for `operator.read` (which a device-less probe does not get).
async fn probe(addr: SocketAddr) -> (Client, Value) {
    let mut c = Client::open(addr).await;
    let mut p = connect_params("cli", "probe", &["operator.read"], Some(TOKEN));
    p["minProtocol"] = json!(3);
    let r = c.call("connect", p).await;
    assert_eq!(r["ok"], true, "probe connect: {r}");
    (c, r["payload"].clone())
}

/// The observed `FORBIDDEN` / `MISSING_SCOPE` error, exactly.
fn assert_missing_scope(r: &Value, scope: &str) {
    assert_eq!(r["ok"], false, "expected FORBIDDEN: {r}");
    assert_eq!(
        r["error"],
        json!({
            "code": "FORBIDDEN",
            "message": format!("missing scope: {scope}"),
            "details": { "code": "MISSING_SCOPE", "missingScope": scope, "requiredScopes": [scope] },
        }),
        "{r}"
    );
}

/// An `INVALID_REQUEST` whose message starts with `prefix`.
pub(crate) fn assert_invalid(r: &Value, prefix: &str) {
    assert_eq!(r["ok"], false, "expected INVALID_REQUEST: {r}");
    assert_eq!(r["error"]["code"], "INVALID_REQUEST", "{r}");
    let msg = r["error"]["message"].as_str().unwrap_or_default();
    assert!(
        msg.starts_with(prefix),
        "message {msg:?} should start with {prefix:?}"
    );
}

#[tokio::test]
async fn probe_socket_answers_health_only() {
    let g = start().await;
    let (mut c, hello) = probe(g.addr).await;
    assert_eq!(hello["protocol"], 4);
    assert_eq!(
        hello["auth"]["scopes"],
        json!([]),
        "device-less probe scopes are cleared"
    );
    assert_eq!(hello["auth"]["role"], "operator");

    let h = c.ok("health", json!({})).await;
    assert_eq!(h["ok"], true);
    for m in [
        "status",
        "system-presence",
        "config.get",
        "logs.tail",
        "last-heartbeat",
    ] {
        let r = c.call(m, json!({})).await;
        assert_missing_scope(&r, "operator.read");
    }
    // Admin-only methods name their own scope.
    let r = c.call("system-event", json!({ "text": "x" })).await;
    assert_missing_scope(&r, "operator.admin");
    // The socket survives every refusal.
    assert_eq!(c.ok("health", json!({ "probe": true })).await["ok"], true);
    g.stop().await;
}

#[tokio::test]
async fn read_socket_is_refused_admin_methods() {
    let g = start().await;
    let (mut c, hello) = operator(g.addr, &["operator.read"]).await;
    assert_eq!(hello["auth"]["scopes"], json!(["operator.read"]));
    let r = c
        .call("system-event", json!({ "text": "hello", "mode": "now" }))
        .await;
    assert_missing_scope(&r, "operator.admin");
    let r = c.call("set-heartbeats", json!({ "enabled": false })).await;
    assert_missing_scope(&r, "operator.admin");
    // Nothing was changed by the refused calls.
    assert!(c.ok("last-heartbeat", json!({})).await.is_null());
    let st = c.ok("status", json!({})).await;
    assert_eq!(st["heartbeat"]["agents"][0]["enabled"], true);
    // Sensitive status fields are for admins only.
    assert!(
        st.get("configPath").is_none() && st.get("stateDir").is_none(),
        "{st}"
    );
    let list = c.ok("system-presence", json!({})).await;
    assert_eq!(
        list.as_array().unwrap().len(),
        1,
        "no beacon was added: {list}"
    );
    g.stop().await;
}

#[tokio::test]
async fn unknown_method_is_invalid_request_and_socket_stays_open() {
    let g = start().await;
    let (mut c, _) = operator(g.addr, ALL_SCOPES).await;
    let r = c.call("no.such.method", json!({})).await;
    assert_eq!(r["ok"], false);
    assert_eq!(
        r["error"],
        json!({ "code": "INVALID_REQUEST", "message": "unknown method: no.such.method" })
    );
    // A second connect on an authenticated socket is refused, the socket stays usable.
    let r = c
        .call(
            "connect",
            connect_params("cli", "cli", ALL_SCOPES, Some(TOKEN)),
        )
        .await;
    assert_invalid(&r, "connect is only valid");
    assert_eq!(c.ok("health", json!({})).await["ok"], true);
    g.stop().await;
}

#[tokio::test]
async fn health_result_shape() {
    let g = start().await;
    let (mut c, hello) = operator(g.addr, ALL_SCOPES).await;
    let h = c.ok("health", json!({})).await;
    assert_eq!(h["ok"], true);
    assert_eq!(h["defaultAgentId"], "main");
    assert_eq!(h["heartbeatSeconds"], 1800);
    let a = &h["agents"][0];
    assert_eq!(a["agentId"], "main");
    assert_eq!(a["isDefault"], true);
    assert_eq!(a["heartbeat"]["enabled"], true);
    assert_eq!(a["heartbeat"]["every"], "30m");
    assert_eq!(a["heartbeat"]["everyMs"], 1_800_000);
    assert_eq!(a["heartbeat"]["target"], "owner");
    assert_eq!(a["sessions"]["count"], 0);
    let el = &h["eventLoop"];
    assert_eq!(el["degraded"], false, "{el}");
    assert_eq!(el["degradedSinceMs"], Value::Null);
    assert_eq!(el["reasons"], json!([]));
    assert_eq!(el["intervalMs"], 500);
    let p99 = el["delayP99Ms"].as_f64().unwrap();
    assert!((0.0..1000.0).contains(&p99), "{el}");
    assert!(el["delayMaxMs"].as_f64().unwrap() >= p99, "{el}");
    assert!(el["utilization"].as_f64().unwrap() >= 0.0, "{el}");
    assert!(el["cpuCoreRatio"].as_f64().unwrap() >= 0.0, "{el}");
    assert_eq!(
        h["plugins"],
        json!({ "loaded": [], "errors": [], "unavailable": [] })
    );
    assert_eq!(h["configReload"], json!({ "hotReloadStatus": "active" }));
    assert_eq!(h["channels"], json!({}));
    assert_eq!(h["channelOrder"], json!([]));
    assert_eq!(h["channelLabels"], json!({}));
    assert_eq!(h["sessions"], a["sessions"]);
    assert_eq!(h["sessions"]["recent"], json!([]));
    assert!(h["durationMs"].as_u64().unwrap() < 1000, "{h}");
    let ts = h["ts"].as_u64().unwrap();
    let now = openclaw::server::now_ms();
    assert!(ts <= now && now - ts < 120_000, "ts {ts} vs now {now}");
    // The hello snapshot carries the same document.
    assert_eq!(hello["snapshot"]["health"]["agents"], h["agents"]);
    // probe:true builds a fresh snapshot.
    let p = c.ok("health", json!({ "probe": true })).await;
    assert_eq!(p["ok"], true);
    assert!(p["ts"].as_u64().unwrap() >= h["ts"].as_u64().unwrap());
    assert_eq!(p["agents"][0]["agentId"], "main");
    g.stop().await;
}

#[tokio::test]
async fn status_result_shape() {
    let g = start().await;
    let (mut c, hello) = operator(g.addr, ALL_SCOPES).await;
    let st = c
        .ok("status", json!({ "includeChannelSummary": false }))
        .await;
    assert_eq!(st["runtimeVersion"], hello["server"]["version"]);
    assert_eq!(
        st["pid"],
        std::process::id(),
        "the gateway runs in this process"
    );
    assert_eq!(st["sessions"]["count"], 0);
    assert_eq!(st["sessions"]["byAgent"][0]["agentId"], "main");
    assert!(st["sessions"]["paths"]
        .as_array()
        .is_some_and(|p| p.len() == 1));
    assert_eq!(st["heartbeat"]["defaultAgentId"], "main");
    assert_eq!(st["heartbeat"]["agents"][0]["everyMs"], 1_800_000);
    assert_eq!(
        st["hostDesktop"],
        json!({ "enabled": false, "state": "disabled", "port": 5900 })
    );
    assert_eq!(st["channelSummary"], json!([]));
    assert_eq!(st["queuedSystemEvents"], json!([]));
    assert_eq!(st["tasks"]["total"], 0);
    assert_eq!(st["tasks"]["byRuntime"]["cron"], 0);
    assert_eq!(st["taskAudit"]["total"], 0);
    assert_eq!(st["eventLoop"]["intervalMs"], 500);
    assert_eq!(st["shutdownBudget"]["activeWork"]["rootRequests"], 0);
    assert_eq!(st["shutdownBudget"]["timeoutMs"], 5000);
    assert_eq!(st["shutdownBudget"]["nativeStopBudget"], false);
    assert_eq!(st["processMemory"]["heapUsedBytes"], 0);
    assert!(st["processMemory"]["rssBytes"].as_u64().unwrap() > 0);
    // Admin callers see where the config lives.
    assert_eq!(
        st["configPath"],
        g.dir.join("openclaw.json").display().to_string()
    );
    assert!(st["stateDir"].is_string());
    g.stop().await;
}

#[tokio::test]
async fn presence_system_event_and_last_heartbeat() {
    let g = start().await;
    let (mut c, _) = operator(g.addr, ALL_SCOPES).await;
    let list = c.ok("system-presence", json!({})).await;
    let me = &list.as_array().expect("bare array")[0];
    assert_eq!(me["mode"], "gateway");
    assert_eq!(me["reason"], "self");
    assert!(
        me["text"]
            .as_str()
            .unwrap()
            .contains("mode gateway · reason self"),
        "{me}"
    );
    // The host's first external IPv4 address, also in the text (as on the Node gateway,
    // which shows it even when bound to loopback); none on a host without one.
    match openclaw::procnet::primary_ipv4() {
        Some(ip) => {
            assert_eq!(me["ip"], ip.to_string(), "{me}");
            assert!(
                me["text"]
                    .as_str()
                    .unwrap()
                    .contains(&format!(" ({ip}) · ")),
                "{me}"
            );
        }
        None => assert!(me.get("ip").is_none(), "{me}"),
    }

    assert!(
        c.ok("last-heartbeat", json!({})).await.is_null(),
        "no heartbeat yet"
    );
    let text = format!("e2e beacon {}", uuid::Uuid::new_v4());
    let r = c
        .ok("system-event", json!({ "text": text, "mode": "now" }))
        .await;
    assert_eq!(r, json!({ "ok": true }));
    let list = c.ok("system-presence", json!({})).await;
    let entry = list
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["text"] == text.as_str());
    let entry = entry.unwrap_or_else(|| panic!("beacon missing from {list}"));
    assert!(entry["ts"].as_u64().unwrap() > 0);
    let hb = c.ok("last-heartbeat", json!({})).await;
    assert!(hb.is_object(), "heartbeat recorded after mode now: {hb}");
    assert!(hb["ts"].as_u64().unwrap() > 0);
    // The same text again replaces its entry rather than adding one.
    let n = list.as_array().unwrap().len();
    c.ok("system-event", json!({ "text": text })).await;
    assert_eq!(
        c.ok("system-presence", json!({}))
            .await
            .as_array()
            .unwrap()
            .len(),
        n
    );
    g.stop().await;
}

#[tokio::test]
async fn set_heartbeats_switches_health_and_status() {
    let g = start().await;
    let (mut c, _) = operator(g.addr, ALL_SCOPES).await;
    // The connect-time health event precedes this response; drop it from the backlog.
    c.ok("health", json!({})).await;
    c.events.clear();
    let r = c.ok("set-heartbeats", json!({ "enabled": false })).await;
    assert_eq!(r, json!({ "ok": true, "enabled": false }));
    let h = c.ok("health", json!({})).await;
    assert_eq!(
        h["agents"][0]["heartbeat"]["enabled"], false,
        "cached health reflects the switch"
    );
    assert_eq!(
        c.ok("status", json!({})).await["heartbeat"]["agents"][0]["enabled"],
        false
    );
    // The change is broadcast as a health event.
    let ev = c.event("health").await;
    assert_eq!(ev["payload"]["agents"][0]["heartbeat"]["enabled"], false);
    let r = c.ok("set-heartbeats", json!({ "enabled": true })).await;
    assert_eq!(r, json!({ "ok": true, "enabled": true }));
    assert_eq!(
        c.ok("health", json!({})).await["agents"][0]["heartbeat"]["enabled"],
        true
    );
    g.stop().await;
}

#[tokio::test]
async fn gateway_identity_is_derived_and_stable_across_restart() {
    let g = start().await;
    let (mut c, _) = operator(g.addr, &["operator.read"]).await;
    let id = c.ok("gateway.identity.get", json!({})).await;
    let pk = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(id["publicKey"].as_str().unwrap())
        .expect("publicKey is base64url without padding");
    assert_eq!(pk.len(), 32);
    assert_eq!(id["deviceId"], hex::encode(Sha256::digest(&pk)));
    drop(c);
    let dir = g.stop().await;

    let g2 = start_with(Setup {
        dir: Some(dir.clone()),
        ..Setup::default()
    })
    .await;
    let (mut c2, _) = operator(g2.addr, &["operator.read"]).await;
    let id2 = c2.ok("gateway.identity.get", json!({})).await;
    assert_eq!(
        id2["deviceId"], id["deviceId"],
        "same state dir, same identity"
    );
    assert_eq!(id2["publicKey"], id["publicKey"]);
    g2.stop().await;

    // A different state dir is a different gateway.
    let g3 = start().await;
    let (mut c3, _) = operator(g3.addr, &["operator.read"]).await;
    assert_ne!(
        c3.ok("gateway.identity.get", json!({})).await["deviceId"],
        id["deviceId"]
    );
    g3.stop().await;
}

#[tokio::test]
async fn models_list_empty_then_configured() {
    let g = start().await;
    let (mut c, _) = operator(g.addr, &["operator.read"]).await;
    assert_eq!(
        c.ok("models.list", json!({})).await,
        json!({ "models": [] })
    );
    g.stop().await;

    let cfg = r#"{ gateway: { mode: "local", auth: { mode: "token" } },
        models: { providers: { local: { baseUrl: "http://127.0.0.1:9/v1", apiKey: "x",
            api: "openai-completions", models: [{ id: "m1", name: "Model One" }] } } } }"#;
    let g = start_with(Setup::config(cfg)).await;
    let (mut c, _) = operator(g.addr, &["operator.read"]).await;
    let r = c.ok("models.list", json!({ "view": "configured" })).await;
    let models = r["models"].as_array().unwrap();
    assert_eq!(models.len(), 1, "{r}");
    assert_eq!(models[0]["id"], "m1");
    assert_eq!(models[0]["name"], "Model One");
    assert_eq!(models[0]["provider"], "local");
    let r = c.call("models.list", json!({ "view": "everything" })).await;
    assert_invalid(&r, "invalid models.list params");
    g.stop().await;
}

#[tokio::test]
async fn config_get_redacts_secrets() {
    const SECRET_TOKEN: &str = "super-secret-token-xyz";
    const SECRET_KEY: &str = "sk-e2e-provider-key-8c1f";
    let cfg = format!(
        r#"{{ gateway: {{ mode: "local", auth: {{ mode: "token", token: "{SECRET_TOKEN}" }} }},
        models: {{ providers: {{ local: {{ baseUrl: "http://127.0.0.1:9/v1", apiKey: "{SECRET_KEY}",
            api: "openai-completions", models: [{{ id: "m1", name: "Model One" }}] }} }} }} }}"#
    );
    let g = start_with(Setup {
        config: cfg,
        env: vec![],
        ..Setup::default()
    })
    .await;
    let mut c = Client::open(g.addr).await;
    let r = c
        .call(
            "connect",
            connect_params("gateway-client", "backend", ALL_SCOPES, Some(SECRET_TOKEN)),
        )
        .await;
    assert_eq!(r["ok"], true, "connect with the configured token: {r}");
    let hello = r["payload"].clone();

    let v = c.ok("config.get", json!({})).await;
    assert_eq!(v["path"], g.dir.join("openclaw.json").display().to_string());
    assert_eq!(v["exists"], true);
    assert_eq!(v["valid"], true);
    let hash = v["hash"].as_str().expect("hash");
    assert!(!hash.is_empty());
    assert_eq!(v["configRevisionHash"], hash);
    assert_eq!(
        v["appliedConfigHash"],
        hello["snapshot"]["appliedConfigHash"]
    );
    assert_eq!(v["includedPaths"], json!([]));
    assert_eq!(v["issues"], json!([]));
    assert_eq!(v["legacyIssues"], json!([]));
    assert!(v["warnings"].is_array(), "{v}");
    // Every view of the config is the same redacted document, and `raw` is its text.
    for k in ["sourceConfig", "resolved", "runtimeConfig", "config"] {
        assert_eq!(v[k], v["parsed"], "{k}");
    }
    let raw: Value = serde_json::from_str(v["raw"].as_str().unwrap()).unwrap();
    assert_eq!(raw, v["parsed"]);
    // Non-secret values survive; secret ones are replaced everywhere (raw included).
    assert_eq!(v["parsed"]["gateway"]["auth"]["mode"], "token");
    assert_eq!(
        v["parsed"]["models"]["providers"]["local"]["models"][0]["id"],
        "m1"
    );
    assert!(
        v["parsed"]["gateway"]["auth"]["token"].is_string(),
        "the key stays, redacted"
    );
    let text = v.to_string();
    assert!(!text.contains(SECRET_TOKEN), "token leaked: {text}");
    assert!(!text.contains(SECRET_KEY), "apiKey leaked: {text}");
    // The hello snapshot does not leak it either.
    assert!(!hello.to_string().contains(SECRET_TOKEN));
    g.stop().await;
}

fn log_line(i: usize) -> String {
    json!({ "time": format!("2026-01-01T00:00:{:02}.000Z", i % 60), "level": "info", "subsystem": "e2e", "msg": format!("line {i}") })
        .to_string()
}

fn append(path: &std::path::Path, lines: &[String]) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    for l in lines {
        writeln!(f, "{l}").unwrap();
    }
}

fn lines(v: &Value) -> Vec<String> {
    v["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn logs_tail_pages_with_cursors() {
    let g = start().await;
    let file = g.dir.join("openclaw.log");
    let (mut c, _) = operator(g.addr, &["operator.read"]).await;

    let first: Vec<String> = (0..10).map(log_line).collect();
    append(&file, &first);
    let size = std::fs::metadata(&file).unwrap().len();
    let v = c
        .ok("logs.tail", json!({ "limit": 200, "maxBytes": 250000 }))
        .await;
    assert_eq!(v["file"], file.display().to_string());
    assert_eq!(lines(&v), first);
    assert_eq!(v["size"], size);
    assert_eq!(
        v["cursor"], size,
        "the first page ends at the end of the file"
    );
    for l in lines(&v) {
        serde_json::from_str::<Value>(&l).expect("lines are the JSON records");
    }

    // Follow: only what was appended since the cursor.
    let more: Vec<String> = (10..13).map(log_line).collect();
    append(&file, &more);
    let size2 = std::fs::metadata(&file).unwrap().len();
    let v = c
        .ok(
            "logs.tail",
            json!({ "cursor": size, "limit": 200, "maxBytes": 250000 }),
        )
        .await;
    assert_eq!(lines(&v), more);
    assert_eq!(v["cursor"], size2);
    assert!(v.get("reset").is_none());
    let v = c.ok("logs.tail", json!({ "cursor": size2 })).await;
    assert_eq!(lines(&v), Vec::<String>::new(), "nothing new");
    assert_eq!(v["cursor"], size2);

    // A cursor past the end (rotated/truncated file) starts over.
    let v = c.ok("logs.tail", json!({ "cursor": size2 + 1000 })).await;
    assert_eq!(v["reset"], true);
    assert_eq!(lines(&v).len(), 13);

    // limit bounds: the tail keeps the LAST lines, a cursor page the FIRST ones.
    let v = c.ok("logs.tail", json!({ "limit": 2 })).await;
    assert_eq!(lines(&v), vec![log_line(11), log_line(12)]);
    assert_eq!(v["cursor"], size2);
    let v = c.ok("logs.tail", json!({ "cursor": 0, "limit": 2 })).await;
    assert_eq!(lines(&v), vec![log_line(0), log_line(1)]);
    let two = (log_line(0).len() + log_line(1).len() + 2) as u64;
    assert_eq!(
        v["cursor"], two,
        "the cursor stops after the lines returned"
    );
    let v = c
        .ok("logs.tail", json!({ "cursor": two, "limit": 1 }))
        .await;
    assert_eq!(lines(&v), vec![log_line(2)]);

    // maxBytes bounds: only complete lines inside the window.
    let last = log_line(12).len() + 1;
    let v = c.ok("logs.tail", json!({ "maxBytes": last + 5 })).await;
    assert_eq!(lines(&v), vec![log_line(12)]);
    let v = c
        .ok(
            "logs.tail",
            json!({ "cursor": 0, "maxBytes": log_line(0).len() + 1 }),
        )
        .await;
    assert_eq!(lines(&v), vec![log_line(0)]);

    for bad in [
        json!({ "limit": 0 }),
        json!({ "limit": 5001 }),
        json!({ "maxBytes": 0 }),
        json!({ "maxBytes": 1_000_001 }),
        json!({ "cursor": -1 }),
    ] {
        let r = c.call("logs.tail", bad.clone()).await;
        assert_invalid(&r, "invalid logs.tail params");
    }
    g.stop().await;
}

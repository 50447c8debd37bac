//! The Control UI's settings and set-up methods against a real gateway: the generated config
//! schema and its lookups, config writes (hash guard, validation, atomic write with a backup,
//! hot apply, refusals that keep the old file), provider set-up by pasting a key, and the
//! owner's profile and preferences (persisted across a restart, token callers refused).

use serde_json::{json, Value};

use crate::agents::wait_chat_state;
use crate::device_key::Device;
use crate::upstream::{Upstream, UpstreamOpts};
use crate::util::*;

#[tokio::test]
async fn config_schema_is_generated_and_looked_up() {
    let g = start().await;
    let (mut c, _) = operator(g.addr, ALL_SCOPES).await;
    let s = c.ok("config.schema", json!({})).await;
    assert_eq!(s["version"], env!("CARGO_PKG_VERSION"));
    assert!(s["generatedAt"].as_str().is_some_and(|t| t.ends_with('Z')));
    let port = &s["schema"]["properties"]["gateway"]["properties"]["port"];
    assert_eq!(
        (port["type"].as_str(), port["maximum"].as_u64()),
        (Some("integer"), Some(65535))
    );
    assert_eq!(s["uiHints"]["gateway.port"]["label"], "Port");
    assert_eq!(s["uiHints"]["models.providers.*.apiKey"]["sensitive"], true);
    let l = c
        .ok("config.schema.lookup", json!({ "path": "gateway" }))
        .await;
    assert_eq!(l["reloadKind"], "restart");
    let kids: Vec<&str> = l["children"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|k| k["key"].as_str())
        .collect();
    assert!(
        kids.contains(&"port") && kids.contains(&"controlUi"),
        "{kids:?}"
    );
    let l = c
        .ok("config.schema.lookup", json!({ "path": "logging.level" }))
        .await;
    assert_eq!(
        (l["reloadKind"].as_str(), l["hint"]["label"].as_str()),
        (Some("hot"), Some("Level"))
    );
    assert!(l["schema"]["enum"]
        .as_array()
        .is_some_and(|e| e.contains(&json!("debug"))));
    let l = c
        .ok(
            "config.schema.lookup",
            json!({ "path": "models.providers.openai" }),
        )
        .await;
    assert_eq!(l["hintPath"], "models.providers.*");
    let e = c
        .call("config.schema.lookup", json!({ "path": "nope.path" }))
        .await;
    assert_eq!(e["error"]["message"], "config schema path not found");
    let e = c
        .call("config.schema.lookup", json!({ "path": "a b" }))
        .await;
    assert_eq!(e["error"]["code"], "INVALID_REQUEST");
    g.stop().await;
}

fn cfg_file(g: &TestGateway) -> String {
    std::fs::read_to_string(g.dir.join("openclaw.json")).unwrap()
}

#[tokio::test]
async fn config_writes_are_guarded_validated_backed_up_and_applied() {
    let g = start().await;
    let (mut c, _) = operator(g.addr, ALL_SCOPES).await;
    let hash = c.ok("config.get", json!({})).await["hash"]
        .as_str()
        .unwrap()
        .to_string();
    let before = cfg_file(&g);
    let refusals = [
        (json!({ "raw": "{logging:{level:'debug'}}" }), "config base hash required for logging.level; re-run config.get and retry with baseHash"),
        (json!({ "raw": "{}", "baseHash": "sha256:stale" }), "config changed since last load; re-run config.get and retry"),
        (json!({ "raw": "[1]", "baseHash": hash }), "config.patch raw must be an object"),
        (json!({ "raw": "{logging:{level:'loud'}}", "baseHash": hash }), "invalid config: logging.level"),
        (json!({ "raw": "{bad", "baseHash": hash }), "SyntaxError: "),
        (json!({ "raw": "{gateway:{mode:null}}", "baseHash": hash }), "Config write rejected"),
    ];
    for (params, want) in refusals {
        let e = c.call("config.patch", params.clone()).await;
        let msg = e["error"]["message"].as_str().unwrap_or_default();
        assert!(msg.starts_with(want), "{params} -> {e}");
    }
    let e = c
        .call(
            "config.patch",
            json!({ "raw": "{logging:{level:'loud'}}", "baseHash": hash }),
        )
        .await;
    assert_eq!(e["error"]["details"]["issues"][0]["path"], "logging.level");
    assert_eq!(
        cfg_file(&g),
        before,
        "a refused write leaves the file alone"
    );
    assert!(!g.dir.join("openclaw.json.bak").exists());

    // A hot change: written with a backup, applied at once, announced.
    let raw =
        json!({ "gateway": { "reload": { "mode": "hot" } }, "ui": { "seamColor": "#00ff00" } });
    let r = c
        .ok(
            "config.patch",
            json!({ "raw": raw.to_string(), "baseHash": hash, "note": "x" }),
        )
        .await;
    assert_eq!(
        r["changedPaths"],
        json!(["gateway.reload.mode", "ui.seamColor"])
    );
    assert_eq!(r["sentinel"]["payload"]["stats"]["requiresRestart"], false);
    let ev = c.event("config.changed").await;
    assert_eq!(ev["payload"]["hash"], r["hash"]);
    assert_eq!(
        std::fs::read_to_string(g.dir.join("openclaw.json.bak")).unwrap(),
        before
    );
    let written: Value = serde_json::from_str(&cfg_file(&g)).unwrap();
    assert_eq!(written["gateway"]["mode"], "local");
    assert_eq!(written["ui"]["seamColor"], "#00ff00");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(g.dir.join("openclaw.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let got = c.ok("config.get", json!({})).await;
    assert_eq!(got["hash"], r["hash"]);
    assert_eq!(g.gw.cfg.load().reload_mode.as_str(), "hot");

    // config.set replaces the whole file; the old hash no longer works.
    let e = c
        .call(
            "config.set",
            json!({ "raw": "{gateway:{mode:'local'}}", "baseHash": hash }),
        )
        .await;
    assert_eq!(
        e["error"]["message"],
        "config changed since last load; re-run config.get and retry"
    );
    let h2 = r["hash"].as_str().unwrap();
    let s = c
        .ok(
            "config.set",
            json!({ "raw": "{gateway:{mode:'local', auth:{mode:'token'}}}", "baseHash": h2 }),
        )
        .await;
    assert!(s.get("sentinel").is_none());
    assert_eq!(
        s["config"],
        json!({ "gateway": { "mode": "local", "auth": { "mode": "token" } } })
    );
    assert_eq!(g.gw.cfg.load().reload_mode.as_str(), "hybrid");
    g.stop().await;
}

fn provider_only(up: &Upstream) -> String {
    format!(
        r#"{{ gateway: {{ mode: "local", auth: {{ mode: "token" }} }},
             models: {{ providers: {{ fake: {{ baseUrl: "{}", api: "openai-completions" }} }} }} }}"#,
        up.openai_base()
    )
}

#[tokio::test]
async fn a_pasted_key_makes_chat_work_without_editing_the_config() {
    let up = Upstream::start(UpstreamOpts {
        require_key: Some("sk-pasted-123".into()),
        ..UpstreamOpts::default()
    })
    .await;
    let g = start_with(Setup::config(&provider_only(&up))).await;
    let (mut c, _) = operator(g.addr, ALL_SCOPES).await;
    let st = c.ok("models.authStatus", json!({})).await;
    assert_eq!(st["providers"][0]["provider"], "fake");
    assert_eq!(st["providers"][0]["status"], "missing");
    let d = c.ok("openclaw.setup.detect", json!({})).await;
    assert_eq!(
        (d["setupComplete"].as_bool(), d["candidates"].clone()),
        (Some(false), json!([]))
    );
    let e = c
        .call(
            "models.authSetApiKey",
            json!({ "provider": "fake", "apiKey": " " }),
        )
        .await;
    assert_eq!(
        e["error"]["message"],
        "invalid models.authSetApiKey params: at /apiKey: must match pattern \"\\S\""
    );
    let e = c
        .call("models.authStatus", json!({ "agentId": "nope" }))
        .await;
    assert_eq!(e["error"]["details"]["code"], "UNKNOWN_AGENT_ID");

    let r = c
        .ok(
            "models.authSetApiKey",
            json!({ "provider": "fake", "apiKey": "sk-pasted-123" }),
        )
        .await;
    assert_eq!(r, json!({ "provider": "fake", "profileId": "fake:manual" }));
    let file = cfg_file(&g);
    assert!(
        !file.contains("sk-pasted-123"),
        "the key never goes into the config"
    );
    let written: Value = serde_json::from_str(&file).unwrap();
    let key_ref = &written["models"]["providers"]["fake"]["apiKey"];
    assert_eq!(key_ref["source"], "file");
    let key_file = std::path::PathBuf::from(key_ref["path"].as_str().unwrap());
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), "sk-pasted-123");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    assert_eq!(
        written["models"]["providers"]["fake"]["models"][0]["id"],
        "echo-1"
    );
    assert_eq!(written["agents"]["defaults"]["model"], "fake/echo-1");
    let st = c.ok("models.authStatus", json!({})).await;
    assert_eq!(st["providers"][0]["status"], "static");
    assert_eq!(st["providers"][0]["apiKey"]["source"], "file");
    let d = c.ok("openclaw.setup.detect", json!({})).await;
    assert_eq!(d["configuredModel"], "fake/echo-1");
    let meta = c.ok("chat.metadata", json!({ "agentId": "main" })).await;
    assert_eq!(meta["models"][0]["tags"], json!(["default"]));

    c.ok(
        "chat.send",
        json!({ "sessionKey": "main", "message": "hello", "idempotencyKey": "k-1" }),
    )
    .await;
    let fin = wait_chat_state(&mut c, "k-1", &["final", "error"]).await;
    assert_eq!(fin["state"], "final", "{fin}");
    assert!(up.state.count("/v1/chat/completions") >= 1);
    g.stop().await;
}

async fn owner(addr: std::net::SocketAddr, dev: &Device) -> Client {
    let mut c = Client::open(addr).await;
    let mut p = connect_params("cli", "cli", ALL_SCOPES, Some(TOKEN));
    dev.attach(&mut p, &c);
    let r = c.call("connect", p).await;
    assert_eq!(r["ok"], true, "{r}");
    c
}

#[tokio::test]
async fn the_owner_keeps_preferences_and_themes_across_a_restart() {
    let g = start().await;
    let dev = Device::new();
    let mut ui = owner(g.addr, &dev).await;
    let me = ui.ok("users.self", json!({})).await;
    assert_eq!(me["profile"]["id"], "gateway-owner");
    let (mut cli, _) = operator(g.addr, ALL_SCOPES).await;
    let e = cli.call("users.self", json!({})).await;
    assert_eq!(e["error"]["code"], "FORBIDDEN");
    let none = cli
        .ok("users.prefs.set", json!({ "entries": { "a": 1 } }))
        .await;
    assert_eq!(none, json!({ "status": "no_durable_identity" }));

    let ok = ui
        .ok(
            "users.prefs.set",
            json!({ "entries": { "ui.fontChat": "x", "n": 5 } }),
        )
        .await;
    assert_eq!(ok, json!({ "status": "ok" }));
    let ev = ui.event("users.prefs.changed").await;
    assert_eq!(ev["payload"]["profileId"], "gateway-owner");
    let stale = json!({ "entries": { "n": 6 }, "expectedEntries": { "n": 4 } });
    assert_eq!(
        ui.ok("users.prefs.set", stale).await,
        json!({ "status": "conflict" })
    );
    let e = ui
        .call("users.prefs.set", json!({ "entries": { "": 1 } }))
        .await;
    assert_eq!(
        e["error"]["message"],
        "invalid users.prefs.set entry for : invalid-key"
    );
    let t = ui
        .ok("themes.set", json!({ "id": "knot", "mode": "dark" }))
        .await;
    assert_eq!(
        (t["current"]["id"].as_str(), t["application"].as_str()),
        (Some("knot"), Some("saved"))
    );
    let e = ui.call("themes.set", json!({ "id": "nope" })).await;
    assert_eq!(
        e["error"]["message"],
        "Theme nope is unavailable. List themes to choose an installed theme."
    );
    let e = cli.call("themes.set", json!({ "id": "knot" })).await;
    assert_eq!(e["error"]["code"], "INVALID_REQUEST");

    let dir = g.stop().await;
    let g = start_with(Setup {
        dir: Some(dir),
        ..Setup::default()
    })
    .await;
    let mut ui = Client::open(g.addr).await;
    let mut p = connect_params("cli", "cli", ALL_SCOPES, Some(TOKEN));
    dev.attach(&mut p, &ui);
    assert_eq!(ui.call("connect", p).await["ok"], true);
    let got = ui.ok("users.prefs.get", json!({})).await;
    assert_eq!(
        got["entries"],
        json!({ "ui.fontChat": "x", "n": 5, "ui.theme": "knot", "ui.themeMode": "dark" })
    );
    let list = ui.ok("themes.list", json!({})).await;
    assert_eq!(list["current"]["id"], "knot");
    assert!(list["themes"].as_array().is_some_and(|t| t.len() > 5));
    assert_eq!(
        ui.ok("users.self", json!({})).await["profile"]["createdAt"],
        me["profile"]["createdAt"]
    );
    g.stop().await;
}

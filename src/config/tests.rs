//! Tests: paths, port/bind precedence, JSON5 parsing, substitution, validation, redaction.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::json;

use super::*;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Fresh, empty home directory for one test.
pub(super) fn temp_home() -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("openclaw-cfgtest-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub(super) fn env_for(home: &Path, extra: &[(&str, &str)]) -> Env {
    let mut pairs = vec![("HOME".to_string(), home.display().to_string())];
    pairs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Env::from_pairs(pairs)
}

/// Write `text` as `~/.openclaw/openclaw.json` and load it.
pub(super) fn load_text(
    text: &str,
    extra: &[(&str, &str)],
    args: &LoadArgs,
) -> Result<GatewayConfig, ConfigError> {
    let home = temp_home();
    std::fs::create_dir_all(home.join(".openclaw")).unwrap();
    std::fs::write(home.join(".openclaw/openclaw.json"), text).unwrap();
    load(args, &env_for(&home, extra))
}

fn issues(err: ConfigError) -> Vec<String> {
    match err {
        ConfigError::Invalid { issues, .. } => issues,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn paths_default_profile_dev_and_env() {
    let home = Path::new("/home/u");
    let env = env_for(home, &[]);
    let p = resolve_paths(&LoadArgs::default(), &env).unwrap();
    assert_eq!(p.state_dir, home.join(".openclaw"));
    assert_eq!(p.config_path, home.join(".openclaw/openclaw.json"));
    assert_eq!(p.profile, None);

    let args = LoadArgs {
        profile: Some("work".into()),
        ..Default::default()
    };
    let p = resolve_paths(&args, &env).unwrap();
    assert_eq!(p.state_dir, home.join(".openclaw-work"));
    assert_eq!(p.profile.as_deref(), Some("work"));

    let args = LoadArgs {
        dev: true,
        ..Default::default()
    };
    assert_eq!(
        resolve_paths(&args, &env).unwrap().state_dir,
        home.join(".openclaw-dev")
    );

    let env = env_for(home, &[("OPENCLAW_PROFILE", "ci")]);
    assert_eq!(
        resolve_paths(&LoadArgs::default(), &env).unwrap().state_dir,
        home.join(".openclaw-ci")
    );
    let env = env_for(home, &[("OPENCLAW_PROFILE", "default")]);
    assert_eq!(
        resolve_paths(&LoadArgs::default(), &env).unwrap().state_dir,
        home.join(".openclaw")
    );

    let env = env_for(home, &[("OPENCLAW_HOME", "/srv/oc")]);
    assert_eq!(
        resolve_paths(&LoadArgs::default(), &env).unwrap().state_dir,
        Path::new("/srv/oc/.openclaw")
    );

    let env = env_for(
        home,
        &[
            ("OPENCLAW_STATE_DIR", "~/state"),
            ("OPENCLAW_CONFIG_PATH", "/etc/oc.json5"),
        ],
    );
    let args = LoadArgs {
        dev: true,
        ..Default::default()
    };
    let p = resolve_paths(&args, &env).unwrap();
    assert_eq!(p.state_dir, home.join("state"));
    assert_eq!(p.config_path, Path::new("/etc/oc.json5"));

    let env = env_for(home, &[("OPENCLAW_STATE_DIR", "/s")]);
    assert_eq!(
        resolve_paths(&LoadArgs::default(), &env)
            .unwrap()
            .config_path,
        Path::new("/s/openclaw.json")
    );

    let bad = LoadArgs {
        profile: Some("../x".into()),
        ..Default::default()
    };
    assert!(matches!(
        resolve_paths(&bad, &env),
        Err(ConfigError::Usage(_))
    ));
}

#[test]
fn log_file_names() {
    let d = clock::LocalTime::utc_from_epoch_ms(1_795_373_683_647);
    assert_eq!(d.date_string(), "2026-11-22");
    assert_eq!(
        default_log_file(None, &d),
        Path::new("/tmp/openclaw/openclaw-2026-11-22.log")
    );
    assert_eq!(
        default_log_file(Some("dev"), &d),
        Path::new("/tmp/openclaw/openclaw-dev-2026-11-22.log")
    );
    assert_eq!(encode_log_profile_segment("My_p-1"), "-1my-0p--1");
    assert_eq!(d.long_string(), "2026-11-22T18:54:43.647+00:00");
    assert_eq!(d.utc_iso_string(), "2026-11-22T18:54:43.647Z");
}

#[test]
fn missing_file_gives_defaults() {
    let home = temp_home();
    let cfg = load(&LoadArgs::default(), &env_for(&home, &[])).unwrap();
    assert!(!cfg.exists);
    assert_eq!(cfg.raw, "");
    assert_eq!(cfg.parsed, json!({}));
    assert_eq!((cfg.port, cfg.port_source), (18789, PortSource::Default));
    assert_eq!(cfg.bind, BindMode::Loopback);
    assert_eq!(cfg.bind_host.to_string(), "127.0.0.1");
    assert_eq!(cfg.mode, None);
    assert_eq!(cfg.reload_mode, ReloadMode::Hybrid);
    assert_eq!(cfg.heartbeat_every_ms, 1_800_000);
    assert_eq!(cfg.default_agent_id, "main");
    assert_eq!(cfg.limits, Limits::default());
    assert_eq!(cfg.auth.rate_limit, RateLimitConfig::default());
    assert_eq!(cfg.http, HttpEndpoints::default());
    assert!(cfg.control_ui_enabled && cfg.control_ui_base_path.is_empty());
    assert_eq!(cfg.logging.level, LogLevel::Info);
    assert!(cfg.logging.rolling && cfg.logging.file.starts_with("/tmp/openclaw"));
    assert!(cfg.raw_sha256.starts_with("sha256:e3b0c442"));
}

#[test]
fn port_precedence() {
    let text = r#"{ gateway: { port: 18800 } }"#;
    let cli = LoadArgs {
        port: Some(18900),
        ..Default::default()
    };
    let env = [("OPENCLAW_GATEWAY_PORT", "18850")];
    let c = load_text(text, &env, &cli).unwrap();
    assert_eq!((c.port, c.port_source), (18900, PortSource::Cli));
    let c = load_text(text, &env, &LoadArgs::default()).unwrap();
    assert_eq!((c.port, c.port_source), (18850, PortSource::Env));
    let c = load_text(text, &[], &LoadArgs::default()).unwrap();
    assert_eq!((c.port, c.port_source), (18800, PortSource::Config));
    let c = load_text(
        "{}",
        &[("OPENCLAW_GATEWAY_PORT", "nope")],
        &LoadArgs::default(),
    )
    .unwrap();
    assert_eq!((c.port, c.port_source), (18789, PortSource::Default));
    assert!(c
        .warnings
        .iter()
        .any(|w| w.contains("OPENCLAW_GATEWAY_PORT")));
    let dev = LoadArgs {
        dev: true,
        ..Default::default()
    };
    let c = load_text("{}", &[], &dev).unwrap();
    assert_eq!((c.port, c.port_source), (19001, PortSource::Default));
    assert!(c.state_dir.ends_with(".openclaw-dev") && !c.exists);
    assert_eq!(
        c.logging.file.file_name().unwrap().to_str().unwrap()[..13].to_string(),
        "openclaw-dev-"
    );
}

#[test]
fn bind_modes() {
    let host =
        |text: &str, args: &LoadArgs| load_text(text, &[], args).unwrap().bind_host.to_string();
    let d = LoadArgs::default();
    assert_eq!(host(r#"{gateway:{bind:"lan"}}"#, &d), "0.0.0.0");
    assert_eq!(host(r#"{gateway:{bind:"loopback"}}"#, &d), "127.0.0.1");
    // tailnet / auto depend on the host: `config::bind` tests them with injected facts.
    assert_eq!(
        host(
            r#"{gateway:{bind:"custom", customBindHost:"10.1.2.3"}}"#,
            &d
        ),
        "10.1.2.3"
    );
    let cli = LoadArgs {
        bind: Some(BindMode::Lan),
        ..Default::default()
    };
    let c = load_text(r#"{gateway:{bind:"loopback", port: 1234}}"#, &[], &cli).unwrap();
    assert_eq!(
        (c.bind, c.bind_host.to_string()),
        (BindMode::Lan, "0.0.0.0".to_string())
    );
    assert_eq!(
        c.control_ui_allowed_origins,
        ["http://localhost:1234", "http://127.0.0.1:1234"]
    );
    let e = issues(
        load_text(
            r#"{gateway:{bind:"0.0.0.0", customBindHost: "::1"}}"#,
            &[],
            &d,
        )
        .unwrap_err(),
    );
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(e[0].starts_with("gateway.bind: expected one of loopback|lan|tailnet|auto|custom"));
}

#[test]
fn json5_comments_trailing_commas_and_unknown_keys() {
    let text = "// leading comment\n{\n  /* block */ gateway: { mode: 'local', port: 18801, },\n  someUpstreamKey: { nested: [1, 2, 3,], },\n  channels: { telegram: { enabled: true } },\n}\n";
    let c = load_text(text, &[], &LoadArgs::default()).unwrap();
    assert!(c.exists);
    assert_eq!(c.mode.as_deref(), Some("local"));
    assert_eq!(c.port, 18801);
    assert_eq!(c.parsed["someUpstreamKey"]["nested"], json!([1, 2, 3]));
    assert_eq!(c.parsed["channels"]["telegram"]["enabled"], json!(true));
    assert_eq!(c.raw, text);
    assert_eq!(c.raw_sha256, raw_sha256(text));
}

#[test]
fn syntax_error_is_invalid() {
    let e = load_text("{ gateway: { port: 1 ", &[], &LoadArgs::default()).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.starts_with("Invalid config at ") && msg.contains("JSON5 parse error at line 1"),
        "{msg}"
    );
    assert_eq!(e.exit_code(), EXIT_CONFIG);
}

#[test]
fn type_errors_are_listed() {
    let text = r#"{
        gateway: { port: "18789", auth: { mode: "magic", rateLimit: { maxAttempts: 0 } },
                   reload: { mode: "sometimes" }, limits: { tickIntervalMs: -5, bogus: 1 },
                   http: { endpoints: { chatCompletions: { enabled: "yes" } } }, trustedProxies: [1] },
        logging: { level: "loud" },
        agents: { defaults: { heartbeat: { every: "soon" } } },
    }"#;
    let e = issues(load_text(text, &[], &LoadArgs::default()).unwrap_err());
    let has = |p: &str| e.iter().any(|i| i.starts_with(p));
    for p in [
        "gateway.port: expected an integer between 1 and 65535, got string \"18789\"",
        "gateway.auth.mode:",
        "gateway.auth.rateLimit.maxAttempts:",
        "gateway.reload.mode: expected one of off|hot|restart|hybrid",
        "gateway.limits.bogus: unknown key",
        "gateway.limits.tickIntervalMs:",
        "gateway.http.endpoints.chatCompletions.enabled: expected a boolean",
        "gateway.trustedProxies[0]:",
        "logging.level:",
        "agents.defaults.heartbeat.every:",
    ] {
        assert!(has(p), "missing {p:?} in {e:#?}");
    }
    assert_eq!(e.len(), 10, "{e:#?}");
    let e = issues(load_text("[1]", &[], &LoadArgs::default()).unwrap_err());
    assert_eq!(e, ["<root>: expected an object, got an array"]);
    let e = issues(load_text(r#"{gateway:{port: 70000}}"#, &[], &LoadArgs::default()).unwrap_err());
    assert_eq!(e.len(), 1);
}

#[test]
fn env_substitution_and_escape() {
    let env = Env::from_pairs([("A_B", "x"), ("EMPTY", "")]);
    let mut w = Vec::new();
    assert_eq!(substitute_string("p-${A_B}-s", &env, "k", &mut w), "p-x-s");
    assert_eq!(substitute_string("$${A_B}", &env, "k", &mut w), "${A_B}");
    assert_eq!(
        substitute_string("${lower} $5 $", &env, "k", &mut w),
        "${lower} $5 $"
    );
    assert!(w.is_empty());
    assert_eq!(
        substitute_string("${MISSING}/${EMPTY}", &env, "a.b", &mut w),
        "${MISSING}/${EMPTY}"
    );
    assert_eq!(
        w,
        [
            "Missing env var \"MISSING\" referenced at config path: a.b",
            "Missing env var \"EMPTY\" referenced at config path: a.b",
        ]
    );

    let text = r#"{ gateway: { mode: "${GW_MODE}", controlUi: { basePath: "$${KEEP}" } }, list: ["${NOPE}"] }"#;
    let c = load_text(text, &[("GW_MODE", "local")], &LoadArgs::default()).unwrap();
    assert_eq!(c.mode.as_deref(), Some("local"));
    assert_eq!(c.parsed["gateway"]["controlUi"]["basePath"], "${KEEP}");
    assert_eq!(c.parsed["list"][0], "${NOPE}");
    assert_eq!(
        c.warnings,
        ["Missing env var \"NOPE\" referenced at config path: list[0]"]
    );
}

#[test]
fn misc_resolution() {
    let text = r#"{
        gateway: { mode: "local", controlUi: { basePath: "ui/" }, reload: { mode: "off" },
                   http: { endpoints: { chatCompletions: { enabled: true } } },
                   limits: { tickIntervalMs: 1000, maxPayload: 2048 },
                   auth: { rateLimit: { maxAttempts: 3, exemptLoopback: false } } },
        logging: { level: "debug", file: "~/logs/gw.log", maxFileBytes: 1000 },
        agents: { defaults: { heartbeat: { every: "1h30m" } }, list: [{ id: "Ops" }, { id: "Main2", default: true }] },
    }"#;
    let env = [
        ("OPENCLAW_HANDSHAKE_TIMEOUT_MS", "2500"),
        ("OPENCLAW_LOG_LEVEL", "warn"),
        ("OPENCLAW_ALLOW_MULTI_GATEWAY", "1"),
    ];
    let args = LoadArgs {
        verbose: true,
        ..Default::default()
    };
    let c = load_text(text, &env, &args).unwrap();
    assert_eq!(c.control_ui_base_path, "/ui");
    assert_eq!(c.reload_mode, ReloadMode::Off);
    assert_eq!(
        c.http,
        HttpEndpoints {
            chat_completions: true,
            responses: false
        }
    );
    assert_eq!(
        (
            c.limits.tick_interval_ms,
            c.limits.max_payload,
            c.limits.handshake_timeout_ms
        ),
        (1000, 2048, 2500)
    );
    assert_eq!(
        (
            c.auth.rate_limit.max_attempts,
            c.auth.rate_limit.exempt_loopback
        ),
        (3, false)
    );
    assert_eq!(c.auth.rate_limit.window_ms, 60_000);
    assert_eq!(
        (c.logging.level, c.logging.console_level),
        (LogLevel::Warn, LogLevel::Debug)
    );
    assert!(
        !c.logging.rolling
            && c.logging.file.ends_with("logs/gw.log")
            && c.logging.file.is_absolute()
    );
    assert_eq!(c.logging.max_file_bytes, 1000);
    assert_eq!(c.heartbeat_every_ms, 5_400_000);
    assert_eq!(c.default_agent_id, "main2");
    assert!(c.allow_multi_gateway);
    let c = load_text(
        r#"{agents:{entries:{solo:{}}}}"#,
        &[("OPENCLAW_MAX_PREAUTH_CONNECTIONS_PER_IP", "4")],
        &LoadArgs::default(),
    )
    .unwrap();
    assert_eq!(
        (c.default_agent_id.as_str(), c.limits.max_preauth_per_ip),
        ("solo", 4)
    );
}

#[test]
fn durations() {
    let p = parse_duration_ms;
    assert_eq!(p("1500ms"), Some(1500));
    assert_eq!(p("45s"), Some(45_000));
    assert_eq!(p("30m"), Some(1_800_000));
    assert_eq!(p("1h"), Some(3_600_000));
    assert_eq!(p("2d"), Some(172_800_000));
    assert_eq!(p("1.5s"), Some(1500));
    assert_eq!(p(" 1H30M "), Some(5_400_000));
    assert_eq!(p("250"), Some(250));
    assert_eq!(
        parse_duration_ms_with_default("30", DurationUnit::M),
        Some(1_800_000)
    );
    for bad in ["", "m", "1x", "1h30", "-1s", "1..5s", "h1"] {
        assert_eq!(p(bad), None, "{bad:?}");
    }
}

#[test]
fn redaction() {
    let text = r#"{
        gateway: { mode: "local", auth: { mode: "token", token: "tok-123" }, remote: { password: "pw" } },
        models: { providers: { openai: { apiKey: "sk-1", baseUrl: "https://x" } } },
        channels: { telegram: { botToken: "123:abc", clientSecret: "s", maxTokens: 5, note: "tok-123" } },
        hooks: { token: { source: "env", id: "HOOKS_TOKEN" } },
    }"#;
    let c = load_text(text, &[], &LoadArgs::default()).unwrap();
    let r = c.redacted();
    let s = REDACTED_SENTINEL;
    assert_eq!(r["gateway"]["auth"]["token"], s);
    assert_eq!(r["gateway"]["auth"]["mode"], "token");
    assert_eq!(r["gateway"]["remote"]["password"], s);
    assert_eq!(r["models"]["providers"]["openai"]["apiKey"], s);
    assert_eq!(r["models"]["providers"]["openai"]["baseUrl"], "https://x");
    assert_eq!(r["channels"]["telegram"]["botToken"], s);
    assert_eq!(r["channels"]["telegram"]["clientSecret"], s);
    assert_eq!(r["channels"]["telegram"]["maxTokens"], 5);
    assert_eq!(r["channels"]["telegram"]["note"], s);
    assert_eq!(
        r["hooks"]["token"],
        json!({ "source": "env", "id": "HOOKS_TOKEN" })
    );
    let dbg = format!("{c:?}");
    assert!(!dbg.contains("tok-123") && !dbg.contains("sk-1"), "{dbg}");
}

/// The generated JSON Schema names what the validator accepts.
#[test]
fn schema_follows_the_validator() {
    let s = super::schema::config_schema();
    let limits = s
        .pointer("/properties/gateway/properties/limits/properties")
        .and_then(Value::as_object)
        .expect("gateway.limits");
    let mut names: Vec<&str> = limits.keys().map(String::as_str).collect();
    let mut want = super::limits::LIMIT_KEYS.to_vec();
    names.sort_unstable();
    want.sort_unstable();
    assert_eq!(names, want);
    let modes = s.pointer("/properties/gateway/properties/reload/properties/mode/enum");
    assert_eq!(
        modes,
        Some(&serde_json::json!(super::validate::RELOAD_MODES))
    );
    let runtimes = s.pointer("/properties/gateway/properties/runtime/enum");
    assert_eq!(
        runtimes,
        Some(&serde_json::json!(["tokio", "io_uring", "io_uring_writes"]))
    );
    let port = s.pointer("/properties/gateway/properties/port").unwrap();
    assert_eq!(port["maximum"], 65535);
    assert_eq!(
        s["properties"]["models"]["properties"]["providers"]["additionalProperties"]["properties"]
            ["baseUrl"]["type"],
        "string"
    );
    // Option<T> is optional, not nullable; required ids stay required.
    assert!(s["properties"]["gateway"].get("required").is_none());
    let agent = &s["properties"]["agents"]["properties"]["list"]["items"];
    assert_eq!(agent["required"], serde_json::json!(["id"]));
}

/// `gateway.runtime`: `--io-uring` → `OPENCLAW_GATEWAY_RUNTIME` → config → tokio; a bad env
/// value is warned about and skipped, a bad config value is refused.
#[test]
fn runtime_precedence_and_validation() {
    let none = LoadArgs::default();
    let cfg = r#"{ gateway: { runtime: "io_uring" } }"#;
    assert_eq!(
        load_text("{}", &[], &none).unwrap().runtime,
        NetRuntime::Tokio
    );
    assert_eq!(
        load_text(cfg, &[], &none).unwrap().runtime,
        NetRuntime::IoUring
    );
    let env_tokio = [("OPENCLAW_GATEWAY_RUNTIME", "tokio")];
    assert_eq!(
        load_text(cfg, &env_tokio, &none).unwrap().runtime,
        NetRuntime::Tokio
    );
    let flag = LoadArgs {
        io_uring: true,
        ..Default::default()
    };
    assert_eq!(
        load_text("{}", &env_tokio, &flag).unwrap().runtime,
        NetRuntime::IoUring
    );
    let writes = [("OPENCLAW_GATEWAY_RUNTIME", "io_uring_writes")];
    assert_eq!(
        load_text("{}", &writes, &none).unwrap().runtime,
        NetRuntime::IoUringWrites
    );
    assert_eq!(
        load_text(r#"{ gateway: { runtime: "io_uring_writes" } }"#, &[], &none)
            .unwrap()
            .runtime,
        NetRuntime::IoUringWrites
    );
    let bad_env = load_text(cfg, &[("OPENCLAW_GATEWAY_RUNTIME", "uring")], &none).unwrap();
    assert_eq!(
        bad_env.runtime,
        NetRuntime::IoUring,
        "the config value still applies"
    );
    assert!(
        bad_env
            .warnings
            .iter()
            .any(|w| w.contains("OPENCLAW_GATEWAY_RUNTIME")),
        "{:?}",
        bad_env.warnings
    );
    let e = issues(load_text(r#"{ gateway: { runtime: "epoll" } }"#, &[], &none).unwrap_err());
    assert_eq!(
        e,
        ["gateway.runtime: expected one of tokio|io_uring|io_uring_writes, got string \"epoll\""]
    );
}

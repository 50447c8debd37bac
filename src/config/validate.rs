//! Strict TYPE validation of the config subtrees this implementation understands. Keys we do
//! not understand are never reported (the whole tree is preserved for upstream compatibility);
//! only our own extension namespace `gateway.limits` rejects unknown keys, to catch typos.

use serde_json::{Map, Value};

use super::duration::{parse_duration_ms_with_default, DurationUnit};
use super::limits::LIMIT_KEYS;

pub const GATEWAY_MODES: &[&str] = &["local", "remote"];
pub const BIND_MODES: &[&str] = &["loopback", "lan", "tailnet", "auto", "custom"];
pub const AUTH_MODES: &[&str] = &["none", "token", "password", "trusted-proxy"];
pub const RELOAD_MODES: &[&str] = &["off", "hot", "restart", "hybrid"];
/// `gateway.runtime` values.
pub const RUNTIMES: &[&str] = &["tokio", "io_uring", "io_uring_writes"];
pub const TAILSCALE_MODES: &[&str] = &["off", "serve", "funnel"];
pub const LOG_LEVELS: &[&str] = &["silent", "fatal", "error", "warn", "info", "debug", "trace"];
pub const CONSOLE_STYLES: &[&str] = &["pretty", "compact", "json"];
pub const SECRET_SOURCES: &[&str] = &["env", "file", "exec", "store"];

/// Short description of a value for issue messages.
fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) if s.chars().count() > 40 => "a string".into(),
        Value::String(s) => format!("string {s:?}"),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

struct Checker {
    issues: Vec<String>,
}

impl Checker {
    fn issue(&mut self, path: &str, msg: impl std::fmt::Display) {
        self.issues.push(format!("{path}: {msg}"));
    }

    /// Child object at `parent.key`; reports a type issue if present but not an object.
    fn obj<'v>(
        &mut self,
        parent: &'v Map<String, Value>,
        path: &str,
        key: &str,
    ) -> Option<&'v Map<String, Value>> {
        match parent.get(key)? {
            Value::Object(m) => Some(m),
            other => {
                self.issue(
                    &join(path, key),
                    format_args!("expected an object, got {}", describe(other)),
                );
                None
            }
        }
    }

    fn boolean(&mut self, m: &Map<String, Value>, path: &str, key: &str) {
        if let Some(v) = m.get(key) {
            if !v.is_boolean() {
                self.issue(
                    &join(path, key),
                    format_args!("expected a boolean, got {}", describe(v)),
                );
            }
        }
    }

    fn string(&mut self, m: &Map<String, Value>, path: &str, key: &str) {
        if let Some(v) = m.get(key) {
            if !v.is_string() {
                self.issue(
                    &join(path, key),
                    format_args!("expected a string, got {}", describe(v)),
                );
            }
        }
    }

    fn string_array(&mut self, m: &Map<String, Value>, path: &str, key: &str) {
        let Some(v) = m.get(key) else { return };
        match v {
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    if !item.is_string() {
                        self.issue(
                            &format!("{}[{i}]", join(path, key)),
                            format_args!("expected a string, got {}", describe(item)),
                        );
                    }
                }
            }
            other => self.issue(
                &join(path, key),
                format_args!("expected an array of strings, got {}", describe(other)),
            ),
        }
    }

    fn one_of(&mut self, m: &Map<String, Value>, path: &str, key: &str, allowed: &[&str]) {
        let Some(v) = m.get(key) else { return };
        if !v.as_str().is_some_and(|s| allowed.contains(&s)) {
            self.issue(
                &join(path, key),
                format_args!("expected one of {}, got {}", allowed.join("|"), describe(v)),
            );
        }
    }

    fn int_range(&mut self, m: &Map<String, Value>, path: &str, key: &str, min: u64, max: u64) {
        let Some(v) = m.get(key) else { return };
        if !v.as_u64().is_some_and(|n| (min..=max).contains(&n)) {
            let bound = if max == u64::MAX {
                format!("an integer >= {min}")
            } else {
                format!("an integer between {min} and {max}")
            };
            self.issue(
                &join(path, key),
                format_args!("expected {bound}, got {}", describe(v)),
            );
        }
    }

    /// A secret input: plain string or SecretRef object.
    fn secret_input(&mut self, m: &Map<String, Value>, path: &str, key: &str) {
        let Some(v) = m.get(key) else { return };
        let p = join(path, key);
        match v {
            Value::String(_) | Value::Null => {}
            Value::Object(o) => {
                if let Some(name) = o.get("$env") {
                    if !name.is_string() {
                        self.issue(&p, "SecretRef $env must be a string");
                    }
                    return;
                }
                match o.get("source").and_then(Value::as_str) {
                    Some(src) if SECRET_SOURCES.contains(&src) => {
                        let has = |k: &str| {
                            o.get(k)
                                .and_then(Value::as_str)
                                .is_some_and(|s| !s.trim().is_empty())
                        };
                        let ok = match src {
                            "file" => has("path") || has("id"),
                            _ => has("id"),
                        };
                        if !ok {
                            self.issue(
                                &p,
                                format_args!(
                                    "SecretRef with source {src:?} needs a non-empty {}",
                                    if src == "file" { "path" } else { "id" }
                                ),
                            );
                        }
                    }
                    _ => self.issue(
                        &p,
                        format_args!(
                            "expected a string or a SecretRef {{source: {}, id}}",
                            SECRET_SOURCES.join("|")
                        ),
                    ),
                }
            }
            other => self.issue(
                &p,
                format_args!(
                    "expected a string or a SecretRef object, got {}",
                    describe(other)
                ),
            ),
        }
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Validate the known subtrees of a parsed (and env-substituted) config. Returns the issues
/// as `path: message` strings; empty ⇒ valid.
pub fn validate(root: &Value) -> Vec<String> {
    let mut c = Checker { issues: Vec::new() };
    let Some(root) = root.as_object() else {
        c.issue(
            "<root>",
            format_args!("expected an object, got {}", describe(root)),
        );
        return c.issues;
    };
    if let Some(g) = c.obj(root, "", "gateway") {
        validate_gateway(&mut c, g);
    }
    if let Some(l) = c.obj(root, "", "logging") {
        let p = "logging";
        c.one_of(l, p, "level", LOG_LEVELS);
        c.one_of(l, p, "consoleLevel", LOG_LEVELS);
        c.one_of(l, p, "consoleStyle", CONSOLE_STYLES);
        c.string(l, p, "file");
        c.int_range(l, p, "maxFileBytes", 1, u64::MAX);
    }
    if let Some(a) = c.obj(root, "", "agents") {
        validate_agents(&mut c, a);
    }
    if let Some(m) = c.obj(root, "", "meta") {
        c.string(m, "meta", "lastTouchedVersion");
    }
    c.issues
}

fn validate_gateway(c: &mut Checker, g: &Map<String, Value>) {
    let p = "gateway";
    c.one_of(g, p, "mode", GATEWAY_MODES);
    c.int_range(g, p, "port", 1, 65_535);
    c.one_of(g, p, "bind", BIND_MODES);
    if let Some(v) = g.get("customBindHost") {
        let ipv4 = v.as_str().map(|s| s.trim().parse::<std::net::Ipv4Addr>());
        if !matches!(ipv4, Some(Ok(_))) {
            c.issue(
                "gateway.customBindHost",
                format_args!("expected an IPv4 address, got {}", describe(v)),
            );
        }
    }
    c.string(g, p, "publicOrigin");
    c.string_array(g, p, "trustedProxies");
    c.boolean(g, p, "allowRealIpFallback");
    if let Some(a) = c.obj(g, p, "auth") {
        validate_auth(c, a);
    }
    if let Some(t) = c.obj(g, p, "tls") {
        let p = "gateway.tls";
        c.boolean(t, p, "enabled");
        c.boolean(t, p, "autoGenerate");
        for k in ["certPath", "keyPath", "caPath"] {
            c.string(t, p, k);
        }
    }
    c.one_of(g, p, "runtime", RUNTIMES);
    if let Some(r) = c.obj(g, p, "reload") {
        c.one_of(r, "gateway.reload", "mode", RELOAD_MODES);
    }
    if let Some(t) = c.obj(g, p, "tailscale") {
        c.one_of(t, "gateway.tailscale", "mode", TAILSCALE_MODES);
    }
    if let Some(u) = c.obj(g, p, "controlUi") {
        let p = "gateway.controlUi";
        c.boolean(u, p, "enabled");
        c.string(u, p, "basePath");
        c.string(u, p, "root");
        c.string_array(u, p, "allowedOrigins");
        c.boolean(u, p, "dangerouslyAllowHostHeaderOriginFallback");
    }
    if let Some(h) = c.obj(g, p, "http") {
        if let Some(e) = c.obj(h, "gateway.http", "endpoints") {
            for k in ["chatCompletions", "responses"] {
                let ep = format!("gateway.http.endpoints.{k}");
                if let Some(o) = c.obj(e, "gateway.http.endpoints", k) {
                    c.boolean(o, &ep, "enabled");
                }
            }
        }
    }
    if let Some(m) = c.obj(g, p, "metrics") {
        c.boolean(m, "gateway.metrics", "enabled");
    }
    if let Some(l) = c.obj(g, p, "limits") {
        validate_limits(c, l);
    }
}

/// `gateway.auth`.
fn validate_auth(c: &mut Checker, a: &Map<String, Value>) {
    let p = "gateway.auth";
    c.one_of(a, p, "mode", AUTH_MODES);
    c.secret_input(a, p, "token");
    c.secret_input(a, p, "password");
    c.boolean(a, p, "allowTailscale");
    if let Some(r) = c.obj(a, p, "rateLimit") {
        let p = "gateway.auth.rateLimit";
        c.int_range(r, p, "maxAttempts", 1, u64::from(u32::MAX));
        c.int_range(r, p, "windowMs", 1, u64::MAX);
        c.int_range(r, p, "lockoutMs", 0, u64::MAX);
        c.boolean(r, p, "exemptLoopback");
    }
    if let Some(t) = c.obj(a, p, "trustedProxy") {
        let p = "gateway.auth.trustedProxy";
        c.string(t, p, "userHeader");
        c.string_array(t, p, "requiredHeaders");
        c.string_array(t, p, "allowUsers");
        c.boolean(t, p, "allowLoopback");
        if let Some(d) = c.obj(t, p, "deviceAutoApprove") {
            c.boolean(d, "gateway.auth.trustedProxy.deviceAutoApprove", "enabled");
            c.string_array(d, "gateway.auth.trustedProxy.deviceAutoApprove", "scopes");
        }
    }
}

/// `gateway.limits`: known keys only, each a positive integer (the control-frame budget may
/// be 0: no limit).
fn validate_limits(c: &mut Checker, l: &Map<String, Value>) {
    for (k, _) in l.iter() {
        if !LIMIT_KEYS.contains(&k.as_str()) {
            c.issue(
                &format!("gateway.limits.{k}"),
                format_args!("unknown key (known: {})", LIMIT_KEYS.join(", ")),
            );
        }
    }
    for k in LIMIT_KEYS {
        let min = u64::from(*k != "maxControlFramesPerSec");
        c.int_range(l, "gateway.limits", k, min, u64::MAX);
    }
}

fn validate_agents(c: &mut Checker, a: &Map<String, Value>) {
    if let Some(d) = c.obj(a, "agents", "defaults") {
        if let Some(h) = c.obj(d, "agents.defaults", "heartbeat") {
            if let Some(v) = h.get("every") {
                let ok = v.as_str().is_some_and(|s| {
                    parse_duration_ms_with_default(s, DurationUnit::M).is_some_and(|ms| ms > 0)
                });
                if !ok {
                    c.issue(
                        "agents.defaults.heartbeat.every",
                        format_args!(
                            "expected a duration like \"30m\", \"1h\", \"45s\", \"1500ms\", got {}",
                            describe(v)
                        ),
                    );
                }
            }
        }
    }
    if let Some(list) = a.get("list") {
        match list {
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let p = format!("agents.list[{i}]");
                    match item {
                        Value::Object(o) => {
                            c.string(o, &p, "id");
                            c.boolean(o, &p, "default");
                        }
                        other => c.issue(
                            &p,
                            format_args!("expected an object, got {}", describe(other)),
                        ),
                    }
                }
            }
            other => c.issue(
                "agents.list",
                format_args!("expected an array, got {}", describe(other)),
            ),
        }
    }
}

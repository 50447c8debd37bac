//! Which node commands the gateway lets operators invoke: per-platform defaults (the Node
//! gateway's built-in table; no plugin adds commands here), `gateway.nodes.commands.allow` /
//! `.deny`, the dangerous commands that need an explicit opt-in, and the refusal wording.
//! Who the node is and whether it is paired is `nodes/mod.rs`'s business.

use std::collections::BTreeSet;

use serde_json::Value;

const SYSTEM: &[&str] = &[
    "system.run.prepare",
    "system.run",
    "system.which",
    "system.execApprovals.get",
    "system.execApprovals.set",
    "fs.listDir",
    "terminal.upload",
    "system.notify",
    "browser.proxy",
    "browser.proxy.upload.v1",
    "mcp.tools.call.v1",
    "agent.cli.claude.run.v1",
];
const DESKTOP_SCREEN: &[&str] = &["screen.snapshot", "desktop.stream"];
const COMPUTER: &[&str] = &["computer.act"];
const MOBILE: &[&str] = &[
    "camera.list",
    "location.get",
    "device.info",
    "device.status",
    "contacts.search",
    "calendar.events",
    "reminders.list",
    "photos.latest",
    "motion.activity",
    "motion.pedometer",
];
const ANDROID_EXTRA: &[&str] = &[
    "notifications.list",
    "notifications.actions",
    "device.permissions",
    "device.health",
    "device.apps",
    "callLog.search",
    "mobile.ui.observe",
    "mobile.ui.act",
];
const UNKNOWN: &[&str] = &["camera.list", "location.get", "system.notify"];

/// Commands that stay refused unless `gateway.nodes.commands.allow` lists them.
pub const DANGEROUS: &[&str] = &[
    "camera.snap",
    "camera.clip",
    "camera.ptz.control",
    "screen.record",
    "contacts.add",
    "calendar.add",
    "reminders.add",
    "sms.send",
    "sms.search",
    "health.summary",
];

/// Commands `node.invoke` never forwards (they have their own methods).
pub const EXEC_APPROVALS: &[&str] = &["system.execApprovals.get", "system.execApprovals.set"];

/// The platform id the policy keys on, from `client.platform` / `deviceFamily`.
pub fn platform_id(platform: &str, family: &str) -> &'static str {
    let p = platform.trim().to_ascii_lowercase();
    let f = family.trim().to_ascii_lowercase();
    let has = |s: &str, w: &[&str]| w.iter().any(|t| s.contains(t));
    for s in [&p, &f] {
        if has(s, &["watchos", "watch"]) {
            return "watchos";
        }
        if has(s, &["ios", "iphone", "ipad"]) {
            return "ios";
        }
        if has(s, &["android"]) {
            return "android";
        }
        if has(s, &["darwin", "macos", "mac"]) {
            return "macos";
        }
        if has(s, &["win"]) {
            return "windows";
        }
        if has(s, &["linux"]) {
            return "linux";
        }
    }
    "unknown"
}

fn defaults(platform: &str) -> Vec<&'static str> {
    let mut v: Vec<&'static str> = Vec::new();
    match platform {
        "linux" => v.extend(SYSTEM.iter().chain(DESKTOP_SCREEN).chain(COMPUTER)),
        "macos" | "windows" => v.extend(
            MOBILE
                .iter()
                .chain(SYSTEM)
                .chain(DESKTOP_SCREEN)
                .chain(COMPUTER),
        ),
        "ios" => v.extend(MOBILE.iter().chain(["system.notify"].iter())),
        "watchos" => v.extend(["device.info", "device.status", "system.notify"]),
        "android" => v.extend(
            MOBILE
                .iter()
                .chain(ANDROID_EXTRA)
                .chain(["system.notify"].iter()),
        ),
        _ => v.extend(UNKNOWN),
    }
    v
}

fn list_at(cfg: &Value, key: &str) -> Vec<String> {
    cfg.pointer(&format!("/gateway/nodes/commands/{key}"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// The commands a node on `platform` may be invoked with under config `cfg`.
pub fn allowlist(cfg: &Value, platform: &str) -> BTreeSet<String> {
    let extra = list_at(cfg, "allow");
    let mut allow: BTreeSet<String> = defaults(platform)
        .into_iter()
        .filter(|c| !DANGEROUS.contains(c))
        .map(str::to_string)
        .collect();
    allow.extend(extra);
    for d in list_at(cfg, "deny") {
        allow.remove(&d);
    }
    allow
}

/// Why `command` is refused for a node on `platform` that declared `declared`, in the Node
/// gateway's words: `(reason, message)`; `None` when it may be invoked.
pub fn refusal(
    cfg: &Value,
    platform: &str,
    declared: &[String],
    command: &str,
) -> Option<(&'static str, String)> {
    if !allowlist(cfg, platform).contains(command) {
        let msg = if list_at(cfg, "deny").iter().any(|d| d == command) {
            format!(
                "node command not allowed: \"{command}\" is blocked by gateway.nodes.commands.deny"
            )
        } else if DANGEROUS.contains(&command) {
            format!("node command not allowed: \"{command}\" requires explicit gateway.nodes.commands.allow opt-in")
        } else {
            format!(
                "node command not allowed: \"{command}\" is not in the allowlist for platform \"{platform}\""
            )
        };
        return Some(("command not allowlisted", msg));
    }
    if declared.is_empty() {
        return Some((
            "node did not declare commands",
            "node command not allowed: the node did not declare any supported commands".into(),
        ));
    }
    if !declared.iter().any(|d| d == command) {
        return Some((
            "command not declared by node",
            format!("node command not allowed: the node (platform: {platform}) does not support \"{command}\""),
        ));
    }
    None
}

/// `declared` filtered to what the allowlist admits, in declaration order, deduplicated.
pub fn admitted(cfg: &Value, platform: &str, declared: &[String]) -> Vec<String> {
    let allow = allowlist(cfg, platform);
    let mut seen = BTreeSet::new();
    let mut v: Vec<String> = declared
        .iter()
        .map(|c| c.trim().to_string())
        .filter(|c| allow.contains(c) && seen.insert(c.clone()))
        .collect();
    v.sort();
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn linux_host_commands_are_admitted_and_the_rest_refused_in_node_words() {
        let cfg = json!({});
        let declared: Vec<String> = ["system.run", "system.which", "dir.list", "ollama.chat"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(platform_id("linux", "Linux"), "linux");
        assert_eq!(
            admitted(&cfg, "linux", &declared),
            vec!["system.run", "system.which"]
        );
        let (reason, msg) = refusal(&cfg, "linux", &declared, "dir.list").unwrap();
        assert_eq!(reason, "command not allowlisted");
        assert_eq!(
            msg,
            "node command not allowed: \"dir.list\" is not in the allowlist for platform \"linux\""
        );
        let (_, msg) = refusal(&cfg, "linux", &declared, "camera.snap").unwrap();
        assert!(msg.contains("requires explicit gateway.nodes.commands.allow opt-in"));
        let (reason, _) = refusal(&cfg, "linux", &declared, "system.notify").unwrap();
        assert_eq!(reason, "command not declared by node");
        assert!(refusal(&cfg, "linux", &declared, "system.which").is_none());
        let deny = json!({"gateway": {"nodes": {"commands": {"deny": ["system.which"], "allow": ["dir.list"]}}}});
        assert!(refusal(&deny, "linux", &declared, "system.which")
            .unwrap()
            .1
            .contains("blocked by gateway.nodes.commands.deny"));
        assert!(refusal(&deny, "linux", &declared, "dir.list").is_none());
    }
}

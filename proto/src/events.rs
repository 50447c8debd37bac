//! Core event names and the broadcast scope gate (which operator scope may receive an event).

use crate::scope::{
    SCOPE_ADMIN, SCOPE_APPROVALS, SCOPE_PAIRING, SCOPE_QUESTIONS, SCOPE_READ, SCOPE_TALK,
    SCOPE_WRITE,
};

/// Pre-auth challenge sent on open (never carries `seq`).
pub const EVENT_CONNECT_CHALLENGE: &str = "connect.challenge";
/// Periodic liveness tick, payload `{ts}`.
pub const EVENT_TICK: &str = "tick";
/// Presence list changed, payload `{presence:[…]}`, carries `stateVersion`.
pub const EVENT_PRESENCE: &str = "presence";
/// Health snapshot, carries `stateVersion`.
pub const EVENT_HEALTH: &str = "health";
/// Heartbeat run notifications.
pub const EVENT_HEARTBEAT: &str = "heartbeat";
/// Sent to every socket before a graceful close, payload `{reason}`.
pub const EVENT_SHUTDOWN: &str = "shutdown";
/// A device pairing request was resolved.
pub const EVENT_DEVICE_PAIR_RESOLVED: &str = "device.pair.resolved";
/// A device pairing request was created.
pub const EVENT_DEVICE_PAIR_REQUESTED: &str = "device.pair.requested";
/// Persisted config changed (path, hash, ts; never content).
pub const EVENT_CONFIG_CHANGED: &str = "config.changed";
/// Agent run stream.
pub const EVENT_AGENT: &str = "agent";
/// Chat stream.
pub const EVENT_CHAT: &str = "chat";

/// Events any authenticated socket may receive (transport/liveness events).
const UNRESTRICTED: &[&str] = &[
    EVENT_CONNECT_CHALLENGE,
    EVENT_TICK,
    EVENT_HEARTBEAT,
    EVENT_PRESENCE,
    EVENT_SHUTDOWN,
    EVENT_HEALTH,
    "gateway.suspension",
    "update.available",
];

/// Exact event names with their required scope, checked before the family prefixes.
const EXACT: &[(&str, &str)] = &[
    (EVENT_AGENT, SCOPE_READ),
    (EVENT_CHAT, SCOPE_READ),
    ("chat.metadata.changed", SCOPE_READ),
    ("models.snapshot", SCOPE_READ),
    ("ui.command", SCOPE_READ),
    ("cron", SCOPE_READ),
    ("task", SCOPE_READ),
    ("task.suggestion", SCOPE_READ),
    ("talk.event", SCOPE_READ),
    ("talk.mode", SCOPE_TALK),
    ("talk.voice.change", SCOPE_TALK),
    ("sessions.changed", SCOPE_READ),
    ("session.approval", SCOPE_APPROVALS),
    (EVENT_CONFIG_CHANGED, SCOPE_READ),
    ("skills.changed", SCOPE_READ),
    ("plugins.changed", SCOPE_READ),
    ("plugins.controlUi.changed", SCOPE_READ),
    ("plugins.install.progress", SCOPE_ADMIN),
    ("controlUi.sessionPullRequests.changed", SCOPE_READ),
    ("users.prefs.changed", SCOPE_READ),
    ("mentions.changed", SCOPE_READ),
    ("portal.changed", SCOPE_READ),
    ("progressCard.changed", SCOPE_READ),
    ("voicewake.changed", SCOPE_READ),
    ("voicewake.routing.changed", SCOPE_READ),
    ("node.presence", SCOPE_READ),
    ("node.hostStats", SCOPE_READ),
    ("node.runnerInventory.changed", SCOPE_READ),
    ("terminal.data", SCOPE_ADMIN),
    ("terminal.exit", SCOPE_ADMIN),
    ("update.run.changed", SCOPE_ADMIN),
];

/// Event-name families (prefixes) with their required scope, first match wins.
const FAMILIES: &[(&str, &str)] = &[
    ("session.", SCOPE_READ),
    ("device.pair.", SCOPE_PAIRING),
    ("node.pair.", SCOPE_PAIRING),
    ("exec.approval.", SCOPE_APPROVALS),
    ("plugin.approval.", SCOPE_APPROVALS),
    ("openclaw.approval.", SCOPE_APPROVALS),
    ("question.", SCOPE_QUESTIONS),
    ("plugin.", SCOPE_WRITE),
];

/// The operator scope a socket needs to receive a broadcast of `event`
/// (checked with [`crate::scope::satisfies`], so `operator.admin` receives everything).
///
/// `None` = any authenticated socket (tick, heartbeat, presence, health, shutdown,
/// connect.challenge, …). Unknown events fail closed with `Some("operator.admin")`.
/// Targeted node events (`node.invoke.*`) are sent point-to-point, not broadcast, and
/// therefore also fall to the admin default here.
pub fn event_required_scope(event: &str) -> Option<&'static str> {
    if UNRESTRICTED.contains(&event) {
        return None;
    }
    if let Some((_, scope)) = EXACT.iter().find(|(name, _)| *name == event) {
        return Some(scope);
    }
    if let Some((_, scope)) = FAMILIES.iter().find(|(p, _)| event.starts_with(p)) {
        return Some(scope);
    }
    Some(SCOPE_ADMIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gate_table() {
        let cases: &[(&str, Option<&str>)] = &[
            ("tick", None),
            ("heartbeat", None),
            ("presence", None),
            ("shutdown", None),
            ("health", None),
            ("connect.challenge", None),
            ("chat", Some("operator.read")),
            ("agent", Some("operator.read")),
            ("session.message", Some("operator.read")),
            ("session.tool", Some("operator.read")),
            ("session.approval", Some("operator.approvals")),
            ("sessions.changed", Some("operator.read")),
            ("config.changed", Some("operator.read")),
            ("skills.changed", Some("operator.read")),
            ("device.pair.requested", Some("operator.pairing")),
            ("device.pair.resolved", Some("operator.pairing")),
            ("device.pair.setup.completed", Some("operator.pairing")),
            ("node.pair.requested", Some("operator.pairing")),
            ("exec.approval.requested", Some("operator.approvals")),
            ("plugin.approval.resolved", Some("operator.approvals")),
            ("plugin.myplugin.update", Some("operator.write")),
            ("question.requested", Some("operator.questions")),
            ("talk.mode", Some("operator.talk")),
            ("terminal.data", Some("operator.admin")),
            ("totally.unknown", Some("operator.admin")),
            ("", Some("operator.admin")),
        ];
        for (event, want) in cases {
            assert_eq!(event_required_scope(event), *want, "{event}");
        }
    }
}

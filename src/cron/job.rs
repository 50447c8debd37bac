//! One automation as stored and as served: validating `cron.add` params and `cron.update`
//! patches into the 2026.9.6 `CronJob` shape, and the view with its top-level mirrors of the
//! run state. What runs when is `schedule`'s; running it is `runner`'s.

use serde_json::{json, Map, Value};

use super::schedule::Schedule;

/// Longest job name.
pub const MAX_NAME_CHARS: usize = 200;

/// A job: its wire object (state included) and its parsed schedule.
#[derive(Clone, Debug)]
pub struct Job {
    pub wire: Value,
    pub schedule: Schedule,
}

fn invalid(msg: impl Into<String>) -> String {
    msg.into()
}

/// The session a job's turn runs in: `main`, `isolated` (a fresh session per run),
/// `current` (the job's `sessionKey`, else main) or `session:<key>`.
fn check_target(v: &Value) -> Result<(), String> {
    match v.as_str() {
        Some("main" | "isolated" | "current") => Ok(()),
        Some(s) if s.starts_with("session:") && s.len() > "session:".len() => Ok(()),
        _ => Err(invalid(
            "sessionTarget must be main, isolated, current or session:<key>",
        )),
    }
}

/// `systemEvent {text}` or `agentTurn {message, model?, timeoutSeconds?, …}`; the other
/// payload kinds (commands, scripts, heartbeats) are not run by this gateway.
fn check_payload(v: &Value) -> Result<(), String> {
    let text = |k: &str| v[k].as_str().is_some_and(|s| !s.trim().is_empty());
    match v["kind"].as_str() {
        Some("systemEvent") if text("text") => Ok(()),
        Some("systemEvent") => Err(invalid("payload.text required")),
        Some("agentTurn") if text("message") => Ok(()),
        Some("agentTurn") => Err(invalid("payload.message required")),
        Some(k) => Err(invalid(format!(
            "payload kind \"{k}\" is not supported by this gateway"
        ))),
        None => Err(invalid("payload.kind required")),
    }
}

fn check_wake(v: &Value) -> Result<(), String> {
    match v.as_str() {
        Some("now" | "next-heartbeat") => Ok(()),
        _ => Err(invalid("wakeMode must be now or next-heartbeat")),
    }
}

/// Optional fields copied as given when present (`null` clears them on update).
const PASSTHROUGH: &[&str] = &[
    "description",
    "displayName",
    "declarationKey",
    "owner",
    "agentId",
    "sessionKey",
    "delivery",
    "failureAlert",
];

impl Job {
    /// A new job from `cron.add` params.
    ///
    /// # Errors
    /// A field the 2026.9.6 contract requires is missing or unusable here.
    pub fn create(p: &Value, id: String, now: u64) -> Result<Job, String> {
        let name = p["name"].as_str().map(str::trim).unwrap_or("");
        if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
            return Err(invalid("name must be 1-200 characters"));
        }
        check_target(&p["sessionTarget"])?;
        check_wake(&p["wakeMode"])?;
        check_payload(&p["payload"])?;
        let (schedule, sched_wire) = Schedule::parse(&p["schedule"], now)?;
        let mut w = Map::new();
        w.insert("id".into(), json!(id));
        w.insert("name".into(), json!(name));
        w.insert(
            "enabled".into(),
            json!(p["enabled"].as_bool().unwrap_or(true)),
        );
        let one_shot = matches!(schedule, Schedule::At(_));
        if let Some(d) = p["deleteAfterRun"].as_bool().or(one_shot.then_some(true)) {
            w.insert("deleteAfterRun".into(), json!(d));
        }
        w.insert("createdAtMs".into(), json!(now));
        w.insert("updatedAtMs".into(), json!(now));
        w.insert("schedule".into(), sched_wire);
        for k in ["sessionTarget", "wakeMode", "payload"] {
            w.insert(k.into(), p[k].clone());
        }
        for k in PASSTHROUGH {
            if let Some(v) = p.get(*k).filter(|v| !v.is_null()) {
                w.insert((*k).into(), v.clone());
            }
        }
        w.insert("state".into(), json!({}));
        Ok(Job {
            wire: Value::Object(w),
            schedule,
        })
    }

    /// A job read back from the store.
    pub fn load(wire: Value) -> Option<Job> {
        let created = wire["createdAtMs"].as_u64().unwrap_or(0);
        let (schedule, _) = Schedule::parse(&wire["schedule"], created).ok()?;
        Some(Job { wire, schedule })
    }

    /// Apply a `cron.update` patch. Returns whether the schedule or `enabled` changed (the
    /// next run must be recomputed).
    ///
    /// # Errors
    /// A patched field is unusable; the job is unchanged then.
    pub fn patch(&mut self, patch: &Value, now: u64) -> Result<bool, String> {
        let Some(p) = patch.as_object() else {
            return Err(invalid("patch must be an object"));
        };
        let mut next = self.clone();
        let mut reschedule = false;
        for (k, v) in p {
            match k.as_str() {
                "name" => {
                    let n = v.as_str().map(str::trim).unwrap_or("");
                    if n.is_empty() || n.chars().count() > MAX_NAME_CHARS {
                        return Err(invalid("name must be 1-200 characters"));
                    }
                    next.wire["name"] = json!(n);
                }
                "enabled" | "deleteAfterRun" => {
                    let b = v
                        .as_bool()
                        .ok_or_else(|| invalid(format!("{k} must be a boolean")))?;
                    reschedule |= k == "enabled" && next.enabled() != b;
                    next.wire[k.as_str()] = json!(b);
                }
                "schedule" => {
                    // A new `every` without `anchorMs` counts from now.
                    let (s, wire) = Schedule::parse(v, now)?;
                    next.schedule = s;
                    next.wire["schedule"] = wire;
                    reschedule = true;
                }
                "sessionTarget" => {
                    check_target(v)?;
                    next.wire[k.as_str()] = v.clone();
                }
                "wakeMode" => {
                    check_wake(v)?;
                    next.wire[k.as_str()] = v.clone();
                }
                "payload" => {
                    // A partial payload of the same kind merges; a new kind replaces.
                    let mut merged = next.wire["payload"].clone();
                    match (merged.as_object_mut(), v.as_object()) {
                        (Some(m), Some(pv)) if v["kind"].is_null() || v["kind"] == m["kind"] => {
                            for (pk, pvv) in pv {
                                m.insert(pk.clone(), pvv.clone());
                            }
                        }
                        _ => merged = v.clone(),
                    }
                    check_payload(&merged)?;
                    next.wire["payload"] = merged;
                }
                k if PASSTHROUGH.contains(&k) => match v {
                    Value::Null => {
                        next.wire.as_object_mut().map(|o| o.remove(k));
                    }
                    v => next.wire[k] = v.clone(),
                },
                // Node-only knobs (pacing, triggers, tool policies) change nothing here.
                _ => {}
            }
        }
        next.wire["updatedAtMs"] = json!(now);
        *self = next;
        Ok(reschedule)
    }

    pub fn id(&self) -> &str {
        self.wire["id"].as_str().unwrap_or("")
    }

    pub fn name(&self) -> &str {
        self.wire["name"].as_str().unwrap_or("")
    }

    pub fn enabled(&self) -> bool {
        self.wire["enabled"] != false
    }

    pub fn next_run(&self) -> Option<u64> {
        self.wire["state"]["nextRunAtMs"].as_u64()
    }

    pub fn set_next_run(&mut self, next: Option<u64>) {
        let state = &mut self.wire["state"];
        match next {
            Some(n) => state["nextRunAtMs"] = json!(n),
            None => {
                state.as_object_mut().map(|o| o.remove("nextRunAtMs"));
            }
        }
    }

    /// The agent whose turn this is (explicit, from the session key, else the default).
    pub fn agent_id(&self) -> Option<&str> {
        self.wire["agentId"].as_str()
    }

    /// The served object: the stored job plus the Node gateway's top-level mirrors of its
    /// run state and the agent it runs as.
    pub fn view(&self, default_agent: &str) -> Value {
        let mut v = self.wire.clone();
        let state = self.wire["state"].clone();
        for (from, to) in [
            ("nextRunAtMs", "nextRunAtMs"),
            ("lastRunAtMs", "lastRunAtMs"),
            ("lastRunStatus", "lastRunStatus"),
            ("lastError", "lastRunError"),
        ] {
            if let Some(x) = state.get(from) {
                v[to] = x.clone();
            }
        }
        v["effectiveAgentId"] = json!(self.agent_id().unwrap_or(default_agent));
        v
    }
}

//! When a job runs: its schedule (`at` a time, `every` N ms from an anchor, or a `cron`
//! expression in a time zone, via the `croner` crate) parsed once, and the next run after a
//! moment. Pure functions of wall-clock milliseconds; the timer and the store are elsewhere.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

/// Largest wall-clock value a schedule may produce (the schema's `maximum`).
pub const MAX_MS: u64 = 8_640_000_000_000_000;

/// A parsed schedule.
#[derive(Clone, Debug)]
pub enum Schedule {
    /// Once, at this moment (ms).
    At(u64),
    /// Every `every` ms, counted from `anchor`.
    Every { every: u64, anchor: u64 },
    /// A cron expression in a time zone (the gateway's local zone when none is named).
    Cron {
        cron: Box<croner::Cron>,
        tz: Option<chrono_tz::Tz>,
    },
}

fn bad(msg: impl Into<String>) -> String {
    msg.into()
}

/// Parse an `at` time: RFC 3339 (`2030-01-01T00:00:00Z`, offsets allowed), a bare
/// `YYYY-MM-DDTHH:MM[:SS]` (UTC), or epoch milliseconds as a string.
pub fn parse_at(s: &str) -> Option<u64> {
    let s = s.trim();
    if let Ok(ms) = s.parse::<u64>() {
        return Some(ms);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return u64::try_from(t.timestamp_millis()).ok();
    }
    for f in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, f) {
            return u64::try_from(t.and_utc().timestamp_millis()).ok();
        }
    }
    None
}

/// `2030-01-01T00:00:00.000Z`.
pub fn iso(ms: u64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms as i64)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Schedule {
    /// Parse the wire `schedule` object. `created` anchors an `every` without `anchorMs`.
    /// Returns the schedule and its normalized wire form.
    ///
    /// # Errors
    /// A kind we do not run (`on-exit`, `stream`), or a malformed field.
    pub fn parse(v: &Value, created: u64) -> Result<(Schedule, Value), String> {
        match v["kind"].as_str() {
            Some("at") => {
                let raw = v["at"]
                    .as_str()
                    .ok_or_else(|| bad("schedule.at required"))?;
                let at = parse_at(raw).ok_or_else(|| bad(format!("invalid schedule.at: {raw}")))?;
                Ok((Schedule::At(at), json!({ "kind": "at", "at": iso(at) })))
            }
            Some("every") => {
                let every = v["everyMs"]
                    .as_u64()
                    .filter(|e| (1..=MAX_MS).contains(e))
                    .ok_or_else(|| bad("schedule.everyMs must be a positive integer"))?;
                let anchor = v["anchorMs"].as_u64().unwrap_or(created);
                let wire = json!({ "kind": "every", "everyMs": every, "anchorMs": anchor });
                Ok((Schedule::Every { every, anchor }, wire))
            }
            Some("cron") => {
                let expr = v["expr"].as_str().unwrap_or("").trim();
                let cron = croner::Cron::new(expr)
                    .with_seconds_optional()
                    .parse()
                    .map_err(|e| bad(format!("invalid cron expression {expr:?}: {e}")))?;
                let tz = match v["tz"].as_str().map(str::trim).filter(|t| !t.is_empty()) {
                    Some(t) => Some(
                        t.parse::<chrono_tz::Tz>()
                            .map_err(|_| bad(format!("unknown time zone: {t}")))?,
                    ),
                    None => None,
                };
                // `staggerMs` spreads a fleet's runs; one gateway has nothing to spread.
                let mut wire = json!({ "kind": "cron", "expr": expr });
                if let Some(t) = v["tz"].as_str() {
                    wire["tz"] = json!(t);
                }
                Ok((
                    Schedule::Cron {
                        cron: Box::new(cron),
                        tz,
                    },
                    wire,
                ))
            }
            Some(other) => Err(bad(format!(
                "schedule kind \"{other}\" is not supported by this gateway"
            ))),
            None => Err(bad("schedule.kind required")),
        }
    }

    /// The first run strictly after `after` (ms); `None` when there is none (a past `at`).
    pub fn next_after(&self, after: u64) -> Option<u64> {
        match self {
            Schedule::At(at) => (*at > after).then_some(*at),
            Schedule::Every { every, anchor } => {
                if after < *anchor {
                    return Some(*anchor);
                }
                let k = (after - anchor) / every + 1;
                anchor.checked_add(k.checked_mul(*every)?)
            }
            Schedule::Cron { cron, tz } => {
                let start = DateTime::<Utc>::from_timestamp_millis(after as i64)?;
                let next = match tz {
                    Some(tz) => cron
                        .find_next_occurrence(&start.with_timezone(tz), false)
                        .ok()
                        .map(|t| t.timestamp_millis()),
                    None => cron
                        .find_next_occurrence(&start.with_timezone(&chrono::Local), false)
                        .ok()
                        .map(|t| t.timestamp_millis()),
                };
                next.and_then(|n| u64::try_from(n).ok())
            }
        }
    }

    /// The run after one that started at `ran` (an `every` job counts from its actual start,
    /// as the Node gateway does; the others from their own calendar).
    pub fn next_after_run(&self, ran: u64) -> Option<u64> {
        match self {
            Schedule::Every { every, .. } => ran.checked_add(*every),
            _ => self.next_after(ran),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// Epoch ms of a UTC wall time.
    fn utc(y: i32, m: u32, d: u32, h: u32, mi: u32) -> u64 {
        Utc.with_ymd_and_hms(y, m, d, h, mi, 0)
            .unwrap()
            .timestamp_millis() as u64
    }

    #[test]
    fn every_counts_from_the_anchor_then_from_each_run() {
        let (s, wire) =
            Schedule::parse(&json!({ "kind": "every", "everyMs": 1000 }), 5_000).unwrap();
        assert_eq!(
            wire,
            json!({ "kind": "every", "everyMs": 1000, "anchorMs": 5000 })
        );
        assert_eq!(s.next_after(5_000), Some(6_000));
        assert_eq!(s.next_after(6_500), Some(7_000));
        assert_eq!(s.next_after(100), Some(5_000));
        assert_eq!(s.next_after_run(6_730), Some(7_730));
    }

    #[test]
    fn at_runs_once_and_is_normalized() {
        let (s, wire) =
            Schedule::parse(&json!({ "kind": "at", "at": "2030-01-01T00:00:00Z" }), 0).unwrap();
        assert_eq!(wire["at"], "2030-01-01T00:00:00.000Z");
        let at = utc(2030, 1, 1, 0, 0);
        assert_eq!(s.next_after(at - 1), Some(at));
        assert_eq!(s.next_after(at), None);
        assert_eq!(parse_at("2030-01-01T01:00:00+01:00"), Some(at));
    }

    #[test]
    fn cron_expressions_follow_their_time_zone() {
        let v = json!({ "kind": "cron", "expr": "0 9 * * *", "tz": "Europe/Berlin" });
        let (s, _) = Schedule::parse(&v, 0).unwrap();
        // 09:00 in Berlin in December is 08:00 UTC.
        let after = utc(2026, 12, 5, 6, 0);
        assert_eq!(s.next_after(after), Some(utc(2026, 12, 5, 8, 0)));
        assert_eq!(
            s.next_after(utc(2026, 12, 5, 8, 0)),
            Some(utc(2026, 12, 6, 8, 0))
        );
        let err = Schedule::parse(&json!({ "kind": "cron", "expr": "61 * * * *" }), 0).unwrap_err();
        assert!(err.starts_with("invalid cron expression"), "{err}");
        let err = Schedule::parse(
            &json!({ "kind": "cron", "expr": "* * * * *", "tz": "Mars/Base" }),
            0,
        )
        .unwrap_err();
        assert_eq!(err, "unknown time zone: Mars/Base");
        assert!(Schedule::parse(&json!({ "kind": "on-exit", "command": "x" }), 0).is_err());
    }
}

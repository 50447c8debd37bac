//! `node.pending.*`: work an operator queues for a node (`enqueue`, operator.write) and the
//! node collects (`drain`), plus the foreground-action queue of `pull` / `ack`, which only
//! the Node gateway's mobile push path fills (always empty here). The queue itself is
//! [`crate::nodes::pending`]; the role and scope gate is the registry's.

use openclaw_proto::{ErrorShape, RequestFrame};
use serde_json::{json, Value};

use super::nodes::{caller_node, pairing_changed};
use super::pages::{bad, int};
use super::registry::Answer;
use super::ui::strict;
use super::Ctx;
use crate::clock::now_ms;
use crate::nodes::pending::{DEFAULT_DRAIN_ITEMS, DEFAULT_TTL_MS, MAX_DRAIN_ITEMS};
use crate::nodes::Approval;

const TYPES: [&str; 2] = ["status.request", "location.request"];
const PRIORITIES: [&str; 2] = ["normal", "high"];
/// The Node gateway's wording for a node that is not (or no longer) approved.
const CHANGED: &str = "node pairing changed while pending work was active";

fn enum_of<'a>(
    p: &'a Value,
    key: &str,
    allowed: &[&str],
    m: &str,
) -> Result<Option<&'a str>, ErrorShape> {
    match p.get(key) {
        None => Ok(None),
        Some(Value::String(s)) if allowed.contains(&s.as_str()) => Ok(Some(s)),
        Some(Value::String(_)) => Err(bad(m, key, "must be equal to one of the allowed values")),
        Some(_) => Err(bad(m, key, "must be string")),
    }
}

/// The node `id`, if its surface is approved.
fn approved(c: &Ctx, id: &str) -> Result<(), ErrorShape> {
    match c.gw.nodes.approval(id) {
        Approval::Approved(_) => Ok(()),
        _ => Err(pairing_changed(CHANGED)),
    }
}

/// `node.pending.enqueue {nodeId, type, priority?, expiresInMs?, wake?}`.
pub fn enqueue(c: &Ctx, req: &RequestFrame<'_>) -> Answer {
    let m = req.method();
    let keys = ["nodeId", "type", "priority", "expiresInMs", "wake"];
    let p = strict(req, &keys, &["nodeId", "type"])?;
    let node = match &p["nodeId"] {
        Value::String(s) if !s.is_empty() => s.trim().to_string(),
        Value::String(_) => return Err(bad(m, "nodeId", "must not have fewer than 1 characters")),
        _ => return Err(bad(m, "nodeId", "must be string")),
    };
    let kind = enum_of(&p, "type", &TYPES, m)?.unwrap_or_default();
    let high = enum_of(&p, "priority", &PRIORITIES, m)? == Some("high");
    int(&p, "expiresInMs", 1000, 86_400_000, m)?;
    if p.get("wake").is_some_and(|w| !w.is_boolean()) {
        return Err(bad(m, "wake", "must be boolean"));
    }
    approved(c, &node)?;
    let ttl = p["expiresInMs"].as_u64().unwrap_or(DEFAULT_TTL_MS);
    let mut r = c.gw.nodes.pending.enqueue(&node, kind, high, ttl, now_ms());
    // No push registrations here, so nothing can wake a node (as on a Node gateway without
    // APNs): a connected node drains when it likes, an offline one when it is back.
    r["wakeTriggered"] = json!(false);
    Ok(r)
}

/// `node.pending.drain {maxItems?}` (node role): the caller's queued work, taken.
pub fn drain(c: &Ctx, req: &RequestFrame<'_>) -> Answer {
    let p = strict(req, &["maxItems"], &[])?;
    int(&p, "maxItems", 1, MAX_DRAIN_ITEMS as i64, req.method())?;
    let node = caller_node(c);
    approved(c, &node)?;
    let max = p["maxItems"]
        .as_u64()
        .map_or(DEFAULT_DRAIN_ITEMS, |n| n as usize);
    Ok(c.gw.nodes.pending.drain(&node, max, now_ms()))
}

/// `node.pending.pull {}` (node role): foreground actions waiting for the node.
pub fn pull(c: &Ctx, req: &RequestFrame<'_>) -> Answer {
    strict(req, &[], &[])?;
    let node = caller_node(c);
    approved(c, &node)?;
    Ok(json!({ "nodeId": node, "actions": [] }))
}

/// `node.pending.ack {ids}` (node role): acknowledge foreground actions (unknown ids are
/// accepted, trimmed and de-duplicated).
pub fn ack(c: &Ctx, req: &RequestFrame<'_>) -> Answer {
    let m = req.method();
    let p = strict(req, &["ids"], &["ids"])?;
    let Some(ids) = p["ids"].as_array() else {
        return Err(bad(m, "ids", "must be array"));
    };
    if ids.is_empty() {
        return Err(bad(m, "ids", "must not have fewer than 1 items"));
    }
    let mut acked: Vec<String> = Vec::new();
    for (i, v) in ids.iter().enumerate() {
        match v.as_str() {
            Some(s) if !s.is_empty() => {
                let s = s.trim().to_string();
                if !s.is_empty() && !acked.contains(&s) {
                    acked.push(s);
                }
            }
            Some(_) => {
                return Err(bad(
                    m,
                    &format!("ids/{i}"),
                    "must not have fewer than 1 characters",
                ))
            }
            None => return Err(bad(m, &format!("ids/{i}"), "must be string")),
        }
    }
    let node = caller_node(c);
    approved(c, &node)?;
    Ok(json!({ "nodeId": node, "ackedIds": acked, "remainingCount": 0 }))
}

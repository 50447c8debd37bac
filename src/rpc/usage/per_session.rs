//! The `sessions.usage` answer: one entry per session with runs in the range, the totals,
//! and the breakdowns by model, provider, agent and day.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use openclaw_proto::ErrorShape;
use serde_json::{json, Value};

use super::super::Ctx;
use super::Totals;
use crate::agents::key_agent;
use crate::clock::now_ms;
use crate::config::catalog::ModelCost;
use crate::store::sessions::{get_session, RunUsage};

/// Message counts of one session (or of all): `(total, user, assistant, errors)`.
#[derive(Clone, Copy, Default)]
struct Messages {
    total: u64,
    user: u64,
    assistant: u64,
    errors: u64,
}

impl Messages {
    fn json(&self) -> Value {
        json!({
            "total": self.total, "user": self.user, "assistant": self.assistant,
            "toolCalls": 0, "toolResults": 0, "errors": self.errors,
        })
    }
}

#[derive(Default)]
struct Session {
    totals: Totals,
    messages: Messages,
    duration_ms: u64,
    days: BTreeMap<NaiveDate, Totals>,
    first_ms: u64,
    last_ms: u64,
}

/// One calendar day of the range.
#[derive(Default)]
struct Day {
    totals: Totals,
    messages: u64,
    errors: u64,
    /// Run durations (ms).
    latencies: Vec<u64>,
}

impl Day {
    /// `{count, avgMs, minMs, maxMs, p95Ms}` of the day's run durations.
    fn latency(&self) -> Option<Value> {
        let mut l = self.latencies.clone();
        l.sort_unstable();
        let (min, max) = (*l.first()?, *l.last()?);
        let p95 = l[((l.len() as f64 * 0.95).ceil() as usize).clamp(1, l.len()) - 1];
        let avg = l.iter().sum::<u64>() as f64 / l.len() as f64;
        Some(json!({ "count": l.len(), "avgMs": avg, "minMs": min, "maxMs": max, "p95Ms": p95 }))
    }
}

/// One grouped breakdown row: `(count, totals)`.
type Group = (u64, Totals);

fn by_cost(rows: &mut [(Value, Totals)]) {
    rows.sort_by(|a, b| {
        b.1.cost()
            .total_cmp(&a.1.cost())
            .then(b.1.tokens().cmp(&a.1.tokens()))
    });
}

/// Build the answer from priced runs and per-session message counts.
pub(super) async fn build(
    c: &Ctx,
    runs: &[(RunUsage, Option<ModelCost>)],
    counts: &[(String, String, u64, u64)],
    date_of: impl Fn(u64) -> NaiveDate,
    limit: Option<usize>,
) -> Result<Value, ErrorShape> {
    let mut sessions: BTreeMap<String, Session> = BTreeMap::new();
    let (mut all, mut models, mut providers, mut agents) = (
        Totals::default(),
        BTreeMap::<(String, String), Group>::new(),
        BTreeMap::<String, Group>::new(),
        BTreeMap::<String, Totals>::new(),
    );
    let mut daily: BTreeMap<NaiveDate, Day> = BTreeMap::new();
    let mut model_days: BTreeMap<(NaiveDate, String, String), Group> = BTreeMap::new();
    for (r, price) in runs {
        let s = sessions.entry(r.session_key.clone()).or_default();
        s.totals.add(r, *price);
        s.duration_ms += r.duration_ms;
        s.days
            .entry(date_of(r.ended_ms))
            .or_default()
            .add(r, *price);
        s.first_ms = if s.first_ms == 0 {
            r.ended_ms
        } else {
            s.first_ms.min(r.ended_ms)
        };
        s.last_ms = s.last_ms.max(r.ended_ms);
        if !r.ok {
            s.messages.errors += 1;
        }
        all.add(r, *price);
        let date = date_of(r.ended_ms);
        let day = daily.entry(date).or_default();
        day.totals.add(r, *price);
        day.errors += u64::from(!r.ok);
        if r.duration_ms > 0 {
            day.latencies.push(r.duration_ms);
        }
        if let (Some(p), Some(m)) = (&r.provider, &r.model) {
            let g = model_days.entry((date, p.clone(), m.clone())).or_default();
            g.0 += 1;
            g.1.add(r, *price);
            let g = models.entry((p.clone(), m.clone())).or_default();
            g.0 += 1;
            g.1.add(r, *price);
            let g = providers.entry(p.clone()).or_default();
            g.0 += 1;
            g.1.add(r, *price);
        }
        let agent = key_agent(&r.session_key).unwrap_or("main").to_string();
        agents.entry(agent).or_default().add(r, *price);
    }
    let mut msgs = Messages::default();
    for (key, role, bucket, n) in counts {
        daily.entry(date_of(*bucket)).or_default().messages += n;
        let s = sessions.entry(key.clone()).or_default();
        s.messages.total += n;
        msgs.total += n;
        match role.as_str() {
            "user" => {
                s.messages.user += n;
                msgs.user += n;
            }
            "assistant" => {
                s.messages.assistant += n;
                msgs.assistant += n;
            }
            _ => {}
        }
    }
    msgs.errors = sessions.values().map(|s| s.messages.errors).sum();
    let keys: Vec<String> = sessions.keys().cloned().collect();
    let rows =
        c.gw.agents
            .runs
            .store
            .read(move |db| {
                keys.iter()
                    .map(|k| get_session(db, k))
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .await?;
    let mut entries: Vec<(Value, Totals)> = sessions
        .iter()
        .zip(rows)
        .map(|((key, s), row)| {
            let days: Vec<Value> = s
                .days
                .iter()
                .map(|(d, t)| json!({ "date": d.to_string(), "tokens": t.tokens(), "cost": t.cost() }))
                .collect();
            let mut usage = s.totals.json();
            usage["messageCounts"] = s.messages.json();
            usage["durationMs"] = json!(s.duration_ms);
            usage["firstActivity"] = json!(s.first_ms);
            usage["lastActivity"] = json!(s.last_ms);
            usage["dailyBreakdown"] = json!(days);
            usage["activityDates"] = json!(s.days.keys().map(|d| d.to_string()).collect::<Vec<_>>());
            let entry = json!({
                "key": key,
                "sessionId": row.as_ref().map(|r| r.session_id.clone()),
                "label": row.as_ref().and_then(|r| r.label.clone()),
                "agentId": row.as_ref().map_or_else(
                    || key_agent(key).unwrap_or("main").to_string(),
                    |r| r.agent_id.clone()),
                "updatedAt": row.as_ref().map_or(s.last_ms, |r| r.updated_ms),
                "usage": usage,
            });
            (entry, s.totals)
        })
        .collect();
    by_cost(&mut entries);
    let session_count = entries.len();
    if let Some(l) = limit {
        entries.truncate(l);
    }
    let grouped = |rows: Vec<(Value, Totals)>| -> Vec<Value> {
        let mut rows = rows;
        by_cost(&mut rows);
        rows.into_iter().map(|(v, _)| v).collect()
    };
    let by_model = grouped(
        models
            .iter()
            .map(|((p, m), (n, t))| {
                (
                    json!({ "provider": p, "model": m, "count": n, "totals": t.json() }),
                    *t,
                )
            })
            .collect(),
    );
    let by_provider = grouped(
        providers
            .iter()
            .map(|(p, (n, t))| (json!({ "provider": p, "count": n, "totals": t.json() }), *t))
            .collect(),
    );
    let by_agent = grouped(
        agents
            .iter()
            .map(|(a, t)| (json!({ "agentId": a, "totals": t.json() }), *t))
            .collect(),
    );
    let model_daily: Vec<Value> = model_days
        .iter()
        .map(|((d, p, m), (n, t))| {
            json!({ "date": d.to_string(), "provider": p, "model": m,
                    "tokens": t.tokens(), "cost": t.cost(), "count": n })
        })
        .collect();
    let cost_daily: Vec<Value> = daily
        .iter()
        .filter(|(_, d)| d.totals != Totals::default())
        .map(|(date, d)| d.totals.json_with(json!({ "date": date.to_string() })))
        .collect();
    let latency: Vec<Value> = daily
        .iter()
        .filter_map(|(date, d)| d.latency().map(|l| (date, l)))
        .map(|(date, mut l)| {
            l["date"] = json!(date.to_string());
            l
        })
        .collect();
    let days: Vec<Value> = daily
        .iter()
        .map(|(date, d)| {
            json!({
                "date": date.to_string(), "tokens": d.totals.tokens(), "cost": d.totals.cost(),
                "messages": d.messages, "toolCalls": 0, "errors": d.errors,
            })
        })
        .collect();
    Ok(json!({
        "updatedAt": now_ms(),
        "sessions": entries.into_iter().map(|(v, _)| v).collect::<Vec<_>>(),
        "totals": all.json(),
        "aggregates": {
            "sessionCount": session_count,
            "messages": msgs.json(),
            "tools": { "totalCalls": 0, "uniqueTools": 0, "tools": [] },
            "byModel": by_model,
            "byProvider": by_provider,
            "byAgent": by_agent,
            "byChannel": [],
            "byCreator": [],
            "costDaily": cost_daily,
            "dailyLatency": latency,
            "modelDaily": model_daily,
            "daily": days,
        },
        "creatorOptions": [],
    }))
}

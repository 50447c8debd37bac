//! The `sessions.usage` answer: one entry per session with runs in the range, the totals,
//! and the breakdowns by model, provider, agent and day.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use openclaw_proto::ErrorShape;
use serde_json::{json, Value};

use super::super::Ctx;
use super::Totals;
use crate::agents::{key_agent, key_class};
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
    /// `n` more messages of `role`.
    fn count(&mut self, role: &str, n: u64) {
        self.total += n;
        match role {
            "user" => self.user += n,
            "assistant" => self.assistant += n,
            _ => {}
        }
    }

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
    /// Run durations (ms) by day.
    latencies: BTreeMap<NaiveDate, Vec<u64>>,
    models: BTreeMap<(String, String), Group>,
    model_days: BTreeMap<(NaiveDate, String, String), Group>,
    day_messages: BTreeMap<NaiveDate, Messages>,
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

/// `{count, avgMs, minMs, maxMs, p95Ms}` of run durations; `None` without any.
fn latency<'a>(runs: impl IntoIterator<Item = &'a u64>) -> Option<Value> {
    let mut l: Vec<u64> = runs.into_iter().copied().collect();
    l.sort_unstable();
    let (min, max) = (*l.first()?, *l.last()?);
    let p95 = l[((l.len() as f64 * 0.95).ceil() as usize).clamp(1, l.len()) - 1];
    let avg = l.iter().sum::<u64>() as f64 / l.len() as f64;
    Some(json!({ "count": l.len(), "avgMs": avg, "minMs": min, "maxMs": max, "p95Ms": p95 }))
}

/// Per day, the latency of that day's runs, dated.
fn dated_latency<'a>(days: impl Iterator<Item = (&'a NaiveDate, &'a Vec<u64>)>) -> Vec<Value> {
    days.filter_map(|(date, l)| {
        let mut v = latency(l)?;
        v["date"] = json!(date.to_string());
        Some(v)
    })
    .collect()
}

/// `{provider, model, count, totals}` per model, costliest first.
fn model_rows(models: &BTreeMap<(String, String), Group>) -> Vec<Value> {
    let mut rows: Vec<(Value, Totals)> = models
        .iter()
        .map(|((p, m), (n, t))| {
            let v = json!({ "provider": p, "model": m, "count": n, "totals": t.json() });
            (v, *t)
        })
        .collect();
    by_cost(&mut rows);
    rows.into_iter().map(|(v, _)| v).collect()
}

/// `{date, provider, model, tokens, cost, count}` per day and model.
fn model_day_rows(days: &BTreeMap<(NaiveDate, String, String), Group>) -> Vec<Value> {
    days.iter()
        .map(|((d, p, m), (n, t))| {
            json!({ "date": d.to_string(), "provider": p, "model": m,
                    "tokens": t.tokens(), "cost": t.cost(), "count": n })
        })
        .collect()
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
    let mut acc = Acc::default();
    for (r, price) in runs {
        acc.add_run(r, *price, date_of(r.ended_ms));
    }
    for (key, role, bucket, n) in counts {
        acc.add_messages(key, role, date_of(*bucket), *n);
    }
    acc.msgs.errors = acc.sessions.values().map(|s| s.messages.errors).sum();
    let keys: Vec<String> = acc.sessions.keys().cloned().collect();
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
    let mut entries: Vec<(Value, Totals)> = acc
        .sessions
        .iter()
        .zip(rows)
        .map(|((key, s), row)| (session_entry(key, s, row.as_ref()), s.totals))
        .collect();
    by_cost(&mut entries);
    let session_count = entries.len();
    if let Some(l) = limit {
        entries.truncate(l);
    }
    let mut aggregates = acc.breakdowns();
    aggregates["sessionCount"] = json!(session_count);
    Ok(json!({
        "updatedAt": now_ms(),
        "sessions": entries.into_iter().map(|(v, _)| v).collect::<Vec<_>>(),
        "totals": acc.all.json(),
        "aggregates": aggregates,
        "creatorOptions": [],
    }))
}

/// Everything `sessions.usage` adds up over the range.
#[derive(Default)]
struct Acc {
    sessions: BTreeMap<String, Session>,
    all: Totals,
    msgs: Messages,
    models: BTreeMap<(String, String), Group>,
    providers: BTreeMap<String, Group>,
    agents: BTreeMap<String, Totals>,
    daily: BTreeMap<NaiveDate, Day>,
    model_days: BTreeMap<(NaiveDate, String, String), Group>,
}

impl Acc {
    /// One finished run, ended on `date`.
    fn add_run(&mut self, r: &RunUsage, price: Option<ModelCost>, date: NaiveDate) {
        let s = self.sessions.entry(r.session_key.clone()).or_default();
        s.totals.add(r, price);
        s.duration_ms += r.duration_ms;
        s.days.entry(date).or_default().add(r, price);
        s.first_ms = match s.first_ms {
            0 => r.ended_ms,
            f => f.min(r.ended_ms),
        };
        s.last_ms = s.last_ms.max(r.ended_ms);
        s.messages.errors += u64::from(!r.ok);
        s.day_messages.entry(date).or_default().errors += u64::from(!r.ok);
        if r.duration_ms > 0 {
            s.latencies.entry(date).or_default().push(r.duration_ms);
        }
        if let (Some(p), Some(m)) = (&r.provider, &r.model) {
            let day = (date, p.clone(), m.clone());
            for g in [
                s.model_days.entry(day).or_default(),
                s.models.entry((p.clone(), m.clone())).or_default(),
            ] {
                g.0 += 1;
                g.1.add(r, price);
            }
        }
        self.all.add(r, price);
        let day = self.daily.entry(date).or_default();
        day.totals.add(r, price);
        day.errors += u64::from(!r.ok);
        if r.duration_ms > 0 {
            day.latencies.push(r.duration_ms);
        }
        if let (Some(p), Some(m)) = (&r.provider, &r.model) {
            let groups = [
                self.model_days
                    .entry((date, p.clone(), m.clone()))
                    .or_default(),
                self.models.entry((p.clone(), m.clone())).or_default(),
                self.providers.entry(p.clone()).or_default(),
            ];
            for g in groups {
                g.0 += 1;
                g.1.add(r, price);
            }
        }
        let agent = key_agent(&r.session_key).unwrap_or("main").to_string();
        self.agents.entry(agent).or_default().add(r, price);
    }

    /// `n` transcript messages of `role` in session `key`, on `date`.
    fn add_messages(&mut self, key: &str, role: &str, date: NaiveDate, n: u64) {
        self.daily.entry(date).or_default().messages += n;
        let s = self.sessions.entry(key.to_string()).or_default();
        let day = s.day_messages.entry(date).or_default();
        for m in [&mut s.messages, day, &mut self.msgs] {
            m.count(role, n);
        }
    }

    /// The `aggregates` object (all but `sessionCount`).
    fn breakdowns(&self) -> Value {
        let grouped = |mut rows: Vec<(Value, Totals)>| -> Vec<Value> {
            by_cost(&mut rows);
            rows.into_iter().map(|(v, _)| v).collect()
        };
        let by_model = model_rows(&self.models);
        let by_provider = grouped(
            self.providers
                .iter()
                .map(|(p, (n, t))| (json!({ "provider": p, "count": n, "totals": t.json() }), *t))
                .collect(),
        );
        let by_agent = grouped(
            self.agents
                .iter()
                .map(|(a, t)| (json!({ "agentId": a, "totals": t.json() }), *t))
                .collect(),
        );
        let model_daily = model_day_rows(&self.model_days);
        json!({
            "sessionCount": 0,
            "messages": self.msgs.json(),
            "tools": { "totalCalls": 0, "uniqueTools": 0, "tools": [] },
            "byModel": by_model,
            "byProvider": by_provider,
            "byAgent": by_agent,
            "byChannel": [],
            "byCreator": [],
            "costDaily": self.cost_daily(),
            "dailyLatency": self.daily_latency(),
            "modelDaily": model_daily,
            "daily": self.days(),
        })
    }

    fn cost_daily(&self) -> Vec<Value> {
        self.daily
            .iter()
            .filter(|(_, d)| d.totals != Totals::default())
            .map(|(date, d)| d.totals.json_with(json!({ "date": date.to_string() })))
            .collect()
    }

    fn daily_latency(&self) -> Vec<Value> {
        dated_latency(self.daily.iter().map(|(date, d)| (date, &d.latencies)))
    }

    fn days(&self) -> Vec<Value> {
        self.daily
            .iter()
            .map(|(date, d)| {
                json!({
                    "date": date.to_string(), "tokens": d.totals.tokens(), "cost": d.totals.cost(),
                    "messages": d.messages, "toolCalls": 0, "errors": d.errors,
                })
            })
            .collect()
    }
}

/// One session's entry: its row's identity and its usage over the range.
fn session_entry(
    key: &str,
    s: &Session,
    row: Option<&crate::store::sessions::SessionRow>,
) -> Value {
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
    usage["sessionId"] = json!(row.map(|r| r.session_id.clone()));
    if let Some(l) = latency(s.latencies.values().flatten()) {
        usage["latency"] = l;
    }
    usage["dailyLatency"] = json!(dated_latency(s.latencies.iter()));
    usage["modelUsage"] = json!(model_rows(&s.models));
    let day_counts: Vec<Value> = s
        .day_messages
        .iter()
        .map(|(d, m)| {
            let mut v = m.json();
            v["date"] = json!(d.to_string());
            v
        })
        .collect();
    usage["dailyMessageCounts"] = json!(day_counts);
    usage["dailyModelUsage"] = json!(model_day_rows(&s.model_days));
    let mut v = json!({
        "key": key,
        "sessionId": row.map(|r| r.session_id.clone()),
        "agentId": row.map_or_else(|| key_agent(key).unwrap_or("main").to_string(), |r| r.agent_id.clone()),
        "updatedAt": row.map_or(s.last_ms, |r| r.updated_ms),
        "usage": usage,
    });
    let class = key_class(key, row.is_some());
    if class.kind == "direct" && !class.is_background && row.is_some() {
        v["chatType"] = json!("direct");
    }
    let fields = [
        ("label", row.and_then(|r| r.label.as_ref())),
        ("modelProvider", row.and_then(|r| r.provider.as_ref())),
        ("model", row.and_then(|r| r.model.as_ref())),
    ];
    for (k, x) in fields {
        if let Some(x) = x {
            v[k] = json!(x);
        }
    }
    v
}

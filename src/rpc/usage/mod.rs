//! Usage and cost: `usage.status`, `usage.cost`, `sessions.usage`, summed from the token
//! counts the run engine stores with every finished run, priced with the configured model
//! costs (`models.providers.*.models[].cost`, USD per million tokens), bucketed by calendar
//! day in the gateway's time zone (or UTC / a named zone where the caller asks).

use std::collections::BTreeMap;

use chrono::{DateTime, Days, NaiveDate, TimeZone, Utc};
use openclaw_proto::{ErrorShape, RequestFrame};
use serde_json::{json, Value};

use super::agent::check_keys;
use super::{params, Ctx};
use crate::agents::key_agent;
use crate::clock::now_ms;
use crate::config::catalog::{Catalog, ModelCost};
use crate::store::sessions::{message_counts, run_usage, RunUsage};

/// Days covered when the caller names no range (the Node gateway's default).
pub const DEFAULT_DAYS: u64 = 30;
/// Longest range a caller may ask for (`range: "all"` and explicit dates are capped here).
pub const MAX_DAYS: u64 = 3660;

/// Token and cost sums of one bucket, in the Node gateway's field order.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Totals {
    input: u64,
    output: u64,
    input_cost: f64,
    output_cost: f64,
    missing_cost: u64,
}

impl Totals {
    fn add(&mut self, r: &RunUsage, price: Option<ModelCost>) {
        self.input += r.input;
        self.output += r.output;
        match price {
            Some(p) => {
                self.input_cost += r.input as f64 * p.input / 1e6;
                self.output_cost += r.output as f64 * p.output / 1e6;
            }
            None if r.input + r.output > 0 => self.missing_cost += 1,
            None => {}
        }
    }

    fn tokens(&self) -> u64 {
        self.input + self.output
    }

    fn cost(&self) -> f64 {
        self.input_cost + self.output_cost
    }

    fn json(&self) -> Value {
        json!({
            "input": self.input, "output": self.output, "cacheRead": 0, "cacheWrite": 0,
            "totalTokens": self.tokens(), "totalCost": self.cost(),
            "inputCost": self.input_cost, "outputCost": self.output_cost,
            "cacheReadCost": 0, "cacheWriteCost": 0, "missingCostEntries": self.missing_cost,
        })
    }

    fn json_with(&self, extra: Value) -> Value {
        let mut v = self.json();
        if let (Some(o), Value::Object(e)) = (v.as_object_mut(), extra) {
            for (k, x) in e.into_iter().rev() {
                o.shift_insert(0, k, x);
            }
        }
        v
    }
}

/// The calendar the days are counted in.
#[derive(Clone, Copy)]
enum Zone {
    Local,
    Utc,
    Named(chrono_tz::Tz),
}

impl Zone {
    fn of(p: &Value) -> Zone {
        match (p["mode"].as_str(), p["timeZone"].as_str()) {
            (Some("utc"), _) => Zone::Utc,
            (_, Some(tz)) => tz.parse().map_or(Zone::Local, Zone::Named),
            _ => Zone::Local,
        }
    }

    fn date(self, ms: u64) -> NaiveDate {
        let utc = DateTime::<Utc>::from_timestamp_millis(ms as i64).unwrap_or_default();
        match self {
            Zone::Local => utc.with_timezone(&chrono::Local).date_naive(),
            Zone::Utc => utc.date_naive(),
            Zone::Named(tz) => utc.with_timezone(&tz).date_naive(),
        }
    }

    /// Epoch ms of `d`'s start (a day early when the zone makes it ambiguous).
    fn start_ms(self, d: NaiveDate) -> u64 {
        let midnight = d.and_hms_opt(0, 0, 0).unwrap_or_default();
        let ms = match self {
            Zone::Local => chrono::Local
                .from_local_datetime(&midnight)
                .earliest()
                .map(|t| t.timestamp_millis()),
            Zone::Utc => Some(midnight.and_utc().timestamp_millis()),
            Zone::Named(tz) => tz
                .from_local_datetime(&midnight)
                .earliest()
                .map(|t| t.timestamp_millis()),
        };
        ms.unwrap_or_else(|| midnight.and_utc().timestamp_millis() - 86_400_000)
            .max(0) as u64
    }
}

/// The inclusive day range a request covers: explicit `startDate`/`endDate`, `range`, or
/// `days` (default [`DEFAULT_DAYS`]) ending today.
fn range(p: &Value, zone: Zone) -> (NaiveDate, NaiveDate) {
    let today = zone.date(now_ms());
    let day = |k: &str| {
        p[k].as_str()
            .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
    };
    let days = match p["range"].as_str() {
        Some("7d") => 7,
        Some("90d") => 90,
        Some("1y") => 365,
        Some("all") => MAX_DAYS,
        Some("30d") => 30,
        _ => p["days"].as_u64().unwrap_or(DEFAULT_DAYS),
    }
    .clamp(1, MAX_DAYS);
    let end = day("endDate").unwrap_or(today);
    let start = day("startDate")
        .unwrap_or_else(|| end.checked_sub_days(Days::new(days - 1)).unwrap_or(end));
    let start = start.max(end.checked_sub_days(Days::new(MAX_DAYS)).unwrap_or(start));
    (start.min(end), end)
}

fn price(cat: &Catalog, r: &RunUsage) -> Option<ModelCost> {
    let p = cat.providers.get(r.provider.as_deref()?)?;
    let model = r.model.as_deref()?;
    p.models.iter().find(|m| m.id == model)?.cost
}

/// The runs of `[start, end]` (and their messages per session and role), off the runtime.
async fn load(
    c: &Ctx,
    zone: Zone,
    (start, end): (NaiveDate, NaiveDate),
) -> Result<(Vec<RunUsage>, Vec<(String, String, u64, u64)>), ErrorShape> {
    let from = zone.start_ms(start);
    let to = zone.start_ms(end.checked_add_days(Days::new(1)).unwrap_or(end));
    let store = &c.gw.agents.runs.store;
    // Run results are queued without waiting: read what every finished run has written.
    store.flush().await?;
    let (runs, counts) = store
        .read(move |db| Ok((run_usage(db, from)?, message_counts(db, from, to)?)))
        .await?;
    let runs = runs
        .into_iter()
        .filter(|r| (start..=end).contains(&zone.date(r.ended_ms)))
        .collect();
    Ok((runs, counts))
}

fn dates(start: NaiveDate, end: NaiveDate) -> impl Iterator<Item = NaiveDate> {
    start.iter_days().take_while(move |d| *d <= end)
}

/// `usage.status`: provider quota windows. Quotas are read from subscription providers'
/// usage APIs, which this gateway does not call: none to report.
pub fn status(_: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let _: Value = params(req)?;
    Ok(json!({ "updatedAt": now_ms(), "providers": [] }))
}

/// `usage.cost {days?, startDate?, endDate?, mode?, timeZone?}`: tokens and cost per day.
pub async fn cost(c: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let p: Value = params(req)?;
    let zone = Zone::of(&p);
    let (start, end) = range(&p, zone);
    let (runs, _) = load(c, zone, (start, end)).await?;
    let cat = c.gw.agents.catalog();
    let mut by_day: BTreeMap<NaiveDate, Totals> = BTreeMap::new();
    let mut all = Totals::default();
    for r in &runs {
        let pr = price(&cat, r);
        by_day.entry(zone.date(r.ended_ms)).or_default().add(r, pr);
        all.add(r, pr);
    }
    let daily: Vec<Value> = dates(start, end)
        .map(|d| {
            let t = by_day.get(&d).copied().unwrap_or_default();
            t.json_with(json!({ "date": d.to_string() }))
        })
        .collect();
    Ok(json!({
        "updatedAt": now_ms(),
        "days": daily.len(),
        "daily": daily,
        "totals": all.json(),
        "cacheStatus": { "status": "fresh", "cachedFiles": 0, "pendingFiles": 0, "staleFiles": 0 },
    }))
}

/// Every property of the 2026.9.6 `SessionsUsageParams` (`creatorKey`, `groupBy`,
/// `includeHistorical`, `includeContextWeight` name features we lack and change nothing).
const SESSIONS_USAGE_KEYS: &[&str] = &[
    "key",
    "agentId",
    "agentScope",
    "creatorKey",
    "startDate",
    "endDate",
    "mode",
    "range",
    "groupBy",
    "includeHistorical",
    "utcOffset",
    "timeZone",
    "limit",
    "includeContextWeight",
];

mod per_session;

/// `sessions.usage {…}`: per session, with totals and the breakdowns the usage page shows.
pub async fn sessions(c: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let p: Value = params(req)?;
    check_keys(&p, SESSIONS_USAGE_KEYS, req.method())?;
    crate::rpc::schema_checked(req)?;
    let zone = Zone::of(&p);
    let (start, end) = range(&p, zone);
    let (mut runs, mut counts) = load(c, zone, (start, end)).await?;
    let key = p["key"].as_str();
    let agent = p["agentId"].as_str().filter(|_| p["agentScope"] != "all");
    let keep =
        |k: &str| key.is_none_or(|x| x == k) && agent.is_none_or(|a| key_agent(k) == Some(a));
    runs.retain(|r| keep(&r.session_key));
    counts.retain(|(k, _, _, _)| keep(k));
    let cat = c.gw.agents.catalog();
    let priced: Vec<(RunUsage, Option<ModelCost>)> = runs
        .into_iter()
        .map(|r| {
            let pr = price(&cat, &r);
            (r, pr)
        })
        .collect();
    let limit = p["limit"].as_u64().map(|l| l as usize);
    let mut v = per_session::build(c, &priced, &counts, |ms| zone.date(ms), limit).await?;
    v["startDate"] = json!(start.to_string());
    v["endDate"] = json!(end.to_string());
    Ok(v)
}

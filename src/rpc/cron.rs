//! `cron.*`: automations as the stock CLI's `openclaw cron …` and the Control UI's
//! Automations page call them — params checked against the 2026.9.6 contract, answers in its
//! shapes, errors worded as the Node gateway words them. The jobs live in `crate::cron`.

use openclaw_proto::{ErrorCode, ErrorShape, RequestFrame};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::agent::check_keys;
use super::{params, Ctx};
use crate::cron::CronError;

/// `cron.runs` entries per page when the caller names no limit.
pub const DEFAULT_RUNS_LIMIT: u64 = 50;
/// Largest `cron.list` / `cron.runs` page (the schema's maximum).
pub const MAX_PAGE: u64 = 200;

const ADD_KEYS: &[&str] = &[
    "name",
    "declarationKey",
    "displayName",
    "owner",
    "agentId",
    "sessionKey",
    "description",
    "enabled",
    "deleteAfterRun",
    "schedule",
    "pacing",
    "trigger",
    "sessionTarget",
    "wakeMode",
    "payload",
    "delivery",
    "failureAlert",
];

/// `cron.update` patch properties (`pacing`, `trigger`, `state` name Node-only knobs and are
/// accepted without effect; see `crate::cron::Job::patch`).
const PATCH_KEYS: &[&str] = &[
    "name",
    "displayName",
    "agentId",
    "sessionKey",
    "description",
    "enabled",
    "deleteAfterRun",
    "schedule",
    "pacing",
    "trigger",
    "sessionTarget",
    "wakeMode",
    "payload",
    "delivery",
    "failureAlert",
    "state",
];

const LIST_KEYS: &[&str] = &[
    "sessionKey",
    "sessionAgentId",
    "includeDisabled",
    "limit",
    "offset",
    "query",
    "enabled",
    "scheduleKind",
    "lastRunStatus",
    "trigger",
    "sortBy",
    "sortDir",
    "agentId",
    "compact",
    "includeDeliveryPreviews",
];

const RUNS_KEYS: &[&str] = &[
    "agentId",
    "scope",
    "id",
    "jobId",
    "runId",
    "limit",
    "offset",
    "statuses",
    "status",
    "deliveryStatuses",
    "deliveryStatus",
    "query",
    "sortDir",
];

const NOT_FOUND_HINT: &str = "List automations and retry with a current job id. For \
     cross-session management, use a fresh authenticated configured channel owner or Control UI \
     administrator turn or the Automations page.";

fn wire(e: CronError, lead: &str) -> ErrorShape {
    match e {
        CronError::NotFound(id) => ErrorShape::new(
            ErrorCode::InvalidRequest,
            format!("{lead}: {id}. {NOT_FOUND_HINT}"),
        )
        .with_details(json!({ "code": "CRON_JOB_NOT_FOUND", "jobId": id })),
        CronError::Invalid(m) => ErrorShape::new(ErrorCode::InvalidRequest, m),
        CronError::Store(e) => crate::failure::store("cron", e),
    }
}

/// The job id of `{id}` or `{jobId}` params (exactly one), with the other allowed keys.
fn job_id(p: &Value, method: &str, extra: &[&str]) -> Result<String, ErrorShape> {
    let id = p["id"].as_str().filter(|s| !s.is_empty());
    let job = p["jobId"].as_str().filter(|s| !s.is_empty());
    let (key, v) = match (id, job) {
        (Some(v), None) => ("id", v),
        (None, Some(v)) => ("jobId", v),
        _ => {
            return Err(ErrorShape::invalid_params(
                method,
                "must match a schema in anyOf",
            ))
        }
    };
    let mut allowed = vec![key];
    allowed.extend_from_slice(extra);
    check_keys(p, &allowed, method)
        .map_err(|_| ErrorShape::invalid_params(method, "must match a schema in anyOf"))?;
    Ok(v.to_string())
}

/// `cron.status {}`.
pub fn status(c: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let p: Value = params(req)?;
    check_keys(&p, &[], req.method())?;
    let (jobs, next) = c.gw.cron.status();
    let path = c.gw.cron.store_path();
    Ok(json!({
        "enabled": true, "triggersEnabled": true, "storePath": path, "storage": "sqlite",
        "sqlitePath": path, "jobs": jobs, "nextWakeAtMs": next,
    }))
}

fn keep(job: &Value, p: &Value) -> bool {
    let enabled = job["enabled"] != false;
    let wanted = match p["enabled"].as_str() {
        Some("all") => true,
        Some("enabled") => enabled,
        Some("disabled") => !enabled,
        _ => enabled || p["includeDisabled"] == true,
    };
    let kind = p["scheduleKind"]
        .as_str()
        .is_none_or(|k| k == "all" || job["schedule"]["kind"] == k);
    let last = p["lastRunStatus"].as_str().is_none_or(|s| match s {
        "all" => true,
        "unknown" => job["state"]["lastRunStatus"].is_null(),
        s => job["state"]["lastRunStatus"] == s,
    });
    let agent = p["agentId"]
        .as_str()
        .is_none_or(|a| job["effectiveAgentId"] == a);
    let query = p["query"].as_str().map(str::to_lowercase);
    let text = query.is_none_or(|q| {
        [&job["name"], &job["description"], &job["displayName"]]
            .iter()
            .any(|v| v.as_str().is_some_and(|s| s.to_lowercase().contains(&q)))
    });
    wanted && kind && last && agent && text
}

/// `cron.list {…}`: filtered, sorted (by next run unless asked otherwise), paged.
pub fn list(c: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let p: Value = params(req)?;
    check_keys(&p, LIST_KEYS, req.method())?;
    let mut jobs: Vec<Value> =
        c.gw.cron
            .list()
            .into_iter()
            .filter(|j| keep(j, &p))
            .collect();
    let by = p["sortBy"].as_str().unwrap_or("nextRunAtMs");
    jobs.sort_by(|a, b| match by {
        "name" => a["name"].as_str().cmp(&b["name"].as_str()),
        "updatedAtMs" => a["updatedAtMs"].as_u64().cmp(&b["updatedAtMs"].as_u64()),
        // Jobs with no next run sort last.
        _ => (a["nextRunAtMs"].as_u64().unwrap_or(u64::MAX))
            .cmp(&b["nextRunAtMs"].as_u64().unwrap_or(u64::MAX)),
    });
    if p["sortDir"] == "desc" {
        jobs.reverse();
    }
    let total = jobs.len() as u64;
    let offset = p["offset"].as_u64().unwrap_or(0).min(total);
    let limit = p["limit"]
        .as_u64()
        .unwrap_or(total)
        .min(MAX_PAGE.max(total));
    let page: Vec<Value> = jobs
        .into_iter()
        .skip(offset as usize)
        .take(limit as usize)
        .collect();
    let end = offset + page.len() as u64;
    let revision = Sha256::digest(Value::Array(page.clone()).to_string().as_bytes());
    // Runs deliver their result to the session transcript only: no channel delivery.
    let previews: serde_json::Map<String, Value> = page
        .iter()
        .map(|j| {
            let id = j["id"].as_str().unwrap_or("").to_string();
            (
                id,
                json!({ "label": "not requested", "detail": "not requested" }),
            )
        })
        .collect();
    Ok(json!({
        "jobs": page,
        "snapshotRevision": format!("sha256:{}", hex::encode(revision)),
        "total": total, "offset": offset, "limit": limit,
        "hasMore": end < total, "nextOffset": if end < total { json!(end) } else { Value::Null },
        "deliveryPreviews": previews,
    }))
}

/// `cron.get {id | jobId}`.
pub fn get(c: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let p: Value = params(req)?;
    let id = job_id(&p, req.method(), &[])?;
    c.gw.cron
        .get(&id)
        .map_err(|e| wire(e, "cron job not found"))
}

/// `cron.add {…CronAddParams}`.
pub async fn add(c: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let p: Value = params(req)?;
    check_keys(&p, ADD_KEYS, req.method())?;
    for k in ["name", "schedule", "sessionTarget", "wakeMode", "payload"] {
        if p.get(k).is_none() {
            return Err(ErrorShape::invalid_params(
                req.method(),
                &format!("must have required property '{k}'"),
            ));
        }
    }
    let mut job =
        c.gw.cron
            .add(&p)
            .await
            .map_err(|e| wire(e, "Automation not found"))?;
    job.as_object_mut().map(|o| o.remove("effectiveAgentId"));
    job["deliveryPreview"] = json!({ "label": "not requested", "detail": "not requested" });
    Ok(job)
}

/// `cron.update {id | jobId, patch}`.
pub async fn update(c: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let p: Value = params(req)?;
    // `expectedConfigRevision` guards config-declared jobs; jobs here are never declared in
    // config, so there is no revision to compare.
    let id = job_id(&p, req.method(), &["patch", "expectedConfigRevision"])?;
    if check_keys(&p["patch"], PATCH_KEYS, req.method()).is_err() {
        return Err(ErrorShape::invalid_params(
            req.method(),
            "must match a schema in anyOf",
        ));
    }
    c.gw.cron
        .update(&id, &p["patch"])
        .await
        .map_err(|e| wire(e, "Automation not found"))
}

/// `cron.remove {id | jobId}`.
pub async fn remove(c: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let p: Value = params(req)?;
    let id = job_id(&p, req.method(), &[])?;
    c.gw.cron
        .remove(&id)
        .await
        .map_err(|e| wire(e, "Automation not found"))?;
    Ok(json!({ "ok": true, "removed": true }))
}

/// `cron.run {id | jobId, mode?, expectedProcessInstanceId?}`.
pub fn run(c: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let p: Value = params(req)?;
    let id = job_id(&p, req.method(), &["mode", "expectedProcessInstanceId"])?;
    if let Some(want) = p["expectedProcessInstanceId"].as_str() {
        if want != c.gw.cron.instance_id {
            return Err(ErrorShape::new(
                ErrorCode::Unavailable,
                "cron.run: the gateway process changed; list automations again",
            ));
        }
    }
    let mode = p["mode"].as_str().unwrap_or("force");
    c.gw.cron
        .run_now(&id, mode)
        .map_err(|e| wire(e, "Automation not found"))
}

/// `cron.runs {id | jobId | scope: "all", …}`: the run log, newest first by default.
pub async fn runs(c: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let p: Value = params(req)?;
    check_keys(&p, RUNS_KEYS, req.method())?;
    let job = p["id"].as_str().or(p["jobId"].as_str()).map(str::to_string);
    if let Some(id) = &job {
        c.gw.cron
            .get(id)
            .map_err(|e| wire(e, "Automation not found"))?;
    }
    let job = job.filter(|_| p["scope"] != "all");
    let mut statuses: Vec<String> = p["statuses"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect();
    if let Some(s) = p["status"].as_str().filter(|s| *s != "all") {
        statuses.push(s.to_string());
    }
    let limit = p["limit"]
        .as_u64()
        .unwrap_or(DEFAULT_RUNS_LIMIT)
        .clamp(1, MAX_PAGE);
    let offset = p["offset"].as_u64().unwrap_or(0);
    let asc = p["sortDir"] == "asc";
    let page =
        c.gw.cron
            .runs(job, statuses, (limit, offset, asc))
            .await
            .map_err(|e| crate::failure::store("cron.runs", e))?;
    let end = offset + page.entries.len() as u64;
    Ok(json!({
        "entries": page.entries, "total": page.total, "offset": offset, "limit": limit,
        "hasMore": end < page.total,
        "nextOffset": if end < page.total { json!(end) } else { Value::Null },
    }))
}

//! `cron-burst`: N one-shot automations all due in the same second. Reports how fast they are
//! added, how long after the due second the first starts and the last finishes, and the
//! latency of `health` on another connection (open loop at `--health-rate`, measured from each
//! call's scheduled time) in the seconds before the burst and during it.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Result};
use clap::Args;
use serde_json::json;
use tokio::time::timeout;

use super::Common;
use crate::client::{Conn, Head};
use crate::progress;
use crate::report::{hist_headers, hist_json, hist_row, new_hist, record, Outcome, Table};

#[derive(Args, Debug)]
pub struct CronArgs {
    #[command(flatten)]
    pub common: Common,
    /// Jobs, all due in the same second.
    #[arg(long, default_value_t = 10_000)]
    pub jobs: usize,
    /// `cron.add` calls kept in flight while adding (under the gateway's per-socket in-flight
    /// limit, 64 by default).
    #[arg(long, default_value_t = 32)]
    pub pipeline: usize,
    /// How far ahead of the start the jobs are due (ms); must exceed the time to add them.
    #[arg(long, default_value_t = 20_000)]
    pub lead_ms: u64,
    /// `health` calls per second on the watching connection.
    #[arg(long, default_value_t = 100.0)]
    pub health_rate: f64,
    /// Sessions the jobs' system events are spread over (`session:burst-<i>` targets); 0 puts
    /// them all in the main session (the only target the Node gateway takes for system events).
    #[arg(long, default_value_t = 0)]
    pub sessions: usize,
}

fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn iso(ms: u64) -> String {
    let secs = (ms / 1000) as i64;
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Days since the epoch → civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60,
        ms % 1000
    )
}

/// Add every job, `pipeline` in flight. Returns how long it took.
async fn add_jobs(conn: &mut Conn, a: &CronArgs, due_ms: u64) -> Result<Duration> {
    let t0 = Instant::now();
    let at = iso(due_ms);
    let (mut sent, mut answered) = (0usize, 0usize);
    progress::phase("cron.add", a.jobs as u64);
    while answered < a.jobs {
        while sent < a.jobs && sent - answered < a.pipeline.max(1) {
            let p = json!({
                "name": format!("burst-{sent}"),
                "schedule": { "kind": "at", "at": at },
                "sessionTarget": match a.sessions {
                    0 => "main".to_string(),
                    k => format!("session:burst-{}", sent % k),
                },
                "wakeMode": "next-heartbeat",
                "payload": { "kind": "systemEvent", "text": format!("burst {sent}") },
            });
            let id = conn.next_id();
            conn.send_req(id, "cron.add", &p.to_string()).await?;
            sent += 1;
        }
        let buf = timeout(Duration::from_secs(30), conn.next_text()).await??;
        let head = Head::parse(&buf)?;
        if head.kind == "res" {
            if head.ok != Some(true) {
                bail!("cron.add failed: {}", head.error_text());
            }
            answered += 1;
            progress::inc(1);
        }
    }
    Ok(t0.elapsed())
}

pub async fn run(a: &CronArgs) -> Result<Outcome> {
    let cfg = a.common.client_cfg();
    let deadline = a.common.deadline(Instant::now());
    let mut admin = Conn::connect(&cfg).await?;
    let mut watch = Conn::connect(&cfg).await?;
    let start_wall = wall_ms();
    let due_ms = (start_wall + a.lead_ms).div_ceil(1000) * 1000;
    let add_time = add_jobs(&mut admin, a, due_ms).await?;
    if wall_ms() >= due_ms {
        bail!("adding took {add_time:?}: longer than --lead-ms; raise it");
    }
    let due_at = Instant::now() + Duration::from_millis(due_ms - wall_ms());
    // Count the runs from the admin connection (it sees every `cron` event).
    let n = a.jobs;
    let counter = tokio::spawn(async move {
        let (mut started, mut finished, mut errors) = (0usize, 0usize, 0usize);
        let (mut first, mut last) = (None, None);
        while finished < n && Instant::now() < deadline {
            let Ok(Ok(buf)) = timeout(Duration::from_secs(30), admin.next_text()).await else {
                break;
            };
            let text = String::from_utf8_lossy(&buf);
            if !text.contains(r#""event":"cron""#) {
                continue;
            }
            if text.contains(r#""action":"started""#) {
                started += 1;
                first.get_or_insert_with(Instant::now);
            } else if text.contains(r#""action":"finished""#) {
                finished += 1;
                errors += usize::from(!text.contains(r#""status":"ok""#));
                last = Some(Instant::now());
            }
        }
        (started, finished, errors, first, last)
    });
    // Health from two seconds before the due second until every job has finished.
    let interval = Duration::from_secs_f64(1.0 / a.health_rate.max(1.0));
    let (mut before, mut during) = (new_hist(), new_hist());
    let begin = due_at.checked_sub(Duration::from_secs(2)).unwrap_or(due_at);
    tokio::time::sleep_until(begin.into()).await;
    let mut i = 0u32;
    progress::phase("burst", n as u64);
    while !counter.is_finished() && Instant::now() < deadline {
        let scheduled = begin + interval * i;
        i += 1;
        tokio::time::sleep_until(scheduled.into()).await;
        watch.call("health", "{}").await?;
        let lat = Instant::now().saturating_duration_since(scheduled);
        record(
            if scheduled < due_at {
                &mut before
            } else {
                &mut during
            },
            lat,
        );
    }
    let (started, finished, errors, first, last) = counter.await?;
    let since =
        |t: Option<Instant>| t.map(|t| t.saturating_duration_since(due_at).as_millis() as u64);
    let mut t = Table::with(&[
        "jobs",
        "added in ms",
        "first start ms",
        "last finish ms",
        "finished",
        "errors",
    ]);
    t.row(vec![
        n.to_string(),
        add_time.as_millis().to_string(),
        since(first).map_or("-".into(), |v| v.to_string()),
        since(last).map_or("-".into(), |v| v.to_string()),
        finished.to_string(),
        errors.to_string(),
    ]);
    t.print();
    let mut h = Table::new(hist_headers("health"));
    h.row(hist_row("before the burst", &before));
    h.row(hist_row("during the burst", &during));
    h.print();
    let json = json!({
        "scenario": "cron-burst", "jobs": n, "added_ms": add_time.as_millis() as u64,
        "started": started, "finished": finished, "errors": errors,
        "first_start_after_due_ms": since(first), "last_finish_after_due_ms": since(last),
        "health_before": hist_json(&before), "health_during": hist_json(&during),
        "options": a.common.to_json(),
    });
    if finished < n && a.common.strict {
        bail!("only {finished} of {n} jobs finished");
    }
    Ok(Outcome::new(json).hist("health during the burst", during))
}

//! The cron timer and the runs: one task sleeps until the earliest due job (or until a job
//! changes; nothing wakes it while no job is due), hands each due job to a run task under
//! the [`super::MAX_CONCURRENT_RUNS`] slots, and every run ends by updating the job's state,
//! its next run, the run log and a `cron` event.

use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde_json::{json, Value};

use super::{Cron, CronError, Job};
use crate::agents::wake::{wake, Woken};
use crate::agents::{canonical_key, key_agent, Submit, Tap};

/// Longest single sleep of the timer: a wall-clock step (suspend, NTP) is noticed within it.
pub const MAX_SLEEP: Duration = Duration::from_secs(60);

/// Wall-clock milliseconds as the scheduler sees them: the wall clock, or the runtime's
/// clock counted from start when that is ahead (so tests on tokio's paused clock move cron
/// time by advancing the runtime).
pub fn now_ms() -> u64 {
    static ANCHOR: OnceLock<(u64, tokio::time::Instant)> = OnceLock::new();
    let wall = crate::clock::now_ms();
    let (w0, t0) = *ANCHOR.get_or_init(|| (wall, tokio::time::Instant::now()));
    let derived = w0 + t0.elapsed().as_millis() as u64;
    wall.max(derived)
}

/// What one run came to.
struct Ran {
    ok: bool,
    error: Option<String>,
    summary: Option<String>,
    session_key: String,
    run_id: Option<String>,
    provider: Option<String>,
    model: Option<String>,
}

/// The session a job's turn runs in, and its agent.
fn target(job: &Job, default_agent: &str) -> (String, String) {
    let agent = job
        .agent_id()
        .or_else(|| job.wire["sessionKey"].as_str().and_then(key_agent))
        .unwrap_or(default_agent)
        .to_string();
    let key = match job.wire["sessionTarget"].as_str().unwrap_or("main") {
        "isolated" => format!(
            "agent:{agent}:cron:{}:run:{}",
            job.id(),
            uuid::Uuid::new_v4()
        ),
        "current" => match job.wire["sessionKey"].as_str() {
            Some(k) => canonical_key(k, &agent),
            None => format!("agent:{agent}:main"),
        },
        t => match t.strip_prefix("session:") {
            Some(k) => canonical_key(k, &agent),
            None => format!("agent:{agent}:main"),
        },
    };
    (key, agent)
}

impl Cron {
    /// The timer loop; ends with `shutdown`.
    pub async fn run_timer(self: Arc<Self>, shutdown: openclaw_net::Shutdown) {
        loop {
            let now = now_ms();
            let next = self.jobs.lock().due.first().map(|(n, _)| *n);
            match next {
                Some(n) if n <= now => self.fire_due(now),
                Some(n) => {
                    let wait = Duration::from_millis(n - now).min(MAX_SLEEP);
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = self.timer.notified() => {}
                        _ = shutdown.wait() => return,
                    }
                }
                None => tokio::select! {
                    _ = self.timer.notified() => {}
                    _ = shutdown.wait() => return,
                },
            }
        }
    }

    /// Start every job due at `now` (one pass; each run waits for a slot in its own task).
    fn fire_due(self: &Arc<Self>, now: u64) {
        let mut started = Vec::new();
        {
            let mut js = self.jobs.lock();
            while let Some((n, id)) = js.due.first().cloned() {
                if n > now {
                    break;
                }
                js.due.pop_first();
                let busy = js.running.contains(&id);
                let Some(job) = js.by_id.get_mut(&id) else {
                    continue;
                };
                job.set_next_run(None);
                if busy {
                    // Still running from its last turn: this one is skipped, the next kept.
                    let skipped = job.wire["state"]["consecutiveSkipped"]
                        .as_u64()
                        .unwrap_or(0);
                    job.wire["state"]["consecutiveSkipped"] = json!(skipped + 1);
                    let next = job.schedule.next_after(now);
                    job.set_next_run(next);
                    let job = job.clone();
                    js.index(&job);
                    continue;
                }
                js.running.insert(id.clone());
                started.push(id);
            }
        }
        for id in started {
            tokio::spawn(self.clone().execute(id, None));
        }
    }

    /// `cron.run {id, mode}`: `force` runs now whatever the schedule; `if-enabled` only an
    /// enabled job; `due` only a job whose run is due.
    ///
    /// # Errors
    /// Unknown id.
    pub fn run_now(self: &Arc<Self>, id: &str, mode: &str) -> Result<Value, CronError> {
        let now = now_ms();
        let job = self.get_job(id)?;
        let refuse = |reason: &str| {
            Ok(
                json!({ "ok": true, "ran": false, "reason": reason, "processInstanceId": self.instance_id }),
            )
        };
        match mode {
            "due" if job.next_run().is_none_or(|n| n > now) => return refuse("not-due"),
            "if-enabled" if !job.enabled() => return refuse("disabled"),
            _ => {}
        }
        if !self.jobs.lock().running.insert(id.to_string()) {
            return refuse("already-running");
        }
        let n = self.manual_seq.fetch_add(1, Ordering::Relaxed) + 1;
        let run_id = format!("manual:{id}:{now}:{n}");
        tokio::spawn(self.clone().execute(id.to_string(), Some(run_id.clone())));
        Ok(json!({
            "ok": true, "enqueued": true, "runId": run_id, "processInstanceId": self.instance_id,
        }))
    }

    /// One run of job `id` (already marked running); `manual` is the id of a `cron.run`.
    async fn execute(self: Arc<Self>, id: String, manual: Option<String>) {
        let Ok(_slot) = self.slots.clone().acquire_owned().await else {
            return;
        };
        let Ok(mut job) = self.get_job(&id) else {
            self.jobs.lock().running.remove(&id);
            return;
        };
        let started = now_ms();
        job.wire["state"]["runningAtMs"] = json!(started);
        self.publish(&id, "started", Some(&job), json!({ "runAtMs": started }));
        let ran = self.perform(&job).await;
        self.finish(job, started, ran, manual).await;
    }

    async fn perform(&self, job: &Job) -> Ran {
        let (session_key, agent) = target(job, &self.default_agent());
        let payload = &job.wire["payload"];
        let mut ran = Ran {
            ok: false,
            error: None,
            summary: None,
            session_key: session_key.clone(),
            run_id: None,
            provider: None,
            model: None,
        };
        if payload["kind"] == "systemEvent" {
            let text = payload["text"].as_str().unwrap_or("").to_string();
            let now = job.wire["wakeMode"] == "now";
            match wake(&self.agents, &session_key, &agent, text, now).await {
                Ok(Woken::Queued) => ran.ok = true,
                Ok(Woken::Started(run)) => self.await_run(&run, &mut ran).await,
                Err(f) => ran.error = Some(f.message()),
            }
            return ran;
        }
        let run_id = uuid::Uuid::new_v4().to_string();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let submit = Submit {
            run_id: run_id.clone(),
            session_key,
            agent_id: agent,
            message: payload["message"].as_str().unwrap_or("").to_string(),
            caller_owned: false,
            model: payload["model"].as_str().map(str::to_string),
            timeout: payload["timeoutSeconds"]
                .as_f64()
                .filter(|s| *s > 0.0)
                .map(Duration::from_secs_f64),
            tap: Some(tx),
            ..Submit::default()
        };
        match self.agents.accept(submit).await {
            Ok(accepted) => {
                accepted.start(&self.agents);
                ran.run_id = Some(run_id);
                while let Some(t) = rx.recv().await {
                    if let Tap::Done(o) = t {
                        ran.ok = o.status == "ok";
                        ran.error = (!ran.ok).then(|| o.error_text());
                        ran.summary = ran.ok.then(|| o.text.clone());
                        ran.provider = o.provider.clone();
                        ran.model = o.model.clone();
                        break;
                    }
                }
            }
            Err(e) => ran.error = Some(e.message),
        }
        ran
    }

    /// Wait for a run started by a wake (`wakeMode: now`) and record how it ended.
    async fn await_run(&self, run_id: &str, ran: &mut Ran) {
        ran.run_id = Some(run_id.to_string());
        match self.agents.runs.get(run_id) {
            Some(run) => {
                let o = run.finished().await;
                ran.ok = o.status == "ok";
                ran.error = (!ran.ok).then(|| o.error_text());
                ran.summary = ran.ok.then(|| o.text.clone());
            }
            None => ran.ok = true,
        }
    }

    /// Record a finished run: job state and next run, the run log, the `finished` event.
    async fn finish(&self, mut job: Job, started: u64, ran: Ran, manual: Option<String>) {
        let id = job.id().to_string();
        let ended = now_ms();
        let status = if ran.ok { "ok" } else { "error" };
        let mut state = job.wire["state"].take();
        let errors = state["consecutiveErrors"].as_u64().unwrap_or(0);
        state["lastRunAtMs"] = json!(started);
        state["lastRunStatus"] = json!(status);
        state["lastStatus"] = json!(status);
        state["lastDurationMs"] = json!(ended.saturating_sub(started));
        state["consecutiveErrors"] = json!(if ran.ok { 0 } else { errors + 1 });
        state["consecutiveSkipped"] = json!(0);
        state["lastDeliveryStatus"] = json!("not-requested");
        if let Some(o) = state.as_object_mut() {
            o.remove("runningAtMs");
            match &ran.error {
                Some(e) => {
                    o.insert("lastError".into(), json!(e));
                }
                None => {
                    o.remove("lastError");
                }
            }
        }
        job.wire["state"] = state;
        // A recurring job keeps its schedule whatever the outcome; a forced run leaves the
        // next scheduled run where it was; a one-shot is done.
        let one_shot = matches!(job.schedule, super::schedule::Schedule::At(_));
        let current = self.get_job(&id).ok();
        let next = match (&manual, current.as_ref().and_then(Job::next_run)) {
            (Some(_), Some(n)) => Some(n),
            _ if one_shot => None,
            _ => job.schedule.next_after_run(started).map(|n| n.max(ended)),
        };
        if let Some(cur) = &current {
            // Keep what an update changed meanwhile (name, schedule, enabled…).
            let state = job.wire["state"].take();
            job = cur.clone();
            job.wire["state"] = state;
        }
        let enabled = job.enabled() && !one_shot;
        if one_shot {
            job.wire["enabled"] = json!(false);
        }
        job.set_next_run(enabled.then_some(next).flatten());
        let delete = one_shot && ran.ok && job.wire["deleteAfterRun"] == true;
        let entry = self.log_entry(&job, started, ended, &ran, manual.as_deref());
        // Memory first (a `cron.get` after the logged run sees its state), then the log and
        // the job's row.
        {
            let mut js = self.jobs.lock();
            js.running.remove(&id);
            if !delete && current.is_some() {
                if let Some(old) = js.by_id.remove(&id) {
                    js.unindex(&old);
                }
                js.index(&job);
                js.by_id.insert(id.clone(), job.clone());
            }
        }
        self.timer.notify_one();
        let _ = self.store.writer.send(super::store::Op::Log {
            job_id: id.clone(),
            ts: ended,
            status: status.to_string(),
            entry: entry.to_string(),
        });
        if current.is_some() {
            if delete {
                let _ = self.remove(&id).await;
            } else if let Err(e) = self.persist(&job).await {
                tracing::error!(target: "cron", "job {id}: state not stored: {e}");
            }
        }
        let mut extra = entry;
        if let Some(o) = extra.as_object_mut() {
            for k in ["ts", "jobId", "action", "jobName"] {
                o.remove(k);
            }
        }
        self.publish(&id, "finished", Some(&job), extra);
    }

    fn log_entry(
        &self,
        job: &Job,
        started: u64,
        ended: u64,
        ran: &Ran,
        manual: Option<&str>,
    ) -> Value {
        let mut e = json!({
            "ts": ended, "jobId": job.id(), "action": "finished",
            "status": if ran.ok { "ok" } else { "error" },
            "completionStatus": if ran.ok { "succeeded" } else { "failed" },
            "runAtMs": started, "durationMs": ended.saturating_sub(started),
            "deliveryStatus": "not-requested", "sessionKey": ran.session_key,
            "jobName": job.name(),
        });
        let mut put = |k: &str, v: Option<&str>| {
            if let Some(v) = v {
                e[k] = json!(v);
            }
        };
        put("error", ran.error.as_deref());
        put("summary", ran.summary.as_deref());
        put("runId", manual.or(ran.run_id.as_deref()));
        put("provider", ran.provider.as_deref());
        put("model", ran.model.as_deref());
        if let Some(n) = job.next_run() {
            e["nextRunAtMs"] = json!(n);
        }
        e
    }
}

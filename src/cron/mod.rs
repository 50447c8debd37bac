//! Automations (cron): scheduled agent turns and system events, persisted in SQLite
//! ([`store`]), scheduled by one timer task that sleeps until the earliest due job and costs
//! nothing while idle ([`runner`]), each run going through the same run engine as `agent`.
//! This module holds the jobs and their operations; the `cron.*` methods are in
//! `rpc::cron`, events go out through the hub.

mod job;
pub mod runner;
pub mod schedule;
mod store;

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::{json, Value};
use tokio::sync::{Notify, Semaphore};

pub use job::Job;
pub use store::{CronStore, RunPage};

use crate::agents::Agents;
use crate::hub::Hub;
use crate::store::StoreError;

/// Runs of jobs at once (the Node gateway's cron lane allows 8); more due jobs wait their
/// turn without holding anything but a queued task.
pub const MAX_CONCURRENT_RUNS: usize = 8;
/// Missed jobs started at once after a restart; the rest are spread [`MISSED_STAGGER_MS`]
/// apart (the Node gateway's catch-up rule).
pub const MISSED_IMMEDIATE: usize = 5;
/// Spacing of the missed jobs past the first [`MISSED_IMMEDIATE`].
pub const MISSED_STAGGER_MS: u64 = 5_000;

/// The jobs and the due index (`(next run ms, id)` of every enabled job with a next run).
#[derive(Default)]
struct Jobs {
    by_id: HashMap<String, Job>,
    due: BTreeSet<(u64, String)>,
    /// Ids of jobs with a run in flight.
    running: BTreeSet<String>,
}

impl Jobs {
    fn index(&mut self, job: &Job) {
        if let (true, Some(n)) = (job.enabled(), job.next_run()) {
            self.due.insert((n, job.id().to_string()));
        }
    }

    fn unindex(&mut self, job: &Job) {
        if let Some(n) = job.next_run() {
            self.due.remove(&(n, job.id().to_string()));
        }
    }
}

/// The automation service.
pub struct Cron {
    jobs: Mutex<Jobs>,
    store: CronStore,
    pub(crate) agents: Arc<Agents>,
    hub: Arc<Hub>,
    /// Wakes the timer when the earliest due time may have changed.
    timer: Notify,
    slots: Arc<Semaphore>,
    manual_seq: AtomicU64,
    /// Reported as `processInstanceId` by `cron.run`.
    pub instance_id: String,
}

impl std::fmt::Debug for Cron {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cron").finish_non_exhaustive()
    }
}

/// A failed job operation, as the `cron.*` methods report it.
#[derive(Debug)]
pub enum CronError {
    /// No job with this id.
    NotFound(String),
    /// Params the job model refuses.
    Invalid(String),
    /// The store failed.
    Store(StoreError),
}

impl From<StoreError> for CronError {
    fn from(e: StoreError) -> Self {
        CronError::Store(e)
    }
}

impl Cron {
    /// Open the store under `state_dir` and load the jobs. Jobs whose run was due while the
    /// gateway was down run once each: the first [`MISSED_IMMEDIATE`] at once, the rest
    /// staggered. Blocking: call at start-up.
    ///
    /// # Errors
    /// The store cannot be opened.
    pub fn open(
        state_dir: &std::path::Path,
        agents: Arc<Agents>,
        hub: Arc<Hub>,
        instance_id: String,
    ) -> Result<Arc<Self>, StoreError> {
        let (store, rows) = CronStore::open(state_dir)?;
        let now = runner::now_ms();
        let mut jobs = Jobs::default();
        let mut missed = 0usize;
        for mut job in rows.into_iter().filter_map(Job::load) {
            // A run cut short by the stop never finished: it is not running now.
            if let Some(s) = job.wire["state"].as_object_mut() {
                s.remove("runningAtMs");
            }
            let next = match job.next_run() {
                Some(n) if n <= now && job.enabled() => {
                    let delay = missed.saturating_sub(MISSED_IMMEDIATE - 1) as u64;
                    missed += 1;
                    Some(now + delay * MISSED_STAGGER_MS)
                }
                Some(n) => Some(n),
                None if job.enabled() => job.schedule.next_after(now),
                None => None,
            };
            job.set_next_run(next);
            jobs.index(&job);
            jobs.by_id.insert(job.id().to_string(), job);
        }
        if missed > 0 {
            tracing::info!(target: "cron", "running {missed} missed job(s) after restart");
        }
        Ok(Arc::new(Self {
            jobs: Mutex::new(jobs),
            store,
            agents,
            hub,
            timer: Notify::new(),
            slots: Arc::new(Semaphore::new(MAX_CONCURRENT_RUNS)),
            manual_seq: AtomicU64::new(0),
            instance_id,
        }))
    }

    /// The database file.
    pub fn store_path(&self) -> &std::path::Path {
        self.store.path()
    }

    fn default_agent(&self) -> String {
        self.agents.catalog().default_agent.clone()
    }

    fn publish(&self, job_id: &str, action: &str, job: Option<&Job>, extra: Value) {
        let mut p = json!({ "jobId": job_id, "action": action });
        if let Some(j) = job {
            p["job"] = j.wire.clone();
        }
        if let (Some(o), Value::Object(e)) = (p.as_object_mut(), extra) {
            o.extend(e);
        }
        self.hub.publish("cron", &p, None);
    }

    async fn persist(&self, job: &Job) -> Result<(), StoreError> {
        let created = job.wire["createdAtMs"].as_u64().unwrap_or(0);
        self.store
            .writer
            .call(|ack| store::Op::Put {
                id: job.id().to_string(),
                job: job.wire.to_string(),
                created_ms: created,
                ack: Some(ack),
            })
            .await
    }

    /// `cron.add`: validate, persist, schedule, announce.
    ///
    /// # Errors
    /// Invalid params, or the store failed (nothing is scheduled then).
    pub async fn add(&self, p: &Value) -> Result<Value, CronError> {
        let now = runner::now_ms();
        let mut job =
            Job::create(p, uuid::Uuid::new_v4().to_string(), now).map_err(CronError::Invalid)?;
        if job.enabled() {
            job.set_next_run(job.schedule.next_after(now));
        }
        self.persist(&job).await?;
        let view = job.view(&self.default_agent());
        {
            let mut js = self.jobs.lock();
            js.index(&job);
            js.by_id.insert(job.id().to_string(), job.clone());
        }
        self.timer.notify_one();
        self.publish(
            job.id(),
            "added",
            Some(&job),
            json!({ "nextRunAtMs": job.next_run() }),
        );
        Ok(view)
    }

    /// `cron.update`: apply the patch, reschedule when the schedule or `enabled` changed.
    ///
    /// # Errors
    /// Unknown id, an invalid patch, or the store failed (the job is unchanged then).
    pub async fn update(&self, id: &str, patch: &Value) -> Result<Value, CronError> {
        let now = runner::now_ms();
        let mut job = self.get_job(id)?;
        let reschedule = job.patch(patch, now).map_err(CronError::Invalid)?;
        if reschedule {
            let next = job
                .enabled()
                .then(|| job.schedule.next_after(now))
                .flatten();
            job.set_next_run(next);
            if let Some(s) = job.wire["state"].as_object_mut() {
                s.insert("scheduleActivatedAtMs".into(), json!(now));
            }
        }
        self.persist(&job).await?;
        self.replace(job.clone());
        self.publish(id, "updated", Some(&job), json!({}));
        Ok(job.view(&self.default_agent()))
    }

    /// `cron.remove`.
    ///
    /// # Errors
    /// Unknown id, or the store failed.
    pub async fn remove(&self, id: &str) -> Result<(), CronError> {
        let job = self.get_job(id)?;
        self.store
            .writer
            .call(|ack| store::Op::Delete {
                id: id.to_string(),
                ack,
            })
            .await?;
        {
            let mut js = self.jobs.lock();
            js.unindex(&job);
            js.by_id.remove(id);
        }
        self.timer.notify_one();
        self.publish(id, "removed", Some(&job), json!({}));
        Ok(())
    }

    /// Swap in a changed job (re-indexing its next run) and wake the timer.
    fn replace(&self, job: Job) {
        {
            let mut js = self.jobs.lock();
            if let Some(old) = js.by_id.remove(job.id()) {
                js.unindex(&old);
            }
            js.index(&job);
            js.by_id.insert(job.id().to_string(), job);
        }
        self.timer.notify_one();
    }

    fn get_job(&self, id: &str) -> Result<Job, CronError> {
        self.jobs
            .lock()
            .by_id
            .get(id)
            .cloned()
            .ok_or_else(|| CronError::NotFound(id.to_string()))
    }

    /// `cron.get`.
    ///
    /// # Errors
    /// Unknown id.
    pub fn get(&self, id: &str) -> Result<Value, CronError> {
        Ok(self.get_job(id)?.view(&self.default_agent()))
    }

    /// Every job (served form), oldest first.
    pub fn list(&self) -> Vec<Value> {
        let agent = self.default_agent();
        let js = self.jobs.lock();
        let mut v: Vec<&Job> = js.by_id.values().collect();
        v.sort_by_key(|j| {
            (
                j.wire["createdAtMs"].as_u64().unwrap_or(0),
                j.id().to_string(),
            )
        });
        v.into_iter().map(|j| j.view(&agent)).collect()
    }

    /// `(number of jobs, earliest next run)`.
    pub fn status(&self) -> (usize, Option<u64>) {
        let js = self.jobs.lock();
        (js.by_id.len(), js.due.first().map(|(n, _)| *n))
    }

    /// A page of the run log.
    ///
    /// # Errors
    /// The read failed.
    pub async fn runs(
        &self,
        job: Option<String>,
        statuses: Vec<String>,
        page: (u64, u64, bool),
    ) -> Result<RunPage, StoreError> {
        self.store.runs(job, statuses, page).await
    }
}

//! The run registry: idempotency, one active run per session (later sends queue in order),
//! cancellation, `agent.wait`, and who receives a session's live events.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use parking_lot::Mutex;

use openclaw_net::Outbound;
use openclaw_proto::encode::event_parts;
use serde_json::{json, Value};
use tokio::sync::watch;

use crate::failure::Failure;
use crate::hub::{Hub, Owner, Topic};
use crate::store::SessionStore;

/// Finished runs kept in memory for idempotent replays and `agent.wait` (older ones are
/// answered from the store).
pub const FINISHED_RUNS_KEPT: usize = 10_000;

/// Why a run was stopped early.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AbortReason {
    /// `chat.abort` / `sessions.abort` (`stopReason: "rpc"`).
    Rpc,
    /// The caller's socket or HTTP request went away.
    ClientGone,
    /// The gateway is shutting down.
    Shutdown,
}

impl AbortReason {
    /// `stopReason` on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            AbortReason::Rpc => "rpc",
            AbortReason::ClientGone => "client-disconnected",
            AbortReason::Shutdown => "shutdown",
        }
    }
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// `ok`, `error`, `aborted` or `timeout`.
    pub status: &'static str,
    pub text: String,
    pub stop_reason: String,
    /// Why it failed (for `error`), typed: the wire and HTTP answers are mapped from it.
    pub failure: Option<Failure>,
    /// `errorDetail` of the chat error event.
    pub error_detail: Option<Value>,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub started_ms: u64,
    pub ended_ms: u64,
    /// The final `res` of the `agent` method, `{ok, payload, error?}` (idempotent replays).
    pub reply: Value,
}

impl Outcome {
    /// The failure's message, or `run <status>` for a run that ended without one.
    pub fn error_text(&self) -> String {
        match &self.failure {
            Some(f) => f.message(),
            None => format!("run {}", self.status),
        }
    }

    /// Why the run did not answer (`None` when it did), typed.
    pub fn failed(&self) -> Option<Failure> {
        match self.status {
            "ok" => None,
            "timeout" => Some(Failure::Timeout),
            "aborted" => Some(Failure::Aborted),
            _ => Some(self.failure.clone().unwrap_or(Failure::Model {
                message: "run failed".into(),
                cause: None,
            })),
        }
    }
}

/// One accepted run.
pub struct Run {
    pub id: String,
    pub session_key: String,
    pub agent_id: String,
    pub accepted_ms: u64,
    /// Socket that started it (events go there), if any.
    pub owner: Option<(u64, Outbound)>,
    /// Abort when the owner goes away.
    pub caller_owned: bool,
    /// Text streamed so far (`chat.history` `inFlightRun`).
    pub text: Mutex<String>,
    cancel: watch::Sender<Option<AbortReason>>,
    done: watch::Sender<Option<Arc<Outcome>>>,
    /// Per-run `seq` of `agent` events.
    pub agent_seq: AtomicU64,
    /// Per-run `seq` of `chat` events.
    pub chat_seq: AtomicU64,
    /// It holds its session's lane (queued runs wait for it).
    pub running: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Run")
            .field("id", &self.id)
            .field("session", &self.session_key)
            .finish_non_exhaustive()
    }
}

impl Run {
    /// A new run.
    pub fn new(
        id: String,
        session_key: String,
        agent_id: String,
        owner: Option<(u64, Outbound)>,
        caller_owned: bool,
    ) -> Arc<Self> {
        Arc::new(Self {
            id,
            session_key,
            agent_id,
            accepted_ms: crate::clock::now_ms(),
            owner,
            caller_owned,
            text: Mutex::new(String::new()),
            cancel: watch::channel(None).0,
            done: watch::channel(None).0,
            agent_seq: AtomicU64::new(0),
            chat_seq: AtomicU64::new(0),
            running: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Ask the run to stop. `false` when it had already finished or been aborted.
    pub fn abort(&self, why: AbortReason) -> bool {
        if self.outcome().is_some() {
            return false;
        }
        self.cancel.send_if_modified(|c| {
            if c.is_none() {
                *c = Some(why);
                true
            } else {
                false
            }
        })
    }

    /// A receiver that changes when the run is aborted.
    pub fn cancelled(&self) -> watch::Receiver<Option<AbortReason>> {
        self.cancel.subscribe()
    }

    /// The outcome, once finished.
    pub fn outcome(&self) -> Option<Arc<Outcome>> {
        self.done.borrow().clone()
    }

    /// Wait for the outcome.
    pub async fn finished(&self) -> Arc<Outcome> {
        let mut rx = self.done.subscribe();
        loop {
            if let Some(o) = rx.borrow_and_update().clone() {
                return o;
            }
            if rx.changed().await.is_err() {
                // The sender lives in `self`; unreachable while we hold `&self`.
                std::future::pending::<()>().await;
            }
        }
    }

    pub(crate) fn finish(&self, o: Outcome) -> Arc<Outcome> {
        let o = Arc::new(o);
        self.done.send_replace(Some(o.clone()));
        o
    }
}

/// Active (running or queued) runs, by id and by session (accept order).
#[derive(Default)]
struct Active {
    by_id: HashMap<String, Arc<Run>>,
    by_session: HashMap<String, Vec<Arc<Run>>>,
}

/// Recently finished runs, oldest first in `order`.
#[derive(Default)]
struct Finished {
    map: HashMap<String, Arc<Run>>,
    order: VecDeque<String>,
}

/// Registry of runs and lanes; session events go out through the hub.
pub struct Runs {
    pub store: SessionStore,
    active: Mutex<Active>,
    finished: Mutex<Finished>,
    lanes: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Where session events go (`Topic::Session`, `Topic::SessionList`).
    hub: Arc<Hub>,
}

impl std::fmt::Debug for Runs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runs").finish_non_exhaustive()
    }
}

/// Result of looking up an idempotency key.
pub enum Lookup {
    /// Not seen: go ahead.
    New,
    /// Still running.
    Running(Arc<Run>),
    /// Finished; its final reply.
    Done(Value),
}

impl Runs {
    /// An empty registry over `store`.
    pub fn new(store: SessionStore, hub: Arc<Hub>) -> Self {
        Self {
            store,
            active: Mutex::default(),
            finished: Mutex::default(),
            lanes: Mutex::default(),
            hub,
        }
    }

    /// Look up a run id (== idempotency key): running, finished (memory, then store), or new.
    pub async fn lookup(&self, run_id: &str) -> Lookup {
        if let Some(r) = self.active.lock().by_id.get(run_id) {
            return Lookup::Running(r.clone());
        }
        if let Some(r) = self.finished.lock().map.get(run_id) {
            if let Some(o) = r.outcome() {
                return Lookup::Done(o.reply.clone());
            }
        }
        let id = run_id.to_string();
        match self
            .store
            .read(move |c| crate::store::sessions::run_result(c, &id))
            .await
        {
            Ok(Some(v)) => Lookup::Done(v),
            _ => Lookup::New,
        }
    }

    /// Register an accepted run. `false` if the id is already active (lost a race).
    pub fn register(&self, run: &Arc<Run>) -> bool {
        let mut a = self.active.lock();
        if a.by_id.contains_key(&run.id) {
            return false;
        }
        a.by_id.insert(run.id.clone(), run.clone());
        a.by_session
            .entry(run.session_key.clone())
            .or_default()
            .push(run.clone());
        true
    }

    /// Move a run from active to finished.
    pub fn retire(&self, run: &Arc<Run>) {
        {
            let mut a = self.active.lock();
            a.by_id.remove(&run.id);
            if let Some(v) = a.by_session.get_mut(&run.session_key) {
                v.retain(|r| r.id != run.id);
                if v.is_empty() {
                    a.by_session.remove(&run.session_key);
                }
            }
        }
        let mut f = self.finished.lock();
        f.map.insert(run.id.clone(), run.clone());
        f.order.push_back(run.id.clone());
        while f.order.len() > FINISHED_RUNS_KEPT {
            if let Some(old) = f.order.pop_front() {
                f.map.remove(&old);
            }
        }
        drop(f);
        let mut lanes = self.lanes.lock();
        if let Some(l) = lanes.get(&run.session_key) {
            if Arc::strong_count(l) == 1 {
                lanes.remove(&run.session_key);
            }
        }
    }

    /// A run by id, active or recently finished.
    pub fn get(&self, run_id: &str) -> Option<Arc<Run>> {
        if let Some(r) = self.active.lock().by_id.get(run_id) {
            return Some(r.clone());
        }
        self.finished.lock().map.get(run_id).cloned()
    }

    /// The session's lane: hold it for the whole run (FIFO: later sends queue behind).
    pub fn lane(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.lanes
            .lock()
            .entry(key.to_string())
            .or_default()
            .clone()
    }

    /// `true` when a run of `key` is active (running or queued).
    pub fn busy(&self, key: &str) -> bool {
        self.active.lock().by_session.contains_key(key)
    }

    /// Active run ids of a session, oldest first.
    pub fn active_ids(&self, key: &str) -> Vec<String> {
        let a = self.active.lock();
        a.by_session
            .get(key)
            .map(|v| v.iter().map(|r| r.id.clone()).collect())
            .unwrap_or_default()
    }

    /// Active runs of a session (optionally one id).
    pub fn active_runs(&self, key: &str, run_id: Option<&str>) -> Vec<Arc<Run>> {
        let a = self.active.lock();
        a.by_session
            .get(key)
            .into_iter()
            .flatten()
            .filter(|r| run_id.is_none() || run_id == Some(r.id.as_str()))
            .cloned()
            .collect()
    }

    /// `running` when a run of `key` holds its lane, `queued` when its runs only wait.
    pub fn lane_status(&self, key: &str) -> Option<&'static str> {
        use std::sync::atomic::Ordering;
        let a = self.active.lock();
        let runs = a.by_session.get(key)?;
        let running = runs.iter().any(|r| r.running.load(Ordering::Relaxed));
        Some(if running { "running" } else { "queued" })
    }

    /// A session nobody has used yet, as `chat.history` describes it.
    pub fn absent_row_json(&self, key: &str, agent_id: &str) -> Value {
        let class = super::key_class(key, false);
        let ids = self.active_ids(key);
        let mut v = json!({
            "key": key,
            "kind": class.kind,
            "classification": class.classification,
            "agentId": agent_id,
            "isMain": class.is_main,
            "isBackground": class.is_background,
            "updatedAt": null,
            "snapshotAt": crate::clock::now_ms(),
            "hasActiveRun": !ids.is_empty(),
            "activeRunIds": ids,
        });
        if let Some(status) = self.lane_status(key) {
            v["status"] = json!(status);
        }
        v
    }

    /// Session keys with an active run.
    pub fn active_session_keys(&self) -> Vec<String> {
        self.active.lock().by_session.keys().cloned().collect()
    }

    /// A session row as `sessions.list` shows it (`last`: with the last message preview).
    pub fn row_json(&self, r: &crate::store::sessions::SessionRow, last: bool) -> Value {
        let ids = self.active_ids(&r.key);
        let class = super::key_class(&r.key, true);
        let mut v = json!({
            "key": r.key,
            "kind": class.kind,
            "classification": class.classification,
            "agentId": r.agent_id,
            "isMain": class.is_main,
            "isBackground": class.is_background,
            "sessionId": r.session_id,
            "createdAt": r.created_ms,
            "updatedAt": r.updated_ms,
            "snapshotAt": crate::clock::now_ms(),
            "hasActiveRun": !ids.is_empty(),
            "activeRunIds": ids,
            "inputTokens": r.input_tokens,
            "outputTokens": r.output_tokens,
            "totalTokens": r.input_tokens + r.output_tokens,
            "messageCount": r.message_count,
        });
        if class.kind == "direct" && !class.is_background {
            v["chatType"] = json!("direct");
        }
        if let Some(last) = &r.last_run {
            last_run_fields(&mut v, last);
        }
        if let Some(status) = self.lane_status(&r.key) {
            v["status"] = json!(status);
        }
        if let Some(l) = &r.label {
            v["label"] = json!(l);
        }
        if let Some(p) = &r.provider {
            v["modelProvider"] = json!(p);
        }
        if let Some(m) = &r.model {
            v["model"] = json!(m);
        }
        if last {
            if let Some(p) = &r.last_preview {
                v["lastMessagePreview"] = json!(p);
            }
        }
        v
    }

    /// Every session with runs in flight: `(key, running, queued)`, sorted by key.
    pub fn lanes_snapshot(&self) -> Vec<(String, usize, usize)> {
        use std::sync::atomic::Ordering;
        let a = self.active.lock();
        let mut out: Vec<(String, usize, usize)> = a
            .by_session
            .iter()
            .map(|(k, ids)| {
                let running = ids
                    .iter()
                    .filter(|r| r.running.load(Ordering::Relaxed))
                    .count();
                (k.clone(), running, ids.len() - running)
            })
            .collect();
        out.sort();
        out
    }

    /// Number of active runs.
    pub fn active_count(&self) -> usize {
        self.active.lock().by_id.len()
    }

    /// Abort every active run (shutdown).
    pub fn abort_all(&self, why: AbortReason) -> usize {
        let runs: Vec<Arc<Run>> = self.active.lock().by_id.values().cloned().collect();
        runs.iter().filter(|r| r.abort(why)).count()
    }

    /// A socket closed: abort the runs it owns, drop its subscriptions.
    pub fn socket_gone(&self, conn: u64) {
        let runs: Vec<Arc<Run>> = self
            .active
            .lock()
            .by_id
            .values()
            .filter(|r| r.caller_owned && r.owner.as_ref().is_some_and(|o| o.0 == conn))
            .cloned()
            .collect();
        for r in runs {
            r.abort(AbortReason::ClientGone);
        }
    }

    /// `sessions.messages.subscribe`: the socket joins the session's hub topic.
    pub fn watch_session(&self, key: &str, conn: u64) {
        self.hub.subscribe(conn, Topic::Session(key.to_string()));
    }

    /// `sessions.messages.unsubscribe`.
    pub fn unwatch_session(&self, key: &str, conn: u64) {
        self.hub.unsubscribe(conn, &Topic::Session(key.to_string()));
    }

    /// `sessions.subscribe`.
    pub fn watch_list(&self, conn: u64) {
        self.hub.subscribe(conn, Topic::SessionList);
    }

    /// Send an event about session `key` (`agent`, `chat`, `session.message`) to the run's
    /// owner (if any) and, with `watchers_too`, to the session's topic, encoded once.
    pub fn emit(
        &self,
        key: &str,
        owner: Option<&Owner>,
        event: &str,
        payload: &Value,
        watchers_too: bool,
    ) {
        if watchers_too {
            self.emit_many(key, owner, &[(event, payload)]);
        } else if let Some((_, o)) = owner {
            let parts = event_parts(event, payload, None);
            let _ = o.send_seq(&parts.head, &parts.tail, crate::hub::droppable(event));
        }
    }

    /// Like [`emit`](Self::emit) for several events at once: each encoded once, all queued
    /// on a socket together (one writer wake-up, usually one write).
    pub fn emit_many(&self, key: &str, owner: Option<&Owner>, events: &[(&str, &Value)]) {
        self.hub
            .publish_topic(&Topic::Session(key.to_string()), owner, events);
    }

    /// Whether anyone would receive an event of session `key` (its owner, or a subscriber
    /// of the session): a run builds its event payloads only then.
    pub fn watched(&self, key: &str, owner: Option<&Owner>) -> bool {
        owner.is_some() || self.hub.listening(&Topic::Session(key.to_string()))
    }

    /// Whether anyone subscribes to the session list.
    pub fn list_watched(&self) -> bool {
        self.hub.listening(&Topic::SessionList)
    }

    /// `sessions.changed` to list subscribers.
    pub fn emit_changed(&self, payload: &Value) {
        self.hub
            .publish_topic(&Topic::SessionList, None, &[("sessions.changed", payload)]);
    }
}

/// What a session row says about its last finished run, in the Node gateway's terms:
/// `status` `done` / `failed` / `timeout` / `killed` (aborted), `lastRunId`, `endedAt`, and
/// `startedAt` / `runtimeMs` when the run's reply says how long it ran.
fn last_run_fields(v: &mut Value, last: &crate::store::sessions::LastRun) {
    let status = match last.status.as_str() {
        _ if last.aborted => "killed",
        "ok" => "done",
        "timeout" => "timeout",
        _ => "failed",
    };
    v["status"] = json!(status);
    v["lastRunId"] = json!(last.run_id);
    v["abortedLastRun"] = json!(last.aborted);
    v["endedAt"] = json!(last.ended_ms);
    if let Some(ms) = last.duration_ms {
        v["startedAt"] = json!(last.ended_ms.saturating_sub(ms));
        v["runtimeMs"] = json!(ms);
    }
}

#[cfg(test)]
mod last_run_tests {
    use serde_json::json;

    use crate::store::sessions::LastRun;

    fn fields(status: &str, aborted: bool, duration_ms: Option<u64>) -> serde_json::Value {
        let mut v = json!({});
        let last = LastRun {
            run_id: "r".into(),
            status: status.into(),
            aborted,
            ended_ms: 1_000,
            duration_ms,
        };
        super::last_run_fields(&mut v, &last);
        v
    }

    #[test]
    fn last_runs_read_in_node_terms() {
        assert_eq!(fields("ok", false, Some(250))["status"], "done");
        assert_eq!(fields("ok", false, Some(250))["startedAt"], 750);
        assert_eq!(fields("error", false, None)["status"], "failed");
        assert!(fields("error", false, None).get("runtimeMs").is_none());
        assert_eq!(fields("timeout", false, None)["status"], "timeout");
        assert_eq!(fields("timeout", true, None)["status"], "killed");
    }
}

//! Agents: the run engine over the model providers (`crate::provider`) and the session store behind `agent`,
//! `chat.*` and `sessions.*` (and the OpenAI-compatible HTTP surface).
//!
//! A run is accepted only once its user message is durable; it then waits for its
//! session's lane (one active run per session, later sends queue FIFO), streams the model
//! and ends with one [`runs::Outcome`].

pub mod catalog;
pub mod run;
pub mod runs;
pub mod wake;

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use openclaw_net::Outbound;
use openclaw_proto::{ErrorCode, ErrorShape};
use serde_json::{json, Value};

use crate::config::GatewayConfig;
use crate::provider;
use crate::store::SessionStore;
use runs::{Outcome, Run, Runs};

/// What an extra consumer (HTTP streaming) of a run receives.
#[derive(Debug)]
pub enum Tap {
    Delta(String),
    Done(Arc<Outcome>),
}

/// The agent runtime shared by all connections.
pub struct Agents {
    pub runs: Runs,
    pub client: reqwest::Client,
    cfg: Arc<ArcSwap<GatewayConfig>>,
    /// The gateway's stability record (run-queue movement is recorded here).
    pub diag: Arc<crate::diagnostics::Diagnostics>,
}

impl std::fmt::Debug for Agents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agents").finish_non_exhaustive()
    }
}

/// A request to start a run.
#[derive(Debug, Default)]
pub struct Submit {
    pub run_id: String,
    /// Canonical session key (see [`canonical_key`]).
    pub session_key: String,
    pub agent_id: String,
    pub message: String,
    pub owner: Option<(u64, Outbound)>,
    /// Abort when the owner goes away (`agent`, HTTP); chat sends survive a reload.
    pub caller_owned: bool,
    /// `"provider/model"` overriding the agent's model list.
    pub model: Option<String>,
    pub timeout: Option<Duration>,
    pub extra_system_prompt: Option<String>,
    pub tap: Option<tokio::sync::mpsc::UnboundedSender<Tap>>,
    /// Images sent upstream with this message (not stored in the transcript).
    pub images: Vec<provider::ImagePart>,
    /// The caller made `session_key` up just now (an HTTP request without a session): no
    /// transcript exists, and since the caller's only answer is the run's outcome, the user
    /// message is queued (commits with the reply's batch) instead of awaited.
    pub new_session: bool,
}

/// An accepted run, not started yet (the caller sends its ack first).
pub struct Accepted {
    pub run: Arc<Run>,
    input: run::Input,
}

impl Accepted {
    /// Start driving the run.
    pub fn start(self, agents: &Arc<Agents>) {
        tokio::spawn(run::drive(agents.clone(), self.input));
    }

    /// Start driving the run; its final reply goes out through `resp` (`agent`).
    pub fn start_replying(mut self, agents: &Arc<Agents>, resp: crate::responder::Responder) {
        self.input.responder = Some(resp);
        self.start(agents);
    }
}

/// Session keys are stored as `agent:<agentId>:<rest>`; a bare key is scoped to `agent_id`.
pub fn canonical_key(key: &str, agent_id: &str) -> String {
    let k = key.trim();
    if k.starts_with("agent:") || k == "global" {
        k.to_string()
    } else if k.is_empty() {
        format!("agent:{agent_id}:main")
    } else {
        format!("agent:{agent_id}:{k}")
    }
}

/// The agent a canonical key belongs to (`agent:<id>:…`).
pub fn key_agent(key: &str) -> Option<&str> {
    key.strip_prefix("agent:")?
        .split(':')
        .next()
        .filter(|s| !s.is_empty())
}

/// What a session key says about its session, as the Node gateway classifies it: `kind`
/// (`direct`, `group`, `global`, `unknown`), `classification`, whether it is the agent's main
/// session, and whether it runs in the background (automations).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyClass {
    pub kind: &'static str,
    pub classification: &'static str,
    pub is_main: bool,
    pub is_background: bool,
}

/// The class of session `key` (canonical); `exists`: a stored session (a chat someone
/// started is `direct`, a key nobody used yet `custom`).
pub fn key_class(key: &str, exists: bool) -> KeyClass {
    let c = |kind, classification| KeyClass {
        kind,
        classification,
        is_main: false,
        is_background: false,
    };
    let rest = key
        .strip_prefix("agent:")
        .and_then(|r| r.split_once(':'))
        .map(|(_, rest)| rest);
    match (key, rest) {
        ("global", _) => c("global", "global"),
        (_, Some("main")) => KeyClass {
            is_main: true,
            ..c("direct", "main")
        },
        (_, Some(r)) if r.contains(":group:") || r.contains(":channel:") => c("group", "group"),
        (_, Some(r)) if r.starts_with("cron:") => KeyClass {
            is_background: true,
            ..c("direct", "cron")
        },
        (_, Some(_)) if exists => c("direct", "direct"),
        (_, Some(_)) => c("direct", "custom"),
        (_, None) => c("unknown", "unknown"),
    }
}

impl Agents {
    /// The runtime over `store`, reading the gateway's live config snapshot `cfg`.
    pub fn new(
        store: SessionStore,
        cfg: Arc<ArcSwap<GatewayConfig>>,
        hub: Arc<crate::hub::Hub>,
    ) -> Self {
        Self {
            runs: Runs::new(store, hub),
            client: provider::http_client(),
            cfg,
            diag: Arc::default(),
        }
    }

    /// The catalogue of the active config.
    pub fn catalog(&self) -> Arc<catalog::Catalog> {
        self.cfg.load().agents.clone()
    }

    /// Resolve the agent id of a request: explicit, else from the session key, else default.
    ///
    /// # Errors
    /// `INVALID_REQUEST` for an unknown agent.
    pub fn resolve_agent(
        &self,
        agent_id: Option<&str>,
        key: Option<&str>,
    ) -> Result<String, ErrorShape> {
        let cat = self.catalog();
        let id = agent_id
            .or_else(|| key.and_then(key_agent))
            .unwrap_or(&cat.default_agent);
        if cat.agent(id).is_none() {
            return Err(ErrorShape::new(
                ErrorCode::InvalidRequest,
                format!("unknown agent id \"{id}\""),
            )
            .with_details(json!({ "code": "UNKNOWN_AGENT_ID", "agentId": id })));
        }
        Ok(id.to_string())
    }

    /// Persist the user message (durable before this returns, except for a `new_session`,
    /// whose caller's only answer is the run's outcome: queued) and register the run.
    ///
    /// # Errors
    /// `UNAVAILABLE` when the store cannot write; `INVALID_REQUEST` for a duplicate id.
    pub async fn accept(&self, mut s: Submit) -> Result<Accepted, ErrorShape> {
        let cat = self.catalog();
        let agent = cat
            .agent(&s.agent_id)
            .cloned()
            .unwrap_or_else(|| cat.default_agent().clone());
        let models = match &s.model {
            Some(m) => vec![m.clone()],
            None => agent.models.clone(),
        };
        let system_prompt = match (&agent.system_prompt, &s.extra_system_prompt) {
            (Some(a), Some(b)) => Some(format!("{a}\n\n{b}")),
            (a, b) => a.clone().or_else(|| b.clone()),
        };
        let run = Run::new(
            s.run_id.clone(),
            s.session_key.clone(),
            s.agent_id.clone(),
            s.owner.take(),
            s.caller_owned,
        );
        let queued = self.runs.busy(&s.session_key);
        if !self.runs.register(&run) {
            return Err(ErrorShape::new(
                ErrorCode::InvalidRequest,
                format!("run {} is already in flight", s.run_id),
            ));
        }
        let body = json!({ "role": "user", "content": s.message, "timestamp": run.accepted_ms });
        let appended = self.persist_user(&s, &run, &body, queued).await?;
        self.runs.emit(
            &s.session_key,
            None,
            "session.message",
            &json!({ "sessionKey": s.session_key, "runId": s.run_id, "message": body }),
            true,
        );
        let (user_row, fresh_session, queued) = match appended {
            Some(a) => (a.id, a.created, a.seq.is_none()),
            // A made-up key: the session is new, and its run needs no row id.
            None => (0, true, false),
        };
        if fresh_session {
            self.session_changed(&s.session_key);
        }
        let timeout = s
            .timeout
            .unwrap_or(Duration::from_secs(cat.run_timeout_secs));
        Ok(Accepted {
            run: run.clone(),
            input: run::Input {
                run,
                user_row,
                message: s.message,
                fresh_session,
                queued,
                models,
                system_prompt,
                timeout,
                responder: None,
                tap: s.tap,
                images: s.images,
            },
        })
    }

    /// Commit the user message before the run is accepted (a new session's first message is
    /// queued instead: nothing reads it before the run). On failure the run is let go of and
    /// the caller told to retry.
    async fn persist_user(
        &self,
        s: &Submit,
        run: &Arc<Run>,
        body: &Value,
        queued: bool,
    ) -> Result<Option<crate::store::sessions::Appended>, ErrorShape> {
        let store = &self.runs.store;
        let key = &s.session_key;
        let appended = if s.new_session && !queued {
            store
                .append_queued(key, &s.agent_id, Some(&s.run_id), body)
                .map(|()| None)
        } else {
            store
                .append(key, &s.agent_id, Some(&s.run_id), body, queued)
                .await
                .map(Some)
        };
        appended.map_err(|e| {
            self.runs.retire(run);
            tracing::error!(target: "agents", "session store: {e}");
            ErrorShape::new(
                ErrorCode::Unavailable,
                "session store unavailable; message not accepted",
            )
            .retryable(true)
        })
    }

    /// Publish `sessions.changed` for `key` with its current run state.
    pub fn session_changed(&self, key: &str) {
        if !self.runs.list_watched() {
            return;
        }
        let ids = self.runs.active_ids(key);
        let payload: Value = json!({
            "sessionKey": key,
            "key": key,
            "hasActiveRun": !ids.is_empty(),
            "activeRunIds": ids,
            "ts": crate::clock::now_ms(),
        });
        self.runs.emit_changed(&payload);
    }
}

#[cfg(test)]
mod key_class_tests {
    use super::key_class;

    /// As the Node gateway 2026.9.6 classifies these keys (`chat.history` `sessionInfo`).
    #[test]
    fn keys_classify_as_on_the_node_gateway() {
        let row = |k: &str, exists| {
            let c = key_class(k, exists);
            (c.kind, c.classification, c.is_main, c.is_background)
        };
        assert_eq!(
            row("agent:main:main", true),
            ("direct", "main", true, false)
        );
        assert_eq!(row("global", false), ("global", "global", false, false));
        assert_eq!(
            row("agent:main:discord:group:1", false),
            ("group", "group", false, false)
        );
        assert_eq!(
            row("agent:main:cron:abc", false),
            ("direct", "cron", false, true)
        );
        assert_eq!(
            row("agent:main:s1", true),
            ("direct", "direct", false, false)
        );
        assert_eq!(
            row("agent:main:nope", false),
            ("direct", "custom", false, false)
        );
    }
}

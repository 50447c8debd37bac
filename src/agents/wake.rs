//! The wake action shared by `/hooks/wake` and the `wake` method: mode `now` starts a turn on
//! the session with the text; `next-heartbeat` stores the text durably in that session's
//! transcript, where it is part of the context of the session's next turn. Resolving which
//! session, and wrapping untrusted text, is the caller's.

use std::sync::Arc;

use serde_json::json;

use super::{Agents, Submit};
use crate::clock::now_ms;
use crate::failure::Failure;

/// What a wake did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Woken {
    /// A turn started (its run id).
    Started(String),
    /// The text waits in the transcript for the session's next turn.
    Queued,
}

/// Wake `session` (of `agent`) with `text`, now or at its next turn.
///
/// # Errors
/// The run was not admitted, or the event could not be stored.
pub async fn wake(
    agents: &Arc<Agents>,
    session: &str,
    agent: &str,
    text: String,
    now: bool,
) -> Result<Woken, Failure> {
    if now {
        let run_id = uuid::Uuid::new_v4().to_string();
        let accepted = agents
            .accept(Submit {
                run_id: run_id.clone(),
                session_key: session.to_string(),
                agent_id: agent.to_string(),
                message: text,
                caller_owned: false,
                ..Submit::default()
            })
            .await?;
        accepted.start(agents);
        return Ok(Woken::Started(run_id));
    }
    let body = json!({ "role": "user", "content": text, "timestamp": now_ms() });
    let appended = agents
        .runs
        .store
        .append(session, agent, None, &body, false)
        .await?;
    agents.runs.emit(
        session,
        None,
        "session.message",
        &json!({ "sessionKey": session, "message": body }),
        true,
    );
    if appended.created {
        agents.session_changed(session);
    }
    Ok(Woken::Queued)
}

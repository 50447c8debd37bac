//! What the stock Control UI asks for as it boots, on its chat page and on its other pages
//! (plugins, skills library, worktrees, artifacts, approvals, systems). Real where the
//! gateway has the feature (`chat.startup` is the chat page's first history page with the
//! session and its model, `sessions.describe` the session row, `environments.list` this
//! host, `projects.list` the agent workspace); for features it lacks (session groups,
//! boards, progress cards, task suggestions, discussions, companions, branches, UI plugins,
//! questions, user profiles, external session catalogs) the Node gateway's answer when they
//! are empty or unconfigured, as observed on the wire.

use openclaw_proto::{ErrorCode, ErrorShape, RequestFrame};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::agent::{opt_str, req_str};
use super::{params, Ctx};
use crate::agents::canonical_key;

/// Params checked against `keys` (the schema's properties) and `required`, every problem in
/// one message as the Node gateway (ajv) words it.
pub(super) fn strict(
    req: &RequestFrame<'_>,
    keys: &[&str],
    required: &[&str],
) -> Result<Value, ErrorShape> {
    let p: Value = params(req)?;
    let Some(o) = p.as_object() else {
        return Err(ErrorShape::invalid_params(req.method(), "must be object"));
    };
    let mut problems: Vec<String> = required
        .iter()
        .filter(|k| !o.contains_key(**k))
        .map(|k| format!("must have required property '{k}'"))
        .collect();
    problems.extend(
        o.keys()
            .filter(|k| !keys.contains(&k.as_str()))
            .map(|k| format!("at root: unexpected property '{k}'")),
    );
    if problems.is_empty() {
        Ok(p)
    } else {
        Err(ErrorShape::invalid_params(
            req.method(),
            &problems.join("; "),
        ))
    }
}

/// The empty answers: the method's params as the 2026.9.6 schema has them, and what the Node
/// gateway answers with the feature empty.
pub fn empty(_: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let session = &["sessionKey", "agentId"][..];
    let (keys, required, answer): (&[&str], &[&str], Value) = match req.method() {
        "plugins.controlUi.list" => (
            &[],
            &[],
            // No UI plugins: the revision is that of the empty list.
            json!({ "revision": hex::encode(Sha256::digest(b"[]")), "plugins": [], "diagnostics": [] }),
        ),
        "question.list" => (&[], &[], json!({ "questions": [] })),
        "sessions.groups.list" => (&[], &[], json!({ "groups": [], "sectionOrder": [] })),
        "sessions.groups.defaults" => (&[], &[], json!({ "defaults": [] })),
        "progressCard.get" => (session, &["sessionKey"], json!({ "card": null })),
        "taskSuggestions.list" => (session, &[], json!({ "suggestions": [] })),
        "session.discussion.info" => (session, &["sessionKey"], json!({ "state": "none" })),
        "sessions.companion.state" => (session, &["sessionKey"], json!({ "exchanges": [] })),
        "sessions.branches.list" => (session, &["sessionKey"], json!({ "branches": [] })),
        "sessions.observer.visibility" => (&["visible"], &["visible"], json!({ "ok": true })),
        // No external session catalog is served here (the stock UI sends `metadataOnly` at
        // boot, `limitPerHost`/`allowPartialResults` on its sessions page).
        "sessions.catalog.list" => (
            &[
                "catalogId",
                "metadataOnly",
                "cursors",
                "agentId",
                "progressId",
                "allowPartialResults",
                "search",
                "limitPerHost",
                "hostIds",
            ],
            &[],
            json!({ "catalogs": [] }),
        ),
        // No plugins run here, and none can be installed from the UI.
        "plugins.list" => (
            &[],
            &[],
            json!({ "plugins": [], "diagnostics": [], "mutationAllowed": false, "generation": 0 }),
        ),
        // Skills are read from folders; there is no skill library to manage from the UI.
        "skills.library.list" => (
            &["sessionKey", "scope"],
            &[],
            json!({ "entries": [], "profileId": null, "multipleProfiles": false,
                    "defaultTarget": "workspace", "canManageWorkspace": false,
                    "defaultSelectionLimit": 64 }),
        ),
        _ => return Err(ErrorShape::unknown_method(req.method())),
    };
    strict(req, keys, required)?;
    Ok(answer)
}

/// `worktrees.list {}`: no git worktrees are managed here (the Node gateway's wording for bad
/// params carries no detail).
pub fn worktrees(_: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    strict(req, &[], &[])
        .map_err(|_| ErrorShape::new(ErrorCode::InvalidRequest, "invalid worktrees parameters"))?;
    Ok(json!({ "worktrees": [] }))
}

/// `artifacts.list {sessionKey | runId | taskId, …}`: no run here produces artifacts (files,
/// images) apart from its transcript.
pub fn artifacts(_: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let p = strict(
        req,
        &[
            "sessionKey",
            "runId",
            "taskId",
            "agentId",
            "messageRole",
            "type",
            "limit",
            "cursor",
        ],
        &[],
    )?;
    if ["sessionKey", "runId", "taskId"]
        .iter()
        .all(|k| p.get(*k).is_none())
    {
        return Err(ErrorShape::new(
            ErrorCode::InvalidRequest,
            "artifacts require one of sessionKey, runId, or taskId",
        )
        .with_details(json!({ "type": "artifact_query_unsupported" })));
    }
    Ok(json!({ "artifacts": [] }))
}

/// `board.get {sessionKey, agentId?}`: a session board with no tabs or widgets.
pub fn board(_: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let p = strict(req, &["sessionKey", "agentId"], &["sessionKey"])?;
    let key = req_str(&p, "sessionKey", req.method())?;
    Ok(json!({ "sessionKey": key, "revision": 0, "tabs": [], "widgets": [] }))
}

/// `sessions.viewers.set {sessionKeys}`: which sessions this socket is looking at (nothing
/// here depends on it; the Node gateway echoes the set).
pub fn viewers(_: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let p = strict(req, &["sessionKeys"], &["sessionKeys"])?;
    if !p["sessionKeys"].is_array() {
        return Err(ErrorShape::invalid_params(
            req.method(),
            "at /sessionKeys: must be array",
        ));
    }
    Ok(json!({ "sessionKeys": p["sessionKeys"] }))
}

/// `mentions.list {}`: the owner (a paired device) has none — there are no other people
/// here to mention them; a token-only caller has no profile to be mentioned.
pub fn mentions(c: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    strict(req, &[], &[])?;
    if c.who.device_id.is_none() {
        return Err(ErrorShape::new(
            ErrorCode::Forbidden,
            "Human mentions require a verified user profile. Sign in to use mentions.",
        ));
    }
    Ok(json!({ "gatewayInstanceId": c.gw.boot.boot_id, "revision": 0, "items": [] }))
}

/// `update.status {refreshCheckout?}`: this gateway does not update itself; no update is
/// known, automatic updates are off.
pub fn update_status(_: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    strict(req, &["refreshCheckout"], &[])?;
    Ok(json!({
        "sentinel": null, "updateAvailable": null, "effectiveChannel": "stable",
        "schedule": { "channel": "stable", "autoEnabled": false, "install": { "kind": "package" } },
    }))
}

/// `environments.list {…}`: the one place sessions run here, this gateway's host.
pub fn environments(_: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    strict(
        req,
        &["runtimeId", "projection", "includeDesktopSetup"],
        &[],
    )?;
    Ok(json!({ "environments": [{
        "id": "gateway", "type": "local", "label": "Gateway local", "status": "available",
        "platform": std::env::consts::OS, "sessionHost": true, "trust": "persistent",
        "capabilities": ["agent.run", "sessions", "tools"],
    }] }))
}

/// `tasks.list {…}`: this gateway keeps no background-task registry (cron runs are in
/// `cron.runs`).
pub fn tasks(_: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    strict(
        req,
        &[
            "status",
            "agentId",
            "sessionKey",
            "limit",
            "cursor",
            "sortBy",
        ],
        &[],
    )?;
    Ok(json!({ "tasks": [] }))
}

/// `sessions.describe {key, agentId?, …}`: the session's row, or `null`.
pub async fn describe(c: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let m = req.method();
    // `includeDerivedTitles` / `includeLastMessage`: the row carries the stored title and
    // preview either way.
    let p = strict(
        req,
        &[
            "key",
            "agentId",
            "includeDerivedTitles",
            "includeLastMessage",
        ],
        &["key"],
    )?;
    let raw = req_str(&p, "key", m)?;
    let agent =
        c.gw.agents
            .resolve_agent(opt_str(&p, "agentId", m)?, Some(raw))?;
    let key = canonical_key(raw, &agent);
    let row =
        c.gw.agents
            .runs
            .store
            .session(&key)
            .await
            .map_err(|e| crate::failure::store(m, e))?;
    Ok(json!({ "session": row.map(|r| c.gw.agents.runs.row_json(&r, true)) }))
}

/// `chat.startup {sessionKey, …}`: the chat page's first history page, as `chat.history`
/// answers it (with the session, the model it will use and the inputs waiting); share links
/// (`{shortId, agentId}`) name nothing here.
pub async fn chat_startup(c: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let p: Value = params(req)?;
    super::schema_checked(req)?;
    if p.get("shortId").is_some() || p.get("slugHint").is_some() {
        // Share links (`{shortId, slugHint?}`) name sessions shared from a hosted gateway:
        // none here.
        let Some(id) = p["shortId"].as_str() else {
            return Err(ErrorShape::invalid_params(
                req.method(),
                "must have required property 'shortId'",
            ));
        };
        if !(8..=32).contains(&id.len()) || !id.chars().all(|ch| ch.is_ascii_hexdigit()) {
            return Err(ErrorShape::new(
                ErrorCode::InvalidRequest,
                "shortId must be 8-32 hexadecimal characters",
            ));
        }
        return Err(ErrorShape::new(
            ErrorCode::InvalidRequest,
            format!("shared session not found: {id}"),
        ));
    }
    super::chat_history::page_of(c, req).await
}

/// `projects.list {includeObserved?}`: each agent's workspace is its project (the checkout
/// path only for callers that may write, as the schema says); no recent folders are kept.
pub fn projects(c: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    strict(req, &["includeObserved"], &[])?;
    let ws = super::catalogs::workspace(&c.gw);
    let name = ws
        .file_name()
        .map_or_else(|| "workspace".into(), |n| n.to_string_lossy().into_owned());
    let can_write = openclaw_proto::scope::satisfies(&c.who.scopes, "operator.write");
    let agents = c.gw.cfg.load().agents.clone();
    let projects: Vec<Value> = agents
        .agents
        .iter()
        .map(|a| {
            let mut p = json!({ "id": format!("workspace:{}", a.id), "displayName": name,
                                "source": "workspace", "agentId": a.id });
            if can_write {
                p["repoRoot"] = json!(ws.display().to_string());
            }
            p
        })
        .collect();
    Ok(json!({ "projects": projects, "recents": [] }))
}

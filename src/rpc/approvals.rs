//! Approvals and users: this gateway executes no commands and runs no plugins, so nothing
//! ever waits for approval, and it keeps no user profiles. These methods answer what the
//! Node gateway answers when those features are unconfigured (observed): empty lists, the
//! default exec-approval policy document.

use openclaw_proto::{ErrorCode, ErrorShape, RequestFrame};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::agent::check_keys;
use super::{params, Ctx};

/// `plugin.approval.list`, `openclaw.approval.list`: nothing pending (no plugins run here;
/// params are not checked, as on the Node gateway). Exec approvals are `exec_approvals.rs`'s.
pub fn pending(_: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let _: Value = params(req)?;
    Ok(json!([]))
}

/// `approval.history {cursor?, limit?, kind?}`: no decisions were ever made.
pub fn history(_: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let p: Value = params(req)?;
    if check_keys(&p, &["cursor", "limit", "kind"], req.method()).is_err() {
        // The Node gateway's wording for this method carries no detail.
        return Err(ErrorShape::new(
            ErrorCode::InvalidRequest,
            "invalid approval.history params",
        ));
    }
    Ok(json!({ "items": [] }))
}

/// `exec.approvals.get {}`: the default policy document, where the Node gateway keeps it
/// (a row of the state database), with a hash of its content.
pub fn exec_policy(c: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let p: Value = params(req)?;
    check_keys(&p, &[], req.method())?;
    let state = c.gw.cfg.load().state_dir.clone();
    let file = json!({
        "version": 1,
        "socket": { "path": state.join("exec-approvals.sock") },
        "defaults": {},
        "agents": {},
    });
    let hash = hex::encode(Sha256::digest(file.to_string().as_bytes()));
    Ok(json!({
        "path": format!("{}#exec_approvals_config", c.gw.devices.path().display()),
        "exists": true,
        "file": file,
        "hash": hash,
        "resolvedDefaults": {
            "security": "full", "ask": "off", "askFallback": "deny", "autoAllowSkills": false,
        },
    }))
}

/// `users.list {}`: no user profiles.
pub fn users_list(_: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let p: Value = params(req)?;
    check_keys(&p, &[], req.method())?;
    Ok(json!({ "profiles": [] }))
}

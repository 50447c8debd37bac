//! Approvals and users: this gateway executes no commands and runs no plugins, so nothing
//! ever waits for approval, and it keeps no user profiles. These methods answer what the
//! Node gateway answers when those features are unconfigured (observed): empty lists, the
//! default exec-approval policy document.

use openclaw_proto::{ErrorCode, ErrorShape, RequestFrame};
use serde_json::{json, Value};

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

/// `users.list {}`: no user profiles.
pub fn users_list(_: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let p: Value = params(req)?;
    check_keys(&p, &[], req.method())?;
    Ok(json!({ "profiles": [] }))
}

//! One rewording for every refused params: when a handler answers `invalid <method> params`,
//! the params are walked against the method's 2026.9.6 definition
//! ([`openclaw_proto::param_errors`]) and the answer carries every problem the Node gateway's
//! validator lists, in its order and words. Handlers keep deciding *whether* params are
//! acceptable (their success path pays nothing for this, apart from the few that call
//! [`schema_checked`]); this decides only how a refusal reads.
//! Methods without a 2026.9.6 definition (observed-only, or only in the 2026.9.1 file) keep
//! the handler's own message.

use openclaw_proto::param_errors::{params_errors, refuses_unknown};
use openclaw_proto::{ErrorCode, ErrorShape, RequestFrame};
use serde_json::Value;

use super::registry::{self, Params};

/// `ans`, with an `invalid <method> params` refusal reworded from the schema walk.
pub(crate) fn worded(
    req: &RequestFrame<'_>,
    ans: Result<Value, ErrorShape>,
) -> Result<Value, ErrorShape> {
    match ans {
        Err(e) => Err(reword(req, e)),
        ok => ok,
    }
}

/// `e` reworded when it refuses `req`'s params and the walk finds why; else `e` unchanged.
pub(crate) fn reword(req: &RequestFrame<'_>, mut e: ErrorShape) -> ErrorShape {
    let method = req.method();
    if e.code != ErrorCode::InvalidRequest.as_str() {
        return e;
    }
    let Some(rest) = e.message.strip_prefix("invalid ") else {
        return e;
    };
    if rest
        .strip_prefix(method)
        .and_then(|r| r.strip_prefix(" params: "))
        .is_none()
    {
        return e;
    }
    if let Some(why) = walk(req) {
        e.message = format!("invalid {method} params: {why}");
    }
    e
}

/// Refuses `req` up front when its params fail the method's definition: for the handlers
/// whose own checks are laxer than the Node gateway's validator (they run the walk on every
/// call, so only methods off the hot path use this).
pub(crate) fn schema_checked(req: &RequestFrame<'_>) -> Result<(), ErrorShape> {
    match walk(req) {
        Some(why) => Err(ErrorShape::invalid_params(req.method(), &why)),
        None => Ok(()),
    }
}

/// Why `req`'s params fail its method's 2026.9.6 definition; `None` when they pass, or the
/// method has no such definition, or the params are not JSON.
fn walk(req: &RequestFrame<'_>) -> Option<String> {
    let m = registry::lookup(req.method())?;
    let Params::Schema96(def) = m.params else {
        return None;
    };
    // A method whose Node handler checks fields by hand and ignores unknown ones is not
    // validated against a definition that refuses them.
    if !m.strict && refuses_unknown(def) {
        return None;
    }
    let params: Value = match req.params_raw() {
        None | Some("null") => Value::Object(Default::default()),
        Some(raw) => serde_json::from_str(raw).ok()?,
    };
    params_errors(def, &params)
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    fn req<'a>(method: &'a str, params: &'a str) -> RequestFrame<'a> {
        RequestFrame {
            id: Cow::Borrowed("1"),
            method: Cow::Borrowed(method),
            params: Some(Cow::Borrowed(params)),
            traceparent: None,
        }
    }

    #[test]
    fn a_refusal_lists_every_problem_in_node_words() {
        let r = req("chat.history", r#"{"sessionKey":"","limit":0}"#);
        let e = ErrorShape::invalid_params("chat.history", "at /limit: must be integer in 1..1000");
        assert_eq!(
            reword(&r, e).message,
            "invalid chat.history params: at /sessionKey: must not have fewer than 1 characters; \
             at /limit: must be >= 1"
        );
    }

    #[test]
    fn other_errors_and_accepted_params_are_left_alone() {
        let r = req("chat.history", r#"{"sessionKey":"s"}"#);
        let e = ErrorShape::invalid_params("chat.history", "semantic");
        assert_eq!(
            reword(&r, e).message,
            "invalid chat.history params: semantic"
        );
        let r = req("chat.history", r#"{"sessionKey":""}"#);
        let e = ErrorShape::new(ErrorCode::NotFound, "invalid chat.history params: x");
        assert_eq!(reword(&r, e).message, "invalid chat.history params: x");
        let e = ErrorShape::invalid_params("sessions.list", "x");
        assert_eq!(reword(&r, e).message, "invalid sessions.list params: x");
        let r = req("agent.wait", r#"{"runId":""}"#);
        let e = ErrorShape::invalid_params("agent.wait", "own words");
        assert_eq!(
            reword(&r, e).message,
            "invalid agent.wait params: own words"
        );
    }
}

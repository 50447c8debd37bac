//! Settings, talk, plugin-catalog and chat-header reads of the stock Control UI for features
//! this gateway lacks: talk providers, plugin and skill registries, GitHub identities, model
//! accounts, a memory plugin, web search, session sharing, pull-request tracking, voice wake,
//! the secret store and plugin surfaces (canvas). Each answers what the Node gateway answers
//! with the feature unconfigured or empty (2026.9.6 schema shapes, none of its bundled-plugin
//! entries); the method table, scope gates and any real implementation are left to others.

use openclaw_proto::{ErrorCode, ErrorShape, RequestFrame};
use serde_json::{json, Value};

use super::agent::req_str;
use super::ui::strict;
use super::Ctx;

/// The wake words the Node gateway answers while none are configured (no voice-wake settings
/// are kept here).
pub const DEFAULT_VOICEWAKE_TRIGGERS: [&str; 3] = ["openclaw", "claude", "computer"];

/// The user profile a token or device caller acts as on the Node gateway.
const OWNER: &str = "gateway-owner";

/// Stands in for a model provider or id that neither the caller nor the config names.
const UNCONFIGURED: &str = "unconfigured";

const NO_MEMORY: &str = "no memory provider is configured";
const NO_WEB_SEARCH: &str = "Web search is not available on this gateway";

/// `agents.defaults.model`: a `provider/id` string, or an object whose `primary` is one.
fn default_model(parsed: &Value) -> Option<String> {
    let v = parsed.pointer("/agents/defaults/model")?;
    let s = v
        .as_str()
        .or_else(|| v.get("primary").and_then(Value::as_str))?;
    Some(s.trim().to_string()).filter(|s| !s.is_empty())
}

/// The answers: each method's params as the 2026.9.6 schema has them (`<Name>Params`; where it
/// has none, the keys the stock UI sends), and the Node gateway's answer with the feature off.
pub fn empty(c: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let cfg = c.gw.cfg.load();
    let model = default_model(&cfg.parsed);
    answer(req, &cfg.default_agent_id, model.as_deref())
}

/// The answer to `req`, given the default agent and model (`provider/id`).
fn answer(req: &RequestFrame<'_>, agent: &str, model: Option<&str>) -> Res<Value> {
    let m = req.method();
    let check = |keys: &[&str], required: &[&str]| strict(req, keys, required);
    let session = &["sessionKey", "agentId"][..];
    match m {
        "talk.catalog" => talk_catalog(&check(&["provider", "model"], &[])?, m),
        "plugins.catalog.browse" => plugins_browse(&check(BROWSE_KEYS, &[])?, m),
        "skills.search" => skills_search(&check(&["query", "limit"], &[])?, m),
        "tools.github.status" => {
            let keys = &["agentId", "selectedScope"][..];
            tools_github(&check(keys, keys)?, m)
        }
        "users.github.status" => check(&[], &[])
            .map(|_| json!({ "personal": personal_github(), "system": system_github() })),
        "users.listModelAccounts" => model_accounts(&check(&["profileId", "cursor"], &[])?, m),
        // No schema names these params; the stock UI sends `{agentId, probe?}`.
        "doctor.memory.status" => memory_status(&check(&["agentId", "probe"], &[])?, m, agent),
        "webSearch.status" => {
            let keys = &["agentId", "modelProvider", "modelId"][..];
            web_search(&check(keys, &[])?, m, agent, model)
        }
        // `SessionMembersListParams`, which this method shares with `session.members.list`.
        "session.members.listEvidence" => members_evidence(&check(session, &["sessionKey"])?, m),
        "sessions.github.options" => {
            let keys = &["sessionKey", "agentId", "idempotencyKey"][..];
            github_options(&check(keys, &["sessionKey"])?, m)
        }
        "controlUi.sessionPullRequests.subscribe" => {
            let keys = &["sessionKeys"][..];
            pull_requests(&check(keys, keys)?, m)
        }
        "voicewake.get" => {
            check(&[], &[]).map(|_| json!({ "triggers": DEFAULT_VOICEWAKE_TRIGGERS }))
        }
        "secrets.store.list" => check(&[], &[]).map(|_| json!({ "entries": [] })),
        "plugin.surface.refresh" => {
            surface_refresh(&check(&["surface", "observedUrl"], &["surface"])?, m)
        }
        _ => Err(ErrorShape::unknown_method(m)),
    }
}

type Res<T> = Result<T, ErrorShape>;

pub(super) fn bad(m: &str, key: &str, problem: &str) -> ErrorShape {
    ErrorShape::invalid_params(m, &format!("at /{key}: {problem}"))
}

/// An optional string param of `min..=max` characters (`minLength` / `maxLength`).
fn text<'a>(p: &'a Value, key: &str, min: usize, max: usize, m: &str) -> Res<Option<&'a str>> {
    let s = match p.get(key) {
        None => return Ok(None),
        Some(Value::String(s)) => s.as_str(),
        Some(_) => return Err(bad(m, key, "must be string")),
    };
    let n = s.chars().count();
    let (word, limit) = match n {
        n if n < min => ("fewer", min),
        n if n > max => ("more", max),
        _ => return Ok(Some(s)),
    };
    let problem = format!("must NOT have {word} than {limit} characters");
    Err(bad(m, key, &problem))
}

/// A `webSearch.status` string: 1 to 512 characters, not all blank (`pattern: "\S"`).
fn search_text<'a>(p: &'a Value, key: &str, m: &str) -> Res<Option<&'a str>> {
    let s = text(p, key, 1, 512, m)?;
    if s.is_some_and(|s| s.trim().is_empty()) {
        return Err(bad(m, key, r#"must match pattern "\S""#));
    }
    Ok(s)
}

/// An optional integer param in `min..=max`.
pub(super) fn int(p: &Value, key: &str, min: i64, max: i64, m: &str) -> Res<()> {
    let Some(v) = p.get(key) else {
        return Ok(());
    };
    match v.as_f64() {
        Some(n) if n.fract() != 0.0 => Err(bad(m, key, "must be integer")),
        Some(n) if n < min as f64 => Err(bad(m, key, &format!("must be >= {min}"))),
        Some(n) if n > max as f64 => Err(bad(m, key, &format!("must be <= {max}"))),
        Some(_) => Ok(()),
        None => Err(bad(m, key, "must be integer")),
    }
}

/// An optional param that must be one of `allowed` (an `anyOf` of string constants).
fn one_of<'a>(p: &'a Value, key: &str, allowed: &[&str], m: &str) -> Res<Option<&'a str>> {
    match p.get(key) {
        None => Ok(None),
        Some(Value::String(s)) if allowed.contains(&s.as_str()) => Ok(Some(s)),
        Some(_) => Err(bad(m, key, "must match a schema in anyOf")),
    }
}

/// `talk.catalog {provider?, model?}`: no talk (speech, transcription, realtime voice)
/// provider is served here, so the catalogue of modes, transports and brains is empty too.
fn talk_catalog(p: &Value, m: &str) -> Result<Value, ErrorShape> {
    text(p, "provider", 1, usize::MAX, m)?;
    text(p, "model", 1, usize::MAX, m)?;
    Ok(json!({
        "modes": [], "transports": [], "brains": [],
        "speech": { "providers": [] },
        "transcription": { "ready": false, "providers": [] },
        "realtime": { "ready": false, "providers": [] },
    }))
}

const BROWSE_KEYS: &[&str] = &[
    "query",
    "searchSource",
    "intent",
    "category",
    "cursor",
    "pageSize",
];

/// `plugins.catalog.browse {…}`: no plugins are bundled or installable here.
fn plugins_browse(p: &Value, m: &str) -> Result<Value, ErrorShape> {
    text(p, "query", 0, 200, m)?;
    let source = p.get("searchSource");
    if source.is_some_and(|s| s != "openclaw-control-ui") {
        return Err(bad(m, "searchSource", "must be equal to constant"));
    }
    let intents = ["all", "bundled", "trending", "official", "featured"];
    one_of(p, "intent", &intents, m)?;
    if let Some(c) = text(p, "category", 1, 64, m)? {
        let mut chars = c.chars();
        let head = chars.next().is_some_and(|ch| ch.is_ascii_lowercase());
        if !head || !chars.all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-') {
            let problem = r#"must match pattern "^[a-z][a-z0-9-]*$""#;
            return Err(bad(m, "category", problem));
        }
    }
    text(p, "cursor", 1, 4096, m)?;
    int(p, "pageSize", 1, 100, m)?;
    Ok(json!({ "items": [] }))
}

/// `skills.search {query?, limit?}`: no skill registry is configured, so nothing matches.
fn skills_search(p: &Value, m: &str) -> Result<Value, ErrorShape> {
    text(p, "query", 1, usize::MAX, m)?;
    int(p, "limit", 1, 100, m)?;
    Ok(json!({ "results": [] }))
}

/// The host's GitHub identity as the Node gateway reports it with no credential found.
fn system_github() -> Value {
    json!({
        "source": "system-detected", "credentialKind": "native", "credentialState": "unavailable",
        "account": null, "gitAuthor": { "name": null, "email": null }, "evidence": "none",
        "accessExpiresAtMs": null, "refreshState": "not_applicable", "oauthScopes": [],
        "repositoryGrants": "unknown",
    })
}

/// The caller's own GitHub connection: none.
fn personal_github() -> Value {
    json!({
        "state": "disconnected", "generation": null, "account": null,
        "accessExpiresAtMs": null, "refreshState": "not_applicable", "pending": null,
    })
}

/// `tools.github.status {agentId, selectedScope}`: nothing configured for the agent's tools.
/// The `system` scope shows the (unavailable) host identity, as observed; the `agent` scope
/// has no override, so its identity is `null` (not observed; the schema allows it).
fn tools_github(p: &Value, m: &str) -> Result<Value, ErrorShape> {
    let agent = req_str(p, "agentId", m)?;
    let scope = one_of(p, "selectedScope", &["system", "agent"], m)?.unwrap_or("system");
    let identity = (scope == "system").then(system_github);
    Ok(json!({
        "agentId": agent, "selectedScope": scope,
        "selected": { "scope": scope, "configured": false, "identity": identity },
        "effective": system_github(),
    }))
}

/// `users.listModelAccounts {profileId?, cursor?}`: no per-user model accounts are kept.
fn model_accounts(p: &Value, m: &str) -> Result<Value, ErrorShape> {
    let profile = text(p, "profileId", 1, 128, m)?.unwrap_or(OWNER);
    text(p, "cursor", 1, 256, m)?;
    Ok(json!({ "profileId": profile, "accounts": [], "links": [] }))
}

/// `doctor.memory.status {agentId?, probe?}`. The Node gateway answers from its memory plugin
/// (provider, embedding readiness, dreaming state); none runs here. The answer says so with
/// the least it can: `provider` null (the UI shows "unknown"), embeddings not checked (so the
/// UI does not flag an error, even when asked to probe: there is nothing to probe), no
/// `dreaming` (the UI draws its sections only when present), and `searchRuntimeRegistered:
/// false`, which the stock UI reads as "no memory search runtime" and then skips the health
/// section.
fn memory_status(p: &Value, m: &str, agent: &str) -> Res<Value> {
    let agent = text(p, "agentId", 1, usize::MAX, m)?.unwrap_or(agent);
    if p.get("probe").is_some_and(|v| !v.is_boolean()) {
        return Err(bad(m, "probe", "must be boolean"));
    }
    Ok(json!({
        "agentId": agent, "provider": null,
        "embedding": { "ok": false, "checked": false, "error": NO_MEMORY },
        "searchRuntimeRegistered": false,
    }))
}

/// `webSearch.status {agentId?, modelProvider?, modelId?}`: no search provider, and no model
/// here searches natively. The model is the caller's, else the config's default.
fn web_search(p: &Value, m: &str, agent: &str, model: Option<&str>) -> Res<Value> {
    let agent = search_text(p, "agentId", m)?.unwrap_or(agent);
    let provider = search_text(p, "modelProvider", m)?;
    let id = search_text(p, "modelId", m)?;
    // `provider/id`; a bare id names no provider.
    let split = model.map(|r| r.split_once('/').unwrap_or(("", r)));
    let cfg_provider = split.map(|s| s.0).filter(|s| !s.trim().is_empty());
    let cfg_id = split.map(|s| s.1).filter(|s| !s.trim().is_empty());
    Ok(json!({
        "enabled": false, "provider": null, "agentId": agent,
        "model": {
            "provider": provider.or(cfg_provider).unwrap_or(UNCONFIGURED),
            "id": id.or(cfg_id).unwrap_or(UNCONFIGURED),
            "runtime": "openclaw", "runtimeLabel": "OpenClaw embedded agent",
        },
        "route": { "kind": "disabled", "label": NO_WEB_SEARCH, "testable": false },
        "providers": [],
    }))
}

/// `session.members.listEvidence {sessionKey, agentId?}`: sessions are not shared here; the
/// owner profile is the only identity, with every visibility open to it.
fn members_evidence(p: &Value, m: &str) -> Result<Value, ErrorShape> {
    let key = req_str(p, "sessionKey", m)?;
    text(p, "agentId", 1, usize::MAX, m)?;
    let owner =
        json!({ "type": "human", "id": OWNER, "identity": { "type": "profile", "id": OWNER } });
    let mut me = owner.clone();
    me["label"] = json!(OWNER);
    Ok(json!({
        "sessionKey": key, "owner": owner, "members": [], "identities": [me], "role": "admin",
        "allowedVisibilities": ["shared", "read-only", "suggest", "draft"],
    }))
}

/// `sessions.github.options {sessionKey, agentId?, idempotencyKey?}`: nothing to publish
/// with, and nothing published.
fn github_options(p: &Value, m: &str) -> Result<Value, ErrorShape> {
    req_str(p, "sessionKey", m)?;
    text(p, "agentId", 1, usize::MAX, m)?;
    text(p, "idempotencyKey", 1, usize::MAX, m)?;
    Ok(json!({
        "personal": personal_github(), "shared": null, "pendingPersonal": null,
        "latestShared": null,
    }))
}

/// `controlUi.sessionPullRequests.subscribe {sessionKeys}`: no pull requests are tracked, so
/// no change event will follow; the Node gateway says whether anything is subscribed.
fn pull_requests(p: &Value, m: &str) -> Result<Value, ErrorShape> {
    let Some(keys) = p["sessionKeys"].as_array() else {
        return Err(bad(m, "sessionKeys", "must be array"));
    };
    if let Some(i) = keys.iter().position(|k| !k.is_string()) {
        return Err(bad(m, &format!("sessionKeys/{i}"), "must be string"));
    }
    Ok(json!({ "subscribed": !keys.is_empty() }))
}

/// `plugin.surface.refresh {surface, observedUrl?}`: the Node gateway renews the capability
/// URL of a plugin-served surface (the canvas). None is served here and the answer has no
/// empty form, so it is an error (its wording is ours: this case was not observed).
fn surface_refresh(p: &Value, m: &str) -> Result<Value, ErrorShape> {
    let surface = req_str(p, "surface", m)?;
    text(p, "observedUrl", 0, usize::MAX, m)?;
    Err(ErrorShape::new(
        ErrorCode::Unavailable,
        format!("plugin surface unavailable: {surface}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PULLS: &str = "controlUi.sessionPullRequests.subscribe";
    const TOOLS: &str = "tools.github.status";

    fn call(method: &'static str, params: &'static str) -> Res<Value> {
        let req = RequestFrame {
            id: "1".into(),
            method: method.into(),
            params: Some(params.into()),
            traceparent: None,
        };
        answer(&req, "main", Some("fake/echo-1"))
    }

    fn problem(method: &'static str, params: &'static str) -> String {
        call(method, params).unwrap_err().message
    }

    #[test]
    fn observed_answers() {
        let v = call("voicewake.get", "{}").unwrap();
        assert_eq!(v, json!({ "triggers": ["openclaw", "claude", "computer"] }));
        let v = call(PULLS, r#"{"sessionKeys":[]}"#).unwrap();
        assert_eq!(v, json!({ "subscribed": false }));
        let v = call(PULLS, r#"{"sessionKeys":["a"]}"#).unwrap();
        assert_eq!(v, json!({ "subscribed": true }));
        let v = call("users.listModelAccounts", "{}").unwrap();
        assert_eq!(v["profileId"], OWNER);
        let v = call(TOOLS, r#"{"agentId":"a","selectedScope":"system"}"#).unwrap();
        assert_eq!(v["selected"]["identity"], system_github());
        assert_eq!(v["agentId"], "a");
    }

    #[test]
    fn params_are_checked() {
        let e = problem(TOOLS, r#"{"agentId":"main"}"#);
        let want =
            "invalid tools.github.status params: must have required property 'selectedScope'";
        assert_eq!(e, want);
        let e = problem(TOOLS, r#"{"agentId":"a","selectedScope":"x"}"#);
        assert!(e.ends_with("at /selectedScope: must match a schema in anyOf"));
        let e = problem("plugins.catalog.browse", r#"{"pageSize":0}"#);
        assert!(e.ends_with("at /pageSize: must be >= 1"));
        let e = problem("plugins.catalog.browse", r#"{"category":"Bad"}"#);
        assert!(e.contains("must match pattern"));
        let e = problem("secrets.store.list", r#"{"x":1}"#);
        assert!(e.ends_with("at root: unexpected property 'x'"));
        let e = problem("webSearch.status", r#"{"agentId":"  "}"#);
        assert!(e.ends_with(r#"at /agentId: must match pattern "\S""#));
    }

    #[test]
    fn web_search_model() {
        let v = call("webSearch.status", "{}").unwrap();
        assert_eq!(
            [&v["model"]["provider"], &v["model"]["id"]],
            ["fake", "echo-1"]
        );
        assert_eq!(v["agentId"], "main");
        let v = call("webSearch.status", r#"{"modelProvider":"p","modelId":"m"}"#).unwrap();
        assert_eq!([&v["model"]["provider"], &v["model"]["id"]], ["p", "m"]);
        let cfg = json!({ "agents": { "defaults": { "model": { "primary": "a/b" } } } });
        assert_eq!(default_model(&cfg).as_deref(), Some("a/b"));
        assert_eq!(default_model(&json!({})), None);
    }

    #[test]
    fn surface_and_unknown() {
        let e = call("plugin.surface.refresh", r#"{"surface":"canvas"}"#).unwrap_err();
        assert_eq!(e.code, "UNAVAILABLE");
        assert_eq!(problem("nope.nope", "{}"), "unknown method: nope.nope");
    }
}

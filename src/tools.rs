//! The gateway's built-in tools, all read-only (no side effects): `sessions_list`,
//! `sessions_history`, `session_status` and `agents_list`. `POST /tools/invoke` runs them;
//! `tools.catalog` lists them from [`CATALOG`].

use serde_json::{json, Value};

use crate::agents::canonical_key;
use crate::failure::Failure;
use crate::server::Gateway;
use crate::store::sessions::{get_session, transcript, ListQuery};

/// One built-in tool as `tools.catalog` describes it.
#[derive(Clone, Copy, Debug)]
pub struct ToolInfo {
    pub id: &'static str,
    /// Catalog group (`sessions`, `agents`).
    pub group: &'static str,
    pub description: &'static str,
    /// The tool profiles that include it by default (OpenClaw's profile vocabulary).
    pub profiles: &'static [&'static str],
}

/// Every tool this gateway offers.
pub const CATALOG: &[ToolInfo] = &[
    ToolInfo {
        id: "sessions_list",
        group: "sessions",
        description: "List the sessions, newest first, with their previews.",
        profiles: &["coding", "messaging"],
    },
    ToolInfo {
        id: "sessions_history",
        group: "sessions",
        description: "Read a session's transcript.",
        profiles: &["coding", "messaging"],
    },
    ToolInfo {
        id: "session_status",
        group: "sessions",
        description: "A session's model, token usage and state.",
        profiles: &["minimal", "coding", "messaging"],
    },
    ToolInfo {
        id: "agents_list",
        group: "agents",
        description: "List the configured agents.",
        profiles: &[],
    },
];
/// `sessions_list` rows when `limit` is absent.
pub const DEFAULT_LIST_LIMIT: u64 = 50;
/// Largest `sessions_list` page.
pub const MAX_LIST_LIMIT: u64 = 1000;
/// `sessions_history` messages when `limit` is absent.
pub const DEFAULT_HISTORY_LIMIT: u64 = 50;
/// Largest `sessions_history` page.
pub const MAX_HISTORY_LIMIT: u64 = 1000;
/// Longest `args.sessionKey`.
pub const MAX_ARG_KEY: usize = 512;

/// The session a call is about (canonical key) and its agent.
#[derive(Clone, Debug)]
pub struct Target {
    pub key: String,
    pub agent_id: String,
}

/// `true` for a tool this gateway has.
pub fn exists(name: &str) -> bool {
    CATALOG.iter().any(|t| t.id == name)
}

fn int_arg(args: &Value, key: &str, default: u64, max: u64) -> Result<u64, Failure> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => match v.as_u64() {
            Some(n) if n >= 1 => Ok(n.min(max)),
            _ => Err(Failure::Invalid(format!(
                "args.{key} must be an integer >= 1"
            ))),
        },
    }
}

fn str_arg<'a>(args: &'a Value, key: &str) -> Result<Option<&'a str>, Failure> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim())),
        Some(_) => Err(Failure::Invalid(format!("args.{key} must be a string"))),
    }
}

/// Run tool `name` (one of [`CATALOG`]).
///
/// # Errors
/// Bad arguments, or a store failure.
pub async fn run(
    gw: &Gateway,
    name: &str,
    args: &Value,
    target: &Target,
) -> Result<Value, Failure> {
    match name {
        "sessions_list" => sessions_list(gw, args).await,
        "sessions_history" => sessions_history(gw, args, target).await,
        "session_status" => session_status(gw, args, target).await,
        "agents_list" => Ok(agents_list(gw)),
        _ => Err(Failure::Invalid(format!("unknown tool {name}"))),
    }
}

/// `sessions_list {limit?, agentId?, search?}`: newest first.
async fn sessions_list(gw: &Gateway, args: &Value) -> Result<Value, Failure> {
    let limit = int_arg(args, "limit", DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT)?;
    let agent = str_arg(args, "agentId")?.map(str::to_string);
    if let Some(a) = &agent {
        if gw.agents.catalog().agent(a).is_none() {
            return Err(Failure::Invalid(format!("unknown agent id \"{a}\"")));
        }
    }
    let q = ListQuery {
        agent_id: agent,
        search: str_arg(args, "search")?.map(str::to_string),
        limit,
        ..ListQuery::default()
    };
    let (rows, total) = gw.agents.runs.store.list(q).await?;
    let sessions: Vec<Value> = rows
        .iter()
        .map(|r| gw.agents.runs.row_json(r, false))
        .collect();
    Ok(json!({ "count": sessions.len(), "totalCount": total, "sessions": sessions }))
}

/// `args.sessionKey` (canonical, scoped to the call's agent) or the call's session.
fn arg_key(args: &Value, target: &Target) -> Result<String, Failure> {
    match str_arg(args, "sessionKey")? {
        None => Ok(target.key.clone()),
        Some(k) if k.len() > MAX_ARG_KEY => Err(Failure::Invalid(format!(
            "args.sessionKey must not exceed {MAX_ARG_KEY} characters"
        ))),
        Some("main") => Ok(format!("agent:{}:main", target.agent_id)),
        Some(k) => Ok(canonical_key(k, &target.agent_id)),
    }
}

/// `sessions_history {sessionKey?, limit?}`: the newest `limit` messages, oldest first.
async fn sessions_history(gw: &Gateway, args: &Value, target: &Target) -> Result<Value, Failure> {
    let key = arg_key(args, target)?;
    let limit = int_arg(args, "limit", DEFAULT_HISTORY_LIMIT, MAX_HISTORY_LIMIT)?;
    let k = key.clone();
    let (sid, rows, total) = gw
        .agents
        .runs
        .store
        .read(move |c| {
            let Some(row) = get_session(c, &k)? else {
                return Ok((None, Vec::new(), 0));
            };
            let (rows, total) = transcript(c, &row.session_id, limit, 0)?;
            Ok((Some(row.session_id), rows, total))
        })
        .await?;
    let messages: Vec<Value> = rows
        .into_iter()
        .map(|r| {
            let mut m = r.body;
            let mut meta = json!({ "id": r.id.to_string() });
            match r.seq {
                Some(s) => meta["seq"] = json!(s),
                None => meta["kind"] = json!("queued"),
            }
            if m.is_object() {
                m["__openclaw"] = meta;
            }
            m
        })
        .collect();
    Ok(json!({
        "sessionKey": key,
        "sessionId": sid,
        "messages": messages,
        "totalMessages": total,
    }))
}

/// `session_status {sessionKey?}`: counters and run state of one session.
async fn session_status(gw: &Gateway, args: &Value, target: &Target) -> Result<Value, Failure> {
    let key = arg_key(args, target)?;
    let row = gw.agents.runs.store.session(&key).await?;
    let ids = gw.agents.runs.active_ids(&key);
    let (input, output) = row
        .as_ref()
        .map_or((0, 0), |r| (r.input_tokens, r.output_tokens));
    let mut v = json!({
        "key": key,
        "exists": row.is_some(),
        "sessionId": row.as_ref().map(|r| r.session_id.clone()),
        "agentId": row.as_ref().map_or(target.agent_id.clone(), |r| r.agent_id.clone()),
        "messageCount": row.as_ref().map_or(0, |r| r.message_count),
        "tokens": { "input": input, "output": output, "total": input + output },
        "hasActiveRun": !ids.is_empty(),
        "activeRunIds": ids,
    });
    if let Some(r) = &row {
        v["updatedAt"] = json!(r.updated_ms);
        if let Some(p) = &r.provider {
            v["modelProvider"] = json!(p);
        }
        if let Some(m) = &r.model {
            v["model"] = json!(m);
        }
    }
    Ok(v)
}

/// `agents_list {}`: the configured agents and the default one.
fn agents_list(gw: &Gateway) -> Value {
    let cat = gw.agents.catalog();
    let agents: Vec<Value> = cat
        .agents
        .iter()
        .map(|a| {
            let mut e = json!({ "id": a.id, "default": a.id == cat.default_agent });
            if let Some(n) = &a.name {
                e["name"] = json!(n);
            }
            if let Some((primary, fallbacks)) = a.models.split_first() {
                e["model"] = json!({ "primary": primary, "fallbacks": fallbacks });
            }
            e
        })
        .collect();
    json!({ "defaultId": cat.default_agent, "mainKey": "main", "agents": agents })
}

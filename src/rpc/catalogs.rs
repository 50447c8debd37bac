//! What the gateway offers, as it sees it: `skills.status` (the SKILL.md folders of the agent
//! workspace and of the managed skills folder), `hooks.status` (the configured webhook
//! mappings and whether the hooks surface is on), `tools.catalog` (the built-in tools).
//! This gateway loads no skills into a model's prompt and runs no hook scripts; the answers
//! say so (`modelVisible: false`, webhook-only hooks) rather than borrow the Node bundle's.

use std::path::{Path, PathBuf};

use openclaw_proto::{ErrorCode, ErrorShape, RequestFrame};
use serde_json::{json, Value};

use super::agent::{check_keys, opt_str};
use super::{params, Ctx};
use crate::config::hooks::{base_path, Action, HooksConfig};
use crate::server::Gateway;

/// Skill folders read per directory at most (a runaway folder cannot stall the answer).
pub const MAX_SKILLS_PER_DIR: usize = 500;
/// Largest SKILL.md read for its front matter.
const MAX_SKILL_FILE_BYTES: u64 = 256 * 1024;

/// The agent workspace: `agents.defaults.workspace`, else `$STATE/workspace` (as OpenClaw).
pub(super) fn workspace(gw: &Gateway) -> PathBuf {
    let cfg = gw.cfg.load();
    match cfg
        .parsed
        .pointer("/agents/defaults/workspace")
        .and_then(Value::as_str)
    {
        Some(w) if !w.trim().is_empty() => PathBuf::from(w.trim()),
        _ => cfg.state_dir.join("workspace"),
    }
}

fn empty_requirements() -> Value {
    json!({ "bins": [], "anyBins": [], "env": [], "config": [], "os": [] })
}

/// `name` and `description` from a SKILL.md's YAML front matter.
fn front_matter(text: &str) -> (Option<String>, Option<String>) {
    let mut lines = text.lines();
    if lines.next().map(str::trim) != Some("---") {
        return (None, None);
    }
    let (mut name, mut desc) = (None, None);
    for l in lines.take_while(|l| l.trim() != "---") {
        let unquote = |v: &str| v.trim().trim_matches(|c| c == '"' || c == '\'').to_string();
        if let Some(v) = l.strip_prefix("name:") {
            name = Some(unquote(v));
        } else if let Some(v) = l.strip_prefix("description:") {
            desc = Some(unquote(v));
        }
    }
    (name, desc)
}

/// The skills under `dir` (one folder each, holding a SKILL.md), sorted by name.
fn scan_skills(dir: &Path, source: &str) -> Vec<Value> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<Value> = rd
        .flatten()
        .take(MAX_SKILLS_PER_DIR)
        .filter_map(|e| {
            let base = e.path();
            let file = base.join("SKILL.md");
            let meta = std::fs::metadata(&file).ok()?;
            let text = if meta.len() <= MAX_SKILL_FILE_BYTES {
                std::fs::read_to_string(&file).unwrap_or_default()
            } else {
                String::new()
            };
            let folder = e.file_name().to_string_lossy().into_owned();
            let (name, desc) = front_matter(&text);
            let name = name.unwrap_or(folder.clone());
            Some(json!({
                "name": name, "description": desc.unwrap_or_default(), "source": source,
                "bundled": false, "filePath": file, "baseDir": base, "skillKey": folder,
                "always": false, "disabled": false, "blockedByAllowlist": false,
                "blockedByAgentFilter": false, "eligible": true, "platformIncompatible": false,
                // Skills are listed, not loaded into prompts, by this gateway.
                "modelVisible": false, "userInvocable": false, "commandVisible": false,
                "requirements": empty_requirements(), "missing": empty_requirements(),
                "configChecks": [], "install": [],
            }))
        })
        .collect();
    out.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    out
}

/// `skills.status {agentId?, sessionKey?}` (scans folders: runs beside the read loop).
pub async fn skills(c: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let p: Value = params(req)?;
    check_keys(&p, &["agentId", "sessionKey"], req.method())?;
    let agent = c.gw.agents.resolve_agent(
        opt_str(&p, "agentId", req.method())?,
        opt_str(&p, "sessionKey", req.method())?,
    )?;
    let ws = workspace(&c.gw);
    let managed = c.gw.cfg.load().state_dir.join("skills");
    let (w, m) = (ws.clone(), managed.clone());
    let skills = tokio::task::spawn_blocking(move || {
        let mut v = scan_skills(&w.join("skills"), "openclaw-workspace");
        v.extend(scan_skills(&m, "openclaw-managed"));
        v
    })
    .await
    .map_err(|_| ErrorShape::new(ErrorCode::Unavailable, "skills.status failed"))?;
    Ok(json!({
        "workspaceDir": ws, "managedSkillsDir": managed, "agentId": agent, "skills": skills,
    }))
}

/// `hooks.status {agentId?}`: one entry per `hooks.mappings[]` entry, enabled while the
/// hooks surface is on (`hooks.enabled` with a usable path).
pub fn hooks(c: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let p: Value = params(req)?;
    check_keys(&p, &["agentId"], req.method())?;
    let cfg = c.gw.cfg.load();
    let base = base_path(&cfg.parsed);
    let on = base.is_some();
    let hc = HooksConfig::load(&cfg.parsed, base.clone().unwrap_or_default());
    let hooks: Vec<Value> = hc
        .mappings
        .iter()
        .map(|m| {
            let action = match m.action {
                Action::Wake => "wake",
                Action::Agent => "agent",
            };
            let path = m.match_path.as_deref().unwrap_or(&m.id);
            json!({
                "name": m.id,
                "description": format!("POST {}/{path} → {action}", base.as_deref().unwrap_or("/hooks")),
                "source": "openclaw-config", "filePath": cfg.path, "baseDir": cfg.state_dir,
                "hookKey": m.id, "events": [format!("webhook:{path}")], "unknownEvents": [],
                "always": false, "enabledByConfig": on, "requirementsSatisfied": true,
                "loadable": on, "managedByPlugin": false,
                "requirements": empty_requirements(), "missing": empty_requirements(),
                "configChecks": [{ "path": "hooks.enabled", "satisfied": on }], "install": [],
            })
        })
        .collect();
    Ok(json!({
        "workspaceDir": workspace(&c.gw),
        "managedHooksDir": cfg.state_dir.join("hooks"),
        "hooks": hooks,
    }))
}

/// `tools.catalog {agentId?, includePlugins?}`: the built-in tools, grouped.
pub fn tools(c: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let p: Value = params(req)?;
    check_keys(&p, &["agentId", "includePlugins"], req.method())?;
    let agent =
        c.gw.agents
            .resolve_agent(opt_str(&p, "agentId", req.method())?, None)?;
    let mut groups: Vec<Value> = Vec::new();
    for t in crate::tools::CATALOG {
        let tool = json!({
            "id": t.id, "label": t.id, "description": t.description, "source": "core",
            "defaultProfiles": t.profiles,
        });
        match groups.iter_mut().find(|g| g["id"] == t.group) {
            Some(g) => g["tools"]
                .as_array_mut()
                .into_iter()
                .for_each(|a| a.push(tool.clone())),
            None => {
                let label = match t.group {
                    "sessions" => "Sessions",
                    "agents" => "Agents",
                    other => other,
                };
                groups.push(
                    json!({ "id": t.group, "label": label, "source": "core", "tools": [tool] }),
                );
            }
        }
    }
    Ok(json!({
        "agentId": agent,
        "profiles": [
            { "id": "minimal", "label": "Minimal" }, { "id": "coding", "label": "Coding" },
            { "id": "messaging", "label": "Messaging" }, { "id": "full", "label": "Full" },
        ],
        "groups": groups,
    }))
}

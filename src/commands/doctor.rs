//! `openclaw doctor [--fix] [--json] [--lint] [--generate-gateway-token]`: local checks of
//! the config (parse + validate, `gateway.mode`), the state dir (exists, ours, mode 0700),
//! the configured port (free, or held by a gateway), auth on non-loopback binds, drift of an
//! installed systemd unit, and retired reload modes — each a line `ok|warn|error <id> <what>`
//! (see [`super::doctor_checks`]).
//!
//! `--fix` repairs what is safe and says what it did: creates / chmods the state dir to 0700,
//! maps `hot`/`restart` reload modes to `hybrid`, generates a gateway token for a
//! non-loopback bind without auth (config edits are one atomic write, previous file kept as
//! `<path>.bak`), rewrites a drifted unit. The checks then run again. Exit 0 when no error
//! remains, else 1 (`--lint`: 1 on any finding, never repairs). `--yes`/`--non-interactive`
//! are accepted; doctor never prompts.

use std::fs;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

use serde_json::{json, Value};

use super::doctor_checks::{inspect, Check, Inspection, Repair, Verdict, STATE_DIR_MODE};
use super::{service, setup};
use crate::cli::{DoctorArgs, GlobalArgs};
use crate::config::{Env, ResolvedPaths};

/// What one repair did.
struct Done {
    id: &'static str,
    ok: bool,
    message: String,
}

/// Run `openclaw doctor`; the exit code.
pub fn run(global: &GlobalArgs, a: &DoctorArgs) -> i32 {
    let env = Env::from_process();
    let args = match global.load_args() {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            return 2;
        }
    };
    let paths = match setup::resolve(global, &env) {
        Ok(p) => p,
        Err(_) => return 2,
    };
    // `--lint` only reads.
    let fix = a.fix && !a.lint;
    let generate_token = a.generate_gateway_token && !a.lint;
    let mut report = inspect(&args, &env, &paths);
    let mut done: Vec<Done> = Vec::new();
    if fix || generate_token {
        let before = done.len();
        repair_files(&report, &paths, fix, generate_token, &mut done);
        if done.len() > before {
            report = inspect(&args, &env, &paths);
        }
    }
    if fix {
        let before = done.len();
        for c in &report.checks {
            if let Some(Repair::RewriteUnit { path, body }) = &c.repair {
                done.push(rewrite_unit(&env, path, body));
            }
        }
        if done.len() > before {
            report = inspect(&args, &env, &paths);
        }
    }
    let errors = count(&report, Verdict::Error);
    let warnings = count(&report, Verdict::Warn);
    if a.json {
        super::out_json(&to_json(&report, &paths, &done));
    } else {
        print_text(&report, &paths, &done, fix);
    }
    if errors > 0 || (a.lint && warnings > 0) {
        1
    } else {
        0
    }
}

fn count(r: &Inspection, v: Verdict) -> usize {
    r.checks.iter().filter(|c| c.verdict == v).count()
}

/// State dir and config-file repairs (everything but the unit, which depends on the config).
fn repair_files(
    r: &Inspection,
    paths: &ResolvedPaths,
    fix: bool,
    generate_token: bool,
    done: &mut Vec<Done>,
) {
    let mut map_reload = false;
    let mut token = generate_token && !has_token(&paths.config_path);
    for c in r.checks.iter().filter(|_| fix) {
        match &c.repair {
            Some(Repair::CreateStateDir(dir)) => done.push(create_state_dir(dir)),
            Some(Repair::ChmodStateDir(dir)) => done.push(chmod_state_dir(dir)),
            Some(Repair::MapReloadMode) => map_reload = true,
            Some(Repair::GenerateToken) => token = true,
            _ => {}
        }
    }
    if map_reload || token {
        done.push(edit_config(&paths.config_path, map_reload, token));
    }
}

fn create_state_dir(dir: &Path) -> Done {
    let res = fs::DirBuilder::new()
        .recursive(true)
        .mode(STATE_DIR_MODE)
        .create(dir)
        .and_then(|_| fs::set_permissions(dir, fs::Permissions::from_mode(STATE_DIR_MODE)));
    match res {
        Ok(()) => Done {
            id: "state-dir",
            ok: true,
            message: format!("created {} (mode 0700)", dir.display()),
        },
        Err(e) => Done {
            id: "state-dir",
            ok: false,
            message: format!("cannot create {}: {e}", dir.display()),
        },
    }
}

fn chmod_state_dir(dir: &Path) -> Done {
    let was = fs::metadata(dir)
        .map(|m| format!("{:04o}", m.permissions().mode() & 0o777))
        .unwrap_or_else(|_| "?".into());
    match fs::set_permissions(dir, fs::Permissions::from_mode(STATE_DIR_MODE)) {
        Ok(()) => Done {
            id: "state-dir",
            ok: true,
            message: format!("chmod 0700 {} (was {was})", dir.display()),
        },
        Err(e) => Done {
            id: "state-dir",
            ok: false,
            message: format!("cannot chmod {}: {e}", dir.display()),
        },
    }
}

/// The config file already names a token (a string or a SecretRef).
fn has_token(path: &Path) -> bool {
    super::doctor_checks::raw_config(path)
        .and_then(|v| v.pointer("/gateway/auth/token").cloned())
        .is_some_and(|t| !t.as_str().is_some_and(|s| s.trim().is_empty()))
}

/// One atomic rewrite of the config (backup `<path>.bak`) with the requested edits.
fn edit_config(path: &Path, map_reload: bool, token: bool) -> Done {
    let fail = |message: String| Done {
        id: "config",
        ok: false,
        message,
    };
    let mut v = match setup::read_config(path) {
        Ok(Some(v)) => v,
        Ok(None) => {
            return fail(format!(
                "no config at {}; run `openclaw setup` first",
                path.display()
            ))
        }
        Err(e) => return fail(e),
    };
    let gw = match setup::gateway_obj(&mut v, path) {
        Ok(g) => g,
        Err(e) => return fail(e),
    };
    let mut what = Vec::new();
    if map_reload {
        if let Some(r) = gw.get_mut("reload").and_then(Value::as_object_mut) {
            let old = r.get("mode").and_then(Value::as_str).map(str::to_string);
            if let Some(old) =
                old.filter(|m| super::doctor_checks::RETIRED_RELOAD_MODES.contains(&m.as_str()))
            {
                r.insert("mode".into(), json!("hybrid"));
                what.push(format!("gateway.reload.mode=hybrid (was {old:?})"));
            }
            for k in super::doctor_checks::RETIRED_RELOAD_KEYS {
                if r.remove(*k).is_some() {
                    what.push(format!("removed gateway.reload.{k}"));
                }
            }
        }
    }
    if token {
        let auth = gw.entry("auth").or_insert_with(|| json!({}));
        let Some(auth) = auth.as_object_mut() else {
            return fail(format!(
                "Invalid config at {}: gateway.auth must be an object",
                path.display()
            ));
        };
        match auth.get("mode").and_then(Value::as_str) {
            Some("password") | Some("trusted-proxy") => {
                return fail(
                    "gateway.auth.mode is password/trusted-proxy; configure that secret instead of a token"
                        .into(),
                )
            }
            _ => {}
        }
        auth.insert("mode".into(), json!("token"));
        auth.insert("token".into(), json!(setup::generate_token()));
        what.push("generated gateway.auth.token (mode token)".into());
    }
    if what.is_empty() {
        return Done {
            id: "config",
            ok: true,
            message: "config already up to date".into(),
        };
    }
    match setup::write_config_atomic(path, &v) {
        Ok(()) => Done {
            id: "config",
            ok: true,
            message: format!(
                "updated {}: {} (previous file kept as {}.bak)",
                path.display(),
                what.join(", "),
                path.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            ),
        },
        Err(e) => fail(e),
    }
}

fn rewrite_unit(env: &Env, path: &Path, body: &str) -> Done {
    if env.service_repair_external() {
        return Done {
            id: "service",
            ok: false,
            message: format!(
                "OPENCLAW_SERVICE_REPAIR_POLICY=external: not rewriting {}",
                path.display()
            ),
        };
    }
    if let Err(e) = service::write_unit(path, body) {
        return Done {
            id: "service",
            ok: false,
            message: e,
        };
    }
    let reloaded = service::systemd_usable() && service::systemctl(&["daemon-reload"]).is_ok();
    Done {
        id: "service",
        ok: true,
        message: format!(
            "rewrote {}{}",
            path.display(),
            if reloaded {
                " (systemd reloaded; restart the service to apply it)"
            } else {
                ""
            }
        ),
    }
}

fn check_json(c: &Check) -> Value {
    json!({
        "id": c.id,
        "verdict": c.verdict.as_str(),
        "message": c.message,
        "path": c.path,
        "fixHint": c.fix_hint,
        "fixable": c.repair.is_some(),
    })
}

fn to_json(r: &Inspection, paths: &ResolvedPaths, done: &[Done]) -> Value {
    let findings: Vec<Value> = r
        .checks
        .iter()
        .filter(|c| c.verdict != Verdict::Ok)
        .map(|c| {
            json!({
                "checkId": format!("core/doctor/{}", c.id),
                "severity": c.verdict.severity(),
                "message": c.message,
                "path": c.path,
                "fixHint": c.fix_hint,
            })
        })
        .collect();
    json!({
        "ok": count(r, Verdict::Error) == 0,
        "configPath": paths.config_path,
        "stateDir": paths.state_dir,
        "checksRun": r.checks.len(),
        "checksSkipped": r.skipped,
        "errors": count(r, Verdict::Error),
        "warnings": count(r, Verdict::Warn),
        "checks": r.checks.iter().map(check_json).collect::<Vec<_>>(),
        "findings": findings,
        "repairs": done
            .iter()
            .map(|d| json!({ "id": d.id, "ok": d.ok, "message": d.message }))
            .collect::<Vec<_>>(),
    })
}

fn print_text(r: &Inspection, paths: &ResolvedPaths, done: &[Done], fix: bool) {
    let mut lines = vec![
        "OpenClaw doctor".to_string(),
        format!("Config: {}", paths.config_path.display()),
        format!("State dir: {}", paths.state_dir.display()),
    ];
    for d in done {
        let tag = if d.ok { "Fixed" } else { "Not fixed" };
        lines.push(format!("{tag}: {}", d.message));
    }
    for c in &r.checks {
        lines.push(format!(
            "{:<5} {:<9} {}",
            c.verdict.as_str(),
            c.id,
            c.message
        ));
        if c.verdict != Verdict::Ok {
            if let Some(h) = &c.fix_hint {
                lines.push(format!("      fix: {h}"));
            }
        }
    }
    let (e, w) = (count(r, Verdict::Error), count(r, Verdict::Warn));
    let ok = r.checks.len() - e - w;
    let mut summary = format!(
        "Doctor: {} checks: {ok} ok, {w} warn, {e} error",
        r.checks.len()
    );
    if r.skipped > 0 {
        summary.push_str(&format!(
            " ({} skipped: the config is not valid)",
            r.skipped
        ));
    }
    lines.push(summary);
    let fixable = r.checks.iter().filter(|c| c.repair.is_some()).count();
    if !fix && fixable > 0 {
        lines.push(format!(
            "Run `openclaw doctor --fix` to repair {fixable} finding(s)."
        ));
    }
    super::out(&lines.join("\n"));
}

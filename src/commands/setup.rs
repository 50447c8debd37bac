//! `openclaw setup [--baseline]`: make sure a usable local config exists. A missing config
//! is created (state dir 0700, file 0600) with `gateway.mode=local` and a fresh random token;
//! an existing one only gets `gateway.mode=local` added/set (every other key kept, an existing
//! token never replaced), written atomically with an `openclaw.json.bak` copy.
//!
//! Existing files are JSON5; the rewrite is plain pretty JSON (comments are not preserved).

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine;
use rand::RngCore;
use serde_json::{json, Map, Value};

use crate::cli::{GlobalArgs, SetupArgs};
use crate::config::{self, Env, ResolvedPaths};

/// Run `openclaw setup`; the exit code.
pub fn run(global: &GlobalArgs, _args: &SetupArgs) -> i32 {
    let env = Env::from_process();
    let paths = match resolve(global, &env) {
        Ok(p) => p,
        Err(code) => return code,
    };
    match ensure_local(&paths) {
        Ok(msg) => {
            super::out(&msg);
            0
        }
        Err(e) => {
            eprintln!("openclaw setup: {e}");
            1
        }
    }
}

/// Resolve the state dir / config path as the gateway would; errors are printed.
pub(crate) fn resolve(global: &GlobalArgs, env: &Env) -> Result<ResolvedPaths, i32> {
    let args = global.load_args().map_err(|e| {
        eprintln!("{e}");
        e.exit_code()
    })?;
    config::resolve_paths(&args, env).map_err(|e| {
        eprintln!("{e}");
        e.exit_code()
    })
}

/// 32 random bytes, base64url without padding.
pub(crate) fn generate_token() -> String {
    let mut b = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// Create or update the config; the line to print.
fn ensure_local(paths: &ResolvedPaths) -> Result<String, String> {
    let path = &paths.config_path;
    match read_config(path)? {
        None => {
            let body = json!({
                "gateway": { "mode": "local", "auth": { "mode": "token", "token": generate_token() } }
            });
            create_config(paths, &body)?;
            Ok(format!("Wrote {}", path.display()))
        }
        Some(mut v) => {
            let gw = gateway_obj(&mut v, path)?;
            match gw.get("mode").and_then(Value::as_str) {
                Some("local") => Ok(format!("Config already set up: {}", path.display())),
                prev => {
                    let note = prev.map(|p| format!(" (was {p:?})")).unwrap_or_default();
                    gw.insert("mode".into(), json!("local"));
                    write_config_atomic(path, &v)?;
                    Ok(format!(
                        "Updated {}: set gateway.mode=local{note}",
                        path.display()
                    ))
                }
            }
        }
    }
}

/// The parsed config, `None` when the file does not exist.
pub(crate) fn read_config(path: &Path) -> Result<Option<Value>, String> {
    match fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        Ok(m) if !m.is_file() => {
            return Err(format!("{} is not a regular file", path.display()));
        }
        Ok(_) => {}
    }
    let text =
        fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let v = config::parse_json5(&text)
        .map_err(|e| format!("Invalid config at {}: {e}", path.display()))?;
    if !v.is_object() {
        return Err(format!(
            "Invalid config at {}: root must be an object",
            path.display()
        ));
    }
    Ok(Some(v))
}

/// `v.gateway` as a mutable object (created if missing).
pub(crate) fn gateway_obj<'v>(
    v: &'v mut Value,
    path: &Path,
) -> Result<&'v mut Map<String, Value>, String> {
    let root = v
        .as_object_mut()
        .ok_or_else(|| format!("Invalid config at {}", path.display()))?;
    root.entry("gateway")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .ok_or_else(|| {
            format!(
                "Invalid config at {}: gateway must be an object",
                path.display()
            )
        })
}

fn mkdir_private(dir: &Path) -> Result<(), String> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))
}

/// A new config file (0600) in a new-or-existing state dir (0700).
fn create_config(paths: &ResolvedPaths, body: &Value) -> Result<(), String> {
    mkdir_private(&paths.state_dir)?;
    if let Some(parent) = paths
        .config_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
    {
        mkdir_private(parent)?;
    }
    let path = &paths.config_path;
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    f.write_all(pretty(body).as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn pretty(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string());
    s.push('\n');
    s
}

/// Replace an existing config atomically (temp file + rename; a symlink's target is
/// replaced), keeping the previous contents as `<name>.bak` and the file's permissions.
pub(crate) fn write_config_atomic(path: &Path, v: &Value) -> Result<(), String> {
    let target: PathBuf = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| config::CONFIG_FILE_NAME.to_string());
    let dir = target.parent().unwrap_or(Path::new("."));
    let mode = fs::metadata(&target)
        .map(|m| m.permissions().mode() & 0o777)
        .unwrap_or(0o600);
    fs::copy(&target, dir.join(format!("{name}.bak")))
        .map_err(|e| format!("cannot back up {}: {e}", target.display()))?;
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let res = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        f.set_permissions(fs::Permissions::from_mode(mode))?;
        f.write_all(pretty(v).as_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, &target)
    })();
    res.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        format!("cannot write {}: {e}", target.display())
    })
}

//! Path resolution: profile, state dir, config path and the default rolling log file name.

use std::path::{Path, PathBuf};

use super::clock::LocalTime;
use super::env::Env;
use super::{ConfigError, LoadArgs};

/// Config file name inside the state dir.
pub const CONFIG_FILE_NAME: &str = "openclaw.json";
/// Default directory of the rolling file log (upstream: `/tmp/openclaw`).
pub const DEFAULT_LOG_DIR: &str = "/tmp/openclaw";
/// Longest encoded profile segment in a log file name before it is hashed (upstream value).
pub const MAX_LOG_PROFILE_SEGMENT_LENGTH: usize = 220;
/// Longest profile name (upstream `^[a-z0-9][a-z0-9_-]{0,63}$`, case-insensitive).
pub const MAX_PROFILE_NAME_LEN: usize = 64;

/// Result of path resolution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedPaths {
    /// Effective profile (`None` = default profile).
    pub profile: Option<String>,
    pub state_dir: PathBuf,
    pub config_path: PathBuf,
    /// Whether `OPENCLAW_STATE_DIR` / `OPENCLAW_CONFIG_PATH` were given explicitly.
    pub state_dir_from_env: bool,
    pub config_path_from_env: bool,
}

/// Upstream profile-name rule.
pub fn is_valid_profile_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_PROFILE_NAME_LEN
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-')
}

/// `None` for empty or `default` (case-insensitive), else the trimmed name.
fn normalize_profile(raw: &str) -> Option<&str> {
    let p = raw.trim();
    (!p.is_empty() && !p.eq_ignore_ascii_case("default")).then_some(p)
}

/// Home base for state dirs: `OPENCLAW_HOME`, else `HOME`, else the current directory.
pub fn home_base(env: &Env) -> Result<PathBuf, ConfigError> {
    env.openclaw_home()
        .map(|h| expand_home(&h.to_string_lossy(), env.home().as_deref()))
        .or_else(|| env.home())
        .or_else(|| std::env::current_dir().ok())
        .ok_or_else(|| {
            ConfigError::Usage(
                "Unable to resolve an OpenClaw home: set OPENCLAW_HOME, HOME, or USERPROFILE, or run from an existing directory.".into(),
            )
        })
}

/// Expand a leading `~` / `~/` with `home` (OS home, not `OPENCLAW_HOME`).
pub fn expand_home(input: &str, home: Option<&Path>) -> PathBuf {
    let t = input.trim();
    match (t.strip_prefix('~'), home) {
        (Some(""), Some(h)) => h.to_path_buf(),
        (Some(rest), Some(h)) if rest.starts_with('/') => h.join(rest.trim_start_matches('/')),
        _ => PathBuf::from(t),
    }
}

/// Resolve profile, state dir and config path.
///
/// Profile: `--profile` → `--dev` (`dev`) → `OPENCLAW_PROFILE`. State dir:
/// `OPENCLAW_STATE_DIR` → `<home>/.openclaw[-<profile>]`. Config: `OPENCLAW_CONFIG_PATH` →
/// `<state>/openclaw.json`.
pub fn resolve_paths(args: &LoadArgs, env: &Env) -> Result<ResolvedPaths, ConfigError> {
    let profile = match args.profile.as_deref().map(str::trim) {
        Some(p) if !is_valid_profile_name(p) => {
            return Err(ConfigError::Usage(
                "Invalid --profile (use letters, numbers, \"_\", \"-\" only)".into(),
            ))
        }
        Some(p) => normalize_profile(p).map(str::to_string),
        None if args.dev => Some("dev".to_string()),
        None => env
            .profile()
            .and_then(normalize_profile)
            .filter(|p| is_valid_profile_name(p))
            .map(str::to_string),
    };
    let os_home = env.home();
    let (state_dir, state_dir_from_env) = match env.state_dir() {
        Some(dir) => (expand_home(dir, os_home.as_deref()), true),
        None => {
            let base = home_base(env)?;
            let name = match &profile {
                Some(p) => format!(".openclaw-{p}"),
                None => ".openclaw".to_string(),
            };
            (base.join(name), false)
        }
    };
    let (config_path, config_path_from_env) = match env.config_path() {
        Some(p) => (expand_home(p, os_home.as_deref()), true),
        None => (state_dir.join(CONFIG_FILE_NAME), false),
    };
    Ok(ResolvedPaths {
        profile,
        state_dir,
        config_path,
        state_dir_from_env,
        config_path_from_env,
    })
}

/// Upstream's reversible encoding of a profile name into a log-file-name segment.
pub fn encode_log_profile_segment(profile: &str) -> String {
    let mut out = String::new();
    for ch in profile.chars() {
        match ch {
            'a'..='z' | '0'..='9' => out.push(ch),
            '-' => out.push_str("--"),
            '_' => out.push_str("-0"),
            'A'..='Z' => {
                out.push_str("-1");
                out.push(ch.to_ascii_lowercase());
            }
            other => out.push_str(&format!("-2{:x}-", other as u32)),
        }
    }
    if out.len() <= MAX_LOG_PROFILE_SEGMENT_LENGTH {
        out
    } else {
        use sha2::{Digest, Sha256};
        format!("-3{}", hex::encode(Sha256::digest(profile.as_bytes())))
    }
}

/// File name of the rolling log for `profile` on local date `date`:
/// `openclaw-YYYY-MM-DD.log` or `openclaw-<profile>-YYYY-MM-DD.log`.
pub fn rolling_log_file_name(profile: Option<&str>, date: &LocalTime) -> String {
    match profile.and_then(normalize_profile) {
        Some(p) => format!(
            "openclaw-{}-{}.log",
            encode_log_profile_segment(p),
            date.date_string()
        ),
        None => format!("openclaw-{}.log", date.date_string()),
    }
}

/// Default rolling log path in [`DEFAULT_LOG_DIR`].
pub fn default_log_file(profile: Option<&str>, date: &LocalTime) -> PathBuf {
    Path::new(DEFAULT_LOG_DIR).join(rolling_log_file_name(profile, date))
}

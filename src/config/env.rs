//! Environment snapshot: the only place in the crate that reads process environment variables.
//!
//! Everything else receives an [`Env`] value, so tests can inject variables without touching
//! the real process environment.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// Immutable snapshot of the process environment (UTF-8 variables only).
#[derive(Clone, Default)]
pub struct Env {
    vars: BTreeMap<String, String>,
}

impl std::fmt::Debug for Env {
    // Values may be secrets: list names only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Env")
            .field("names", &self.vars.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Env {
    /// Snapshot the current process environment. If `HOME` is unset, the passwd entry of the
    /// current user is used instead (so path resolution still works under bare supervisors).
    pub fn from_process() -> Self {
        let mut vars: BTreeMap<String, String> = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        let home_missing = match vars.get("HOME") {
            Some(h) => h.trim().is_empty(),
            None => true,
        };
        if home_missing {
            if let Some(home) = passwd_home() {
                vars.insert("HOME".to_string(), home);
            }
        }
        Env { vars }
    }

    /// Build a snapshot from explicit pairs (tests, embedding).
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Env {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// Raw lookup of any variable (used for `${VAR}` substitution and env SecretRefs).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// Lookup that treats empty / whitespace-only values as unset and trims the result.
    pub fn get_trimmed(&self, name: &str) -> Option<&str> {
        self.get(name).map(str::trim).filter(|v| !v.is_empty())
    }

    fn flag(&self, name: &str) -> bool {
        matches!(
            self.get_trimmed(name)
                .map(str::to_ascii_lowercase)
                .as_deref(),
            Some("1" | "true" | "yes" | "on")
        )
    }

    pub fn home(&self) -> Option<PathBuf> {
        self.get_trimmed("HOME").map(PathBuf::from)
    }
    pub fn openclaw_home(&self) -> Option<PathBuf> {
        self.get_trimmed("OPENCLAW_HOME").map(PathBuf::from)
    }
    pub fn state_dir(&self) -> Option<&str> {
        self.get_trimmed("OPENCLAW_STATE_DIR")
    }
    pub fn config_path(&self) -> Option<&str> {
        self.get_trimmed("OPENCLAW_CONFIG_PATH")
    }
    pub fn profile(&self) -> Option<&str> {
        self.get_trimmed("OPENCLAW_PROFILE")
    }
    pub fn gateway_port(&self) -> Option<&str> {
        self.get_trimmed("OPENCLAW_GATEWAY_PORT")
    }
    pub fn gateway_runtime(&self) -> Option<&str> {
        self.get_trimmed("OPENCLAW_GATEWAY_RUNTIME")
    }
    pub fn gateway_token(&self) -> Option<&str> {
        self.get_trimmed("OPENCLAW_GATEWAY_TOKEN")
    }
    pub fn gateway_password(&self) -> Option<&str> {
        self.get_trimmed("OPENCLAW_GATEWAY_PASSWORD")
    }
    pub fn handshake_timeout_ms(&self) -> Option<&str> {
        self.get_trimmed("OPENCLAW_HANDSHAKE_TIMEOUT_MS")
    }
    pub fn max_preauth_per_ip(&self) -> Option<&str> {
        self.get_trimmed("OPENCLAW_MAX_PREAUTH_CONNECTIONS_PER_IP")
    }
    pub fn log_level(&self) -> Option<&str> {
        self.get_trimmed("OPENCLAW_LOG_LEVEL")
    }
    pub fn allow_multi_gateway(&self) -> bool {
        self.flag("OPENCLAW_ALLOW_MULTI_GATEWAY")
    }
    /// `OPENCLAW_SUPERVISOR_MODE=external`.
    pub fn supervisor_external(&self) -> bool {
        self.get_trimmed("OPENCLAW_SUPERVISOR_MODE")
            .is_some_and(|v| v.eq_ignore_ascii_case("external"))
    }
    /// `OPENCLAW_SERVICE_REPAIR_POLICY=external`.
    pub fn service_repair_external(&self) -> bool {
        self.get_trimmed("OPENCLAW_SERVICE_REPAIR_POLICY")
            .is_some_and(|v| v.eq_ignore_ascii_case("external"))
    }
    /// Running under systemd (`INVOCATION_ID` or `JOURNAL_STREAM` present).
    pub fn is_systemd(&self) -> bool {
        self.get_trimmed("INVOCATION_ID").is_some() || self.get_trimmed("JOURNAL_STREAM").is_some()
    }
    /// `NO_COLOR` set to any non-empty value (https://no-color.org).
    pub fn no_color(&self) -> bool {
        self.get("NO_COLOR").is_some_and(|v| !v.is_empty())
    }
    /// `FORCE_COLOR` set and not `0`/`false`.
    pub fn force_color(&self) -> bool {
        self.get_trimmed("FORCE_COLOR")
            .is_some_and(|v| v != "0" && !v.eq_ignore_ascii_case("false"))
    }
}

fn passwd_home() -> Option<String> {
    // SAFETY: getpwuid_r with a caller-owned buffer; we only read the returned entry while
    // the buffer is alive.
    unsafe {
        let mut pwd: libc::passwd = std::mem::zeroed();
        let mut buf = vec![0 as libc::c_char; 4096];
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = libc::getpwuid_r(
            libc::geteuid(),
            &mut pwd,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        );
        if rc != 0 || result.is_null() || pwd.pw_dir.is_null() {
            return None;
        }
        let dir = std::ffi::CStr::from_ptr(pwd.pw_dir).to_str().ok()?;
        (!dir.is_empty()).then(|| dir.to_string())
    }
}

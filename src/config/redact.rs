//! Secret redaction of the parsed config tree (for `config.get` and diagnostics).

use serde_json::{Map, Value};

/// Replacement for redacted values (upstream sentinel).
pub const REDACTED_SENTINEL: &str = "__OPENCLAW_REDACTED__";

/// Keys whose string values are always secrets.
const SECRET_KEYS: &[&str] = &["token", "password", "apikey", "secret"];
/// camelCase suffixes marking secret keys (`botToken`, `clientSecret`, `appPassword`, `openaiApiKey`).
const SECRET_SUFFIXES: &[&str] = &["Token", "Secret", "Password", "ApiKey"];

fn is_secret_key(key: &str) -> bool {
    SECRET_KEYS.contains(&key.to_ascii_lowercase().as_str())
        || SECRET_SUFFIXES
            .iter()
            .any(|s| key.len() > s.len() && key.ends_with(s))
}

/// Copy of `v` with secret-keyed strings and any string equal to one of `secrets` replaced by
/// [`REDACTED_SENTINEL`]. Objects under secret keys (e.g. SecretRefs) are walked, not hidden.
pub fn redact_value(v: &Value, secrets: &[&str]) -> Value {
    walk(v, false, secrets)
}

fn walk(v: &Value, secret_key: bool, secrets: &[&str]) -> Value {
    match v {
        Value::String(s) => {
            if (secret_key && !s.is_empty()) || secrets.iter().any(|x| !x.is_empty() && s == x) {
                Value::String(REDACTED_SENTINEL.to_string())
            } else {
                v.clone()
            }
        }
        Value::Number(_) if secret_key => Value::String(REDACTED_SENTINEL.to_string()),
        Value::Array(items) => {
            Value::Array(items.iter().map(|i| walk(i, secret_key, secrets)).collect())
        }
        Value::Object(map) => {
            let mut out = Map::with_capacity(map.len());
            for (k, child) in map {
                out.insert(k.clone(), walk(child, is_secret_key(k), secrets));
            }
            Value::Object(out)
        }
        _ => v.clone(),
    }
}

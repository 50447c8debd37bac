//! Config file I/O: read (missing ⇒ empty), JSON5 parse into `serde_json::Value`, upstream-exact
//! `${VAR}` substitution (`$${VAR}` escapes) and the content hash.

use std::io::Read;
use std::path::Path;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::env::Env;
use super::limits::MAX_CONFIG_FILE_BYTES;
use super::ConfigError;

/// Raw file contents plus whether the file existed.
pub struct RawFile {
    pub exists: bool,
    pub text: String,
}

/// Read the config file. A missing file is not an error (`exists=false`, empty text); the
/// path must otherwise be a regular file no larger than [`MAX_CONFIG_FILE_BYTES`].
pub fn read_config_file(path: &Path) -> Result<RawFile, ConfigError> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(RawFile {
                exists: false,
                text: String::new(),
            })
        }
        Err(source) => {
            return Err(ConfigError::Io {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    if !meta.is_file() {
        return Err(ConfigError::invalid(
            path,
            "config path is not a regular file",
        ));
    }
    if meta.len() > MAX_CONFIG_FILE_BYTES {
        return Err(ConfigError::invalid(
            path,
            format!("config file is larger than {MAX_CONFIG_FILE_BYTES} bytes"),
        ));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_CONFIG_FILE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    let text = String::from_utf8(bytes)
        .map_err(|_| ConfigError::invalid(path, "config file is not valid UTF-8"))?;
    Ok(RawFile { exists: true, text })
}

/// `sha256:<hex>` of the raw file bytes (`""` for a missing file).
pub fn raw_sha256(raw: &str) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(raw.as_bytes())))
}

/// Parse JSON5 text (comments, trailing commas, unquoted keys). Empty/whitespace ⇒ `{}`.
/// Errors carry the parser's message and position, as a single line.
pub fn parse_json5(text: &str) -> Result<Value, String> {
    let body = text.strip_prefix('\u{feff}').unwrap_or(text);
    if body.trim().is_empty() {
        return Ok(Value::Object(Default::default()));
    }
    json5::from_str::<Value>(body).map_err(|e| {
        let json5::Error::Message { msg, location } = &e;
        // pest messages are multi-line ("--> l:c / | / = expected …"); keep the useful line.
        let detail = msg
            .lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix("= "))
            .unwrap_or_else(|| msg.lines().next().unwrap_or("parse error"))
            .to_string();
        match location {
            Some(loc) => format!(
                "JSON5 parse error at line {}, column {}: {detail}",
                loc.line, loc.column
            ),
            None => format!("JSON5 parse error: {detail}"),
        }
    })
}

fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_uppercase() || c == '_')
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

enum Token<'a> {
    Escaped(&'a str, usize),
    Subst(&'a str, usize),
}

/// Parse an env token starting at byte `i` (which holds `$`). Returns the name and the byte
/// index of the closing `}`.
fn parse_token_at(s: &str, i: usize) -> Option<Token<'_>> {
    let rest = &s[i..];
    let (escaped, start) = if rest.starts_with("$${") {
        (true, i + 3)
    } else if rest.starts_with("${") {
        (false, i + 2)
    } else {
        return None;
    };
    let end = start + s[start..].find('}')?;
    let name = &s[start..end];
    if !is_env_name(name) {
        // Upstream: not a token; the caller emits `$` and rescans from the next byte.
        return None;
    }
    Some(if escaped {
        Token::Escaped(name, end)
    } else {
        Token::Subst(name, end)
    })
}

/// Substitute one string. Missing or empty variables stay literal and add a warning.
pub fn substitute_string(value: &str, env: &Env, path: &str, warnings: &mut Vec<String>) -> String {
    if !value.contains('$') {
        return value.to_string();
    }
    let mut out = String::with_capacity(value.len());
    let mut i = 0;
    while i < value.len() {
        let ch = value[i..].chars().next().unwrap_or('\0');
        if ch != '$' {
            out.push(ch);
            i += ch.len_utf8();
            continue;
        }
        match parse_token_at(value, i) {
            Some(Token::Escaped(name, end)) => {
                out.push_str("${");
                out.push_str(name);
                out.push('}');
                i = end + 1;
            }
            Some(Token::Subst(name, end)) => {
                match env.get(name).filter(|v| !v.is_empty()) {
                    Some(v) => out.push_str(v),
                    None => {
                        warnings.push(format!(
                            "Missing env var \"{name}\" referenced at config path: {path}"
                        ));
                        out.push_str("${");
                        out.push_str(name);
                        out.push('}');
                    }
                }
                i = end + 1;
            }
            None => {
                out.push('$');
                i += 1;
            }
        }
    }
    out
}

/// Recursively substitute `${VAR}` in every string value (keys are left alone).
pub fn substitute_env(value: &mut Value, env: &Env, path: &str, warnings: &mut Vec<String>) {
    match value {
        Value::String(s) if s.contains('$') => {
            *s = substitute_string(s, env, path, warnings);
        }
        Value::Array(items) => {
            for (idx, item) in items.iter_mut().enumerate() {
                substitute_env(item, env, &format!("{path}[{idx}]"), warnings);
            }
        }
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                let child_path = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                substitute_env(child, env, &child_path, warnings);
            }
        }
        _ => {}
    }
}

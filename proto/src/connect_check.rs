//! Structural check of raw `connect` params (required keys, extra keys, JSON types, enums) with JSON-pointer paths.

use serde_json::{Map, Value};

use crate::connect::{CLIENT_IDS, CLIENT_MODES};

/// Expected JSON type of one property.
enum Ty {
    Str,
    Int,
    StrArray,
    BoolMap,
    Any,
    /// Any JSON value that must equal one of the listed strings.
    Enum(&'static [&'static str]),
    Obj(&'static Shape),
}

/// An object with `additionalProperties: false`.
struct Shape {
    required: &'static [&'static str],
    props: &'static [(&'static str, Ty)],
}

static CLIENT: Shape = Shape {
    required: &["id", "version", "platform", "mode"],
    props: &[
        ("id", Ty::Enum(&CLIENT_IDS)),
        ("displayName", Ty::Str),
        ("version", Ty::Str),
        ("buildId", Ty::Str),
        ("platform", Ty::Str),
        ("deviceFamily", Ty::Str),
        ("modelIdentifier", Ty::Str),
        ("timeZone", Ty::Str),
        ("mode", Ty::Enum(&CLIENT_MODES)),
        ("instanceId", Ty::Str),
    ],
};

/// Only types are checked here; `bundleHash` pattern and item limits are left to the
/// worker route, which is outside the core gateway.
static WORKER_RUNS: Shape = Shape {
    required: &["bundleHash", "openclawVersion", "protocolFeatures"],
    props: &[
        ("bundleHash", Ty::Str),
        ("openclawVersion", Ty::Str),
        ("protocolFeatures", Ty::StrArray),
        ("bundlePrewarm", Ty::Int),
    ],
};

static DEVICE: Shape = Shape {
    required: &["id", "publicKey", "signature", "signedAt", "nonce"],
    props: &[
        ("id", Ty::Str),
        ("publicKey", Ty::Str),
        ("signature", Ty::Str),
        ("signedAt", Ty::Int),
        ("nonce", Ty::Str),
    ],
};

static AUTH: Shape = Shape {
    required: &[],
    props: &[
        ("token", Ty::Str),
        ("bootstrapToken", Ty::Str),
        ("deviceToken", Ty::Str),
        ("password", Ty::Str),
        ("approvalRuntimeToken", Ty::Str),
        ("agentRuntimeIdentityToken", Ty::Str),
    ],
};

static ROOT: Shape = Shape {
    required: &["minProtocol", "maxProtocol", "client"],
    props: &[
        ("minProtocol", Ty::Int),
        ("maxProtocol", Ty::Int),
        ("client", Ty::Obj(&CLIENT)),
        ("caps", Ty::StrArray),
        ("commands", Ty::StrArray),
        ("computerUse", Ty::Any),
        ("workerRuns", Ty::Obj(&WORKER_RUNS)),
        ("permissions", Ty::BoolMap),
        ("pathEnv", Ty::Str),
        ("role", Ty::Str),
        ("scopes", Ty::StrArray),
        ("device", Ty::Obj(&DEVICE)),
        ("auth", Ty::Obj(&AUTH)),
        ("locale", Ty::Str),
        ("userAgent", Ty::Str),
    ],
};

/// Formats a violation: `at <pointer>: <msg>`, or the bare message at the root.
pub(crate) fn fail(path: &str, msg: &str) -> String {
    if path.is_empty() {
        msg.to_owned()
    } else {
        format!("at {path}: {msg}")
    }
}

/// Checks `value` (already known to be an object) against the `ConnectParams` structure.
pub(crate) fn check_shape(value: &Value) -> Result<(), String> {
    check_obj(value, &ROOT, "")
}

fn check_obj(value: &Value, shape: &Shape, path: &str) -> Result<(), String> {
    let map = value
        .as_object()
        .ok_or_else(|| fail(path, "must be object"))?;
    for key in shape.required {
        if !map.contains_key(*key) {
            return Err(fail(path, &format!("must have required property '{key}'")));
        }
    }
    for key in map.keys() {
        if !shape.props.iter().any(|(name, _)| name == key) {
            let at = if path.is_empty() { "root" } else { path };
            return Err(format!("at {at}: unexpected property '{key}'"));
        }
    }
    for (name, ty) in shape.props {
        if let Some(v) = map.get(*name) {
            check_value(v, ty, &child(path, name))?;
        }
    }
    Ok(())
}

fn check_value(v: &Value, ty: &Ty, path: &str) -> Result<(), String> {
    match ty {
        Ty::Any => Ok(()),
        Ty::Str => expect(v.is_string(), path, "must be string"),
        Ty::Int => expect(v.is_i64() || v.is_u64(), path, "must be integer"),
        Ty::Enum(allowed) => expect(
            v.as_str().is_some_and(|s| allowed.contains(&s)),
            path,
            "must be equal to one of the allowed values",
        ),
        Ty::StrArray => {
            let items = v.as_array().ok_or_else(|| fail(path, "must be array"))?;
            for (i, item) in items.iter().enumerate() {
                expect(item.is_string(), &format!("{path}/{i}"), "must be string")?;
            }
            Ok(())
        }
        Ty::BoolMap => {
            let map: &Map<String, Value> =
                v.as_object().ok_or_else(|| fail(path, "must be object"))?;
            for (k, item) in map {
                expect(item.is_boolean(), &child(path, k), "must be boolean")?;
            }
            Ok(())
        }
        Ty::Obj(shape) => check_obj(v, shape, path),
    }
}

fn expect(ok: bool, path: &str, msg: &str) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(fail(path, msg))
    }
}

/// Appends one JSON-pointer segment (`~` → `~0`, `/` → `~1`).
fn child(path: &str, key: &str) -> String {
    let mut out = String::with_capacity(path.len() + key.len() + 1);
    out.push_str(path);
    out.push('/');
    for c in key.chars() {
        match c {
            '~' => out.push_str("~0"),
            '/' => out.push_str("~1"),
            c => out.push(c),
        }
    }
    out
}

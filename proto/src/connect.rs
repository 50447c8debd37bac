//! Typed `connect` params, protocol-version constants, and schema validation with readable details.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::connect_check::{check_shape, fail};

/// Protocol version this server speaks.
pub const PROTOCOL_VERSION: u32 = 4;
/// Lowest protocol version accepted from operator/UI clients.
pub const MIN_CLIENT_PROTOCOL_VERSION: u32 = 4;
/// Lowest protocol version accepted from nodes (`role:"node"` and `client.mode:"node"`).
pub const MIN_NODE_PROTOCOL_VERSION: u32 = 3;
/// Lowest protocol version accepted from lightweight restart probes.
pub const MIN_PROBE_PROTOCOL_VERSION: u32 = 3;
/// Smallest legal `minProtocol`/`maxProtocol` value.
pub const MIN_PROTOCOL_FIELD_VALUE: i64 = 1;

/// Longest accepted `client.buildId` (characters).
pub const MAX_BUILD_ID_LEN: usize = 96;
/// Longest accepted `client.timeZone` (characters).
pub const MAX_TIME_ZONE_LEN: usize = 64;

/// Role assumed when `connect.role` is absent.
pub const DEFAULT_ROLE: &str = "operator";

/// Allowed `client.id` values (schema enum).
pub const CLIENT_IDS: [&str; 17] = [
    "webchat-ui",
    "openclaw-control-ui",
    "openclaw-browser-copilot",
    "openclaw-tui",
    "webchat",
    "cli",
    "gateway-client",
    "openclaw-macos",
    "openclaw-linux",
    "openclaw-ios",
    "openclaw-watchos",
    "openclaw-android",
    "node-host",
    "openclaw-worker",
    "test",
    "fingerprint",
    "openclaw-probe",
];

/// Allowed `client.mode` values (schema enum).
pub const CLIENT_MODES: [&str; 8] = [
    "webchat", "cli", "ui", "backend", "node", "worker", "probe", "test",
];

/// Detail for absent or non-object connect params (observed wire text).
pub const MUST_BE_OBJECT: &str = "must be object";

/// `connect` request params.
#[derive(Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ConnectParams {
    /// Lowest protocol version the client speaks (≥ 1).
    pub min_protocol: i64,
    /// Highest protocol version the client speaks (≥ 1).
    pub max_protocol: i64,
    /// Client identity.
    pub client: ConnectClient,
    /// Advertised capabilities (never authority). Defaults to `[]`.
    #[serde(default)]
    pub caps: Vec<String>,
    /// Node command allowlist claim.
    pub commands: Option<Vec<String>>,
    /// Opaque computer-use descriptor (any JSON; `null` reads as absent).
    pub computer_use: Option<Value>,
    /// Worker-run descriptor (closed worker route; kept as JSON, shape-checked only).
    pub worker_runs: Option<Value>,
    /// Node permission toggles, e.g. `{"camera.capture":true}`.
    pub permissions: Option<BTreeMap<String, bool>>,
    /// Node `PATH` environment.
    pub path_env: Option<String>,
    /// `operator` (default), `node`, or `worker`.
    pub role: Option<String>,
    /// Requested operator scopes, in the order sent.
    pub scopes: Option<Vec<String>>,
    /// Signed device identity block.
    pub device: Option<ConnectDevice>,
    /// Credentials.
    pub auth: Option<ConnectAuth>,
    /// Client locale.
    pub locale: Option<String>,
    /// Client user agent.
    pub user_agent: Option<String>,
}

/// `connect.client`.
#[derive(Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ConnectClient {
    /// One of [`CLIENT_IDS`] (checked by [`ConnectParams::validate`]).
    pub id: String,
    /// Display name.
    pub display_name: Option<String>,
    /// Client version.
    pub version: String,
    /// Build id (≤ 96 chars).
    pub build_id: Option<String>,
    /// Platform string (signed into v3 device payloads).
    pub platform: String,
    /// Device family (signed into v3 device payloads).
    pub device_family: Option<String>,
    /// Model identifier.
    pub model_identifier: Option<String>,
    /// IANA time zone (≤ 64 chars).
    pub time_zone: Option<String>,
    /// One of [`CLIENT_MODES`] (checked by [`ConnectParams::validate`]).
    pub mode: String,
    /// Per-install instance id (presence key).
    pub instance_id: Option<String>,
}

/// `connect.device`: the signed device identity.
#[derive(Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ConnectDevice {
    /// Lowercase hex SHA-256 of the raw public key.
    pub id: String,
    /// base64url raw Ed25519 public key (or PEM SPKI).
    pub public_key: String,
    /// base64url Ed25519 signature over the v3/v2 payload.
    pub signature: String,
    /// Signing time in ms (the challenge `ts`), ≥ 0.
    pub signed_at: i64,
    /// Echo of the challenge nonce.
    pub nonce: String,
}

/// `connect.auth`: credentials (all optional).
#[derive(Deserialize, Debug, Clone, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ConnectAuth {
    /// Shared gateway token, or a device token.
    pub token: Option<String>,
    /// Single-use bootstrap (setup-code) token.
    pub bootstrap_token: Option<String>,
    /// Device token.
    pub device_token: Option<String>,
    /// Shared gateway password.
    pub password: Option<String>,
    /// Approval runtime token.
    pub approval_runtime_token: Option<String>,
    /// Agent runtime identity token.
    pub agent_runtime_identity_token: Option<String>,
}

impl ConnectParams {
    /// `role`, or [`DEFAULT_ROLE`] when absent.
    pub fn role_or_default(&self) -> &str {
        self.role.as_deref().unwrap_or(DEFAULT_ROLE)
    }

    /// Requested scopes (empty when absent).
    pub fn scopes_or_empty(&self) -> &[String] {
        self.scopes.as_deref().unwrap_or(&[])
    }

    /// True when `version` lies in `[minProtocol, maxProtocol]`.
    pub fn accepts_protocol(&self, version: u32) -> bool {
        let v = i64::from(version);
        self.min_protocol <= v && v <= self.max_protocol
    }

    /// Checks the value constraints serde cannot express: enums (`client.id`, `client.mode`),
    /// minimums (protocol ≥ 1, `signedAt` ≥ 0) and string lengths. Returns the first violation
    /// as a validator-style detail, e.g. `at /client/id: must be equal to one of the allowed
    /// values`.
    pub fn validate(&self) -> Result<(), String> {
        min_int("/minProtocol", self.min_protocol, MIN_PROTOCOL_FIELD_VALUE)?;
        min_int("/maxProtocol", self.max_protocol, MIN_PROTOCOL_FIELD_VALUE)?;
        let c = &self.client;
        one_of("/client/id", &c.id, &CLIENT_IDS)?;
        opt_len("/client/displayName", c.display_name.as_deref(), None)?;
        len("/client/version", &c.version, None)?;
        opt_len(
            "/client/buildId",
            c.build_id.as_deref(),
            Some(MAX_BUILD_ID_LEN),
        )?;
        len("/client/platform", &c.platform, None)?;
        opt_len("/client/deviceFamily", c.device_family.as_deref(), None)?;
        opt_len(
            "/client/modelIdentifier",
            c.model_identifier.as_deref(),
            None,
        )?;
        opt_len(
            "/client/timeZone",
            c.time_zone.as_deref(),
            Some(MAX_TIME_ZONE_LEN),
        )?;
        one_of("/client/mode", &c.mode, &CLIENT_MODES)?;
        opt_len("/client/instanceId", c.instance_id.as_deref(), None)?;
        items_len("/caps", &self.caps)?;
        if let Some(commands) = &self.commands {
            items_len("/commands", commands)?;
        }
        opt_len("/role", self.role.as_deref(), None)?;
        if let Some(scopes) = &self.scopes {
            items_len("/scopes", scopes)?;
        }
        if let Some(d) = &self.device {
            len("/device/id", &d.id, None)?;
            len("/device/publicKey", &d.public_key, None)?;
            len("/device/signature", &d.signature, None)?;
            min_int("/device/signedAt", d.signed_at, 0)?;
            len("/device/nonce", &d.nonce, None)?;
        }
        Ok(())
    }
}

fn min_int(path: &str, v: i64, min: i64) -> Result<(), String> {
    if v < min {
        return Err(fail(path, &format!("must be >= {min}")));
    }
    Ok(())
}

fn one_of(path: &str, v: &str, allowed: &[&str]) -> Result<(), String> {
    if !allowed.contains(&v) {
        return Err(fail(path, "must be equal to one of the allowed values"));
    }
    Ok(())
}

/// `minLength: 1` plus an optional `maxLength`, counted in code points as the validator does.
fn len(path: &str, v: &str, max: Option<usize>) -> Result<(), String> {
    if v.is_empty() {
        return Err(fail(path, "must NOT have fewer than 1 characters"));
    }
    if let Some(max) = max {
        if v.chars().count() > max {
            return Err(fail(
                path,
                &format!("must NOT have more than {max} characters"),
            ));
        }
    }
    Ok(())
}

fn opt_len(path: &str, v: Option<&str>, max: Option<usize>) -> Result<(), String> {
    v.map_or(Ok(()), |v| len(path, v, max))
}

fn items_len(path: &str, items: &[String]) -> Result<(), String> {
    for (i, item) in items.iter().enumerate() {
        len(&format!("{path}/{i}"), item, None)?;
    }
    Ok(())
}

/// Parses and validates raw `connect` params (the request's `params` JSON text).
///
/// Absent or non-object params → `Err("must be object")`. Otherwise the first schema
/// violation as a validator-style detail (`must have required property 'client'`,
/// `at root: unexpected property 'x'`, `at /client/id: must be equal to one of the allowed
/// values`, …). The gateway prefixes it with `invalid connect params: `.
pub fn parse_connect_params(raw: Option<&str>) -> Result<ConnectParams, String> {
    let raw = raw.ok_or_else(|| MUST_BE_OBJECT.to_owned())?;
    let value: Value = serde_json::from_str(raw).map_err(|_| MUST_BE_OBJECT.to_owned())?;
    if !value.is_object() {
        return Err(MUST_BE_OBJECT.to_owned());
    }
    check_shape(&value)?;
    let params: ConnectParams =
        serde_json::from_value(value).map_err(|e| short_serde_detail(&e.to_string()))?;
    params.validate()?;
    Ok(params)
}

/// Trims serde's position suffix; only reached for inputs the shape check let through
/// (e.g. integers beyond `i64`).
fn short_serde_detail(msg: &str) -> String {
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OBSERVED: &str = r#"{"minProtocol":4,"maxProtocol":4,
 "client":{"id":"cli","version":"probe-0.1","platform":"linux","mode":"cli"},"role":"operator",
 "scopes":["operator.admin","operator.read","operator.write","operator.approvals","operator.pairing","operator.questions","operator.talk","operator.talk.secrets"],
 "caps":[],"auth":{"token":"peer-token"},"locale":"en-US","userAgent":"openclaw-probe-py/0.1",
 "device":{"id":"4bfc8aca3227","publicKey":"EteHmK7FbuMkWO9JhB8uvZikB7fs91yzaA4in4oD1pw","signature":"tTnuWMt-zBkoAw","signedAt":1795373621469,"nonce":"74959d7e-3bcf-4a5b-9bf5-02c3e9c73cfb"}}"#;

    fn err(raw: &str) -> String {
        parse_connect_params(Some(raw)).unwrap_err()
    }

    fn patch(f: impl FnOnce(&mut Value)) -> String {
        let mut v: Value = serde_json::from_str(OBSERVED).unwrap();
        f(&mut v);
        v.to_string()
    }

    #[test]
    fn observed_connect_parses() {
        let p = parse_connect_params(Some(OBSERVED)).unwrap();
        assert_eq!(p.min_protocol, 4);
        assert!(p.accepts_protocol(PROTOCOL_VERSION));
        assert!(!p.accepts_protocol(3));
        assert_eq!(p.client.id, "cli");
        assert_eq!(p.client.mode, "cli");
        assert_eq!(p.role_or_default(), "operator");
        assert_eq!(p.scopes_or_empty().len(), 8);
        assert_eq!(
            p.auth.as_ref().unwrap().token.as_deref(),
            Some("peer-token")
        );
        let d = p.device.unwrap();
        assert_eq!(d.signed_at, 1795373621469);
        assert_eq!(d.nonce, "74959d7e-3bcf-4a5b-9bf5-02c3e9c73cfb");
    }

    #[test]
    fn minimal_and_defaults() {
        let p = parse_connect_params(Some(
            r#"{"minProtocol":3,"maxProtocol":4,"client":{"id":"node-host","version":"1","platform":"p","mode":"node"},"permissions":{"camera.capture":true},"computerUse":{"x":[1]}}"#,
        ))
        .unwrap();
        assert!(p.caps.is_empty());
        assert_eq!(p.role_or_default(), DEFAULT_ROLE);
        assert!(p.scopes_or_empty().is_empty());
        assert!(p.permissions.unwrap()["camera.capture"]);
        assert!(p.computer_use.is_some());
    }

    #[test]
    fn must_be_object() {
        assert_eq!(parse_connect_params(None).unwrap_err(), "must be object");
        for raw in ["null", "[]", "1", "\"x\"", "not json"] {
            assert_eq!(err(raw), "must be object", "{raw}");
        }
    }

    #[test]
    fn shape_errors() {
        assert_eq!(err("{}"), "must have required property 'minProtocol'");
        assert_eq!(
            err(&patch(|v| {
                v.as_object_mut().unwrap().remove("client");
            })),
            "must have required property 'client'"
        );
        assert_eq!(
            err(&patch(|v| v["bogus"] = 1.into())),
            "at root: unexpected property 'bogus'"
        );
        assert_eq!(
            err(&patch(|v| v["client"]["extra"] = 1.into())),
            "at /client: unexpected property 'extra'"
        );
        assert_eq!(
            err(&patch(|v| v["minProtocol"] = "4".into())),
            "at /minProtocol: must be integer"
        );
        assert_eq!(
            err(&patch(|v| v["minProtocol"] = 4.5.into())),
            "at /minProtocol: must be integer"
        );
        assert_eq!(
            err(&patch(|v| v["scopes"] = serde_json::json!(["a", 2]))),
            "at /scopes/1: must be string"
        );
        assert_eq!(
            err(&patch(|v| v["permissions"] = serde_json::json!({"a/b~": 1}))),
            "at /permissions/a~1b~0: must be boolean"
        );
        assert_eq!(
            err(&patch(|v| {
                v["device"].as_object_mut().unwrap().remove("nonce");
            })),
            "at /device: must have required property 'nonce'"
        );
        assert_eq!(
            err(&patch(|v| v["auth"]["cookie"] = "c".into())),
            "at /auth: unexpected property 'cookie'"
        );
        assert_eq!(
            err(&patch(|v| v["auth"]["token"] = serde_json::Value::Null)),
            "at /auth/token: must be string"
        );
        assert_eq!(
            err(&patch(|v| v["workerRuns"] = 1.into())),
            "at /workerRuns: must be object"
        );
    }

    #[test]
    fn value_errors() {
        assert_eq!(
            err(&patch(|v| v["client"]["id"] = "bogus".into())),
            "at /client/id: must be equal to one of the allowed values"
        );
        assert_eq!(
            err(&patch(|v| v["client"]["id"] = 5.into())),
            "at /client/id: must be equal to one of the allowed values"
        );
        assert_eq!(
            err(&patch(|v| v["client"]["mode"] = "operator".into())),
            "at /client/mode: must be equal to one of the allowed values"
        );
        assert_eq!(
            err(&patch(|v| v["maxProtocol"] = 0.into())),
            "at /maxProtocol: must be >= 1"
        );
        assert_eq!(
            err(&patch(|v| v["device"]["signedAt"] = (-1).into())),
            "at /device/signedAt: must be >= 0"
        );
        assert_eq!(
            err(&patch(|v| v["client"]["version"] = "".into())),
            "at /client/version: must NOT have fewer than 1 characters"
        );
        assert_eq!(
            err(&patch(|v| v["client"]["buildId"] = "b".repeat(97).into())),
            "at /client/buildId: must NOT have more than 96 characters"
        );
        assert_eq!(
            err(&patch(|v| v["caps"] = serde_json::json!([""]))),
            "at /caps/0: must NOT have fewer than 1 characters"
        );
        // protocol 99 is schema-valid; the mismatch is the gateway's call.
        let p = parse_connect_params(Some(&patch(|v| {
            v["minProtocol"] = 99.into();
            v["maxProtocol"] = 99.into();
        })))
        .unwrap();
        assert!(!p.accepts_protocol(PROTOCOL_VERSION));
    }

    #[test]
    fn enums_match_schema_sizes() {
        assert_eq!(CLIENT_IDS.len(), 17);
        assert_eq!(CLIENT_MODES.len(), 8);
    }
}

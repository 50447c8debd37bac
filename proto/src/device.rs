//! Device-auth payload strings (v3, v2) that a device signs at connect, byte-exact.

use crate::connect::{ConnectAuth, ConnectParams};

/// Allowed distance between `device.signedAt` and the server clock, in ms (either direction).
pub const DEVICE_SIGNATURE_SKEW_MS: u64 = 120_000;

/// Field separator of the payload strings.
const SEP: char = '|';
/// Separator of the scope list inside the payload strings.
const SCOPE_SEP: &str = ",";

/// The inputs of a device-auth payload, borrowed from a `connect` request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceAuthFields<'a> {
    /// `device.id`.
    pub device_id: &'a str,
    /// `client.id`.
    pub client_id: &'a str,
    /// `client.mode`.
    pub client_mode: &'a str,
    /// Effective role (`operator` when absent).
    pub role: &'a str,
    /// Requested scopes, in the order sent.
    pub scopes: &'a [String],
    /// `device.signedAt`.
    pub signed_at_ms: i64,
    /// [`signature_token`] of `auth`.
    pub token: &'a str,
    /// `device.nonce`.
    pub nonce: &'a str,
    /// `client.platform` (v3 only).
    pub platform: Option<&'a str>,
    /// `client.deviceFamily` (v3 only).
    pub device_family: Option<&'a str>,
}

impl<'a> DeviceAuthFields<'a> {
    /// Collects the fields from connect params; `None` when there is no `device` block.
    pub fn from_connect(params: &'a ConnectParams) -> Option<Self> {
        let device = params.device.as_ref()?;
        Some(DeviceAuthFields {
            device_id: &device.id,
            client_id: &params.client.id,
            client_mode: &params.client.mode,
            role: params.role_or_default(),
            scopes: params.scopes_or_empty(),
            signed_at_ms: device.signed_at,
            token: signature_token(params.auth.as_ref()),
            nonce: &device.nonce,
            platform: Some(&params.client.platform),
            device_family: params.client.device_family.as_deref(),
        })
    }

    /// The v3 payload (preferred).
    pub fn payload_v3(&self) -> String {
        let mut out = self.payload_common("v3");
        out.push(SEP);
        out.push_str(&normalize_metadata(self.platform));
        out.push(SEP);
        out.push_str(&normalize_metadata(self.device_family));
        out
    }

    /// The v2 payload (legacy, still accepted).
    pub fn payload_v2(&self) -> String {
        self.payload_common("v2")
    }

    fn payload_common(&self, version: &str) -> String {
        let parts = [
            version,
            self.device_id,
            self.client_id,
            self.client_mode,
            self.role,
            &self.scopes.join(SCOPE_SEP),
            &self.signed_at_ms.to_string(),
            self.token,
            self.nonce,
        ];
        let mut out = String::with_capacity(parts.iter().map(|p| p.len() + 1).sum::<usize>() + 64);
        for (i, part) in parts.iter().enumerate() {
            if i > 0 {
                out.push(SEP);
            }
            out.push_str(part);
        }
        out
    }
}

/// `v3|{deviceId}|{clientId}|{mode}|{role}|{scopes,}|{signedAt}|{token}|{nonce}|{platform}|{deviceFamily}`
/// where platform/deviceFamily are trimmed and ASCII-lowercased, missing → empty.
#[allow(clippy::too_many_arguments)]
pub fn payload_v3(
    device_id: &str,
    client_id: &str,
    client_mode: &str,
    role: &str,
    scopes: &[String],
    signed_at_ms: i64,
    token: &str,
    nonce: &str,
    platform: Option<&str>,
    device_family: Option<&str>,
) -> String {
    DeviceAuthFields {
        device_id,
        client_id,
        client_mode,
        role,
        scopes,
        signed_at_ms,
        token,
        nonce,
        platform,
        device_family,
    }
    .payload_v3()
}

/// `v2|{deviceId}|{clientId}|{mode}|{role}|{scopes,}|{signedAt}|{token}|{nonce}`.
#[allow(clippy::too_many_arguments)]
pub fn payload_v2(
    device_id: &str,
    client_id: &str,
    client_mode: &str,
    role: &str,
    scopes: &[String],
    signed_at_ms: i64,
    token: &str,
    nonce: &str,
) -> String {
    DeviceAuthFields {
        device_id,
        client_id,
        client_mode,
        role,
        scopes,
        signed_at_ms,
        token,
        nonce,
        platform: None,
        device_family: None,
    }
    .payload_v2()
}

/// The token bound into the signature: `auth.token ?? auth.deviceToken ?? auth.bootstrapToken ?? ""`
/// (an empty-but-present string counts as present).
pub fn signature_token(auth: Option<&ConnectAuth>) -> &str {
    auth.and_then(|a| {
        a.token
            .as_deref()
            .or(a.device_token.as_deref())
            .or(a.bootstrap_token.as_deref())
    })
    .unwrap_or("")
}

/// True when `signed_at_ms` is within [`DEVICE_SIGNATURE_SKEW_MS`] of `now_ms`.
pub fn signed_at_fresh(signed_at_ms: i64, now_ms: i64) -> bool {
    signed_at_ms.abs_diff(now_ms) <= DEVICE_SIGNATURE_SKEW_MS
}

/// Trim (JavaScript `String.prototype.trim` whitespace set) then lowercase ASCII `A-Z` only.
fn normalize_metadata(value: Option<&str>) -> String {
    value
        .map(|v| v.trim_matches(is_js_whitespace).to_ascii_lowercase())
        .unwrap_or_default()
}

/// ECMAScript WhiteSpace + LineTerminator (differs from Rust's `char::is_whitespace`:
/// includes U+FEFF, excludes U+0085).
fn is_js_whitespace(c: char) -> bool {
    matches!(
        c,
        '\u{9}' | '\u{A}' | '\u{B}' | '\u{C}' | '\u{D}' | ' ' | '\u{A0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200A}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202F}'
                | '\u{205F}'
                | '\u{3000}'
                | '\u{FEFF}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connect::parse_connect_params;

    fn scopes() -> Vec<String> {
        vec!["operator.admin".into(), "operator.read".into()]
    }

    #[test]
    fn v3_golden() {
        let s = payload_v3(
            "dev1",
            "cli",
            "cli",
            "operator",
            &scopes(),
            1795373621469,
            "peer-token",
            "nonce-1",
            Some("  Linux\t"),
            Some("\u{FEFF}MacBookPro Ä "),
        );
        assert_eq!(
            s,
            "v3|dev1|cli|cli|operator|operator.admin,operator.read|1795373621469|peer-token|nonce-1|linux|macbookpro Ä"
        );
        let s = payload_v3("d", "c", "m", "node", &[], 0, "", "n", None, None);
        assert_eq!(s, "v3|d|c|m|node||0||n||");
    }

    #[test]
    fn v2_golden() {
        let s = payload_v2(
            "dev1",
            "cli",
            "cli",
            "operator",
            &scopes(),
            1795373621469,
            "peer-token",
            "nonce-1",
        );
        assert_eq!(
            s,
            "v2|dev1|cli|cli|operator|operator.admin,operator.read|1795373621469|peer-token|nonce-1"
        );
    }

    #[test]
    fn token_precedence() {
        let mut a = ConnectAuth {
            bootstrap_token: Some("b".into()),
            ..Default::default()
        };
        assert_eq!(signature_token(Some(&a)), "b");
        a.device_token = Some("d".into());
        assert_eq!(signature_token(Some(&a)), "d");
        a.token = Some(String::new());
        assert_eq!(signature_token(Some(&a)), "");
        a.token = Some("t".into());
        assert_eq!(signature_token(Some(&a)), "t");
        a.password = Some("p".into());
        assert_eq!(signature_token(Some(&a)), "t");
        assert_eq!(signature_token(None), "");
        assert_eq!(signature_token(Some(&ConnectAuth::default())), "");
    }

    #[test]
    fn from_connect_params() {
        let p = parse_connect_params(Some(
            r#"{"minProtocol":4,"maxProtocol":4,"client":{"id":"cli","version":"1","platform":"Linux","deviceFamily":"Linux","mode":"cli"},
            "scopes":["operator.read"],"auth":{"deviceToken":"dt"},
            "device":{"id":"abc","publicKey":"k","signature":"s","signedAt":5,"nonce":"n"}}"#,
        ))
        .unwrap();
        let f = DeviceAuthFields::from_connect(&p).unwrap();
        assert_eq!(
            f.payload_v3(),
            "v3|abc|cli|cli|operator|operator.read|5|dt|n|linux|linux"
        );
        assert_eq!(
            f.payload_v2(),
            "v2|abc|cli|cli|operator|operator.read|5|dt|n"
        );
    }

    #[test]
    fn skew() {
        assert!(signed_at_fresh(1_000_000, 1_120_000));
        assert!(signed_at_fresh(1_240_000, 1_120_000));
        assert!(!signed_at_fresh(1_000_000, 1_120_001));
        assert!(!signed_at_fresh(i64::MIN, i64::MAX));
    }
}

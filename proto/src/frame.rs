//! Inbound frame parsing (hot path): classify a text frame and borrow the `req` fields with sonic-rs.

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeOwned, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use sonic_rs::{JsonType, JsonValueTrait, LazyValue};

use crate::error::ProtoError;

/// Longest accepted `traceparent`; a longer one makes the whole request frame invalid.
pub const MAX_TRACEPARENT_LEN: usize = 128;

/// The `type` discriminator of a request frame.
pub const FRAME_TYPE_REQ: &str = "req";
/// The `type` discriminator of a response frame.
pub const FRAME_TYPE_RES: &str = "res";
/// The `type` discriminator of an event frame.
pub const FRAME_TYPE_EVENT: &str = "event";

/// Params text used when a request carries no (or `null`) params, for
/// [`RequestFrame::parse_params_or_default`].
const EMPTY_OBJECT_JSON: &str = "{}";

/// One classified inbound text frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound<'a> {
    /// A schema-valid `{"type":"req",…}` frame.
    Request(RequestFrame<'a>),
    /// Any other JSON object: `ty` is its `type` when that is a string (`"event"`, `"res"`, …),
    /// `None` when absent or not a string. Its other fields are not validated.
    Other {
        /// The frame's `type` string, if any.
        ty: Option<String>,
    },
}

/// A validated request frame.
///
/// String fields are `Cow`: borrowed from the input buffer in the common case (no JSON escapes),
/// owned when the JSON text had escapes. `params` and `traceparent` keep the same rule.
/// Use [`RequestFrame::id`]/[`RequestFrame::method`] for plain `&str` access.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestFrame<'a> {
    /// Request id (non-empty string), echoed in the `res` frame.
    pub id: Cow<'a, str>,
    /// Method name (non-empty string).
    pub method: Cow<'a, str>,
    /// Raw JSON text of `params`, exactly as received (may be `null`); `None` when absent.
    pub params: Option<Cow<'a, str>>,
    /// W3C `traceparent` (≤ [`MAX_TRACEPARENT_LEN`] chars, syntax not checked).
    pub traceparent: Option<Cow<'a, str>>,
}

impl<'a> RequestFrame<'a> {
    /// The request id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The method name.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// Raw JSON text of `params`, or `None` when the frame had no `params` key.
    pub fn params_raw(&self) -> Option<&str> {
        self.params.as_deref()
    }

    /// Deserializes `params` into `T`. Absent params deserialize from `null`
    /// (so `Option<_>`/`()` accept it, structs reject it).
    pub fn parse_params<T: DeserializeOwned>(&self) -> Result<T, ProtoError> {
        parse_json(self.params_raw().unwrap_or("null"))
    }

    /// Deserializes `params` into `T`, treating absent or `null` params as `{}`.
    pub fn parse_params_or_default<T: DeserializeOwned>(&self) -> Result<T, ProtoError> {
        match self.params_raw() {
            None | Some("null") => parse_json(EMPTY_OBJECT_JSON),
            Some(raw) => parse_json(raw),
        }
    }

    /// Copies every borrowed field so the frame outlives the input buffer.
    pub fn into_owned(self) -> RequestFrame<'static> {
        RequestFrame {
            id: Cow::Owned(self.id.into_owned()),
            method: Cow::Owned(self.method.into_owned()),
            params: self.params.map(|p| Cow::Owned(p.into_owned())),
            traceparent: self.traceparent.map(|t| Cow::Owned(t.into_owned())),
        }
    }
}

fn parse_json<T: DeserializeOwned>(raw: &str) -> Result<T, ProtoError> {
    sonic_rs::from_str(raw).map_err(|e| ProtoError::InvalidParams(e.to_string()))
}

/// Parses one inbound text frame.
///
/// * not a single JSON object → [`ProtoError::NotJson`];
/// * `"type":"req"` violating the request-frame schema (required string `id`/`method`,
///   non-empty, optional string `traceparent` ≤ 128 chars, no extra keys) →
///   [`ProtoError::InvalidFrame`];
/// * any other object → [`Inbound::Other`].
///
/// Duplicate keys: the last one wins (as `JSON.parse`). Bytes that are not UTF-8 are
/// [`ProtoError::NotJson`]: sonic-rs takes the strings inside a lazily parsed value to be
/// UTF-8 without checking them in release builds (found by the `parse_inbound` fuzz target),
/// so only a `str` reaches it. Text frames are UTF-8 already; the check costs tens of ns.
pub fn parse_inbound(data: &[u8]) -> Result<Inbound<'_>, ProtoError> {
    let text = std::str::from_utf8(data).map_err(|_| ProtoError::NotJson)?;
    let wire: WireFrame<'_> = sonic_rs::from_str(text).map_err(|_| ProtoError::NotJson)?;
    let ty = wire
        .ty
        .as_ref()
        .filter(|v| v.get_type() == JsonType::String)
        .and_then(|v| v.as_str());
    if ty != Some(FRAME_TYPE_REQ) {
        return Ok(Inbound::Other {
            ty: ty.map(str::to_owned),
        });
    }
    if let Some(key) = wire.extra_key {
        return Err(invalid(format!("at root: unexpected property '{key}'")));
    }
    let id = required_string(wire.id.as_ref(), "id")?;
    let method = required_string(wire.method.as_ref(), "method")?;
    let traceparent = match wire.traceparent.as_ref() {
        None => None,
        Some(v) => {
            let t = string_field(v, "traceparent")?;
            if t.chars().count() > MAX_TRACEPARENT_LEN {
                return Err(invalid(format!(
                    "at /traceparent: must NOT have more than {MAX_TRACEPARENT_LEN} characters"
                )));
            }
            Some(t)
        }
    };
    Ok(Inbound::Request(RequestFrame {
        id,
        method,
        params: wire.params.as_ref().map(LazyValue::as_raw_cow),
        traceparent,
    }))
}

fn invalid(detail: String) -> ProtoError {
    ProtoError::InvalidFrame(detail)
}

fn required_string<'a>(v: Option<&LazyValue<'a>>, name: &str) -> Result<Cow<'a, str>, ProtoError> {
    let v = v.ok_or_else(|| invalid(format!("must have required property '{name}'")))?;
    let s = string_field(v, name)?;
    if s.is_empty() {
        return Err(invalid(format!(
            "at /{name}: must NOT have fewer than 1 characters"
        )));
    }
    Ok(s)
}

/// Extracts a JSON string, borrowing from the input when it has no escapes.
fn string_field<'a>(v: &LazyValue<'a>, name: &str) -> Result<Cow<'a, str>, ProtoError> {
    if v.get_type() != JsonType::String {
        return Err(invalid(format!("at /{name}: must be string")));
    }
    match v.as_raw_cow() {
        Cow::Borrowed(raw) if !raw.contains('\\') => Ok(Cow::Borrowed(&raw[1..raw.len() - 1])),
        _ => v
            .as_str()
            .map(|s| Cow::Owned(s.to_owned()))
            .ok_or_else(|| invalid(format!("at /{name}: must be string"))),
    }
}

/// Top-level keys of an inbound frame, each kept as an unparsed (but validated) JSON value.
struct WireFrame<'a> {
    ty: Option<LazyValue<'a>>,
    id: Option<LazyValue<'a>>,
    method: Option<LazyValue<'a>>,
    params: Option<LazyValue<'a>>,
    traceparent: Option<LazyValue<'a>>,
    /// First key that is not allowed in a request frame (only reported for `req`).
    extra_key: Option<String>,
}

/// Key classifier: borrowed/escaped keys are compared without allocating.
enum Key {
    Type,
    Id,
    Method,
    Params,
    Traceparent,
    Other(String),
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Key, E> {
                Ok(match v {
                    "type" => Key::Type,
                    "id" => Key::Id,
                    "method" => Key::Method,
                    "params" => Key::Params,
                    "traceparent" => Key::Traceparent,
                    other => Key::Other(other.to_owned()),
                })
            }
        }
        d.deserialize_identifier(KeyVisitor)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for WireFrame<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct FrameVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for FrameVisitor<'a> {
            type Value = WireFrame<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<WireFrame<'a>, M::Error> {
                let mut w = WireFrame {
                    ty: None,
                    id: None,
                    method: None,
                    params: None,
                    traceparent: None,
                    extra_key: None,
                };
                while let Some(key) = map.next_key::<Key>()? {
                    let value: LazyValue<'a> = map.next_value()?;
                    let slot = match key {
                        Key::Type => &mut w.ty,
                        Key::Id => &mut w.id,
                        Key::Method => &mut w.method,
                        Key::Params => &mut w.params,
                        Key::Traceparent => &mut w.traceparent,
                        Key::Other(k) => {
                            w.extra_key.get_or_insert(k);
                            continue;
                        }
                    };
                    *slot = Some(value);
                }
                Ok(w)
            }
        }
        d.deserialize_map(FrameVisitor(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(data: &str) -> RequestFrame<'_> {
        match parse_inbound(data.as_bytes()).unwrap() {
            Inbound::Request(r) => r,
            other => panic!("expected request, got {other:?}"),
        }
    }

    fn frame_err(data: &str) -> String {
        match parse_inbound(data.as_bytes()) {
            Err(ProtoError::InvalidFrame(d)) => d,
            other => panic!("expected InvalidFrame, got {other:?}"),
        }
    }

    #[test]
    fn not_json() {
        for bad in [
            "hello not json",
            "",
            "[]",
            "\"req\"",
            "42",
            "null",
            "{\"type\":\"req\"",
            "{\"a\":1} trailing",
            "{\"a\":[1,}",
        ] {
            assert_eq!(
                parse_inbound(bad.as_bytes()),
                Err(ProtoError::NotJson),
                "{bad}"
            );
        }
        assert_eq!(parse_inbound(&[0xff, 0xfe]), Err(ProtoError::NotJson));
    }

    /// The fuzz find: invalid UTF-8 inside a string of a value parsed lazily tripped sonic-rs's
    /// "invalid utf-8 in as_str" assertion (undefined behaviour in release builds).
    #[test]
    fn invalid_utf8_inside_a_string_is_not_json() {
        let crash = b"\n{\"!{\":\"!{\xc1\"";
        assert_eq!(parse_inbound(crash), Err(ProtoError::NotJson));
        let nested =
            b"{\"type\":\"req\",\"id\":\"1\",\"method\":\"x\",\"params\":{\"a\":\"\xc1\"}}";
        assert_eq!(parse_inbound(nested), Err(ProtoError::NotJson));
    }

    #[test]
    fn event_frame_is_other() {
        let f = r#"{"type":"event","event":"tick","payload":{"ts":1795373683647},"seq":4}"#;
        assert_eq!(
            parse_inbound(f.as_bytes()).unwrap(),
            Inbound::Other {
                ty: Some("event".into())
            }
        );
        assert_eq!(parse_inbound(b"{}").unwrap(), Inbound::Other { ty: None });
        assert_eq!(
            parse_inbound(br#"{"type":7,"extra":true}"#).unwrap(),
            Inbound::Other { ty: None }
        );
    }

    #[test]
    fn observed_connect_frame() {
        let f = r#"{"type":"req","id":"9a0b","method":"connect","params":{"minProtocol":4,"maxProtocol":4,
 "client":{"id":"cli","version":"probe-0.1","platform":"linux","mode":"cli"},"role":"operator",
 "scopes":["operator.admin"],"caps":[],"auth":{"token":"peer-token"}}}"#;
        let r = req(f);
        assert_eq!(r.id(), "9a0b");
        assert_eq!(r.method(), "connect");
        assert!(matches!(r.id, Cow::Borrowed(_)));
        let raw = r.params_raw().unwrap();
        assert!(raw.starts_with("{\"minProtocol\":4"), "{raw}");
        assert!(raw.ends_with("\"peer-token\"}}"));
        let v: serde_json::Value = r.parse_params().unwrap();
        assert_eq!(v["client"]["id"], "cli");
        assert_eq!(r.traceparent, None);
    }

    #[test]
    fn connect_without_params() {
        let r = req(r#"{"type":"req","id":"1","method":"connect"}"#);
        assert_eq!(r.params_raw(), None);
        #[derive(serde::Deserialize, Debug, Default)]
        struct P {
            #[serde(default)]
            limit: Option<u32>,
        }
        assert!(r.parse_params::<P>().is_err());
        assert!(r.parse_params::<Option<P>>().unwrap().is_none());
        assert_eq!(r.parse_params_or_default::<P>().unwrap().limit, None);
        let r = req(r#"{"type":"req","id":"1","method":"x","params":null}"#);
        assert_eq!(r.params_raw(), Some("null"));
        assert_eq!(r.parse_params_or_default::<P>().unwrap().limit, None);
        let r = req(r#"{"type":"req","id":"1","method":"x","params":{"limit":"a"}}"#);
        assert!(matches!(
            r.parse_params_or_default::<P>(),
            Err(ProtoError::InvalidParams(_))
        ));
    }

    #[test]
    fn req_without_method() {
        assert_eq!(
            frame_err(r#"{"type":"req","id":"1"}"#),
            "must have required property 'method'"
        );
        assert_eq!(
            frame_err(r#"{"type":"req","method":"health"}"#),
            "must have required property 'id'"
        );
        assert_eq!(
            frame_err(r#"{"type":"req","id":1,"method":"health"}"#),
            "at /id: must be string"
        );
        assert_eq!(
            frame_err(r#"{"type":"req","id":"1","method":""}"#),
            "at /method: must NOT have fewer than 1 characters"
        );
        assert_eq!(
            frame_err(r#"{"type":"req","id":"1","method":"m","extra":0}"#),
            "at root: unexpected property 'extra'"
        );
        assert_eq!(
            frame_err(r#"{"type":"req","id":"1","method":"m","traceparent":5}"#),
            "at /traceparent: must be string"
        );
    }

    #[test]
    fn traceparent_limit() {
        let ok = "a".repeat(MAX_TRACEPARENT_LEN);
        let f = format!(r#"{{"type":"req","id":"1","method":"m","traceparent":"{ok}"}}"#);
        assert_eq!(req(&f).traceparent.as_deref(), Some(ok.as_str()));
        let long = "a".repeat(MAX_TRACEPARENT_LEN + 1);
        let f = format!(r#"{{"type":"req","id":"1","method":"m","traceparent":"{long}"}}"#);
        assert!(frame_err(&f).starts_with("at /traceparent: must NOT have more than 128"));
    }

    #[test]
    fn escapes_and_key_order() {
        let r = req(r#"{"params":[1, "x\"y"],"method":"a\u002eb","id":"q\"1","ty\u0070e":"req"}"#);
        assert_eq!(r.id(), "q\"1");
        assert_eq!(r.method(), "a.b");
        assert_eq!(r.params_raw(), Some(r#"[1, "x\"y"]"#));
        let owned = r.clone().into_owned();
        assert_eq!(owned, r);
    }

    #[test]
    fn duplicate_keys_last_wins() {
        let r = req(r#"{"type":"req","id":"1","id":"2","method":"m"}"#);
        assert_eq!(r.id(), "2");
    }

    #[test]
    fn scalar_params_kept_raw() {
        let r = req(r#"{"type":"req","id":"1","method":"m","params":  "s" }"#);
        assert_eq!(r.params_raw(), Some("\"s\""));
        let s: String = r.parse_params().unwrap();
        assert_eq!(s, "s");
    }
}

//! Outbound frame encoding: `res` frames, and `event` frames split so the transport can splice `seq`.

use bytes::Bytes;
use serde::Serialize;

use crate::error::{ErrorCode, ErrorShape};

/// Bytes the transport writes between [`EventParts::head`] and [`EventParts::tail`],
/// followed by the decimal per-connection sequence number.
pub const SEQ_SPLICE_PREFIX: &[u8] = b",\"seq\":";

/// Initial capacity for encoded frames (covers most small responses without regrowth).
const INITIAL_FRAME_CAPACITY: usize = 128;

/// Most decimal digits a `u64` can need.
const MAX_U64_DIGITS: usize = 20;

/// Message used when a payload fails to serialize (a bug in a `Serialize` impl).
const ENCODE_FAILURE_MESSAGE: &str = "internal error: response payload could not be encoded";

/// Per-domain state counters sent on presence/health broadcasts and in the hello snapshot.
#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct StateVersion {
    /// Presence domain version.
    pub presence: u64,
    /// Health domain version.
    pub health: u64,
}

/// An event frame encoded once for fan-out, minus its per-connection `seq`.
///
/// Full frame = `head` + [`SEQ_SPLICE_PREFIX`] + `seq` digits + `tail`, or `head` + `tail`
/// for a frame without `seq`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventParts {
    /// `{"type":"event","event":"<name>","payload":<json>`
    pub head: Bytes,
    /// `,"stateVersion":{"presence":N,"health":N}}` or `}`
    pub tail: Bytes,
}

impl EventParts {
    /// Length of the full frame carrying `seq`.
    pub fn len_with_seq(&self, seq: u64) -> usize {
        self.head.len() + SEQ_SPLICE_PREFIX.len() + decimal_len(seq) + self.tail.len()
    }

    /// Appends the full frame carrying `seq` to `out`.
    pub fn write_with_seq(&self, seq: u64, out: &mut Vec<u8>) {
        out.reserve(self.len_with_seq(seq));
        out.extend_from_slice(&self.head);
        out.extend_from_slice(SEQ_SPLICE_PREFIX);
        push_u64(out, seq);
        out.extend_from_slice(&self.tail);
    }

    /// The full frame carrying `seq`, as one buffer.
    pub fn with_seq(&self, seq: u64) -> Bytes {
        let mut out = Vec::with_capacity(self.len_with_seq(seq));
        self.write_with_seq(seq, &mut out);
        Bytes::from(out)
    }

    /// The full frame without `seq`.
    pub fn without_seq(&self) -> Bytes {
        let mut out = Vec::with_capacity(self.head.len() + self.tail.len());
        out.extend_from_slice(&self.head);
        out.extend_from_slice(&self.tail);
        Bytes::from(out)
    }
}

/// `{"type":"res","id":<id>,"ok":true,"payload":<payload>}`.
///
/// If `payload` fails to serialize (only possible with a faulty `Serialize` impl or a map with
/// non-string keys) an `UNAVAILABLE` error response for the same id is returned instead.
pub fn res_ok<T: Serialize + ?Sized>(id: &str, payload: &T) -> Bytes {
    let mut buf = res_prefix(id, true);
    buf.extend_from_slice(b",\"payload\":");
    if write_json(&mut buf, payload).is_err() {
        return res_err(
            id,
            &ErrorShape::new(ErrorCode::Unavailable, ENCODE_FAILURE_MESSAGE),
        );
    }
    buf.push(b'}');
    Bytes::from(buf)
}

/// Like [`res_ok`] with a payload that is already JSON text (not checked).
pub fn res_ok_raw(id: &str, payload_json: &[u8]) -> Bytes {
    let mut buf = res_prefix(id, true);
    buf.reserve(payload_json.len() + 12);
    buf.extend_from_slice(b",\"payload\":");
    buf.extend_from_slice(payload_json);
    buf.push(b'}');
    Bytes::from(buf)
}

/// `{"type":"res","id":<id>,"ok":false,"error":{…}}`.
pub fn res_err(id: &str, err: &ErrorShape) -> Bytes {
    let mut buf = res_prefix(id, false);
    buf.extend_from_slice(b",\"error\":");
    if write_json(&mut buf, err).is_err() {
        // Only `details` can fail (a serde_json::Value never does); keep code + message.
        // `write_json` already rolled the buffer back; strings cannot fail to serialize.
        let bare = ErrorShape::with_code(err.code.clone(), err.message.clone());
        let _ = write_json(&mut buf, &bare);
    }
    buf.push(b'}');
    Bytes::from(buf)
}

/// `{"type":"res","id":<id>,"ok":false,"payload":<payload>,"error":{…}}`: a failed call that
/// still reports its result (the final response of a failed agent run).
pub fn res_err_payload<T: Serialize + ?Sized>(id: &str, payload: &T, err: &ErrorShape) -> Bytes {
    let mut buf = res_prefix(id, false);
    buf.extend_from_slice(b",\"payload\":");
    if write_json(&mut buf, payload).is_err() {
        buf.extend_from_slice(b"null");
    }
    buf.extend_from_slice(b",\"error\":");
    if write_json(&mut buf, err).is_err() {
        let bare = ErrorShape::with_code(err.code.clone(), err.message.clone());
        let _ = write_json(&mut buf, &bare);
    }
    buf.push(b'}');
    Bytes::from(buf)
}

/// Encodes an event once for fan-out; see [`EventParts`].
///
/// If `payload` fails to serialize (a faulty `Serialize` impl), the payload is sent as `null`.
pub fn event_parts<T: Serialize + ?Sized>(
    event: &str,
    payload: &T,
    state_version: Option<StateVersion>,
) -> EventParts {
    let head = event_head(event, payload);
    let tail = match state_version {
        None => Bytes::from_static(b"}"),
        Some(sv) => {
            let mut t = Vec::with_capacity(64);
            t.extend_from_slice(b",\"stateVersion\":{\"presence\":");
            push_u64(&mut t, sv.presence);
            t.extend_from_slice(b",\"health\":");
            push_u64(&mut t, sv.health);
            t.extend_from_slice(b"}}");
            Bytes::from(t)
        }
    };
    EventParts {
        head: Bytes::from(head),
        tail,
    }
}

/// A complete event frame without `seq`/`stateVersion` (used for `connect.challenge`).
pub fn event_full<T: Serialize + ?Sized>(event: &str, payload: &T) -> Bytes {
    let mut buf = event_head(event, payload);
    buf.push(b'}');
    Bytes::from(buf)
}

fn event_head<T: Serialize + ?Sized>(event: &str, payload: &T) -> Vec<u8> {
    let mut buf = Vec::with_capacity(INITIAL_FRAME_CAPACITY);
    buf.extend_from_slice(b"{\"type\":\"event\",\"event\":");
    write_str(&mut buf, event);
    buf.extend_from_slice(b",\"payload\":");
    let mark = buf.len();
    if write_json(&mut buf, payload).is_err() {
        buf.truncate(mark);
        buf.extend_from_slice(b"null");
    }
    buf
}

fn res_prefix(id: &str, ok: bool) -> Vec<u8> {
    let mut buf = Vec::with_capacity(INITIAL_FRAME_CAPACITY);
    buf.extend_from_slice(b"{\"type\":\"res\",\"id\":");
    write_str(&mut buf, id);
    buf.extend_from_slice(if ok {
        b",\"ok\":true"
    } else {
        b",\"ok\":false"
    });
    buf
}

fn write_json<T: Serialize + ?Sized>(buf: &mut Vec<u8>, value: &T) -> Result<(), sonic_rs::Error> {
    let mark = buf.len();
    let r = sonic_rs::to_writer(&mut *buf, value);
    if r.is_err() {
        buf.truncate(mark);
    }
    r
}

fn write_str(buf: &mut Vec<u8>, s: &str) {
    // Serializing a `str` cannot fail.
    let _ = write_json(buf, s);
}

fn decimal_len(mut n: u64) -> usize {
    let mut len = 1;
    while n >= 10 {
        n /= 10;
        len += 1;
    }
    len
}

fn push_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; MAX_U64_DIGITS];
    let mut i = MAX_U64_DIGITS;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn s(b: &Bytes) -> &str {
        std::str::from_utf8(b).unwrap()
    }

    #[test]
    fn res_ok_golden() {
        let b = res_ok("1", &json!({"ok": true, "ts": 5}));
        assert_eq!(
            s(&b),
            r#"{"type":"res","id":"1","ok":true,"payload":{"ok":true,"ts":5}}"#
        );
        let b = res_ok("q\"\n\u{1}é", &[1, 2]);
        assert_eq!(
            s(&b),
            r#"{"type":"res","id":"q\"\n\u0001é","ok":true,"payload":[1,2]}"#
        );
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(v["id"], "q\"\n\u{1}é");
    }

    #[test]
    fn res_ok_raw_golden() {
        let b = res_ok_raw("a", br#"{"models":[]}"#);
        assert_eq!(
            s(&b),
            r#"{"type":"res","id":"a","ok":true,"payload":{"models":[]}}"#
        );
    }

    #[test]
    fn res_err_golden() {
        let b = res_err("x", &ErrorShape::unknown_method("no.such.method"));
        assert_eq!(
            s(&b),
            r#"{"type":"res","id":"x","ok":false,"error":{"code":"INVALID_REQUEST","message":"unknown method: no.such.method"}}"#
        );
        let b = res_err(
            "y",
            &ErrorShape::missing_scope("operator.read", &["operator.read"]),
        );
        assert_eq!(
            s(&b),
            r#"{"type":"res","id":"y","ok":false,"error":{"code":"FORBIDDEN","message":"missing scope: operator.read","details":{"code":"MISSING_SCOPE","missingScope":"operator.read","requiredScopes":["operator.read"]}}}"#
        );
    }

    #[test]
    fn failing_payload_falls_back() {
        use std::collections::HashMap;
        let mut bad = HashMap::new();
        bad.insert(vec![1u8], 1);
        let b = res_ok("7", &bad);
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(v["ok"], false);
        assert_eq!(v["error"]["code"], "UNAVAILABLE");
        let full = event_full("e", &bad);
        assert_eq!(s(&full), r#"{"type":"event","event":"e","payload":null}"#);
    }

    #[test]
    fn event_parts_golden() {
        let p = event_parts("tick", &json!({"ts": 1795373683647u64}), None);
        assert_eq!(
            s(&p.head),
            r#"{"type":"event","event":"tick","payload":{"ts":1795373683647}"#
        );
        assert_eq!(s(&p.tail), "}");
        assert_eq!(
            s(&p.with_seq(4)),
            r#"{"type":"event","event":"tick","payload":{"ts":1795373683647},"seq":4}"#
        );
        assert_eq!(p.with_seq(4).len(), p.len_with_seq(4));
        assert_eq!(
            s(&p.without_seq()),
            r#"{"type":"event","event":"tick","payload":{"ts":1795373683647}}"#
        );

        let sv = StateVersion {
            presence: 4,
            health: 5,
        };
        let p = event_parts("presence", &json!({"presence": []}), Some(sv));
        assert_eq!(s(&p.tail), r#","stateVersion":{"presence":4,"health":5}}"#);
        let full = p.with_seq(u64::MAX);
        assert_eq!(
            s(&full),
            r#"{"type":"event","event":"presence","payload":{"presence":[]},"seq":18446744073709551615,"stateVersion":{"presence":4,"health":5}}"#
        );
        assert_eq!(full.len(), p.len_with_seq(u64::MAX));
        let v: serde_json::Value = serde_json::from_slice(&p.with_seq(0)).unwrap();
        assert_eq!(v["seq"], 0);
        assert_eq!(
            serde_json::to_string(&sv).unwrap(),
            r#"{"presence":4,"health":5}"#
        );
    }

    #[test]
    fn challenge_golden() {
        let b = event_full(
            "connect.challenge",
            &json!({"nonce": "n-1", "ts": 1795373621469u64}),
        );
        assert_eq!(
            s(&b),
            r#"{"type":"event","event":"connect.challenge","payload":{"nonce":"n-1","ts":1795373621469}}"#
        );
    }

    #[test]
    fn decimal_helpers() {
        for n in [0u64, 9, 10, 99, 100, 12345, u64::MAX] {
            let mut v = Vec::new();
            push_u64(&mut v, n);
            assert_eq!(v, n.to_string().into_bytes());
            assert_eq!(decimal_len(n), v.len());
        }
    }
}

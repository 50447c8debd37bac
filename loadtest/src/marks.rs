//! Matching tokens across the gateway: request markers, self-identifying tokens, and the shared
//! table of upstream send instants.
//!
//! The harness puts a unique marker word (`ltmk<hex>…`) in each user message. The synthetic
//! upstream finds it in the request body and streams tokens ` t0`, ` t1`, … recording the
//! monotonic instant each one was handed to the connection. The client side reads token ids back
//! out of the deltas it receives and looks up (marker, idx) here: both ends run in one process,
//! on one monotonic clock, so receive − send is what the gateway (plus loopback) added.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Prefix of every marker word.
pub const MARKER_PREFIX: &str = "ltmk";
/// Most markers the table keeps (later requests are served but not recorded).
pub const MAX_MARKERS: usize = 1_000_000;
/// Longest marker accepted from a request body.
pub const MAX_MARKER_LEN: usize = 64;
/// Most tokens recorded per marker.
pub const MAX_TOKENS_RECORDED: usize = 100_000;

/// A fresh run tag: 8 hex digits, so markers of different runs never collide.
pub fn run_tag() -> String {
    hex::encode(rand::random::<[u8; 4]>())
}

/// Marker `ltmk<tag><kind><n>` (kind: one letter, e.g. `r` for run, `h` for HTTP request).
pub fn marker(tag: &str, kind: char, n: u64) -> String {
    format!("{MARKER_PREFIX}{tag}{kind}{n}")
}

/// The content of token `idx` as the upstream streams it.
pub fn token_text(idx: u32) -> String {
    format!(" t{idx}")
}

/// The last marker word in `body` (a raw request body; the current message comes last).
pub fn find_marker(body: &[u8]) -> Option<String> {
    let p = MARKER_PREFIX.as_bytes();
    let mut found = None;
    let mut i = 0;
    while i + p.len() <= body.len() {
        if &body[i..i + p.len()] == p && word_start(body, i) {
            let end = body[i..]
                .iter()
                .position(|b| !b.is_ascii_alphanumeric())
                .map_or(body.len(), |n| i + n);
            if end - i > p.len() && end - i <= MAX_MARKER_LEN {
                found = Some(String::from_utf8_lossy(&body[i..end]).into_owned());
            }
            i = end.max(i + 1);
        } else {
            i += 1;
        }
    }
    found
}

/// True if a word can start at `i`: start of input, after a non-alphanumeric byte, or after a
/// JSON escape such as `\n`.
fn word_start(b: &[u8], i: usize) -> bool {
    i == 0
        || !b[i - 1].is_ascii_alphanumeric()
        || (i >= 2 && b[i - 2] == b'\\' && matches!(b[i - 1], b'n' | b't' | b'r'))
}

/// Call `f` with every token id (`t<digits>` as a whole word) in `text`.
pub fn token_ids(text: &str, mut f: impl FnMut(u32)) {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b't' && (i == 0 || b[i - 1].is_ascii_whitespace()) {
            let digits = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
            let end = i + 1 + digits;
            let boundary = end == b.len() || !b[end].is_ascii_alphanumeric();
            if digits > 0 && digits <= 9 && boundary {
                if let Ok(n) = text[i + 1..end].parse::<u32>() {
                    f(n);
                }
            }
            i = end.max(i + 1);
        } else {
            i += 1;
        }
    }
}

/// Send instants of one marked request's tokens.
#[derive(Debug)]
pub struct Sends {
    /// When the upstream received the request (body read).
    pub request_at: Instant,
    tokens: Mutex<Vec<Instant>>,
}

impl Sends {
    /// Record that the next token (index = count so far) was sent at `at`.
    pub fn push(&self, at: Instant) {
        if let Ok(mut v) = self.tokens.lock() {
            if v.len() < MAX_TOKENS_RECORDED {
                v.push(at);
            }
        }
    }

    /// Send instant of token `idx`.
    pub fn at(&self, idx: u32) -> Option<Instant> {
        self.tokens.lock().ok()?.get(idx as usize).copied()
    }

    /// Send instant of the last token recorded so far.
    pub fn last(&self) -> Option<Instant> {
        self.tokens.lock().ok()?.last().copied()
    }
}

/// Marker → send instants, shared by the upstream and the measuring client.
#[derive(Debug, Default)]
pub struct Table {
    map: Mutex<HashMap<String, Arc<Sends>>>,
}

impl Table {
    /// A fresh entry for `marker` (a retried request replaces the earlier one); `None` when full.
    pub fn begin(&self, marker: &str, request_at: Instant) -> Option<Arc<Sends>> {
        let mut m = self.map.lock().ok()?;
        if m.len() >= MAX_MARKERS && !m.contains_key(marker) {
            return None;
        }
        let s = Arc::new(Sends {
            request_at,
            tokens: Mutex::new(Vec::new()),
        });
        m.insert(marker.to_string(), s.clone());
        Some(s)
    }

    /// The entry of `marker`, if the upstream has seen it.
    pub fn get(&self, marker: &str) -> Option<Arc<Sends>> {
        self.map.lock().ok()?.get(marker).cloned()
    }
}

/// Token ids seen per stream, so a cumulative text or a repeated delta counts each token once.
#[derive(Debug, Default, Clone)]
pub struct Seen(Vec<u64>);

impl Seen {
    /// Mark `idx`; true if it was new.
    pub fn insert(&mut self, idx: u32) -> bool {
        let (w, bit) = ((idx / 64) as usize, 1u64 << (idx % 64));
        if w >= self.0.len() {
            if w > MAX_TOKENS_RECORDED / 64 {
                return false;
            }
            self.0.resize(w + 1, 0);
        }
        let new = self.0[w] & bit == 0;
        self.0[w] |= bit;
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_round_trip() {
        let m = marker("0a1b2c3d", 'r', 17);
        assert_eq!(m, "ltmk0a1b2c3dr17");
        let body = format!(
            r#"{{"messages":[{{"role":"system","content":"x"}},{{"role":"user","content":"[Sun] {m} go\n\nRuntime: …"}}]}}"#
        );
        assert_eq!(find_marker(body.as_bytes()).as_deref(), Some(m.as_str()));
        let two = "ltmkaaaar1 then ltmkbbbbr2".as_bytes();
        assert_eq!(find_marker(two).as_deref(), Some("ltmkbbbbr2"));
        assert_eq!(find_marker(b"saltmkx ltmk"), None);
        assert_eq!(find_marker(br"x\nltmkab1 y").as_deref(), Some("ltmkab1"));
        assert_eq!(find_marker(b"no marker here"), None);
    }

    #[test]
    fn token_ids_parse() {
        let mut v = Vec::new();
        token_ids(" t0 t1 t22", |n| v.push(n));
        token_ids("t5", |n| v.push(n));
        token_ids("echo: at3 t4x t 7 \nt8", |n| v.push(n));
        assert_eq!(v, vec![0, 1, 22, 5, 8]);
        assert_eq!(token_text(3), " t3");
    }

    #[test]
    fn table_and_seen() {
        let t = Table::default();
        let now = Instant::now();
        let s = t.begin("ltmkx", now).unwrap();
        s.push(now);
        assert_eq!(t.get("ltmkx").unwrap().at(0), Some(now));
        assert!(t.get("ltmkx").unwrap().at(1).is_none());
        let mut seen = Seen::default();
        assert!(seen.insert(130) && !seen.insert(130) && seen.insert(0));
    }
}

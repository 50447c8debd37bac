//! Incremental Server-Sent-Events parser (WHATWG "event stream interpretation").
//!
//! Feed byte chunks exactly as they come off the socket — split anywhere, even inside a
//! UTF-8 character or between the `\r` and `\n` of a CRLF — and collect complete events.
//! Only `event:` and `data:` matter to the providers; `id:`/`retry:` and comments (`:`) are
//! ignored. The bytes of an unfinished line plus the data of an undispatched event are
//! bounded by [`MAX_PENDING`].

/// Largest amount of buffered, not yet dispatched input (unfinished line + pending `data`).
pub const MAX_PENDING: usize = 1024 * 1024;

/// One dispatched event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, if any (and non-empty).
    pub event: Option<String>,
    /// All `data:` lines of the event joined with `\n`.
    pub data: String,
}

/// The stream cannot be parsed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SseError {
    /// More than [`MAX_PENDING`] bytes without an event boundary.
    #[error("event stream line or event larger than {MAX_PENDING} bytes")]
    TooLarge,
}

/// Incremental parser state.
#[derive(Debug)]
pub struct SseParser {
    /// Bytes of the current, unterminated line.
    line: Vec<u8>,
    /// Pending `event:` field.
    event: Option<String>,
    /// Pending `data:` lines, joined with `\n`.
    data: String,
    /// At least one `data:` line is pending (distinguishes `data:` from no data).
    has_data: bool,
    /// The previous chunk ended in `\r`: a leading `\n` of the next one belongs to it.
    skip_lf: bool,
    /// No line processed yet (a leading BOM is stripped from the first line).
    first_line: bool,
}

impl Default for SseParser {
    fn default() -> Self {
        Self::new()
    }
}

impl SseParser {
    /// A parser at the start of a stream.
    pub fn new() -> Self {
        SseParser {
            line: Vec::new(),
            event: None,
            data: String::new(),
            has_data: false,
            skip_lf: false,
            first_line: true,
        }
    }

    /// Feed the next chunk; complete events are appended to `out` in order.
    ///
    /// # Errors
    /// [`SseError::TooLarge`] when the pending input exceeds [`MAX_PENDING`].
    pub fn feed(&mut self, mut chunk: &[u8], out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        if self.skip_lf && !chunk.is_empty() {
            self.skip_lf = false;
            if chunk[0] == b'\n' {
                chunk = &chunk[1..];
            }
        }
        while let Some(i) = chunk.iter().position(|&b| b == b'\n' || b == b'\r') {
            let part = &chunk[..i];
            let mut rest = &chunk[i + 1..];
            if chunk[i] == b'\r' {
                match rest.first() {
                    Some(b'\n') => rest = &rest[1..],
                    Some(_) => {}
                    None => self.skip_lf = true,
                }
            }
            if self.line.is_empty() {
                self.process_line(part, out)?;
            } else {
                let mut line = std::mem::take(&mut self.line);
                line.extend_from_slice(part);
                let r = self.process_line(&line, out);
                line.clear();
                self.line = line;
                r?;
            }
            chunk = rest;
        }
        self.line.extend_from_slice(chunk);
        self.check_size()
    }

    /// End of stream. Lenient: an unterminated last line is processed and a pending event
    /// is dispatched (the standard would discard it; some servers omit the blank line).
    pub fn finish(&mut self, out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.process_line(&line, out)?;
        }
        self.dispatch(out);
        Ok(())
    }

    fn check_size(&self) -> Result<(), SseError> {
        if self.line.len() + self.data.len() > MAX_PENDING {
            Err(SseError::TooLarge)
        } else {
            Ok(())
        }
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        let event = self.event.take();
        if self.has_data {
            self.has_data = false;
            out.push(SseEvent {
                event,
                data: std::mem::take(&mut self.data),
            });
        }
    }

    fn process_line(&mut self, mut line: &[u8], out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        if self.first_line {
            self.first_line = false;
            if let Some(rest) = line.strip_prefix("\u{feff}".as_bytes()) {
                line = rest;
            }
        }
        if line.is_empty() {
            self.dispatch(out);
            return Ok(());
        }
        if line[0] == b':' {
            return Ok(());
        }
        let (name, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &[][..]),
        };
        match name {
            b"data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(&String::from_utf8_lossy(value));
                self.has_data = true;
                self.check_size()?;
            }
            b"event" => {
                self.event = if value.is_empty() {
                    None
                } else {
                    Some(String::from_utf8_lossy(value).into_owned())
                };
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(event: Option<&str>, data: &str) -> SseEvent {
        SseEvent {
            event: event.map(str::to_string),
            data: data.to_string(),
        }
    }

    fn parse_chunks(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        for c in chunks {
            p.feed(c, &mut out).expect("feed");
        }
        p.finish(&mut out).expect("finish");
        out
    }

    /// Covers every construct: BOM, comments, CR/LF/CRLF, multi-line data, event names,
    /// unknown fields, a colon-less field, multi-byte UTF-8 and an event-only block.
    const SAMPLE: &str = "\u{feff}: hello comment\r\n\
        data: first\r\n\r\n\
        event: message_start\ndata: {\"a\":\"h\u{e9}llo \u{1f600}\"}\n\n\
        data: line1\rdata: line2\r\rdata:no-space\n\
        data\n\
        id: 7\nretry: 100\nfoo: bar\n\n\
        event: only-event\n\n\
        data: \u{4e2d}\u{6587}\r\n\r\n\
        data: [DONE]\n\n";

    fn sample_expected() -> Vec<SseEvent> {
        vec![
            ev(None, "first"),
            ev(Some("message_start"), "{\"a\":\"h\u{e9}llo \u{1f600}\"}"),
            ev(None, "line1\nline2"),
            ev(None, "no-space\n"),
            ev(None, "\u{4e2d}\u{6587}"),
            ev(None, "[DONE]"),
        ]
    }

    #[test]
    fn whole_stream_parses() {
        assert_eq!(parse_chunks(&[SAMPLE.as_bytes()]), sample_expected());
    }

    #[test]
    fn byte_by_byte() {
        let b = SAMPLE.as_bytes();
        let chunks: Vec<&[u8]> = b.chunks(1).collect();
        assert_eq!(parse_chunks(&chunks), sample_expected());
    }

    #[test]
    fn split_at_every_point() {
        let b = SAMPLE.as_bytes();
        for i in 0..=b.len() {
            assert_eq!(
                parse_chunks(&[&b[..i], &b[i..]]),
                sample_expected(),
                "split at {i}"
            );
        }
    }

    #[test]
    fn split_at_every_pair_of_points() {
        let b = SAMPLE.as_bytes();
        for i in 0..=b.len() {
            for j in i..=b.len() {
                assert_eq!(
                    parse_chunks(&[&b[..i], &b[i..j], &b[j..]]),
                    sample_expected(),
                    "split at {i},{j}"
                );
            }
        }
    }

    #[test]
    fn crlf_split_between_cr_and_lf_is_one_line_end() {
        // "data: a\r" | "\ndata: b\r\n\r\n": the LF completes the CRLF, no empty line.
        let out = parse_chunks(&[b"data: a\r", b"\ndata: b\r\n\r\n"]);
        assert_eq!(out, vec![ev(None, "a\nb")]);
        // An empty chunk between CR and LF does not lose the pending CR.
        let out = parse_chunks(&[b"data: a\r", b"", b"\ndata: b\r\n\r\n"]);
        assert_eq!(out, vec![ev(None, "a\nb")]);
    }

    #[test]
    fn events_arrive_as_soon_as_complete() {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        p.feed(b"data: one\n", &mut out).unwrap();
        assert!(out.is_empty());
        p.feed(b"\ndata: tw", &mut out).unwrap();
        assert_eq!(out, vec![ev(None, "one")]);
        p.feed(b"o\n\n", &mut out).unwrap();
        assert_eq!(out, vec![ev(None, "one"), ev(None, "two")]);
    }

    #[test]
    fn finish_flushes_an_unterminated_event() {
        assert_eq!(parse_chunks(&[b"data: tail"]), vec![ev(None, "tail")]);
        assert_eq!(parse_chunks(&[b"data: x\n"]), vec![ev(None, "x")]);
        assert!(parse_chunks(&[b": only a comment"]).is_empty());
        assert!(parse_chunks(&[b""]).is_empty());
    }

    #[test]
    fn invalid_utf8_is_replaced_not_fatal() {
        assert_eq!(
            parse_chunks(&[b"data: a\xffb\n\n"]),
            vec![ev(None, "a\u{fffd}b")]
        );
    }

    #[test]
    fn pending_line_is_bounded() {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        let big = vec![b'x'; MAX_PENDING / 2 + 1];
        p.feed(b"data: ", &mut out).unwrap();
        p.feed(&big, &mut out).unwrap();
        assert_eq!(p.feed(&big, &mut out), Err(SseError::TooLarge));
    }

    #[test]
    fn pending_event_data_is_bounded() {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        let mut line = b"data: ".to_vec();
        line.extend_from_slice(&vec![b'y'; 64 * 1024]);
        line.push(b'\n');
        let mut r = Ok(());
        for _ in 0..(MAX_PENDING / (64 * 1024) + 2) {
            r = p.feed(&line, &mut out);
            if r.is_err() {
                break;
            }
        }
        assert_eq!(r, Err(SseError::TooLarge));
        assert!(out.is_empty());
    }

    #[test]
    fn many_small_events_do_not_accumulate() {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        for _ in 0..10_000 {
            p.feed(
                b"data: 0123456789012345678901234567890123456789\n\n",
                &mut out,
            )
            .unwrap();
        }
        assert_eq!(out.len(), 10_000);
    }
}

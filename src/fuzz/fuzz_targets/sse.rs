//! Fuzz target: the providers' server-sent-events parser is split-proof. The input is a
//! chunking plan (first byte: how many chunk sizes follow) and a stream; parsing it chunk by
//! chunk must give exactly the events (and the verdict) of parsing it in one piece — a
//! `\r\n` split across reads included — and never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use openclaw::provider::sse::{SseEvent, SseParser};

fn parse<'a>(chunks: impl Iterator<Item = &'a [u8]>) -> (Vec<SseEvent>, bool) {
    let mut p = SseParser::new();
    let mut out = Vec::new();
    for c in chunks {
        if p.feed(c, &mut out).is_err() {
            return (out, false);
        }
    }
    let ok = p.finish(&mut out).is_ok();
    (out, ok)
}

fuzz_target!(|data: &[u8]| {
    let Some((&n, rest)) = data.split_first() else { return };
    let n = usize::from(n % 16).min(rest.len());
    let (plan, stream) = rest.split_at(n);
    let whole = parse(std::iter::once(stream));
    let mut chunks = Vec::new();
    let mut at = 0;
    let mut sizes = plan.iter().map(|s| usize::from(*s) + 1).chain(std::iter::repeat(5));
    while at < stream.len() {
        let end = (at + sizes.next().unwrap_or(5)).min(stream.len());
        chunks.push(&stream[at..end]);
        at = end;
    }
    let split = parse(chunks.into_iter());
    assert_eq!(whole, split, "chunking changed the events");
});

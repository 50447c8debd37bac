//! Fuzz target: the connection sniffer and the upgrade-head answer. Arbitrary first bytes,
//! delivered in arbitrary reads, must be classified without a panic: as HTTP, replaying
//! exactly the bytes read (a prefix of the input), or as a WebSocket upgrade whose path and
//! headers do not depend on how the bytes were split, and whose 101 (or refusal) is a
//! well-formed response head.
#![no_main]

use std::pin::Pin;
use std::task::{Context, Poll};

use libfuzzer_sys::fuzz_target;
use openclaw_net::sniff::{sniff, Sniffed};
use openclaw_net::ws::handshake::respond;
use tokio::io::{AsyncRead, ReadBuf};

/// The sniffer's head limit, small so the "too long" path is reachable.
const MAX: usize = 2048;

/// Reads the stream in the planned sizes.
struct Chunked<'a> {
    data: &'a [u8],
    sizes: Vec<usize>,
    next: usize,
}

impl AsyncRead for Chunked<'_> {
    fn poll_read(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let size = self.sizes.get(self.next).copied().unwrap_or(usize::MAX);
        self.next += 1;
        let n = size.min(self.data.len()).min(buf.remaining());
        let (head, tail) = self.data.split_at(n);
        buf.put_slice(head);
        self.data = tail;
        Poll::Ready(Ok(()))
    }
}

fn run(data: &[u8], sizes: Vec<usize>) -> Sniffed {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let mut r = Chunked { data, sizes, next: 0 };
    rt.block_on(sniff(&mut r, MAX)).expect("an in-memory read cannot fail")
}

fn well_formed(resp: &[u8]) {
    let text = std::str::from_utf8(resp).expect("a response head is UTF-8");
    assert!(text.starts_with("HTTP/1.1 "), "{text:?}");
    let head = text.split("\r\n\r\n").next().unwrap();
    assert!(head.lines().skip(1).all(|l| l.contains(": ")), "{text:?}");
}

fuzz_target!(|data: &[u8]| {
    let Some((&n, rest)) = data.split_first() else { return };
    let n = usize::from(n % 8).min(rest.len());
    let (plan, stream) = rest.split_at(n);
    let sizes: Vec<usize> = plan.iter().map(|s| usize::from(*s) + 1).collect();
    let whole = run(stream, Vec::new());
    let split = run(stream, sizes);
    match (&whole, &split) {
        (Sniffed::Http(a), Sniffed::Http(b)) => {
            assert!(stream.starts_with(a) && stream.starts_with(b), "replay is not the input");
        }
        (Sniffed::WebSocket(a), Sniffed::WebSocket(b)) => {
            assert_eq!((&a.path, &a.headers), (&b.path, &b.headers));
            match respond(&a.headers) {
                Ok(r) | Err(r) => well_formed(&r),
            }
        }
        (Sniffed::Eof, Sniffed::Eof) => assert!(stream.is_empty()),
        _ => {
            // Verdicts may differ only at the head-size limit, which is checked per read
            // (a head that completes in the read that crosses it still counts); both must
            // still replay a prefix.
            assert!(stream.len() >= MAX, "the split changed the verdict: {whole:?} vs {split:?}");
            for s in [&whole, &split] {
                if let Sniffed::Http(b) = s {
                    assert!(stream.starts_with(b));
                }
            }
        }
    }
});

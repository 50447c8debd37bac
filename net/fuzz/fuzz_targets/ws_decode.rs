//! Fuzz target: the WebSocket frame decoder is cancel-safe and split-proof. The input is
//! a chunking plan (first byte: how many chunk sizes follow) and a byte stream; decoding it
//! chunk by chunk, as reads arrive, must give exactly the frames and the verdict of decoding
//! it in one piece — and never panic, whatever the bytes.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use openclaw_net::ws::frame::{decode, FrameError};

/// A small limit, so both the "too big" and the "fits" paths are reachable.
const MAX: usize = 4096;

type Out = (Vec<(bool, u8, Vec<u8>)>, Option<FrameError>);

fn drain(buf: &mut BytesMut, out: &mut Out) -> bool {
    loop {
        match decode(buf, MAX) {
            Ok(Some(f)) => out.0.push((f.fin, f.opcode as u8, f.payload.to_vec())),
            Ok(None) => return true,
            Err(e) => {
                out.1 = Some(e);
                return false;
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&n, rest)) = data.split_first() else { return };
    let n = usize::from(n % 16).min(rest.len());
    let (plan, stream) = rest.split_at(n);

    let mut whole: Out = (Vec::new(), None);
    drain(&mut BytesMut::from(stream), &mut whole);

    let mut split: Out = (Vec::new(), None);
    let mut buf = BytesMut::new();
    let mut at = 0;
    let mut sizes = plan.iter().map(|s| usize::from(*s) + 1).chain(std::iter::repeat(7));
    while at < stream.len() {
        let end = (at + sizes.next().unwrap_or(7)).min(stream.len());
        buf.extend_from_slice(&stream[at..end]);
        at = end;
        if !drain(&mut buf, &mut split) {
            break;
        }
    }
    assert_eq!(whole, split, "chunking changed what was decoded");
});

//! The writer task: drain the outbound queue in batches, frame each message (server frames
//! are unmasked), splice per-socket `seq` numbers, and write the batch with one vectored
//! write per wake-up. The framing ([`encode`]) is shared with the io_uring writer.

use std::io::IoSlice;

use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::limits::MAX_BATCH_FRAMES;
use crate::outbound::{Item, Outbound};

/// Batch storage kept between writes (more is released).
const IDLE_BATCH_CAPACITY: usize = 0;

const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PONG: u8 = 0xA;

/// Write a final-frame header for `opcode` and `len` payload bytes into `out`.
pub fn frame_header(out: &mut Vec<u8>, opcode: u8, len: usize) {
    out.push(0x80 | opcode);
    if len < 126 {
        out.push(len as u8);
    } else if len <= u16::MAX as usize {
        out.push(126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
}

/// One piece of the vectored write: a range of the scratch buffer or a queued `Bytes`.
pub(crate) enum Piece<'a> {
    Scratch(usize, usize),
    Data(&'a [u8]),
}

/// A batch framed for writing: what to write, in order, and what it frees.
pub(crate) struct Encoded<'a> {
    /// The pieces, in wire order (header bytes live in the scratch buffer).
    pub pieces: Vec<Piece<'a>>,
    /// Queue bytes these items were counted as (hand to [`Outbound::written`]).
    pub queued: usize,
    /// A close frame ends the batch: the writer stops after it.
    pub last: bool,
}

impl Encoded<'_> {
    /// The pieces as byte slices, empty ones skipped.
    pub fn slices<'s>(&'s self, scratch: &'s [u8]) -> impl Iterator<Item = &'s [u8]> + 's {
        self.pieces
            .iter()
            .map(move |p| match p {
                Piece::Scratch(a, b) => &scratch[*a..*b],
                Piece::Data(d) => d,
            })
            .filter(|s| !s.is_empty())
    }
}

/// Frame `batch` (server frames are unmasked; `seq` spliced after `seq_prefix`) into
/// pieces; headers and spliced bytes go to `scratch`, payloads are borrowed.
pub(crate) fn encode<'a>(
    batch: &'a [Item],
    scratch: &mut Vec<u8>,
    seq_prefix: &[u8],
) -> Encoded<'a> {
    scratch.clear();
    let mut pieces: Vec<Piece<'a>> = Vec::with_capacity(batch.len() * 3);
    let mut last = false;
    let mut queued = 0usize;
    let mut digits = itoa_buf();
    for item in batch.iter() {
        queued += Outbound::item_len(item);
        match item {
            Item::Text(b) | Item::Binary(b) | Item::Pong(b) => {
                let op = match item {
                    Item::Text(_) => OP_TEXT,
                    Item::Binary(_) => OP_BINARY,
                    _ => OP_PONG,
                };
                let s = scratch.len();
                frame_header(scratch, op, b.len());
                pieces.push(Piece::Scratch(s, scratch.len()));
                pieces.push(Piece::Data(b));
            }
            Item::Seq { head, tail, seq } => {
                let num = fmt_u64(&mut digits, *seq);
                let len = head.len() + seq_prefix.len() + num.len() + tail.len();
                let s = scratch.len();
                frame_header(scratch, OP_TEXT, len);
                let h_end = scratch.len();
                pieces.push(Piece::Scratch(s, h_end));
                pieces.push(Piece::Data(head));
                scratch.extend_from_slice(seq_prefix);
                scratch.extend_from_slice(num.as_bytes());
                pieces.push(Piece::Scratch(h_end, scratch.len()));
                pieces.push(Piece::Data(tail));
            }
            Item::Close { code, reason } => {
                let s = scratch.len();
                frame_header(scratch, OP_CLOSE, 2 + reason.len());
                scratch.extend_from_slice(&code.to_be_bytes());
                scratch.extend_from_slice(reason);
                pieces.push(Piece::Scratch(s, scratch.len()));
                last = true;
                break;
            }
            Item::CloseRaw(payload) => {
                let s = scratch.len();
                frame_header(scratch, OP_CLOSE, payload.len());
                scratch.extend_from_slice(payload);
                pieces.push(Piece::Scratch(s, scratch.len()));
                last = true;
                break;
            }
        }
    }
    Encoded {
        pieces,
        queued,
        last,
    }
}

/// Run until a close frame was written, the queue finished, or the socket failed.
pub async fn run_writer<W: AsyncWrite + Unpin>(mut w: W, out: Outbound, seq_prefix: &'static [u8]) {
    // Allocated on first use: an idle socket should cost as little as possible.
    let mut batch: Vec<Item> = Vec::new();
    let mut scratch: Vec<u8> = Vec::new();
    while out.next_batch(&mut batch, MAX_BATCH_FRAMES).await {
        let enc = encode(&batch, &mut scratch, seq_prefix);
        let slices: Vec<IoSlice<'_>> = enc.slices(&scratch).map(IoSlice::new).collect();
        let ok = write_all_vectored(&mut w, slices).await.is_ok();
        let (queued, done) = (enc.queued, enc.last);
        drop(enc);
        batch.clear();
        if batch.capacity() > IDLE_BATCH_CAPACITY {
            // Idle sockets keep no batch storage; a busy one re-grows it cheaply.
            batch = Vec::new();
            scratch = Vec::new();
        }
        out.written(queued);
        if !ok {
            break;
        }
        if done {
            let _ = w.flush().await;
            break;
        }
    }
    let _ = w.shutdown().await;
    out.mark_closed();
}

async fn write_all_vectored<W: AsyncWrite + Unpin>(
    w: &mut W,
    mut slices: Vec<IoSlice<'_>>,
) -> std::io::Result<()> {
    let mut bufs: &mut [IoSlice<'_>] = &mut slices;
    while !bufs.is_empty() {
        let n = w.write_vectored(bufs).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        IoSlice::advance_slices(&mut bufs, n);
    }
    Ok(())
}

fn itoa_buf() -> [u8; 20] {
    [0u8; 20]
}

fn fmt_u64(buf: &mut [u8; 20], mut v: u64) -> &str {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    std::str::from_utf8(&buf[i..]).expect("digits")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_lengths() {
        let mut v = Vec::new();
        frame_header(&mut v, OP_TEXT, 5);
        assert_eq!(v, [0x81, 5]);
        v.clear();
        frame_header(&mut v, OP_TEXT, 300);
        assert_eq!(v, [0x81, 126, 1, 44]);
        v.clear();
        frame_header(&mut v, OP_BINARY, 70_000);
        assert_eq!(v[..2], [0x82, 127]);
        assert_eq!(v.len(), 10);
    }

    #[test]
    fn seq_digits() {
        let mut b = itoa_buf();
        assert_eq!(fmt_u64(&mut b, 0), "0");
        assert_eq!(fmt_u64(&mut b, 1234567), "1234567");
        assert_eq!(fmt_u64(&mut b, u64::MAX), "18446744073709551615");
    }
}

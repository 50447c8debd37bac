//! A cancel-safe RFC 6455 frame decoder for the server side (client frames must be masked).
//!
//! Why hand-written: an idle socket should cost almost nothing. The decoder keeps no buffer
//! while idle (it waits for readability, then reads into a buffer sized to what arrives and
//! drops it once drained), where a general-purpose reader keeps a fixed 8 KiB per socket.
//! `read_frame` only moves bytes from the socket into `buf` when they are ready and parses
//! from `buf`, so dropping it mid-way loses nothing (it can sit in a `select!`).

use bytes::{Buf, Bytes, BytesMut};
use tokio::net::tcp::OwnedReadHalf;

/// First read chunk once a socket becomes readable (most frames are far smaller).
pub const READ_CHUNK: usize = 4096;
/// A drained buffer with more capacity than this is released (idle sockets hold none).
pub const KEEP_BUFFER: usize = 0;
/// Largest single reservation while a big frame arrives (the buffer grows as bytes do,
/// not up front to whatever length a header claims).
pub const MAX_RESERVE_STEP: usize = 256 * 1024;

/// Frame opcodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpCode {
    /// 0x0: continues a fragmented message.
    Continuation,
    /// 0x1: UTF-8 text.
    Text,
    /// 0x2: binary.
    Binary,
    /// 0x8: close.
    Close,
    /// 0x9: ping.
    Ping,
    /// 0xA: pong.
    Pong,
}

/// One decoded (unmasked) frame.
#[derive(Debug)]
pub struct Frame {
    /// Final fragment.
    pub fin: bool,
    /// Frame type.
    pub opcode: OpCode,
    /// Unmasked payload.
    pub payload: Bytes,
}

/// Why decoding stopped.
#[derive(Debug, PartialEq, Eq)]
pub enum FrameError {
    /// Reserved bits, reserved opcode, unmasked client frame, bad control frame, bad length.
    Protocol,
    /// Payload over the current limit.
    TooBig,
    /// EOF or an I/O error.
    Gone,
}

/// Where a socket's bytes come from: tokio's reactor, or (io_uring) the ring's RECVs.
#[derive(Debug)]
pub(crate) enum Source {
    /// Read with `read(2)` when epoll says readable.
    Tokio(OwnedReadHalf),
    /// Filled by the ring's driver.
    #[cfg(all(target_os = "linux", feature = "io-uring"))]
    Ring(crate::uring::RingReader),
}

impl Source {
    async fn readable(&self) -> std::io::Result<()> {
        match self {
            Source::Tokio(io) => io.readable().await,
            #[cfg(all(target_os = "linux", feature = "io-uring"))]
            Source::Ring(r) => r.readable().await,
        }
    }

    fn try_read_buf(&self, buf: &mut BytesMut) -> std::io::Result<usize> {
        match self {
            Source::Tokio(io) => io.try_read_buf(buf),
            #[cfg(all(target_os = "linux", feature = "io-uring"))]
            Source::Ring(r) => r.try_read_buf(buf),
        }
    }

    /// Bytes to reserve before a read: the ring hands over whole buffers, so none.
    fn reads_in_place(&self) -> bool {
        matches!(self, Source::Tokio(_))
    }
}

/// Reads frames from the socket.
#[derive(Debug)]
pub struct FrameReader {
    io: Source,
    buf: BytesMut,
}

impl FrameReader {
    /// Start with bytes already read past the upgrade request (`rest`).
    pub(crate) fn new(io: Source, rest: Bytes) -> Self {
        let mut buf = BytesMut::new();
        if !rest.is_empty() {
            buf.extend_from_slice(&rest);
        }
        Self { io, buf }
    }

    /// The next frame with a payload of at most `max` bytes. Cancel-safe.
    pub async fn read_frame(&mut self, max: usize) -> Result<Frame, FrameError> {
        loop {
            if let Some(f) = decode(&mut self.buf, max)? {
                if self.buf.is_empty() && self.buf.capacity() > KEEP_BUFFER {
                    self.buf = BytesMut::new();
                }
                return Ok(f);
            }
            self.io.readable().await.map_err(|_| FrameError::Gone)?;
            if self.io.reads_in_place() {
                let want = needed(&self.buf)
                    .unwrap_or(READ_CHUNK)
                    .clamp(READ_CHUNK, MAX_RESERVE_STEP);
                self.buf.reserve(want);
            }
            match self.io.try_read_buf(&mut self.buf) {
                Ok(0) => return Err(FrameError::Gone),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    // Readiness was stale (set by the last successful read): nothing came, so
                    // do not sit idle on the buffer just reserved.
                    if self.buf.is_empty() {
                        self.buf = BytesMut::new();
                    }
                }
                Err(_) => return Err(FrameError::Gone),
            }
        }
    }
}

/// Bytes still missing for the frame at the front of `buf`, when its header is complete.
fn needed(buf: &[u8]) -> Option<usize> {
    let (hlen, plen) = header(buf).ok()??;
    Some((hlen + plen).saturating_sub(buf.len()))
}

/// Parse the header at the front of `buf`: `(header length incl. mask, payload length)`,
/// `None` when incomplete.
fn header(buf: &[u8]) -> Result<Option<(usize, usize)>, FrameError> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let masked = buf[1] & 0x80 != 0;
    if !masked {
        return Err(FrameError::Protocol);
    }
    let (len, at) = match buf[1] & 0x7f {
        126 => {
            if buf.len() < 4 {
                return Ok(None);
            }
            (u16::from_be_bytes([buf[2], buf[3]]) as u64, 4)
        }
        127 => {
            if buf.len() < 10 {
                return Ok(None);
            }
            let mut b = [0u8; 8];
            b.copy_from_slice(&buf[2..10]);
            let l = u64::from_be_bytes(b);
            if l >> 63 != 0 {
                return Err(FrameError::Protocol);
            }
            (l, 10)
        }
        n => (n as u64, 2),
    };
    let plen = usize::try_from(len).map_err(|_| FrameError::TooBig)?;
    Ok(Some((at + 4, plen)))
}

/// Decode one frame from the front of `buf` (consuming it), `None` if incomplete.
pub fn decode(buf: &mut BytesMut, max: usize) -> Result<Option<Frame>, FrameError> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let b0 = buf[0];
    if b0 & 0x70 != 0 {
        return Err(FrameError::Protocol);
    }
    let fin = b0 & 0x80 != 0;
    let opcode = match b0 & 0x0f {
        0x0 => OpCode::Continuation,
        0x1 => OpCode::Text,
        0x2 => OpCode::Binary,
        0x8 => OpCode::Close,
        0x9 => OpCode::Ping,
        0xA => OpCode::Pong,
        _ => return Err(FrameError::Protocol),
    };
    let control = matches!(opcode, OpCode::Close | OpCode::Ping | OpCode::Pong);
    if control && (!fin || buf[1] & 0x7f > 125) {
        return Err(FrameError::Protocol);
    }
    let Some((hlen, plen)) = header(buf)? else {
        return Ok(None);
    };
    if plen > max {
        return Err(FrameError::TooBig);
    }
    if buf.len() < hlen + plen {
        return Ok(None);
    }
    let mask = [buf[hlen - 4], buf[hlen - 3], buf[hlen - 2], buf[hlen - 1]];
    buf.advance(hlen);
    let mut payload = buf.split_to(plen);
    unmask(&mut payload, mask);
    Ok(Some(Frame {
        fin,
        opcode,
        payload: payload.freeze(),
    }))
}

/// XOR `data` with the 4-byte `mask` (8 bytes at a time, then the tail).
fn unmask(data: &mut [u8], mask: [u8; 4]) {
    let m8 = u64::from_ne_bytes([
        mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3],
    ]);
    let mut chunks = data.chunks_exact_mut(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        let v = u64::from_ne_bytes(w) ^ m8;
        c.copy_from_slice(&v.to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= mask[i % 4];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client_frame(b0: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
        let mut v = vec![b0];
        let n = payload.len();
        if n < 126 {
            v.push(0x80 | n as u8);
        } else if n <= 0xffff {
            v.push(0x80 | 126);
            v.extend_from_slice(&(n as u16).to_be_bytes());
        } else {
            v.push(0x80 | 127);
            v.extend_from_slice(&(n as u64).to_be_bytes());
        }
        v.extend_from_slice(&mask);
        v.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        v
    }

    #[test]
    fn decodes_every_length_form_split_anywhere() {
        for n in [
            0usize, 1, 7, 8, 9, 125, 126, 127, 1000, 65_535, 65_536, 70_000,
        ] {
            let payload: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
            let wire = client_frame(0x82, &payload, [1, 2, 3, 4]);
            // Fed in two pieces at a few split points: incomplete until the end.
            for split in [0, 1, 2, wire.len() / 2, wire.len() - 1] {
                let mut buf = BytesMut::from(&wire[..split]);
                if split < wire.len() {
                    assert!(
                        decode(&mut buf, usize::MAX).unwrap().is_none(),
                        "n={n} split={split}"
                    );
                }
                buf.extend_from_slice(&wire[split..]);
                let f = decode(&mut buf, usize::MAX).unwrap().unwrap();
                assert!(f.fin);
                assert_eq!(f.opcode, OpCode::Binary);
                assert_eq!(&f.payload[..], &payload[..]);
                assert!(buf.is_empty());
            }
        }
    }

    #[test]
    fn rejects_what_rfc_6455_forbids() {
        let unmasked = [0x81u8, 0x01, b'a'];
        assert_eq!(
            decode(&mut BytesMut::from(&unmasked[..]), 100).unwrap_err(),
            FrameError::Protocol
        );
        let rsv = client_frame(0xC1, b"a", [0; 4]);
        assert_eq!(
            decode(&mut BytesMut::from(&rsv[..]), 100).unwrap_err(),
            FrameError::Protocol
        );
        let reserved_op = client_frame(0x83, b"a", [0; 4]);
        assert_eq!(
            decode(&mut BytesMut::from(&reserved_op[..]), 100).unwrap_err(),
            FrameError::Protocol
        );
        let fragmented_ping = client_frame(0x09, b"a", [0; 4]);
        assert_eq!(
            decode(&mut BytesMut::from(&fragmented_ping[..]), 100).unwrap_err(),
            FrameError::Protocol
        );
        let big_ping = client_frame(0x89, &[0u8; 126], [0; 4]);
        assert_eq!(
            decode(&mut BytesMut::from(&big_ping[..]), 1000).unwrap_err(),
            FrameError::Protocol
        );
        let big = client_frame(0x81, &[b'a'; 101], [0; 4]);
        assert_eq!(
            decode(&mut BytesMut::from(&big[..]), 100).unwrap_err(),
            FrameError::TooBig
        );
        let mut huge = vec![0x82u8, 0x80 | 127];
        huge.extend_from_slice(&(1u64 << 63).to_be_bytes());
        huge.extend_from_slice(&[0; 4]);
        assert_eq!(
            decode(&mut BytesMut::from(&huge[..]), usize::MAX).unwrap_err(),
            FrameError::Protocol
        );
    }

    #[test]
    fn two_frames_in_one_buffer() {
        let mut wire = client_frame(0x01, b"hel", [9, 8, 7, 6]);
        wire.extend(client_frame(0x80, b"lo", [5, 4, 3, 2]));
        let mut buf = BytesMut::from(&wire[..]);
        let a = decode(&mut buf, 100).unwrap().unwrap();
        assert_eq!(
            (a.fin, a.opcode, &a.payload[..]),
            (false, OpCode::Text, &b"hel"[..])
        );
        let b = decode(&mut buf, 100).unwrap().unwrap();
        assert_eq!(
            (b.fin, b.opcode, &b.payload[..]),
            (true, OpCode::Continuation, &b"lo"[..])
        );
    }
}

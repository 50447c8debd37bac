//! The reader loop: frames in, complete messages out, control frames answered.
//!
//! [`FrameReader`] parses frames (masking, lengths, reserved bits, per-frame size); this loop
//! joins fragments under the current message limit, validates UTF-8 of text messages and
//! close payloads (≤ 125 bytes, a legal code), and maps every violation to its close code.
//! Every step is cancel-safe: a partial message lives in `self`, never in the future.

use bytes::{Bytes, BytesMut};

use crate::ws::frame::{FrameError, FrameReader, OpCode};

use crate::app::Message;
use crate::outbound::{Item, Outbound};

/// Close codes we send.
pub(crate) mod code {
    /// Normal closure.
    pub const NORMAL: u16 = 1000;
    /// Protocol error.
    pub const PROTOCOL: u16 = 1002;
    /// Invalid payload data (bad UTF-8).
    pub const INVALID_DATA: u16 = 1007;
    /// Policy violation (too many control frames).
    pub const POLICY: u16 = 1008;
    /// Message too big.
    pub const TOO_BIG: u16 = 1009;
}

/// Why reading stopped.
#[derive(Debug)]
pub(crate) enum ReadEnd {
    /// The peer sent a close frame (already echoed).
    PeerClosed,
    /// The peer vanished (EOF or I/O error).
    Gone,
    /// A protocol violation: close with this code (already queued).
    Violation,
    /// A peer over its control-frame budget (close 1008 queued): not read any further.
    Flood,
}

/// Joins fragments into messages.
pub(crate) struct Reader {
    ws: FrameReader,
    partial: Option<(bool, BytesMut)>,
    control: ControlBudget,
}

/// Control frames (pings, pongs) allowed per one-second window; 0 is unlimited.
struct ControlBudget {
    per_sec: u32,
    used: u32,
    window_end: tokio::time::Instant,
}

impl ControlBudget {
    fn new(per_sec: u32) -> Self {
        Self {
            per_sec,
            used: 0,
            window_end: tokio::time::Instant::now(),
        }
    }

    /// Count one control frame; `false` once the window's budget is spent.
    fn take(&mut self) -> bool {
        if self.per_sec == 0 {
            return true;
        }
        let now = tokio::time::Instant::now();
        if now >= self.window_end {
            self.window_end = now + std::time::Duration::from_secs(1);
            self.used = 0;
        }
        self.used = self.used.saturating_add(1);
        self.used <= self.per_sec
    }
}

fn legal_close_code(c: u16) -> bool {
    matches!(c, 1000..=1003 | 1007..=1011 | 3000..=4999)
}

impl Reader {
    pub(crate) fn new(ws: FrameReader, max_control_per_sec: u32) -> Self {
        Self {
            ws,
            partial: None,
            control: ControlBudget::new(max_control_per_sec),
        }
    }

    /// Read the next complete message under `limit` bytes. Control frames are handled here:
    /// pings answered, close frames validated and echoed (or answered with 1002/1007).
    pub(crate) async fn next(&mut self, out: &Outbound, limit: usize) -> Result<Message, ReadEnd> {
        loop {
            let frame = match self.ws.read_frame(limit).await {
                Ok(f) => f,
                Err(e) => return Err(fail(out, e)),
            };
            match frame.opcode {
                OpCode::Text | OpCode::Binary => {
                    if self.partial.is_some() {
                        out.close(code::PROTOCOL, "");
                        return Err(ReadEnd::Violation);
                    }
                    let text = frame.opcode == OpCode::Text;
                    if frame.fin {
                        return finish(out, text, frame.payload);
                    }
                    let mut buf = BytesMut::with_capacity(frame.payload.len() * 2);
                    buf.extend_from_slice(&frame.payload);
                    self.partial = Some((text, buf));
                }
                OpCode::Continuation => {
                    let Some((text, buf)) = self.partial.as_mut() else {
                        out.close(code::PROTOCOL, "");
                        return Err(ReadEnd::Violation);
                    };
                    if buf.len() + frame.payload.len() > limit {
                        out.close(code::TOO_BIG, "");
                        return Err(ReadEnd::Violation);
                    }
                    buf.extend_from_slice(&frame.payload);
                    if frame.fin {
                        let text = *text;
                        let (_, buf) = self.partial.take().expect("partial");
                        return finish(out, text, buf.freeze());
                    }
                }
                OpCode::Ping | OpCode::Pong if !self.control.take() => {
                    out.close(code::POLICY, "too many control frames");
                    return Err(ReadEnd::Flood);
                }
                OpCode::Ping => {
                    out.push_control(Item::Pong(frame.payload));
                }
                OpCode::Pong => {}
                OpCode::Close => {
                    let p = &frame.payload[..];
                    if p.is_empty() {
                        out.push_control(Item::CloseRaw(Bytes::new()));
                        return Err(ReadEnd::PeerClosed);
                    }
                    if p.len() == 1 || p.len() > 125 {
                        out.close(code::PROTOCOL, "");
                        return Err(ReadEnd::Violation);
                    }
                    let c = u16::from_be_bytes([p[0], p[1]]);
                    if !legal_close_code(c) {
                        out.close(code::PROTOCOL, "");
                        return Err(ReadEnd::Violation);
                    }
                    if std::str::from_utf8(&p[2..]).is_err() {
                        out.close(code::INVALID_DATA, "");
                        return Err(ReadEnd::Violation);
                    }
                    out.push_control(Item::CloseRaw(Bytes::copy_from_slice(&p[..2])));
                    return Err(ReadEnd::PeerClosed);
                }
            }
        }
    }

    /// After we sent a close: discard frames until the peer's close or EOF.
    pub(crate) async fn linger(&mut self) {
        loop {
            match self.ws.read_frame(usize::MAX).await {
                Ok(f) if f.opcode == OpCode::Close => return,
                Ok(_) => continue,
                Err(_) => return,
            }
        }
    }
}

fn finish(out: &Outbound, text: bool, data: Bytes) -> Result<Message, ReadEnd> {
    if text && simd_utf8_invalid(&data) {
        out.close(code::INVALID_DATA, "");
        return Err(ReadEnd::Violation);
    }
    Ok(Message { text, data })
}

fn simd_utf8_invalid(data: &[u8]) -> bool {
    std::str::from_utf8(data).is_err()
}

fn fail(out: &Outbound, e: FrameError) -> ReadEnd {
    let c = match e {
        FrameError::TooBig => code::TOO_BIG,
        FrameError::Gone => return ReadEnd::Gone,
        FrameError::Protocol => code::PROTOCOL,
    };
    out.close(c, "");
    ReadEnd::Violation
}

#[allow(dead_code)]
const _: u16 = code::NORMAL;

//! The reader loop: frames in, complete messages out, control frames answered.
//!
//! [`FrameReader`] parses frames (masking, lengths, reserved bits, per-frame size); this loop
//! joins fragments under the current message limit, validates UTF-8 of text messages and
//! close payloads (≤ 125 bytes, a legal code), and maps every violation to its close code.
//! Every step is cancel-safe: a partial message lives in `self`, never in the future.

use bytes::{Bytes, BytesMut};

use crate::ws::frame::{Frame, FrameError, FrameReader, OpCode};

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
    /// A peer over its control-frame budget for too many seconds in a row (close 1008
    /// queued): not read any further.
    Flood,
}

/// Joins fragments into messages.
pub(crate) struct Reader {
    ws: FrameReader,
    partial: Option<(bool, BytesMut)>,
    control: ControlBudget,
    /// A control frame past the budget, handled once its window has ended (reads pause
    /// until then: the peer is slowed by TCP backpressure, not disconnected).
    held: Option<Frame>,
}

/// Control frames (pings, pongs) allowed per one-second window; 0 is unlimited. A socket
/// that spends `flood_secs` windows in a row over the budget is a flood.
struct ControlBudget {
    per_sec: u32,
    used: u32,
    window_end: tokio::time::Instant,
    flood_secs: u32,
    /// Windows in a row that ran over the budget (the last one ended `over_end`).
    strikes: u32,
    over_end: Option<tokio::time::Instant>,
}

/// What the budget says about one more control frame.
#[derive(Debug, PartialEq)]
enum Budget {
    /// Within this window's budget.
    Take,
    /// Over it: pause reading until this instant, then count the frame again.
    WaitUntil(tokio::time::Instant),
    /// Over it for `flood_secs` windows in a row.
    Flood,
}

const WINDOW: std::time::Duration = std::time::Duration::from_secs(1);

impl ControlBudget {
    fn new(per_sec: u32, flood_secs: u32) -> Self {
        Self {
            per_sec,
            used: 0,
            window_end: tokio::time::Instant::now(),
            flood_secs: flood_secs.max(1),
            strikes: 0,
            over_end: None,
        }
    }

    /// Count one control frame at `now`.
    fn take(&mut self, now: tokio::time::Instant) -> Budget {
        if self.per_sec == 0 {
            return Budget::Take;
        }
        if now >= self.window_end {
            self.window_end = now + WINDOW;
            self.used = 0;
        }
        if self.used < self.per_sec {
            self.used += 1;
            return Budget::Take;
        }
        // Over the budget: a new strike once per window. Windows count as "in a row" when
        // this one began within a window of the last one over budget ending.
        if self.over_end != Some(self.window_end) {
            let start = self.window_end - WINDOW;
            let in_a_row = self.over_end.is_some_and(|e| start <= e + WINDOW);
            self.strikes = if in_a_row { self.strikes + 1 } else { 1 };
            self.over_end = Some(self.window_end);
        }
        if self.strikes >= self.flood_secs {
            Budget::Flood
        } else {
            Budget::WaitUntil(self.window_end)
        }
    }
}

fn legal_close_code(c: u16) -> bool {
    matches!(c, 1000..=1003 | 1007..=1011 | 3000..=4999)
}

impl Reader {
    pub(crate) fn new(ws: FrameReader, max_control_per_sec: u32, flood_secs: u32) -> Self {
        Self {
            ws,
            partial: None,
            control: ControlBudget::new(max_control_per_sec, flood_secs),
            held: None,
        }
    }

    /// The next frame: a held control frame once its pause is over, else one from the socket.
    /// Cancel-safe: the held frame stays in `self` while the pause is awaited.
    async fn frame(&mut self, limit: usize) -> Result<Frame, FrameError> {
        if let Some(f) = self.held.take() {
            let now = tokio::time::Instant::now();
            if now < self.control.window_end {
                self.held = Some(f);
                tokio::time::sleep_until(self.control.window_end).await;
                return Ok(self.held.take().expect("held frame"));
            }
            return Ok(f);
        }
        self.ws.read_frame(limit).await
    }

    /// Read the next complete message under `limit` bytes. Control frames are handled here:
    /// pings answered, close frames validated and echoed (or answered with 1002/1007).
    pub(crate) async fn next(&mut self, out: &Outbound, limit: usize) -> Result<Message, ReadEnd> {
        loop {
            let frame = match self.frame(limit).await {
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
                OpCode::Ping | OpCode::Pong => {
                    match self.control.take(tokio::time::Instant::now()) {
                        Budget::Take => {}
                        Budget::WaitUntil(_) => {
                            self.held = Some(frame);
                            continue;
                        }
                        Budget::Flood => {
                            out.close(code::POLICY, "too many control frames");
                            return Err(ReadEnd::Flood);
                        }
                    }
                    if frame.opcode == OpCode::Ping {
                        out.push_control(Item::Pong(frame.payload));
                    }
                }
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

#[cfg(test)]
mod tests {
    use super::{Budget, ControlBudget, WINDOW};
    use std::time::Duration;

    #[test]
    fn over_the_budget_pauses_and_only_seconds_in_a_row_are_a_flood() {
        let mut b = ControlBudget::new(3, 3);
        let t0 = tokio::time::Instant::now();
        for _ in 0..3 {
            assert_eq!(b.take(t0), Budget::Take);
        }
        // Second 1 over: wait for its end; asking again inside it changes nothing.
        assert_eq!(b.take(t0), Budget::WaitUntil(t0 + WINDOW));
        assert_eq!(
            b.take(t0 + Duration::from_millis(500)),
            Budget::WaitUntil(t0 + WINDOW)
        );
        // Second 2 (right after) over too.
        let t1 = t0 + WINDOW;
        for _ in 0..3 {
            assert_eq!(b.take(t1), Budget::Take);
        }
        assert_eq!(b.take(t1), Budget::WaitUntil(t1 + WINDOW));
        // A quiet second and then a burst: the count starts again.
        let t3 = t1 + 3 * WINDOW;
        for _ in 0..3 {
            assert_eq!(b.take(t3), Budget::Take);
        }
        assert_eq!(b.take(t3), Budget::WaitUntil(t3 + WINDOW));
        // Two more seconds over, in a row: the third is a flood.
        let t4 = t3 + WINDOW;
        for _ in 0..3 {
            assert_eq!(b.take(t4), Budget::Take);
        }
        assert_eq!(b.take(t4), Budget::WaitUntil(t4 + WINDOW));
        let t5 = t4 + WINDOW + Duration::from_millis(10);
        for _ in 0..3 {
            assert_eq!(b.take(t5), Budget::Take);
        }
        assert_eq!(b.take(t5), Budget::Flood);
    }

    #[test]
    fn zero_is_no_limit() {
        let mut b = ControlBudget::new(0, 1);
        let t0 = tokio::time::Instant::now();
        for _ in 0..10_000 {
            assert_eq!(b.take(t0), Budget::Take);
        }
    }
}

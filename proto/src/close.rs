//! WebSocket close codes the gateway sends, by name (RFC 6455 §7.4.1 and the IANA registry),
//! so no handler spells a bare number. The transport keeps its own copies for the codes it
//! sends by itself (`openclaw_net` knows no protocol crate).

/// Normal closure (a non-JSON or binary first frame, as the Node gateway closes).
pub const NORMAL: u16 = 1000;
/// Protocol error (a malformed or refused handshake frame).
pub const PROTOCOL_ERROR: u16 = 1002;
/// Policy violation: refused `connect`, invalid request frame, slow consumer.
pub const POLICY_VIOLATION: u16 = 1008;
/// Service restart: the gateway is stopping or restarting.
pub const SERVICE_RESTART: u16 = 1012;
/// Try again later: a temporary refusal (e.g. a lockout or an overloaded path).
pub const TRY_AGAIN_LATER: u16 = 1013;

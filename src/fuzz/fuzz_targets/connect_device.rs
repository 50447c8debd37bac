//! Fuzz target: `connect` params with a device block, checked as the handshake checks them.
//! Any bytes as the params object must either be refused by the parser or go through the
//! device-auth checks (key decoding, id match, nonce, signature over the v3/v2 payloads)
//! to a verdict — never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use openclaw::auth::device::verify;
use openclaw_proto::parse_connect_params;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(params) = parse_connect_params(Some(text)) else { return };
    let Some(dev) = &params.device else { return };
    // The socket's own nonce, and the one the client claims (so the signature check runs).
    let _ = verify(dev, &params, "fuzz-nonce", 1_700_000_000_000);
    let _ = verify(dev, &params, &dev.nonce, 1_700_000_000_000);
});

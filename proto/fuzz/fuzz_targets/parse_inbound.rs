//! Fuzz target: `parse_inbound` and the params/connect parsers must never panic on any input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use openclaw_proto::{parse_connect_params, parse_inbound, Inbound};

fuzz_target!(|data: &[u8]| {
    if let Ok(Inbound::Request(req)) = parse_inbound(data) {
        assert!(!req.id().is_empty());
        assert!(!req.method().is_empty());
        let _ = req.parse_params::<serde_json::Value>();
        let _ = req.parse_params_or_default::<serde_json::Value>();
        let _ = parse_connect_params(req.params_raw());
        let owned = req.clone().into_owned();
        assert_eq!(owned, req);
    }
});

//! Fuzz target: the config file pipeline up to resolution — JSON5 parsing, `${VAR}`
//! substitution and validation — on any text: an error list or a clean pass, never a panic
//! or a hang.
#![no_main]

use libfuzzer_sys::fuzz_target;
use openclaw::config::{parse_json5, substitute_env, validate, Env};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(mut v) = parse_json5(&text) else { return };
    let env = Env::from_pairs([("HOME", "/nonexistent"), ("OPENCLAW_GATEWAY_TOKEN", "t")]);
    let mut warnings = Vec::new();
    substitute_env(&mut v, &env, "", &mut warnings);
    let _ = validate(&v);
});

//! openclaw-loadtest.
fn main() {}

//! The wall clock as the protocol counts it (ms since the Unix epoch). A leaf: every layer
//! may use it, it uses nothing of ours. Local civil time for logs is `config::clock`.

/// Wall clock in ms since the epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

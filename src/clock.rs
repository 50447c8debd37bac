//! The wall clock as the protocol counts it (ms since the Unix epoch), and the time-ordered
//! ids derived from it. A leaf: every layer may use it, it uses nothing of ours. Local civil
//! time for logs is `config::clock`.

/// Wall clock in ms since the epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A new UUID whose text sorts by creation time (v7): ids that key an index (session ids,
/// generated session keys and run ids) then insert at the index's right edge, so a group
/// commit of many new rows writes a few shared pages instead of one random page per row.
pub fn ordered_uuid() -> String {
    uuid::Uuid::now_v7().to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn ordered_uuids_sort_by_creation() {
        let ids: Vec<String> = (0..1000).map(|_| super::ordered_uuid()).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
        assert!(ids.windows(2).all(|w| w[0] != w[1]));
        assert_eq!(uuid::Uuid::parse_str(&ids[0]).unwrap().get_version_num(), 7);
    }
}

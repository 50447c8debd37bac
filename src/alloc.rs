//! Allocator tuning for a process that holds many idle sockets.
//!
//! mimalloc (v3) returns freed pages to the OS only after `purge_delay` (1 s) *and* only when the
//! freeing thread allocates again; a worker that goes idle after a burst of handshakes keeps
//! those pages resident. With a delay of 0 they are released at once: idle RSS per socket
//! drops by about 1 KB (BENCHMARKS.md), with no measurable cost to handshake or RPC
//! throughput. `MIMALLOC_PURGE_DELAY` in the environment still wins.

/// mimalloc's `mi_option_purge_delay` (index in mimalloc.h; the Rust bindings do not name it).
pub const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
/// mimalloc's default for that option (checked by a test, so the index stays honest).
pub const MI_DEFAULT_PURGE_DELAY_MS: i64 = 1000;
/// Our setting.
pub const PURGE_DELAY_MS: i64 = 0;

/// Apply the tuning (call first thing in `main`).
pub fn tune(env_override: bool) {
    if env_override {
        return;
    }
    // SAFETY: sets a process-global allocator option; mimalloc reads it on each purge.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS as _) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_purge_delay_index_is_mimallocs() {
        // SAFETY: reads a process-global option.
        let v = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        assert_eq!(v as i64, MI_DEFAULT_PURGE_DELAY_MS);
    }
}

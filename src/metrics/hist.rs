//! The two lock-free instruments behind `/metrics`: a counter and a fixed-bucket latency
//! histogram, both plain relaxed atomics, const-constructible so they can live in statics and
//! never allocate on update. Encoding them is [`super::text`]'s job.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A monotonically increasing count.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Zero.
    pub const fn new() -> Self {
        Counter(AtomicU64::new(0))
    }

    /// Add one.
    #[inline]
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    /// Add `n`.
    #[inline]
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// The count.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Upper bounds of the latency buckets, in microseconds (100 µs … 60 s; `+Inf` follows).
pub const BOUNDS_US: [u64; 18] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 5_000_000, 10_000_000, 30_000_000, 60_000_000,
];

/// A latency histogram: one counter per bucket (not cumulative; the encoder sums them) and
/// the sum in microseconds. The count is the sum of the buckets, so a scrape never sees a
/// count that disagrees with its buckets.
#[derive(Debug)]
pub struct Hist {
    buckets: [AtomicU64; BOUNDS_US.len() + 1],
    sum_us: AtomicU64,
}

impl Default for Hist {
    fn default() -> Self {
        Self::new()
    }
}

impl Hist {
    /// Empty.
    pub const fn new() -> Self {
        Hist {
            buckets: [const { AtomicU64::new(0) }; BOUNDS_US.len() + 1],
            sum_us: AtomicU64::new(0),
        }
    }

    /// Record one observation.
    #[inline]
    pub fn observe(&self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let i = BOUNDS_US.partition_point(|b| *b < us);
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
    }

    /// Cumulative bucket counts (the last is `+Inf`, i.e. the total count) and the sum in
    /// microseconds.
    pub fn snapshot(&self) -> ([u64; BOUNDS_US.len() + 1], u64) {
        let mut out = [0u64; BOUNDS_US.len() + 1];
        let mut acc = 0;
        for (o, b) in out.iter_mut().zip(&self.buckets) {
            acc += b.load(Ordering::Relaxed);
            *o = acc;
        }
        (out, self.sum_us.load(Ordering::Relaxed))
    }

    /// How many observations.
    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_the_first_bucket_that_holds_them() {
        let h = Hist::new();
        h.observe(Duration::from_micros(100)); // le 0.0001
        h.observe(Duration::from_micros(101)); // le 0.00025
        h.observe(Duration::from_secs(120)); // +Inf
        let (b, sum) = h.snapshot();
        assert_eq!(b[0], 1);
        assert_eq!(b[1], 2);
        assert_eq!(b[BOUNDS_US.len() - 1], 2);
        assert_eq!(b[BOUNDS_US.len()], 3);
        assert_eq!(h.count(), 3);
        assert_eq!(sum, 100 + 101 + 120_000_000);
    }
}

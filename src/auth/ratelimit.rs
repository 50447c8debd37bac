//! Failed-auth rate limiting (security.md §4): `maxAttempts` wrong credentials per
//! `windowMs` per client IP × credential class lock that key out for `lockoutMs`.
//!
//! Only wrong credentials count (missing ones and successes do not); a success clears that
//! class for that IP. Loopback is exempt when `exemptLoopback` (the default). State is in
//! memory, bounded by [`MAX_LIMITER_ENTRIES`] with pruning of idle keys.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use tokio::time::Instant;

/// Hard cap on tracked (ip, class) keys; idle ones are pruned first.
pub const MAX_LIMITER_ENTRIES: usize = 10_000;

/// Limiter settings (from `gateway.auth.rateLimit`).
#[derive(Clone, Copy, Debug)]
pub struct RateLimitSettings {
    /// Failures allowed per window.
    pub max_attempts: u32,
    /// Window length.
    pub window: Duration,
    /// Lockout length once exceeded.
    pub lockout: Duration,
    /// Loopback peers are never locked out.
    pub exempt_loopback: bool,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            max_attempts: 10,
            window: Duration::from_millis(60_000),
            lockout: Duration::from_millis(300_000),
            exempt_loopback: true,
        }
    }
}

#[derive(Debug)]
struct Bucket {
    window_start: Instant,
    failures: u32,
    locked_until: Option<Instant>,
}

/// The limiter.
#[derive(Debug, Default)]
pub struct AuthLimiter {
    map: Mutex<HashMap<(IpAddr, &'static str), Bucket>>,
}

impl AuthLimiter {
    /// `Err(retry_after)` if this key is locked out now.
    pub fn check(
        &self,
        s: &RateLimitSettings,
        ip: IpAddr,
        class: &'static str,
    ) -> Result<(), Duration> {
        if s.exempt_loopback && ip.is_loopback() {
            return Ok(());
        }
        let now = Instant::now();
        let m = self.map.lock();
        match m.get(&(ip, class)).and_then(|b| b.locked_until) {
            Some(until) if until > now => Err(until - now),
            _ => Ok(()),
        }
    }

    /// Count one wrong credential. Returns the lockout if this failure triggered one.
    pub fn failure(
        &self,
        s: &RateLimitSettings,
        ip: IpAddr,
        class: &'static str,
    ) -> Option<Duration> {
        if s.exempt_loopback && ip.is_loopback() {
            return None;
        }
        let now = Instant::now();
        let mut m = self.map.lock();
        if m.len() >= MAX_LIMITER_ENTRIES {
            m.retain(|_, b| {
                b.locked_until.is_some_and(|u| u > now) || now - b.window_start < s.window
            });
            if m.len() >= MAX_LIMITER_ENTRIES {
                return None;
            }
        }
        let b = m.entry((ip, class)).or_insert(Bucket {
            window_start: now,
            failures: 0,
            locked_until: None,
        });
        if now - b.window_start >= s.window {
            b.window_start = now;
            b.failures = 0;
        }
        b.failures += 1;
        if b.failures >= s.max_attempts {
            b.locked_until = Some(now + s.lockout);
            b.failures = 0;
            b.window_start = now;
            return Some(s.lockout);
        }
        None
    }

    /// A success clears that class for that IP.
    pub fn success(&self, ip: IpAddr, class: &'static str) {
        self.map.lock().remove(&(ip, class));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn ten_failures_lock_out_for_five_minutes() {
        let s = RateLimitSettings::default();
        let l = AuthLimiter::default();
        let ip: IpAddr = "10.1.2.3".parse().unwrap();
        for _ in 0..9 {
            assert!(l.failure(&s, ip, "token").is_none());
        }
        assert!(l.check(&s, ip, "token").is_ok());
        assert_eq!(l.failure(&s, ip, "token"), Some(Duration::from_secs(300)));
        let wait = l.check(&s, ip, "token").unwrap_err();
        assert_eq!(wait, Duration::from_secs(300));
        assert!(l.check(&s, ip, "password").is_ok(), "per credential class");
        tokio::time::advance(Duration::from_secs(301)).await;
        assert!(l.check(&s, ip, "token").is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn window_resets_and_loopback_is_exempt() {
        let s = RateLimitSettings::default();
        let l = AuthLimiter::default();
        let ip: IpAddr = "10.1.2.3".parse().unwrap();
        for _ in 0..9 {
            l.failure(&s, ip, "token");
        }
        tokio::time::advance(Duration::from_secs(61)).await;
        assert!(l.failure(&s, ip, "token").is_none(), "old failures expired");
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        for _ in 0..50 {
            assert!(l.failure(&s, lo, "token").is_none());
        }
        assert!(l.check(&s, lo, "token").is_ok());
    }
}

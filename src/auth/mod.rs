//! Authentication at connect: shared secrets (none / token / password / trusted-proxy),
//! device identity, the failed-auth limiter, and the connect-failure frames they produce.

pub mod device;
pub mod ratelimit;
pub mod shared;

use subtle::ConstantTimeEq;

/// Constant-time string equality (lengths may leak, contents do not).
pub fn ct_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

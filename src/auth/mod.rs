//! Authentication at connect: shared secrets (none / token / password / trusted-proxy),
//! device identity, the failed-auth limiter, and the connect-failure frames they produce.

pub mod device;
pub mod ratelimit;
pub mod shared;

use openclaw_proto::GrantedScopes;
use subtle::ConstantTimeEq;

/// Constant-time string equality (lengths may leak, contents do not).
pub fn ct_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

use std::net::IpAddr;

/// `true` if `ip` matches `pattern`: an address or a CIDR block.
pub fn ip_matches(pattern: &str, ip: IpAddr) -> bool {
    let pattern = pattern.trim();
    if let Some((net, bits)) = pattern.split_once('/') {
        let (Ok(net), Ok(bits)) = (net.parse::<IpAddr>(), bits.parse::<u32>()) else {
            return false;
        };
        return match (net, ip) {
            (IpAddr::V4(n), IpAddr::V4(i)) if bits <= 32 => {
                let mask = if bits == 0 {
                    0
                } else {
                    u32::MAX << (32 - bits)
                };
                u32::from(n) & mask == u32::from(i) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(i)) if bits <= 128 => {
                let mask = if bits == 0 {
                    0
                } else {
                    u128::MAX << (128 - bits)
                };
                u128::from(n) & mask == u128::from(i) & mask
            }
            _ => false,
        };
    }
    pattern.parse::<IpAddr>().is_ok_and(|p| p == ip)
}

/// An authenticated socket.
#[derive(Debug)]
pub struct Authed {
    /// Transport connection number.
    pub conn: u64,
    /// `server.connId`.
    pub conn_id: String,
    /// `operator` or `node`.
    pub role: String,
    /// Enforced scopes.
    pub scopes: GrantedScopes,
    /// `client.id`.
    pub client_id: String,
    /// `client.mode`.
    pub client_mode: String,
    /// Presence key when this socket created a presence entry.
    pub presence_key: Option<String>,
    /// Paired device id, when a device block was verified.
    pub device_id: Option<String>,
    /// A device that was paired by this connect (announce after hello).
    pub newly_paired: Option<String>,
    /// Advertised caps.
    pub caps: Vec<String>,
    /// What a `role:"node"` socket declared (its surface, for the node registry).
    pub node: Option<std::sync::Arc<crate::nodes::NodeDecl>>,
}

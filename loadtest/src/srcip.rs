//! `--source-ips`: parse a list/range of local IPv4 source addresses and bind client sockets to
//! them round-robin, so one machine can open more than the ~28k ephemeral ports of one source IP.

use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd;

use anyhow::{bail, Context, Result};
use tokio::net::TcpSocket;

/// Largest accepted list (a /16 worth of addresses).
const MAX_ADDRS: u32 = 65_536;

/// Parse `127.0.0.1-127.0.0.8`, `127.0.0.2,127.0.0.3`, a single address, or a mix of those.
pub fn parse(spec: &str) -> Result<Vec<Ipv4Addr>> {
    let mut out = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let a: Ipv4Addr = a
                    .trim()
                    .parse()
                    .with_context(|| format!("bad address {a:?}"))?;
                let b: Ipv4Addr = b
                    .trim()
                    .parse()
                    .with_context(|| format!("bad address {b:?}"))?;
                let (lo, hi) = (u32::from(a), u32::from(b));
                if hi < lo {
                    bail!("empty range {part}");
                }
                if hi - lo >= MAX_ADDRS || out.len() as u32 + (hi - lo) >= MAX_ADDRS {
                    bail!("too many source addresses (max {MAX_ADDRS})");
                }
                out.extend((lo..=hi).map(Ipv4Addr::from));
            }
            None => out.push(
                part.parse()
                    .with_context(|| format!("bad address {part:?}"))?,
            ),
        }
    }
    if out.is_empty() {
        bail!("no source address in {spec:?}");
    }
    Ok(out)
}

/// A TCP socket bound to `src` (port chosen at connect time, so every source address gets its own
/// ephemeral port range), with an optional small receive buffer.
pub fn socket(src: Option<Ipv4Addr>, rcvbuf: Option<u32>) -> Result<TcpSocket> {
    let s = TcpSocket::new_v4()?;
    if let Some(n) = rcvbuf {
        s.set_recv_buffer_size(n)?;
    }
    if let Some(ip) = src {
        bind_no_port(&s);
        s.bind(SocketAddr::from((ip, 0)))
            .with_context(|| format!("bind {ip}"))?;
    }
    Ok(s)
}

/// IP_BIND_ADDRESS_NO_PORT: defer the port choice to connect() (best effort).
fn bind_no_port(s: &TcpSocket) {
    let one: libc::c_int = 1;
    // SAFETY: setsockopt reads `one` for the given length; the fd is owned by `s`.
    unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            &one as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_lists() {
        let v = parse("127.0.0.1-127.0.0.8").unwrap();
        assert_eq!(v.len(), 8);
        assert_eq!(v[7], Ipv4Addr::new(127, 0, 0, 8));
        let v = parse("127.0.0.2, 127.0.0.5-127.0.0.6").unwrap();
        assert_eq!(
            v,
            [[127, 0, 0, 2], [127, 0, 0, 5], [127, 0, 0, 6]].map(Ipv4Addr::from)
        );
        let v = parse("127.0.0.255-127.0.1.1").unwrap();
        assert_eq!(v.len(), 3);
        assert!(parse("127.0.0.9-127.0.0.1").is_err());
        assert!(parse("nope").is_err());
        assert!(parse("").is_err());
        assert!(parse("10.0.0.0-10.1.0.0").is_err());
    }
}

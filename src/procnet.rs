//! Linux socket tables: who listens on a TCP port (`/proc/net/tcp{,6}` LISTEN rows, their
//! inodes, and the process whose `/proc/<pid>/fd` holds each). Used by `gateway status`
//! (what is listening) and `gateway run --force` (what to stop). Best effort: a row we cannot
//! attribute has no pid. Also the host's first external IPv4 address (presence).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde_json::{json, Value};

/// A listening socket on the gateway port.
#[derive(Clone, Debug)]
pub struct Listener {
    pub address: String,
    pub pid: Option<u32>,
    pub command: Option<String>,
    pub command_line: Option<String>,
}

impl Listener {
    pub fn to_json(&self) -> Value {
        json!({
            "pid": self.pid,
            "command": self.command,
            "address": self.address,
            "commandLine": self.command_line,
        })
    }
}

fn parse_addr(hex: &str) -> Option<(IpAddr, u16)> {
    let (ip, port) = hex.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |s: &str| u32::from_str_radix(s, 16).ok().map(u32::to_ne_bytes);
    let ip = match ip.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(ip)?)),
        32 => {
            let mut b = [0u8; 16];
            for i in 0..4 {
                b[i * 4..i * 4 + 4].copy_from_slice(&word(&ip[i * 8..i * 8 + 8])?);
            }
            let v6 = Ipv6Addr::from(b);
            v6.to_ipv4_mapped()
                .map(IpAddr::V4)
                .unwrap_or(IpAddr::V6(v6))
        }
        _ => return None,
    };
    Some((ip, port))
}

/// Sockets in LISTEN state on `port`, with their owning process where visible.
pub fn listeners(port: u16) -> Vec<Listener> {
    let mut found: Vec<(String, String)> = Vec::new(); // (address, inode)
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 10 || f[3] != "0A" {
                continue;
            }
            let Some((ip, p)) = parse_addr(f[1]) else {
                continue;
            };
            if p != port {
                continue;
            }
            let address = match ip {
                IpAddr::V6(v6) => format!("[{v6}]:{p}"),
                IpAddr::V4(v4) => format!("{v4}:{p}"),
            };
            if !found.iter().any(|(a, _)| *a == address) {
                found.push((address, f[9].to_string()));
            }
        }
    }
    found
        .into_iter()
        .map(|(address, inode)| {
            let pid = pid_of_socket(&inode);
            let command = pid.and_then(|p| {
                std::fs::read_to_string(format!("/proc/{p}/comm"))
                    .ok()
                    .map(|s| s.trim().to_string())
            });
            let command_line = pid.and_then(|p| {
                std::fs::read(format!("/proc/{p}/cmdline")).ok().map(|b| {
                    b.split(|c| *c == 0)
                        .filter(|s| !s.is_empty())
                        .map(|s| String::from_utf8_lossy(s).into_owned())
                        .collect::<Vec<_>>()
                        .join(" ")
                })
            });
            Listener {
                address,
                pid,
                command,
                command_line,
            }
        })
        .collect()
}

fn pid_of_socket(inode: &str) -> Option<u32> {
    if inode == "0" {
        return None;
    }
    let needle = format!("socket:[{inode}]");
    let own = std::process::id();
    // Our own fds first (cheap), then everyone else's.
    let mut pids: Vec<u32> = std::fs::read_dir("/proc")
        .ok()?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_by_key(|p| *p != own);
    pids.into_iter().find(|pid| {
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|fds| {
                fds.filter_map(Result::ok).any(|fd| {
                    std::fs::read_link(fd.path())
                        .map(|t| t.as_os_str() == needle.as_str())
                        .unwrap_or(false)
                })
            })
            .unwrap_or(false)
    })
}

/// The host's first IPv4 address that is up and not loopback, in interface order (what the
/// gateway's presence entry shows, as the Node gateway's does); `None` when there is none.
pub fn primary_ipv4() -> Option<std::net::Ipv4Addr> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we free below with freeifaddrs.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return None;
    }
    let mut found = None;
    let mut cur = head;
    while !cur.is_null() && found.is_none() {
        // SAFETY: `cur` is a node of the list getifaddrs returned, not yet freed.
        let ifa = unsafe { &*cur };
        let up = ifa.ifa_flags & (libc::IFF_UP as u32) != 0;
        let lo = ifa.ifa_flags & (libc::IFF_LOOPBACK as u32) != 0;
        // SAFETY: a non-null ifa_addr points at a sockaddr whose family says its type.
        let v4 = !ifa.ifa_addr.is_null()
            && unsafe { (*ifa.ifa_addr).sa_family } == libc::AF_INET as libc::sa_family_t;
        if up && !lo && v4 {
            // SAFETY: family AF_INET: the address is a sockaddr_in.
            let sin = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
            found = Some(std::net::Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)));
        }
        cur = ifa.ifa_next;
    }
    // SAFETY: `head` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_net_addresses() {
        assert_eq!(
            parse_addr("0100007F:4965"),
            Some((IpAddr::V4(Ipv4Addr::LOCALHOST), 18789))
        );
        assert_eq!(
            parse_addr("00000000000000000000000000000000:0050"),
            Some((IpAddr::V6(Ipv6Addr::UNSPECIFIED), 80))
        );
        assert_eq!(
            parse_addr("00000000000000000000000001000000:0050"),
            Some((IpAddr::V6(Ipv6Addr::LOCALHOST), 80))
        );
    }

    #[test]
    fn finds_our_own_listener() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let found = listeners(port);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].address, format!("127.0.0.1:{port}"));
        assert_eq!(found[0].pid, Some(std::process::id()));
    }
}

//! Where `gateway.bind` listens: `tailnet` looks for the host's Tailscale IPv4 among its
//! interface addresses, `auto` for signs of a container. The facts about the host are read
//! once per config load ([`HostFacts::detect`]) and injected into the pure [`resolve_bind`],
//! so the choice is testable; the extra 127.0.0.1 listener is the server's business.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use super::types::BindMode;

/// What the bind choice depends on besides config.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostFacts {
    /// `(interface name, IPv4 address)` of every configured interface address.
    pub ipv4: Vec<(String, Ipv4Addr)>,
    /// Why we believe we run in a container (`None`: no sign of one).
    pub container: Option<String>,
}

impl HostFacts {
    /// Read the host's interface addresses and container markers.
    pub fn detect() -> Self {
        HostFacts {
            ipv4: interface_ipv4(),
            container: container_marker(Path::new("/"), std::env::var("container").ok()),
        }
    }
}

/// Tailscale's CGNAT range, 100.64.0.0/10.
fn is_tailscale(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    o[0] == 100 && (64..128).contains(&o[1])
}

/// The host's Tailscale IPv4: an address in 100.64.0.0/10, preferring a `tailscale*`
/// interface when several match.
pub fn tailscale_ipv4(ifaces: &[(String, Ipv4Addr)]) -> Option<Ipv4Addr> {
    let hits = || ifaces.iter().filter(|(_, ip)| is_tailscale(*ip));
    hits()
        .find(|(name, _)| name.starts_with("tailscale"))
        .or_else(|| hits().next())
        .map(|(_, ip)| *ip)
}

/// A container marker under `root`: `/.dockerenv`, `/run/.containerenv` (podman), the
/// `container` environment variable (systemd-nspawn, LXC), or a container runtime named in
/// `/proc/1/cgroup`.
pub fn container_marker(root: &Path, container_env: Option<String>) -> Option<String> {
    for f in [".dockerenv", "run/.containerenv"] {
        if root.join(f).exists() {
            return Some(format!("/{f} exists"));
        }
    }
    if let Some(v) = container_env.filter(|v| !v.trim().is_empty()) {
        return Some(format!("container={v}"));
    }
    let cgroup = std::fs::read_to_string(root.join("proc/1/cgroup")).unwrap_or_default();
    ["docker", "kubepods", "containerd", "lxc", "libpod"]
        .iter()
        .find(|k| cgroup.contains(*k))
        .map(|k| format!("/proc/1/cgroup names {k}"))
}

/// The listen address for `mode` and why it was chosen.
pub fn resolve_bind(
    mode: BindMode,
    custom: Option<Ipv4Addr>,
    facts: &HostFacts,
) -> (IpAddr, String) {
    let v4 = IpAddr::V4;
    match mode {
        BindMode::Loopback => (v4(Ipv4Addr::LOCALHOST), "bind=loopback".into()),
        BindMode::Lan => (v4(Ipv4Addr::UNSPECIFIED), "bind=lan: all interfaces".into()),
        BindMode::Custom => match custom {
            Some(h) => (v4(h), "bind=custom: gateway.customBindHost".into()),
            None => (
                v4(Ipv4Addr::LOCALHOST),
                "bind=custom without a valid customBindHost: loopback".into(),
            ),
        },
        BindMode::Tailnet => match tailscale_ipv4(&facts.ipv4) {
            Some(ip) => (v4(ip), format!("bind=tailnet: Tailscale address {ip}")),
            None => (
                v4(Ipv4Addr::LOCALHOST),
                "bind=tailnet: no Tailscale address (100.64.0.0/10) on this host; loopback".into(),
            ),
        },
        BindMode::Auto => match &facts.container {
            Some(why) => (
                v4(Ipv4Addr::UNSPECIFIED),
                format!("bind=auto: container detected ({why}); all interfaces"),
            ),
            None => (
                v4(Ipv4Addr::LOCALHOST),
                "bind=auto: no container detected; loopback".into(),
            ),
        },
    }
}

/// IPv4 addresses of the host's interfaces (getifaddrs).
fn interface_ipv4() -> Vec<(String, Ipv4Addr)> {
    let mut out = Vec::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we free below with freeifaddrs.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return out;
    }
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned, valid until freed.
        let ifa = unsafe { &*cur };
        if !ifa.ifa_addr.is_null() {
            // SAFETY: ifa_addr is non-null and points at a sockaddr of its family.
            let family = unsafe { (*ifa.ifa_addr).sa_family } as i32;
            if family == libc::AF_INET {
                // SAFETY: an AF_INET address is a sockaddr_in.
                let sin = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
                let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
                // SAFETY: ifa_name is a NUL-terminated interface name.
                let name = unsafe { std::ffi::CStr::from_ptr(ifa.ifa_name) };
                out.push((name.to_string_lossy().into_owned(), ip));
            }
        }
        cur = ifa.ifa_next;
    }
    // SAFETY: `head` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(ifaces: &[(&str, [u8; 4])], container: Option<&str>) -> HostFacts {
        HostFacts {
            ipv4: ifaces
                .iter()
                .map(|(n, o)| (n.to_string(), Ipv4Addr::from(*o)))
                .collect(),
            container: container.map(str::to_string),
        }
    }

    #[test]
    fn tailnet_uses_the_tailscale_address_else_loopback() {
        let f = facts(
            &[
                ("lo", [127, 0, 0, 1]),
                ("eth0", [10, 0, 0, 5]),
                ("tailscale0", [100, 101, 7, 9]),
            ],
            None,
        );
        let (ip, why) = resolve_bind(BindMode::Tailnet, None, &f);
        assert_eq!(ip.to_string(), "100.101.7.9");
        assert!(why.contains("Tailscale address 100.101.7.9"), "{why}");
        // 100.63.x and 100.128.x are outside 100.64.0.0/10.
        let f = facts(
            &[("eth0", [100, 63, 1, 1]), ("eth1", [100, 128, 0, 1])],
            None,
        );
        let (ip, why) = resolve_bind(BindMode::Tailnet, None, &f);
        assert_eq!(ip.to_string(), "127.0.0.1");
        assert!(why.contains("no Tailscale address"), "{why}");
        // A tailscale* interface wins over another CGNAT address.
        let f = facts(
            &[
                ("wg0", [100, 64, 0, 1]),
                ("tailscale0", [100, 127, 255, 254]),
            ],
            None,
        );
        assert_eq!(
            resolve_bind(BindMode::Tailnet, None, &f).0.to_string(),
            "100.127.255.254"
        );
        let f = facts(&[("wg0", [100, 64, 0, 1])], None);
        assert_eq!(
            resolve_bind(BindMode::Tailnet, None, &f).0.to_string(),
            "100.64.0.1"
        );
    }

    #[test]
    fn auto_is_loopback_unless_in_a_container() {
        let (ip, _) = resolve_bind(BindMode::Auto, None, &facts(&[], None));
        assert_eq!(ip.to_string(), "127.0.0.1");
        let (ip, why) = resolve_bind(
            BindMode::Auto,
            None,
            &facts(&[], Some("/.dockerenv exists")),
        );
        assert_eq!(ip.to_string(), "0.0.0.0");
        assert!(
            why.contains("container detected (/.dockerenv exists)"),
            "{why}"
        );
    }

    #[test]
    fn fixed_modes_ignore_the_host() {
        let f = facts(&[("tailscale0", [100, 100, 1, 1])], Some("x"));
        let host = |m, c| resolve_bind(m, c, &f).0.to_string();
        assert_eq!(host(BindMode::Loopback, None), "127.0.0.1");
        assert_eq!(host(BindMode::Lan, None), "0.0.0.0");
        assert_eq!(
            host(BindMode::Custom, Some(Ipv4Addr::new(10, 1, 2, 3))),
            "10.1.2.3"
        );
        assert_eq!(host(BindMode::Custom, None), "127.0.0.1");
    }

    #[test]
    fn container_markers() {
        let root = std::env::temp_dir().join(format!("oc-bind-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(root.join("proc/1")).unwrap();
        std::fs::write(root.join("proc/1/cgroup"), "0::/\n").unwrap();
        assert_eq!(container_marker(&root, None), None);
        assert_eq!(container_marker(&root, Some(String::new())), None);
        assert_eq!(
            container_marker(&root, Some("lxc".into())).unwrap(),
            "container=lxc"
        );
        std::fs::write(root.join("proc/1/cgroup"), "0::/kubepods/besteffort/pod1\n").unwrap();
        assert_eq!(
            container_marker(&root, None).unwrap(),
            "/proc/1/cgroup names kubepods"
        );
        std::fs::create_dir_all(root.join("run")).unwrap();
        std::fs::write(root.join("run/.containerenv"), "").unwrap();
        assert_eq!(
            container_marker(&root, None).unwrap(),
            "/run/.containerenv exists"
        );
        std::fs::write(root.join(".dockerenv"), "").unwrap();
        assert_eq!(container_marker(&root, None).unwrap(), "/.dockerenv exists");
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn this_host_lists_its_loopback_address() {
        let f = HostFacts::detect();
        assert!(
            f.ipv4.iter().any(|(_, ip)| ip.is_loopback()),
            "getifaddrs found 127.0.0.1: {:?}",
            f.ipv4
        );
    }
}

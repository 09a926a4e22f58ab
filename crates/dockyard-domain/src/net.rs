//! The outbound address policy: which IP addresses Dockyard may connect to on a
//! user's behalf (git clone and push, later webhooks and the LLM endpoint).
//!
//! This is the SSRF guard's classification, kept pure: callers resolve host
//! names themselves, ask [`OutboundPolicy::check_all`] about *every* resolved
//! address, and then connect only to the addresses they checked (pinning them,
//! so a second DNS answer cannot swap in another one).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Whether `ip` is a public unicast address: one that is routed on the
/// internet and is not loopback, private, link-local (this includes the cloud
/// metadata address 169.254.169.254), shared (CGNAT), unspecified, multicast,
/// broadcast, reserved or set aside for documentation and benchmarks.
///
/// IPv6 addresses that embed an IPv4 address and reach it (IPv4-mapped
/// `::ffff:a.b.c.d`, IPv4-compatible `::a.b.c.d`, NAT64 `64:ff9b::a.b.c.d` and
/// 6to4 `2002:aabb:ccdd::`) are judged by the IPv4 address they embed. Other
/// IPv6 addresses are public only inside global unicast `2000::/3`, less the
/// special ranges carved out of it.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let not_public = a == 0 // "this network", includes the unspecified 0.0.0.0
        || a == 10 // private
        || a == 127 // loopback
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT) 100.64/10
        || (a == 169 && b == 254) // link-local, cloud metadata
        || (a == 172 && (16..32).contains(&b)) // private 172.16/12
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments 192.0.0/24
        || (a == 192 && b == 0 && c == 2) // documentation TEST-NET-1
        || (a == 192 && b == 88 && c == 99) // deprecated 6to4 relay anycast
        || (a == 192 && b == 168) // private
        || (a == 198 && (b == 18 || b == 19)) // benchmarking 198.18/15
        || (a == 198 && b == 51 && c == 100) // documentation TEST-NET-2
        || (a == 203 && b == 0 && c == 113) // documentation TEST-NET-3
        || a >= 224; // multicast 224/4, reserved 240/4, broadcast
    !not_public
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = embedded_v4(ip) {
        return is_public_v4(v4);
    }
    let segments = ip.segments();
    // Only global unicast (2000::/3) can be public.
    if segments[0] & 0xe000 != 0x2000 {
        return false;
    }
    // IETF protocol assignments 2001::/23 (Teredo, ORCHID, benchmarking…) and the
    // documentation ranges 2001:db8::/32 and 3fff::/20.
    let ietf = segments[0] == 0x2001 && segments[1] < 0x0200;
    let documentation = (segments[0] == 0x2001 && segments[1] == 0x0db8) || segments[0] & 0xfff0 == 0x3ff0;
    !ietf && !documentation
}

/// The IPv4 address an IPv6 address reaches, for the forms that reach one.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low_v4 = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        // IPv4-mapped ::ffff:a.b.c.d.
        [0, 0, 0, 0, 0, 0xffff, _, _] => Some(low_v4),
        // IPv4-compatible ::a.b.c.d (deprecated); :: and ::1 are not IPv4 addresses but
        // come out as 0.0.0.0 and 0.0.0.1, which are not public either.
        [0, 0, 0, 0, 0, 0, _, _] => Some(low_v4),
        // NAT64 well-known prefix 64:ff9b::/96.
        [0x0064, 0xff9b, 0, 0, 0, 0, _, _] => Some(low_v4),
        // 6to4 2002:aabb:ccdd::/48.
        [0x2002, high, low, ..] => Some(Ipv4Addr::new((high >> 8) as u8, high as u8, (low >> 8) as u8, low as u8)),
        _ => None,
    }
}

/// Whether an address can be a destination at all: unspecified, multicast and
/// broadcast addresses never are, whatever the policy says.
fn is_connectable(ip: IpAddr) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    };
    match ip {
        IpAddr::V4(v4) => !(v4.is_unspecified() || v4.is_multicast() || v4.is_broadcast()),
        IpAddr::V6(v6) => !(v6.is_unspecified() || v6.is_multicast()),
    }
}

/// Which addresses outbound connections made for users may reach.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboundPolicy {
    /// Also allow non-public unicast addresses (loopback, private ranges,
    /// link-local, ULA): for instances that talk to an internal git host. An
    /// admin's decision; off by default.
    pub allow_private: bool,
}

/// An address the policy refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{address} is not a public address")]
pub struct ForbiddenAddress {
    pub address: IpAddr,
}

impl OutboundPolicy {
    /// The default: public addresses only.
    pub const PUBLIC_ONLY: OutboundPolicy = OutboundPolicy { allow_private: false };

    /// Whether a connection to `ip` is allowed.
    pub fn allows(&self, ip: IpAddr) -> bool {
        if self.allow_private { is_connectable(ip) } else { is_public(ip) }
    }

    /// Checks one address.
    pub fn check(&self, ip: IpAddr) -> Result<(), ForbiddenAddress> {
        if self.allows(ip) { Ok(()) } else { Err(ForbiddenAddress { address: ip }) }
    }

    /// Checks every address a host name resolved to: one refused address
    /// refuses the host, because the connection could go to any of them.
    pub fn check_all<I: IntoIterator<Item = IpAddr>>(&self, addresses: I) -> Result<(), ForbiddenAddress> {
        addresses.into_iter().try_for_each(|ip| self.check(ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("a test address")
    }

    #[test]
    fn public_ipv4_addresses_are_public() {
        for text in [
            "8.8.8.8",
            "1.1.1.1",
            "140.82.112.3",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.1",
            "192.169.0.1",
            "223.255.255.255",
            "198.20.0.1",
            "169.255.0.1",
        ] {
            assert!(is_public(ip(text)), "{text} should be public");
        }
    }

    #[test]
    fn special_ipv4_ranges_are_not_public() {
        let cases = [
            ("0.0.0.0", "unspecified"),
            ("0.1.2.3", "this network"),
            ("127.0.0.1", "loopback"),
            ("127.255.255.254", "loopback"),
            ("10.0.0.1", "private 10/8"),
            ("10.255.255.255", "private 10/8"),
            ("172.16.0.1", "private 172.16/12"),
            ("172.31.255.255", "private 172.16/12"),
            ("192.168.1.1", "private 192.168/16"),
            ("169.254.169.254", "link-local, cloud metadata"),
            ("169.254.0.1", "link-local"),
            ("100.64.0.1", "CGNAT"),
            ("100.127.255.255", "CGNAT"),
            ("192.0.0.8", "IETF assignments"),
            ("192.0.2.1", "documentation"),
            ("198.51.100.7", "documentation"),
            ("203.0.113.9", "documentation"),
            ("198.18.0.1", "benchmarking"),
            ("198.19.255.255", "benchmarking"),
            ("224.0.0.1", "multicast"),
            ("239.255.255.250", "multicast"),
            ("240.0.0.1", "reserved"),
            ("255.255.255.255", "broadcast"),
        ];
        for (text, class) in cases {
            assert!(!is_public(ip(text)), "{text} ({class}) should not be public");
        }
    }

    #[test]
    fn public_ipv6_addresses_are_public() {
        for text in ["2606:4700:4700::1111", "2001:4860:4860::8888", "2a00:1450:4001:80b::200e", "2001:200::1"] {
            assert!(is_public(ip(text)), "{text} should be public");
        }
    }

    #[test]
    fn special_ipv6_ranges_are_not_public() {
        let cases = [
            ("::", "unspecified"),
            ("::1", "loopback"),
            ("fc00::1", "unique local"),
            ("fd12:3456:789a::1", "unique local"),
            ("fe80::1", "link-local"),
            ("febf::1", "link-local"),
            ("fec0::1", "site-local"),
            ("ff02::1", "multicast"),
            ("100::1", "discard"),
            ("2001:db8::1", "documentation"),
            ("3fff::1", "documentation"),
            ("2001::1", "Teredo"),
            ("2001:2::1", "benchmarking"),
            ("2001:10::1", "ORCHID"),
            ("64:ff9b:1::1", "local-use NAT64"),
            ("4000::1", "outside global unicast"),
        ];
        for (text, class) in cases {
            assert!(!is_public(ip(text)), "{text} ({class}) should not be public");
        }
    }

    #[test]
    fn ipv6_forms_embedding_ipv4_are_judged_by_the_ipv4_address() {
        let cases = [
            ("::ffff:127.0.0.1", false),
            ("::ffff:10.1.2.3", false),
            ("::ffff:169.254.169.254", false),
            ("::ffff:192.168.0.1", false),
            ("::ffff:8.8.8.8", true),
            ("::127.0.0.1", false),
            ("::8.8.8.8", true),
            ("64:ff9b::10.0.0.1", false),
            ("64:ff9b::a9fe:a9fe", false),
            ("64:ff9b::8.8.8.8", true),
            ("2002:7f00:1::", false),
            ("2002:c0a8:101::1", false),
            ("2002:808:808::1", true),
        ];
        for (text, public) in cases {
            assert_eq!(is_public(ip(text)), public, "{text}");
        }
    }

    #[test]
    fn the_default_policy_allows_only_public_addresses() {
        let policy = OutboundPolicy::default();
        assert_eq!(policy, OutboundPolicy::PUBLIC_ONLY);
        assert!(policy.allows(ip("8.8.8.8")));
        assert_eq!(policy.check(ip("127.0.0.1")), Err(ForbiddenAddress { address: ip("127.0.0.1") }));
        assert!(policy.check(ip("2606:4700:4700::1111")).is_ok());
    }

    #[test]
    fn one_private_address_among_several_refuses_the_host() {
        let policy = OutboundPolicy::PUBLIC_ONLY;
        assert!(policy.check_all([ip("8.8.8.8"), ip("1.1.1.1")]).is_ok());
        assert_eq!(
            policy.check_all([ip("8.8.8.8"), ip("10.0.0.5"), ip("1.1.1.1")]),
            Err(ForbiddenAddress { address: ip("10.0.0.5") })
        );
        assert!(policy.check_all([]).is_ok());
    }

    #[test]
    fn allowing_private_addresses_still_refuses_non_destinations() {
        let policy = OutboundPolicy { allow_private: true };
        for text in [
            "127.0.0.1",
            "10.0.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "::1",
            "fd00::1",
            "fe80::1",
            "8.8.8.8",
            "::ffff:127.0.0.1",
        ] {
            assert!(policy.allows(ip(text)), "{text} should be allowed with allow_private");
        }
        for text in ["0.0.0.0", "::", "224.0.0.1", "255.255.255.255", "ff02::1", "::ffff:0.0.0.0", "::ffff:224.0.0.1"] {
            assert!(!policy.allows(ip(text)), "{text} is never a destination");
        }
    }

    #[test]
    fn forbidden_address_names_the_address() {
        let error = ForbiddenAddress { address: ip("10.0.0.1") };
        assert_eq!(error.to_string(), "10.0.0.1 is not a public address");
    }
}

//! Subnets as the routing table's Sybil defence sees them: an IPv4 /24 or an
//! IPv6 /64, with IPv4-mapped IPv6 addresses counted as their IPv4 /24.
//!
//! This module owns the mapping from an address to the [`SubnetKey`] that
//! the per-bucket and per-table caps count, the rule for which addresses
//! are exempt from those caps, and the [`SubnetFilter`] a table keeps to
//! skip counting subnets it holds no entry of. Nothing here fails.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The subnet an address belongs to, for the per-subnet caps.
///
/// Two addresses share a key exactly when they share an IPv4 /24 or an
/// IPv6 /64. An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) has the key of
/// `a.b.c.d`, so a dual-stack attacker cannot double its quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SubnetKey {
    /// The first three octets of an IPv4 address.
    V4([u8; 3]),
    /// The first eight octets of an IPv6 address.
    V6([u8; 8]),
}

/// The subnet `ip` belongs to (IPv4 /24 or IPv6 /64).
///
/// ```
/// use meshara_dht::routing::{subnet_key, SubnetKey};
/// let a = subnet_key("203.0.113.7".parse().unwrap());
/// let b = subnet_key("::ffff:203.0.113.200".parse().unwrap());
/// assert_eq!(a, SubnetKey::V4([203, 0, 113]));
/// assert_eq!(a, b);
/// ```
pub fn subnet_key(ip: IpAddr) -> SubnetKey {
    match ip {
        IpAddr::V4(v4) => v4_key(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4_key(v4),
            None => {
                let o = v6.octets();
                SubnetKey::V6([o[0], o[1], o[2], o[3], o[4], o[5], o[6], o[7]])
            }
        },
    }
}

fn v4_key(v4: Ipv4Addr) -> SubnetKey {
    let o = v4.octets();
    SubnetKey::V4([o[0], o[1], o[2]])
}

/// Whether `ip` is a loopback, private or link-local address: the
/// addresses the subnet caps skip when `Config::subnet_caps_on_local` is
/// `false`.
///
/// IPv4: 127/8, 10/8, 172.16/12, 192.168/16, 169.254/16. IPv6: `::1`,
/// unique-local `fc00::/7`, link-local `fe80::/10`, and IPv4-mapped forms of
/// the IPv4 ranges.
pub fn is_local_address(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_local_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_local_v4(v4),
            None => is_local_v6(v6),
        },
    }
}

fn is_local_v4(v4: Ipv4Addr) -> bool {
    v4.is_loopback() || v4.is_private() || v4.is_link_local()
}

fn is_local_v6(v6: Ipv6Addr) -> bool {
    let first = v6.segments()[0];
    v6.is_loopback() || (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80
}

/// The key the caps count `ip` under, or `None` when `ip` is exempt
/// (a local address and `caps_on_local` is off).
pub(crate) fn capped_key(ip: IpAddr, caps_on_local: bool) -> Option<SubnetKey> {
    if !caps_on_local && is_local_address(ip) {
        None
    } else {
        Some(subnet_key(ip))
    }
}

/// A multiset of 16-bit fingerprints of the capped subnets of a table's
/// live entries, sorted, so the cap check can tell in a binary search that
/// no live entry shares a newcomer's subnet (the usual case: most contacts
/// have a subnet of their own) instead of reading the whole table.
///
/// One 2-byte fingerprint per capped entry. A fingerprint present says only "maybe": the
/// caller then counts exactly. A fingerprint absent is exact, as long as
/// every live entry's key was added once and removed when it left.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SubnetFilter(Vec<u16>);

impl SubnetFilter {
    fn fingerprint(key: &SubnetKey) -> u16 {
        let x = match key {
            SubnetKey::V4([a, b, c]) => (1 << 32) | u64::from(u32::from_be_bytes([0, *a, *b, *c])),
            SubnetKey::V6(o) => u64::from_be_bytes(*o),
        };
        // The top 16 bits of a Fibonacci hash.
        (x.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 48) as u16
    }

    /// Counts one more live entry under `key`.
    pub(crate) fn add(&mut self, key: &SubnetKey) {
        let f = Self::fingerprint(key);
        let pos = self.0.partition_point(|&x| x < f);
        if self.0.len() == self.0.capacity() {
            // Grow by a little: doubling would waste up to half.
            self.0.reserve_exact(16);
        }
        self.0.insert(pos, f);
    }

    /// Counts one live entry under `key` less.
    pub(crate) fn remove(&mut self, key: &SubnetKey) {
        if let Ok(pos) = self.0.binary_search(&Self::fingerprint(key)) {
            self.0.remove(pos);
        }
    }

    /// `false` when no live entry is counted under `key`.
    pub(crate) fn may_contain(&self, key: &SubnetKey) -> bool {
        self.0.binary_search(&Self::fingerprint(key)).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ipv4_addresses_share_a_key_only_within_a_slash_24() {
        assert_eq!(
            subnet_key(ip("198.51.100.1")),
            subnet_key(ip("198.51.100.254"))
        );
        assert_ne!(
            subnet_key(ip("198.51.100.1")),
            subnet_key(ip("198.51.101.1"))
        );
        assert_eq!(
            subnet_key(ip("198.51.100.1")),
            SubnetKey::V4([198, 51, 100])
        );
    }

    #[test]
    fn ipv6_addresses_share_a_key_only_within_a_slash_64() {
        let a = subnet_key(ip("2001:db8:1:2::1"));
        let b = subnet_key(ip("2001:db8:1:2:ffff:ffff:ffff:ffff"));
        let c = subnet_key(ip("2001:db8:1:3::1"));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a, SubnetKey::V6([0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 2]));
    }

    #[test]
    fn ipv4_mapped_ipv6_counts_as_its_ipv4_subnet() {
        assert_eq!(
            subnet_key(ip("::ffff:192.0.2.9")),
            SubnetKey::V4([192, 0, 2])
        );
        // An IPv4-compatible (not mapped) address is plain IPv6.
        assert_eq!(subnet_key(ip("::192.0.2.9")), SubnetKey::V6([0; 8]));
    }

    #[test]
    fn local_addresses_are_recognised() {
        for s in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.3.4",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "febf::1",
            "::ffff:127.0.0.1",
            "::ffff:192.168.0.1",
        ] {
            assert!(is_local_address(ip(s)), "{s} should be local");
        }
        for s in [
            "8.8.8.8",
            "172.32.0.1",
            "192.169.0.1",
            "2001:db8::1",
            "fec0::1",
            "::ffff:8.8.8.8",
        ] {
            assert!(!is_local_address(ip(s)), "{s} should not be local");
        }
    }

    #[test]
    fn subnet_filter_counts_each_key_until_every_copy_is_removed() {
        let a = SubnetKey::V4([203, 0, 113]);
        let b = SubnetKey::V6([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0]);
        let mut f = SubnetFilter::default();
        assert!(!f.may_contain(&a));
        f.add(&a);
        f.add(&a);
        f.add(&b);
        assert!(f.may_contain(&a) && f.may_contain(&b));
        f.remove(&a);
        assert!(f.may_contain(&a));
        f.remove(&a);
        assert!(!f.may_contain(&a));
        f.remove(&a);
        assert!(f.may_contain(&b));
        f.remove(&b);
        assert_eq!(f, SubnetFilter::default());
    }

    #[test]
    fn capped_key_exempts_local_addresses_only_when_caps_are_off_for_them() {
        assert_eq!(capped_key(ip("127.0.0.1"), false), None);
        assert_eq!(
            capped_key(ip("127.0.0.1"), true),
            Some(SubnetKey::V4([127, 0, 0]))
        );
        assert_eq!(
            capped_key(ip("8.8.8.8"), false),
            Some(SubnetKey::V4([8, 8, 8]))
        );
    }
}

//! Whose budget an address draws on, and the per-source counts behind the
//! store's quotas.
//!
//! This module owns the mapping from an IP address to the [`SourceKey`]s
//! its limits are kept under, used by the store's quotas and by the
//! engine's rate limiter, and the [`Quotas`] the store charges its entries
//! to. An IPv4 address is one source. An IPv6 host is handed a whole /64
//! (and often a /56 or a /48 per site), so an IPv6 source is its /64, the
//! prefix the routing table's subnet caps count ([`subnet_key`]), and every
//! /64 also draws on a budget shared by its /48, so that a site cannot
//! multiply its budget by 65,536. IPv4-mapped IPv6 addresses count as their
//! IPv4 address. Nothing here fails or does I/O.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::routing::{subnet_key, SubnetKey};

/// A budget an address draws on: see [`source_keys`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum SourceKey {
    /// One IPv4 address (also the key of its IPv4-mapped IPv6 form).
    V4(u32),
    /// One IPv6 /64: the address's first 64 bits.
    V6Net(u64),
    /// One IPv6 /48: the address's first 48 bits, shared by 65,536 /64s.
    V6Site(u64),
}

impl SourceKey {
    /// Whether this is a shared tier (an IPv6 /48) rather than a source.
    pub(crate) fn is_site(self) -> bool {
        matches!(self, SourceKey::V6Site(_))
    }
}

/// The budgets `ip` draws on: its source (its IPv4 address, or its IPv6
/// /64) and, for IPv6, the /48 that source belongs to.
pub(crate) fn source_keys(ip: IpAddr) -> (SourceKey, Option<SourceKey>) {
    match subnet_key(ip) {
        SubnetKey::V6(net) => {
            let net = u64::from_be_bytes(net);
            (SourceKey::V6Net(net), Some(SourceKey::V6Site(net >> 16)))
        }
        // `subnet_key` gives IPv4 (and IPv4-mapped) addresses their /24;
        // the source is the whole address. The low 32 bits of an
        // IPv4-mapped `::ffff:a.b.c.d` are `a.b.c.d`.
        SubnetKey::V4(_) => (
            SourceKey::V4(match ip {
                IpAddr::V4(v4) => u32::from(v4),
                IpAddr::V6(v6) => u128::from(v6) as u32,
            }),
            None,
        ),
    }
}

/// Entries charged per source, with a cap per source and a larger one per
/// IPv6 /48.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Quotas {
    /// Entries charged to each key; a key with none has no entry.
    counts: HashMap<SourceKey, usize>,
    per_source: usize,
    per_site: usize,
}

impl Quotas {
    /// No entries charged; at most `per_source` per source and
    /// `per_source * sources_per_site` per IPv6 /48.
    pub(crate) fn new(per_source: usize, sources_per_site: usize) -> Self {
        Quotas {
            counts: HashMap::new(),
            per_source,
            per_site: per_source.saturating_mul(sources_per_site.max(1)),
        }
    }

    /// Entries charged to `ip`'s source (its IPv4 address or IPv6 /64).
    pub(crate) fn used(&self, ip: IpAddr) -> usize {
        self.count(source_keys(ip).0)
    }

    fn count(&self, key: SourceKey) -> usize {
        self.counts.get(&key).copied().unwrap_or(0)
    }

    /// Whether one more entry may be charged to `ip` once the entry charged
    /// to `freed` (the one the write replaces, if any) is discharged.
    pub(crate) fn has_room(&self, ip: IpAddr, freed: Option<IpAddr>) -> bool {
        let (source, site) = source_keys(ip);
        let freed = freed.map(source_keys);
        let room = |key: SourceKey, cap: usize| {
            let frees = freed.is_some_and(|(s, t)| s == key || t == Some(key));
            self.count(key).saturating_sub(usize::from(frees)) < cap
        };
        room(source, self.per_source) && site.is_none_or(|site| room(site, self.per_site))
    }

    /// Charges one entry to `ip`.
    pub(crate) fn charge(&mut self, ip: IpAddr) {
        let (source, site) = source_keys(ip);
        for key in std::iter::once(source).chain(site) {
            *self.counts.entry(key).or_insert(0) += 1;
        }
    }

    /// Discharges one entry from `ip`.
    pub(crate) fn discharge(&mut self, ip: IpAddr) {
        let (source, site) = source_keys(ip);
        for key in std::iter::once(source).chain(site) {
            if let Some(n) = self.counts.get_mut(&key) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.counts.remove(&key);
                }
            }
        }
    }

    /// Gives memory back when at most a quarter of the map is used.
    pub(crate) fn shrink_if_sparse(&mut self) {
        if self.counts.capacity() > 16 && self.counts.len() * 4 <= self.counts.capacity() {
            self.counts.shrink_to_fit();
        }
    }

    /// Keys the map has room for without growing.
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.counts.capacity()
    }

    /// The same caps with nothing charged: a recount starts from this.
    #[cfg(test)]
    pub(crate) fn emptied(&self) -> Self {
        Quotas {
            counts: HashMap::new(),
            ..*self
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv6Addr, SocketAddr};
    use std::time::Instant;

    use super::*;
    use crate::config::Config;
    use crate::id::NodeId;
    use crate::record::{ImmutableRecord, Record, Refusal};
    use crate::store::RecordStore;
    use crate::wire::Contact;

    /// `2001:db8:{site}:{net}::{host}`.
    fn ip6(site: u16, net: u16, host: u16) -> IpAddr {
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, site, net, 0, 0, 0, host))
    }

    fn junk(n: u32) -> Record {
        match ImmutableRecord::new(n.to_be_bytes().to_vec()) {
            Ok(r) => Record::Immutable(r),
            Err(e) => panic!("a 4-byte immutable record was refused: {e}"),
        }
    }

    /// How many of `writes` junk records, the i-th written from `from(i)`,
    /// a store with a quota of 10 per source accepts; every refusal must
    /// be `QuotaExceeded`.
    fn accepted_puts(writes: u16, from: impl Fn(u16) -> IpAddr) -> usize {
        let config = Config {
            max_records_per_ip: 10,
            ..Config::default()
        };
        let mut store = RecordStore::new(&config);
        let now = Instant::now();
        (0..writes)
            .filter(|&i| match store.put(now, from(i), junk(u32::from(i))) {
                Ok(_) => true,
                Err(Refusal::QuotaExceeded) => false,
                Err(e) => panic!("write {i}: {e}"),
            })
            .count()
    }

    #[test]
    fn records_from_rotating_addresses_of_one_ipv6_64_share_one_quota() {
        assert_eq!(accepted_puts(500, |i| ip6(1, 1, i + 1)), 10);
    }

    #[test]
    fn records_from_rotating_64s_of_one_ipv6_48_share_the_48s_quota() {
        // Default `ipv6_budgets_per_48`: 16 quotas of 10.
        assert_eq!(accepted_puts(500, |i| ip6(1, i + 1, 1)), 160);
        // Distinct /48s each have their own.
        assert_eq!(accepted_puts(500, |i| ip6(i + 1, 1, 1)), 500);
    }

    #[test]
    fn provider_records_from_rotating_addresses_of_one_ipv6_64_share_one_quota() {
        let config = Config {
            max_records_per_ip: 10,
            ..Config::default()
        };
        let mut store = RecordStore::new(&config);
        let now = Instant::now();
        let accepted = (0..100u8)
            .filter(|&i| {
                let key = NodeId::from_bytes([i; 20]);
                let provider = Contact {
                    id: NodeId::from_bytes([255 - i; 20]),
                    addr: SocketAddr::new(ip6(1, 1, u16::from(i) + 1), 4000),
                };
                store.add_provider(now, key, provider).is_ok()
            })
            .count();
        assert_eq!(accepted, 10);
        assert_eq!(store.quota_used(ip6(1, 1, 9999)), 10);
    }

    fn ip(s: &str) -> IpAddr {
        match s.parse() {
            Ok(ip) => ip,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    #[test]
    fn an_ipv6_source_is_its_64_inside_its_48() {
        let (a, a_site) = source_keys(ip("2001:db8:1:2::1"));
        let (b, b_site) = source_keys(ip("2001:db8:1:2:ffff::9"));
        let (c, c_site) = source_keys(ip("2001:db8:1:3::1"));
        let (d, d_site) = source_keys(ip("2001:db8:2:3::1"));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a_site, b_site);
        assert_eq!(a_site, c_site);
        assert_ne!(a_site, d_site);
        assert_ne!(c, d);
        assert_eq!(a_site, Some(SourceKey::V6Site(0x2001_0db8_0001)));
        assert!(a_site.is_some_and(SourceKey::is_site));
    }

    #[test]
    fn an_ipv4_source_is_its_address_also_when_mapped() {
        assert_eq!(
            source_keys(ip("203.0.113.7")),
            (SourceKey::V4(0xCB00_7107), None)
        );
        assert_eq!(
            source_keys(ip("::ffff:203.0.113.7")),
            source_keys(ip("203.0.113.7"))
        );
        assert_ne!(
            source_keys(ip("203.0.113.7")),
            source_keys(ip("203.0.113.8"))
        );
    }

    #[test]
    fn quotas_cap_each_64_and_each_48() {
        let mut q = Quotas::new(2, 3);
        // Two entries on one /64 fill it, whatever the interface ids.
        q.charge(ip("2001:db8:1:1::1"));
        q.charge(ip("2001:db8:1:1::2"));
        assert!(!q.has_room(ip("2001:db8:1:1::3"), None));
        assert_eq!(q.used(ip("2001:db8:1:1::99")), 2);
        // Replacing one of its own entries is allowed.
        assert!(q.has_room(ip("2001:db8:1:1::3"), Some(ip("2001:db8:1:1::1"))));
        // The /48 holds 2 x 3 = 6.
        for host in ["2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:3::1"] {
            assert!(q.has_room(ip(host), None), "{host}");
            q.charge(ip(host));
        }
        assert!(q.has_room(ip("2001:db8:1:3::1"), None));
        q.charge(ip("2001:db8:1:3::1"));
        assert!(!q.has_room(ip("2001:db8:1:4::1"), None));
        // Another /48 is unaffected; an entry freed in the /48 makes room.
        assert!(q.has_room(ip("2001:db8:2:4::1"), None));
        assert!(q.has_room(ip("2001:db8:1:4::1"), Some(ip("2001:db8:1:2::1"))));
        q.discharge(ip("2001:db8:1:2::2"));
        assert!(q.has_room(ip("2001:db8:1:4::1"), None));
        assert_eq!(q.used(ip("2001:db8:1:2::1")), 1);
    }
}

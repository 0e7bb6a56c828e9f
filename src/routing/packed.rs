//! How the table stores one [`Entry`] in memory: a [`PackedEntry`] of 48
//! bytes, smaller than an `Entry`, because routing tables are most of a
//! large simulated network's heap (docs/TESTING.md, "Memory per node").
//!
//! This module owns the packed form and the exact round trip
//! `Entry -> PackedEntry -> Entry`; it must never lose or round anything. Whatever
//! does not fit the compact forms (an IPv6 address with a flow label or
//! scope id, a failure count above 255, a time more than 292 years from
//! the table's epoch) is kept whole in a boxed `Entry`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::time::{Duration, Instant};

use super::entry::Entry;
use super::subnet::{is_local_address, subnet_key, SubnetKey};
use crate::id::NodeId;
use crate::wire::Contact;

/// A time as signed nanoseconds from the table's epoch (its first insert),
/// little-endian bytes so a [`PackedEntry`] needs no 8-byte alignment inside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Offset([u8; 8]);

impl Offset {
    /// `t` relative to `epoch`, if it converts back to exactly `t`.
    fn of(t: Instant, epoch: Instant) -> Option<Offset> {
        let nanos = if t >= epoch {
            i64::try_from(t.duration_since(epoch).as_nanos()).ok()?
        } else {
            i64::try_from(epoch.duration_since(t).as_nanos())
                .ok()?
                .checked_neg()?
        };
        let offset = Offset(nanos.to_le_bytes());
        (offset.at(epoch) == Some(t)).then_some(offset)
    }

    /// The time the offset stands for.
    fn at(self, epoch: Instant) -> Option<Instant> {
        let nanos = i64::from_le_bytes(self.0);
        let d = Duration::from_nanos(nanos.unsigned_abs());
        if nanos >= 0 {
            epoch.checked_add(d)
        } else {
            epoch.checked_sub(d)
        }
    }
}

/// One entry of a bucket or replacement cache, packed. See the module doc.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PackedEntry {
    /// An IPv4 contact.
    V4 {
        id: NodeId,
        ip: [u8; 4],
        port: u16,
        failures: u8,
        seen: Offset,
    },
    /// An IPv6 contact with flow label and scope id 0.
    V6 {
        id: NodeId,
        ip: [u8; 16],
        port: u16,
        failures: u8,
        seen: Offset,
    },
    /// Anything else, unpacked.
    Full(Box<Entry>),
}

impl PackedEntry {
    /// Packs `entry`, times relative to `epoch`.
    pub(crate) fn pack(entry: Entry, epoch: Instant) -> PackedEntry {
        let Entry {
            contact,
            last_seen,
            failures,
        } = entry;
        let (Some(seen), Ok(failures)) = (Offset::of(last_seen, epoch), u8::try_from(failures))
        else {
            return PackedEntry::Full(Box::new(entry));
        };
        match contact.addr {
            SocketAddr::V4(a) => PackedEntry::V4 {
                id: contact.id,
                ip: a.ip().octets(),
                port: a.port(),
                failures,
                seen,
            },
            SocketAddr::V6(a) if a.flowinfo() == 0 && a.scope_id() == 0 => PackedEntry::V6 {
                id: contact.id,
                ip: a.ip().octets(),
                port: a.port(),
                failures,
                seen,
            },
            SocketAddr::V6(_) => PackedEntry::Full(Box::new(entry)),
        }
    }

    /// The entry, exactly as packed.
    pub(crate) fn unpack(&self, epoch: Instant) -> Entry {
        Entry {
            contact: self.contact(),
            last_seen: self.last_seen(epoch),
            failures: self.failures(),
        }
    }

    /// The contact's id.
    pub(crate) fn id(&self) -> &NodeId {
        match self {
            PackedEntry::V4 { id, .. } | PackedEntry::V6 { id, .. } => id,
            PackedEntry::Full(e) => &e.contact.id,
        }
    }

    /// The contact's address.
    pub(crate) fn addr(&self) -> SocketAddr {
        match self {
            PackedEntry::V4 { ip, port, .. } => {
                SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(*ip), *port))
            }
            PackedEntry::V6 { ip, port, .. } => {
                SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(*ip), *port, 0, 0))
            }
            PackedEntry::Full(e) => e.contact.addr,
        }
    }

    /// The contact.
    pub(crate) fn contact(&self) -> Contact {
        Contact {
            id: *self.id(),
            addr: self.addr(),
        }
    }

    /// Consecutive failed requests.
    pub(crate) fn failures(&self) -> u32 {
        match self {
            PackedEntry::V4 { failures, .. } | PackedEntry::V6 { failures, .. } => {
                u32::from(*failures)
            }
            PackedEntry::Full(e) => e.failures,
        }
    }

    /// When the contact last answered. `pack` checked that the offset
    /// converts back, so the fallback to `epoch` is never taken.
    pub(crate) fn last_seen(&self, epoch: Instant) -> Instant {
        match self {
            PackedEntry::V4 { seen, .. } | PackedEntry::V6 { seen, .. } => {
                seen.at(epoch).unwrap_or(epoch)
            }
            PackedEntry::Full(e) => e.last_seen,
        }
    }

    /// Counts one more consecutive failure (saturating) and returns the
    /// count; a count past 255 moves the slot to the unpacked form.
    pub(crate) fn count_failure(&mut self, epoch: Instant) -> u32 {
        match self {
            PackedEntry::V4 { failures, .. } | PackedEntry::V6 { failures, .. }
                if *failures < u8::MAX =>
            {
                *failures += 1;
                u32::from(*failures)
            }
            PackedEntry::Full(e) => {
                e.failures = e.failures.saturating_add(1);
                e.failures
            }
            _ => {
                let mut e = self.unpack(epoch);
                e.failures = e.failures.saturating_add(1);
                *self = PackedEntry::pack(e, epoch);
                e.failures
            }
        }
    }

    /// Whether the address of this slot is counted under `key` by the
    /// subnet caps (`caps_on_local`: whether local addresses count). Same
    /// answer as `capped_key(self.addr().ip(), caps_on_local) == Some(key)`,
    /// without building the address for the usual IPv4 mismatch.
    pub(crate) fn counts_under(&self, key: &SubnetKey, caps_on_local: bool) -> bool {
        let same = match (self, key) {
            (PackedEntry::V4 { ip, .. }, SubnetKey::V4(prefix)) => ip[..3] == prefix[..],
            (PackedEntry::V4 { .. }, SubnetKey::V6(_)) => false,
            _ => subnet_key(self.addr().ip()) == *key,
        };
        same && (caps_on_local || !is_local_address(self.ip()))
    }

    fn ip(&self) -> IpAddr {
        match self {
            PackedEntry::V4 { ip, .. } => IpAddr::V4(Ipv4Addr::from(*ip)),
            PackedEntry::V6 { ip, .. } => IpAddr::V6(Ipv6Addr::from(*ip)),
            PackedEntry::Full(e) => e.contact.addr.ip(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn packed_entry_is_48_bytes() {
        assert_eq!(std::mem::size_of::<PackedEntry>(), 48);
    }

    fn entry(addr: SocketAddr, failures: u32, last_seen: Instant) -> Entry {
        Entry {
            contact: Contact {
                id: NodeId::from_bytes([7; 20]),
                addr,
            },
            last_seen,
            failures,
        }
    }

    #[test]
    fn unusual_entries_are_kept_whole() {
        let epoch = Instant::now();
        let v4: SocketAddr = "192.0.2.1:7".parse().unwrap();
        let scoped = SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::LOCALHOST, 9, 0, 3));
        let flow = SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::LOCALHOST, 9, 5, 0));
        let plain = SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::LOCALHOST, 9, 0, 0));
        for (e, compact) in [
            (entry(v4, 0, epoch), true),
            (entry(v4, 255, epoch), true),
            (entry(v4, 256, epoch), false),
            (entry(v4, u32::MAX, epoch), false),
            (entry(plain, 3, epoch), true),
            (entry(scoped, 0, epoch), false),
            (entry(flow, 0, epoch), false),
            (
                entry(v4, 0, epoch + Duration::from_secs(400 * 365 * 86_400)),
                false,
            ),
        ] {
            let slot = PackedEntry::pack(e, epoch);
            assert_eq!(!matches!(slot, PackedEntry::Full(_)), compact, "{e:?}");
            assert_eq!(slot.unpack(epoch), e);
        }
    }

    proptest! {
        #[test]
        fn pack_then_unpack_is_exact(
            id in any::<[u8; 20]>(),
            v6 in any::<bool>(),
            ip in any::<[u8; 16]>(),
            port in any::<u16>(),
            flow in prop_oneof![Just(0u32), any::<u32>()],
            scope in prop_oneof![Just(0u32), any::<u32>()],
            failures in prop_oneof![0u32..300, any::<u32>()],
            ahead in any::<bool>(),
            nanos in prop_oneof![0u64..1_000_000_000_000, any::<u64>()],
        ) {
            let epoch = Instant::now() + Duration::from_secs(1_000_000);
            let d = Duration::from_nanos(nanos);
            let Some(last_seen) = (if ahead { epoch.checked_add(d) } else { epoch.checked_sub(d) })
            else {
                return Ok(());
            };
            let addr = if v6 {
                SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(ip), port, flow, scope))
            } else {
                SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3]), port))
            };
            let e = Entry { contact: Contact { id: NodeId::from_bytes(id), addr }, last_seen, failures };
            let slot = PackedEntry::pack(e, epoch);
            prop_assert_eq!(slot.unpack(epoch), e);
            prop_assert_eq!(*slot.id(), e.contact.id);
            for caps_on_local in [false, true] {
                let key = subnet_key(addr.ip());
                let expected = caps_on_local || !is_local_address(addr.ip());
                prop_assert_eq!(slot.counts_under(&key, caps_on_local), expected);
                let other = SubnetKey::V4([ip[0] ^ 1, ip[1], ip[2]]);
                let expected_other = super::super::subnet::capped_key(addr.ip(), caps_on_local) == Some(other);
                prop_assert_eq!(slot.counts_under(&other, caps_on_local), expected_other);
            }
        }
    }
}

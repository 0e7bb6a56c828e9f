//! Unit tests for what the packed storage and the faster queries must not
//! change: entries that do not fit a compact slot, failure counts past a
//! byte, replacement caches past 64 (the plain scan in `best_replacement`),
//! and `closest_iter` against `closest`.

use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::id::{NodeId, ID_BITS, ID_LEN};
use crate::routing::*;
use crate::wire::Contact;

/// An id in bucket `bucket` (>= 16) of the zero id, told apart by `low`.
fn id_at(bucket: usize, low: u16) -> NodeId {
    assert!((16..ID_BITS).contains(&bucket));
    let mut b = [0u8; ID_LEN];
    b[ID_LEN - 1 - bucket / 8] |= 1 << (bucket % 8);
    b[ID_LEN - 2..].copy_from_slice(&low.to_be_bytes());
    NodeId::from_bytes(b)
}

fn v4(id: NodeId, a: u8, b: u8, port: u16) -> Contact {
    Contact {
        id,
        addr: SocketAddr::from(([198, a, b, 1], port)),
    }
}

#[test]
fn scoped_ipv6_and_far_times_come_back_exactly() {
    let now = Instant::now();
    let mut t = RoutingTable::new(NodeId::ZERO, &Config::default());
    let scoped = Contact {
        id: id_at(150, 1),
        addr: SocketAddr::V6(SocketAddrV6::new(
            "fe80::1".parse::<Ipv6Addr>().unwrap(),
            4000,
            7,
            3,
        )),
    };
    let plain = Contact {
        id: id_at(150, 2),
        addr: "[2001:db8::2]:4000".parse().unwrap(),
    };
    let ipv4 = v4(id_at(150, 3), 51, 1, 4000);
    assert_eq!(t.insert(scoped, now), InsertOutcome::Inserted);
    assert_eq!(t.insert(plain, now), InsertOutcome::Inserted);
    // Far before the table's epoch, and nanosecond-exact.
    let early = now - Duration::from_nanos(1_000_000_007);
    assert_eq!(t.insert(ipv4, early), InsertOutcome::Inserted);
    for (c, seen) in [(scoped, now), (plain, now), (ipv4, early)] {
        let e = t.get(&c.id).unwrap();
        assert_eq!((e.contact, e.last_seen, e.failures), (c, seen, 0));
    }
    assert_eq!(t.closest(&scoped.id, 1), vec![scoped]);
}

#[test]
fn failure_counts_past_a_byte_keep_counting() {
    let now = Instant::now();
    let config = Config {
        max_failures: 1000,
        ..Config::default()
    };
    let mut t = RoutingTable::new(NodeId::ZERO, &config);
    let c = v4(id_at(150, 1), 51, 1, 4000);
    assert_eq!(t.insert(c, now), InsertOutcome::Inserted);
    for failures in 1..=300 {
        assert_eq!(t.on_failure(&c.id), FailureOutcome::Counted { failures });
    }
    assert_eq!(t.get(&c.id).unwrap().failures, 300);
    t.on_success(&c.id, now + Duration::from_secs(1));
    let e = t.get(&c.id).unwrap();
    assert_eq!((e.failures, e.last_seen), (0, now + Duration::from_secs(1)));
}

/// Bucket 150 (k = 1) holds one entry and `cache` replacements, each from
/// its own /24 and seen one second apart; the newest one's /24 is also used
/// by an entry in bucket 151 and the table cap is 1, so when the entry
/// fails the second newest replacement is promoted.
fn promotion_skips_the_newest_when_the_table_cap_refuses_it(cache: u16) {
    let now = Instant::now();
    let s = Duration::from_secs;
    let config = Config {
        k: 1,
        replacement_cache_size: usize::from(cache),
        max_failures: 1,
        max_per_subnet_bucket: 1,
        max_per_subnet_table: 1,
        ..Config::default()
    };
    let mut t = RoutingTable::new(NodeId::ZERO, &config);
    let entry = v4(id_at(150, 0), 60, 0, 1);
    assert_eq!(t.insert(entry, now), InsertOutcome::Inserted);
    let spares: Vec<Contact> = (1..=cache)
        .map(|i| v4(id_at(150, i), 61 + (i / 200) as u8, (i % 200) as u8, 1))
        .collect();
    for (i, spare) in spares.iter().enumerate() {
        assert!(matches!(
            t.insert(*spare, now + s(i as u64 + 1)),
            InsertOutcome::PendingEviction { .. }
        ));
    }
    let newest = spares[spares.len() - 1];
    let blocker = Contact {
        id: id_at(151, 0),
        addr: SocketAddr::new(newest.addr.ip(), 2),
    };
    assert_eq!(t.insert(blocker, now), InsertOutcome::Inserted);
    assert_eq!(
        t.on_failure(&entry.id),
        FailureOutcome::Replaced {
            removed: entry,
            promoted: spares[spares.len() - 2],
        }
    );
    let cached: Vec<NodeId> = t
        .bucket(150)
        .unwrap()
        .replacements()
        .map(|e| e.contact.id)
        .collect();
    assert_eq!(cached.len(), usize::from(cache) - 1);
    assert_eq!(cached.last(), Some(&newest.id));
}

#[test]
fn promotion_skips_a_refused_newest_replacement_in_a_small_cache() {
    promotion_skips_the_newest_when_the_table_cap_refuses_it(5);
}

#[test]
fn promotion_skips_a_refused_newest_replacement_in_a_cache_past_64() {
    promotion_skips_the_newest_when_the_table_cap_refuses_it(70);
}

#[test]
fn closest_iter_walks_every_entry_in_the_order_of_closest() {
    let now = Instant::now();
    let mut t = RoutingTable::new(NodeId::ZERO, &Config::default());
    for bucket in [16, 40, 150, 151, 159] {
        for low in 0..7u16 {
            let c = v4(id_at(bucket, low * 37), low as u8, bucket as u8, 1);
            let _ = t.insert(c, now);
        }
    }
    let target = id_at(151, 5);
    let all: Vec<Contact> = t.closest_iter(&target).map(|e| e.contact).collect();
    assert_eq!(all.len(), t.len());
    assert_eq!(all, t.closest(&target, t.len() + 5));
    for n in [0, 1, 6, 7, 8, 20] {
        assert_eq!(t.closest(&target, n), all[..n.min(all.len())].to_vec());
    }
    let mut walk = t.closest_iter(&target);
    let mut by_contact = Vec::new();
    while let Some((contact, failures)) = walk.next_contact() {
        assert_eq!(failures, 0);
        by_contact.push(contact);
    }
    assert_eq!(by_contact, all);
    let mut sorted = all.clone();
    sorted.sort_by_key(|c| c.id.distance(&target));
    assert_eq!(all, sorted);
}

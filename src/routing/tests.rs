//! Focused unit tests: one per outcome, reject reason and maintenance rule.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::*;
use crate::config::Config;
use crate::id::{NodeId, ID_BITS, ID_LEN};
use crate::wire::Contact;

/// The local id of every test table: with zero, bucket `i` is simply the
/// ids whose highest set bit is `i`.
const LOCAL: NodeId = NodeId::ZERO;

/// An id in bucket `bucket` (>= 8) of `LOCAL`, told apart by `low`.
fn id_at(bucket: usize, low: u8) -> NodeId {
    assert!((8..ID_BITS).contains(&bucket));
    let mut b = [0u8; ID_LEN];
    b[ID_LEN - 1 - bucket / 8] |= 1 << (bucket % 8);
    b[ID_LEN - 1] = low;
    NodeId::from_bytes(b)
}

fn contact(id: NodeId, addr: &str) -> Contact {
    Contact {
        id,
        addr: addr.parse::<SocketAddr>().unwrap(),
    }
}

/// k = 3, cache of 2, 2 failures, 2 per subnet per bucket, 4 per table.
fn small() -> Config {
    Config {
        k: 3,
        replacement_cache_size: 2,
        max_failures: 2,
        max_per_subnet_bucket: 2,
        max_per_subnet_table: 4,
        ..Config::default()
    }
}

fn ids_of(contacts: &[Contact]) -> Vec<NodeId> {
    contacts.iter().map(|c| c.id).collect()
}

fn bucket_ids(t: &RoutingTable, index: usize) -> Vec<NodeId> {
    t.bucket(index)
        .unwrap()
        .entries()
        .map(|e| e.contact.id)
        .collect()
}

fn cache_ids(t: &RoutingTable, index: usize) -> Vec<NodeId> {
    t.bucket(index)
        .unwrap()
        .replacements()
        .map(|e| e.contact.id)
        .collect()
}

/// Fills bucket 100 with k = 3 entries from three subnets, seen at
/// now, now+1s, now+2s (so ids 1, 2, 3 are in LRS order).
fn full_bucket(now: Instant) -> RoutingTable {
    let mut t = RoutingTable::new(LOCAL, &small());
    for i in 1..=3u8 {
        let c = contact(id_at(100, i), &format!("198.51.{i}.1:4000"));
        let at = now + Duration::from_secs(u64::from(i));
        assert_eq!(t.insert(c, at), InsertOutcome::Inserted);
    }
    t
}

#[test]
fn insert_of_a_new_contact_is_inserted_in_its_bucket() {
    let now = Instant::now();
    let mut t = RoutingTable::new(LOCAL, &small());
    let c = contact(id_at(42, 7), "203.0.113.5:6881");
    assert_eq!(t.insert(c, now), InsertOutcome::Inserted);
    assert_eq!(t.len(), 1);
    assert!(t.contains(&c.id));
    let e = t.get(&c.id).unwrap();
    assert_eq!((e.contact, e.last_seen, e.failures), (c, now, 0));
    assert_eq!(bucket_ids(&t, 42), vec![c.id]);
    assert_eq!(t.buckets().map(|(i, _)| i).collect::<Vec<_>>(), vec![42]);
}

#[test]
fn insert_of_the_local_id_is_rejected() {
    let now = Instant::now();
    let local = id_at(9, 9);
    let mut t = RoutingTable::new(local, &small());
    let out = t.insert(contact(local, "203.0.113.5:1"), now);
    assert_eq!(out, InsertOutcome::Rejected(RejectReason::OwnId));
    assert!(t.is_empty());
    assert_eq!(t.local_id(), local);
}

#[test]
fn insert_of_a_known_contact_is_updated_and_becomes_most_recently_seen() {
    let now = Instant::now();
    let mut t = full_bucket(now);
    let first = id_at(100, 1);
    assert_eq!(
        t.on_failure(&first),
        FailureOutcome::Counted { failures: 1 }
    );
    let later = now + Duration::from_secs(10);
    let out = t.insert(contact(first, "198.51.1.1:4000"), later);
    assert_eq!(out, InsertOutcome::Updated);
    assert_eq!(
        bucket_ids(&t, 100),
        vec![id_at(100, 2), id_at(100, 3), first]
    );
    let e = t.get(&first).unwrap();
    assert_eq!((e.last_seen, e.failures), (later, 0));
    assert_eq!(t.len(), 3);
}

#[test]
fn address_change_of_a_healthy_contact_is_an_address_conflict() {
    let now = Instant::now();
    let mut t = full_bucket(now);
    let first = id_at(100, 1);
    let out = t.insert(contact(first, "192.0.2.99:1"), now + Duration::from_secs(5));
    assert_eq!(out, InsertOutcome::Rejected(RejectReason::AddressConflict));
    let e = t.get(&first).unwrap();
    assert_eq!(e.contact, contact(first, "198.51.1.1:4000"));
    assert_eq!(e.last_seen, now + Duration::from_secs(1));
    assert_eq!(bucket_ids(&t, 100)[0], first);
}

#[test]
fn address_change_is_accepted_once_the_old_address_failed() {
    let now = Instant::now();
    let mut t = full_bucket(now);
    let first = id_at(100, 1);
    let _ = t.on_failure(&first);
    let moved = contact(first, "192.0.2.99:1");
    assert_eq!(
        t.insert(moved, now + Duration::from_secs(5)),
        InsertOutcome::Updated
    );
    assert_eq!(t.get(&first).unwrap().contact, moved);
    assert_eq!(t.subnet_count(&SubnetKey::V4([198, 51, 1])), 0);
    assert_eq!(t.subnet_count(&SubnetKey::V4([192, 0, 2])), 1);
}

#[test]
fn address_change_into_a_full_subnet_is_rejected_by_the_cap() {
    let now = Instant::now();
    let mut t = RoutingTable::new(LOCAL, &Config { k: 4, ..small() });
    let _ = t.insert(contact(id_at(100, 1), "198.51.1.1:1"), now);
    let _ = t.insert(contact(id_at(100, 2), "198.51.3.1:1"), now);
    let _ = t.insert(contact(id_at(100, 3), "198.51.3.2:1"), now);
    let first = id_at(100, 1);
    let _ = t.on_failure(&first);
    let out = t.insert(contact(first, "198.51.3.3:1"), now);
    assert_eq!(out, InsertOutcome::Rejected(RejectReason::SubnetBucketCap));
    assert_eq!(
        t.get(&first).unwrap().contact.addr.to_string(),
        "198.51.1.1:1"
    );
    assert_eq!(t.get(&first).unwrap().failures, 1);
}

#[test]
fn insert_into_a_full_bucket_parks_the_newcomer_and_names_the_lrs_candidate() {
    let now = Instant::now();
    let mut t = full_bucket(now);
    let newcomer = contact(id_at(100, 4), "198.51.4.1:4000");
    let out = t.insert(newcomer, now + Duration::from_secs(9));
    assert_eq!(
        out,
        InsertOutcome::PendingEviction {
            candidate: contact(id_at(100, 1), "198.51.1.1:4000")
        }
    );
    assert!(!t.contains(&newcomer.id));
    assert_eq!(cache_ids(&t, 100), vec![newcomer.id]);
    assert_eq!(t.len(), 3);
}

#[test]
fn resolve_eviction_of_a_live_candidate_keeps_it_and_the_newcomer_stays_cached() {
    let now = Instant::now();
    let mut t = full_bucket(now);
    let newcomer = contact(id_at(100, 4), "198.51.4.1:4000");
    let _ = t.insert(newcomer, now + Duration::from_secs(9));
    let first = id_at(100, 1);
    let later = now + Duration::from_secs(10);
    assert_eq!(t.resolve_eviction(&first, true, later), None);
    assert_eq!(
        bucket_ids(&t, 100),
        vec![id_at(100, 2), id_at(100, 3), first]
    );
    assert_eq!(t.get(&first).unwrap().last_seen, later);
    assert_eq!(cache_ids(&t, 100), vec![newcomer.id]);
}

#[test]
fn resolve_eviction_of_a_dead_candidate_promotes_the_newcomer() {
    let now = Instant::now();
    let mut t = full_bucket(now);
    let newcomer = contact(id_at(100, 4), "198.51.4.1:4000");
    let _ = t.insert(newcomer, now + Duration::from_secs(9));
    let first = id_at(100, 1);
    let promoted = t.resolve_eviction(&first, false, now + Duration::from_secs(10));
    assert_eq!(promoted, Some(newcomer));
    assert!(!t.contains(&first));
    assert_eq!(
        bucket_ids(&t, 100),
        vec![id_at(100, 2), id_at(100, 3), newcomer.id]
    );
    assert!(cache_ids(&t, 100).is_empty());
    assert_eq!(t.len(), 3);
}

#[test]
fn insert_into_a_full_bucket_replaces_a_stale_entry_at_once() {
    let now = Instant::now();
    let mut t = full_bucket(now);
    let second = id_at(100, 2);
    let _ = t.on_failure(&second);
    assert_eq!(
        t.on_failure(&second),
        FailureOutcome::Counted { failures: 2 }
    );
    let newcomer = contact(id_at(100, 4), "198.51.4.1:4000");
    assert_eq!(
        t.insert(newcomer, now + Duration::from_secs(9)),
        InsertOutcome::Inserted
    );
    assert_eq!(
        bucket_ids(&t, 100),
        vec![id_at(100, 1), id_at(100, 3), newcomer.id]
    );
    assert_eq!(t.subnet_count(&SubnetKey::V4([198, 51, 2])), 0);
}

#[test]
fn third_contact_from_one_slash_24_in_a_bucket_hits_the_bucket_cap() {
    let now = Instant::now();
    let mut t = RoutingTable::new(LOCAL, &small());
    assert_eq!(
        t.insert(contact(id_at(50, 1), "203.0.113.1:1"), now),
        InsertOutcome::Inserted
    );
    assert_eq!(
        t.insert(contact(id_at(50, 2), "203.0.113.2:1"), now),
        InsertOutcome::Inserted
    );
    let out = t.insert(contact(id_at(50, 3), "203.0.113.3:1"), now);
    assert_eq!(out, InsertOutcome::Rejected(RejectReason::SubnetBucketCap));
    // Another bucket, or another /24, is fine.
    assert_eq!(
        t.insert(contact(id_at(51, 3), "203.0.113.3:1"), now),
        InsertOutcome::Inserted
    );
    assert_eq!(
        t.insert(contact(id_at(50, 4), "203.0.114.3:1"), now),
        InsertOutcome::Inserted
    );
    assert_eq!(t.subnet_count(&SubnetKey::V4([203, 0, 113])), 3);
}

#[test]
fn subnet_over_the_table_cap_is_rejected_across_buckets() {
    let now = Instant::now();
    let mut t = RoutingTable::new(LOCAL, &small()); // table cap 4
    for (i, bucket) in [20, 21, 22, 23].into_iter().enumerate() {
        let c = contact(id_at(bucket, 1), &format!("203.0.113.{i}:1"));
        assert_eq!(t.insert(c, now), InsertOutcome::Inserted);
    }
    let out = t.insert(contact(id_at(24, 1), "203.0.113.200:1"), now);
    assert_eq!(out, InsertOutcome::Rejected(RejectReason::SubnetTableCap));
    assert_eq!(t.len(), 4);
    // After a removal there is room again.
    assert!(t.remove(&id_at(20, 1)).is_some());
    let out = t.insert(contact(id_at(24, 1), "203.0.113.200:1"), now);
    assert_eq!(out, InsertOutcome::Inserted);
}

#[test]
fn loopback_is_capped_by_default_and_exempt_with_local_config() {
    let now = Instant::now();
    let mut capped = RoutingTable::new(LOCAL, &small());
    let mut local = RoutingTable::new(
        LOCAL,
        &Config {
            subnet_caps_on_local: false,
            ..small()
        },
    );
    let mut capped_outcomes = Vec::new();
    for low in 1..=3u8 {
        let c = contact(
            id_at(60, low),
            &format!("127.0.0.1:{}", 5000 + u16::from(low)),
        );
        capped_outcomes.push(capped.insert(c, now));
        assert_eq!(local.insert(c, now), InsertOutcome::Inserted);
    }
    assert_eq!(
        capped_outcomes,
        vec![
            InsertOutcome::Inserted,
            InsertOutcome::Inserted,
            InsertOutcome::Rejected(RejectReason::SubnetBucketCap)
        ]
    );
    assert_eq!(local.len(), 3);
    assert_eq!(local.subnet_count(&SubnetKey::V4([127, 0, 0])), 0);
}

#[test]
fn ipv4_mapped_ipv6_shares_the_cap_of_its_ipv4_subnet() {
    let now = Instant::now();
    let mut t = RoutingTable::new(LOCAL, &small());
    let _ = t.insert(contact(id_at(70, 1), "203.0.113.1:1"), now);
    let _ = t.insert(contact(id_at(70, 2), "[::ffff:203.0.113.2]:1"), now);
    let out = t.insert(contact(id_at(70, 3), "[::ffff:203.0.113.3]:1"), now);
    assert_eq!(out, InsertOutcome::Rejected(RejectReason::SubnetBucketCap));
    assert_eq!(t.subnet_count(&SubnetKey::V4([203, 0, 113])), 2);
}

#[test]
fn ipv6_contacts_are_capped_per_slash_64() {
    let now = Instant::now();
    let mut t = RoutingTable::new(LOCAL, &small());
    let _ = t.insert(contact(id_at(70, 1), "[2001:db8:0:1::1]:1"), now);
    let _ = t.insert(contact(id_at(70, 2), "[2001:db8:0:1::2]:1"), now);
    let out = t.insert(contact(id_at(70, 3), "[2001:db8:0:1:ffff::3]:1"), now);
    assert_eq!(out, InsertOutcome::Rejected(RejectReason::SubnetBucketCap));
    let out = t.insert(contact(id_at(70, 3), "[2001:db8:0:2::3]:1"), now);
    assert_eq!(out, InsertOutcome::Inserted);
}

#[test]
fn failures_are_counted_then_the_entry_is_replaced_by_a_cached_contact() {
    let now = Instant::now();
    let mut t = full_bucket(now);
    assert_eq!(t.on_failure(&id_at(100, 9)), FailureOutcome::Unknown);
    assert_eq!(t.on_failure(&LOCAL), FailureOutcome::Unknown);
    let newcomer = contact(id_at(100, 4), "198.51.4.1:4000");
    let _ = t.insert(newcomer, now + Duration::from_secs(9));
    let third = id_at(100, 3);
    assert_eq!(
        t.on_failure(&third),
        FailureOutcome::Counted { failures: 1 }
    );
    assert_eq!(
        t.on_failure(&third),
        FailureOutcome::Replaced {
            removed: contact(third, "198.51.3.1:4000"),
            promoted: newcomer,
        }
    );
    assert_eq!(
        bucket_ids(&t, 100),
        vec![id_at(100, 1), id_at(100, 2), newcomer.id]
    );
}

#[test]
fn a_failing_entry_without_replacement_stays_and_keeps_counting() {
    let now = Instant::now();
    let mut t = full_bucket(now);
    let first = id_at(100, 1);
    for failures in 1..=4 {
        assert_eq!(t.on_failure(&first), FailureOutcome::Counted { failures });
    }
    assert!(t.contains(&first));
    t.on_success(&first, now + Duration::from_secs(20));
    assert_eq!(t.get(&first).unwrap().failures, 0);
    assert_eq!(*bucket_ids(&t, 100).last().unwrap(), first);
}

#[test]
fn replacement_promotion_skips_a_newer_replacement_that_breaks_the_cap() {
    let now = Instant::now();
    let s = Duration::from_secs;
    let mut t = full_bucket(now); // 198.51.1.1, 198.51.2.1, 198.51.3.1
    let old_ok = contact(id_at(100, 5), "192.0.2.5:1");
    let newer = contact(id_at(100, 6), "198.51.2.9:1"); // one of its /24 in the bucket: allowed
    assert!(matches!(
        t.insert(old_ok, now + s(5)),
        InsertOutcome::PendingEviction { .. }
    ));
    assert!(matches!(
        t.insert(newer, now + s(6)),
        InsertOutcome::PendingEviction { .. }
    ));
    // The third entry moves into 198.51.2.0/24: that /24 is now at its cap.
    let third = id_at(100, 3);
    let _ = t.on_failure(&third);
    assert_eq!(
        t.insert(contact(third, "198.51.2.7:1"), now + s(7)),
        InsertOutcome::Updated
    );
    let first = id_at(100, 1);
    let _ = t.on_failure(&first);
    assert_eq!(
        t.on_failure(&first),
        FailureOutcome::Replaced {
            removed: contact(first, "198.51.1.1:4000"),
            promoted: old_ok
        }
    );
    assert_eq!(cache_ids(&t, 100), vec![newer.id]);
}

#[test]
fn promotion_prefers_the_most_recently_seen_replacement() {
    let now = Instant::now();
    let s = Duration::from_secs;
    let mut t = full_bucket(now);
    let a = contact(id_at(100, 4), "192.0.2.4:1");
    let b = contact(id_at(100, 5), "192.0.3.5:1");
    let _ = t.insert(a, now + s(4));
    let _ = t.insert(b, now + s(5));
    t.on_success(&a.id, now + s(6)); // a answered again: newest
    assert_eq!(cache_ids(&t, 100), vec![b.id, a.id]);
    assert_eq!(
        t.resolve_eviction(&id_at(100, 1), false, now + s(7)),
        Some(a)
    );
    // The promoted entry is placed by its last_seen (6 s), after 2 s and 3 s.
    assert_eq!(
        bucket_ids(&t, 100),
        vec![id_at(100, 2), id_at(100, 3), a.id]
    );
}

#[test]
fn replacement_cache_keeps_the_newest_and_at_most_two_per_subnet() {
    let now = Instant::now();
    let s = Duration::from_secs;
    let mut t = RoutingTable::new(
        LOCAL,
        &Config {
            replacement_cache_size: 3,
            ..small()
        },
    );
    for i in 1..=3u8 {
        let _ = t.insert(contact(id_at(100, i), &format!("198.51.{i}.1:1")), now);
    }
    // Three from one subnet: the oldest of that subnet makes way.
    for i in 4..=6u8 {
        let c = contact(id_at(100, i), &format!("203.0.113.{i}:1"));
        assert!(matches!(
            t.insert(c, now + s(u64::from(i))),
            InsertOutcome::PendingEviction { .. }
        ));
    }
    assert_eq!(cache_ids(&t, 100), vec![id_at(100, 5), id_at(100, 6)]);
    // Two more subnets: the cache (size 3) drops its oldest overall.
    let _ = t.insert(contact(id_at(100, 7), "192.0.2.7:1"), now + s(7));
    let _ = t.insert(contact(id_at(100, 8), "192.0.3.8:1"), now + s(8));
    assert_eq!(
        cache_ids(&t, 100),
        vec![id_at(100, 6), id_at(100, 7), id_at(100, 8)]
    );
}

#[test]
fn remove_promotes_a_replacement_and_also_removes_from_the_cache() {
    let now = Instant::now();
    let mut t = full_bucket(now);
    let a = contact(id_at(100, 4), "192.0.2.4:1");
    let b = contact(id_at(100, 5), "192.0.3.5:1");
    let _ = t.insert(a, now);
    let _ = t.insert(b, now);
    assert_eq!(t.remove(&a.id), Some(a));
    assert_eq!(cache_ids(&t, 100), vec![b.id]);
    assert_eq!(
        t.remove(&id_at(100, 2)),
        Some(contact(id_at(100, 2), "198.51.2.1:4000"))
    );
    assert!(t.contains(&b.id));
    assert_eq!(t.len(), 3);
    assert_eq!(t.remove(&id_at(100, 2)), None);
    assert_eq!(t.remove(&LOCAL), None);
}

#[test]
fn closest_returns_contacts_by_xor_distance_including_the_target() {
    let now = Instant::now();
    let mut t = RoutingTable::new(LOCAL, &Config::local());
    let ids = [
        id_at(8, 0),
        id_at(8, 3),
        id_at(9, 1),
        id_at(30, 0),
        id_at(159, 0),
    ];
    for (i, id) in ids.iter().enumerate() {
        let _ = t.insert(contact(*id, &format!("127.0.0.1:{}", 7000 + i)), now);
    }
    let target = id_at(8, 2); // distance 1 to id_at(8, 3), 2 to id_at(8, 0)
    assert_eq!(
        ids_of(&t.closest(&target, 3)),
        vec![id_at(8, 3), id_at(8, 0), id_at(9, 1)]
    );
    assert_eq!(ids_of(&t.closest(&id_at(30, 0), 1)), vec![id_at(30, 0)]);
    assert_eq!(t.closest(&target, 0), Vec::new());
    let all = t.closest(&LOCAL, 100);
    assert_eq!(
        ids_of(&all),
        vec![
            id_at(8, 0),
            id_at(8, 3),
            id_at(9, 1),
            id_at(30, 0),
            id_at(159, 0)
        ]
    );
}

#[test]
fn idle_buckets_of_a_fresh_table_are_those_from_the_contact_outwards() {
    let now = Instant::now();
    let interval = Duration::from_secs(900);
    let mut t = RoutingTable::new(LOCAL, &small());
    assert_eq!(t.idle_buckets(now, interval), Vec::<usize>::new());
    let _ = t.insert(contact(id_at(150, 1), "203.0.113.1:1"), now);
    // Bucket 150 was just touched by the insert; 151..=159 never were.
    assert_eq!(
        t.idle_buckets(now, interval),
        (151..ID_BITS).collect::<Vec<_>>()
    );
    let later = now + interval;
    assert_eq!(
        t.idle_buckets(later, interval),
        (150..ID_BITS).collect::<Vec<_>>()
    );
    t.touch_bucket(155, later);
    t.touch_bucket(ID_BITS + 5, later); // ignored, no panic
    let expected: Vec<usize> = (150..ID_BITS).filter(|&i| i != 155).collect();
    assert_eq!(t.idle_buckets(later, interval), expected);
    assert_eq!(t.bucket(155).unwrap().last_touched(), Some(later));
}

#[test]
fn touching_never_moves_a_bucket_clock_backwards() {
    let now = Instant::now();
    let mut t = RoutingTable::new(LOCAL, &small());
    t.touch_bucket(3, now + Duration::from_secs(5));
    t.touch_bucket(3, now);
    assert_eq!(
        t.bucket(3).unwrap().last_touched(),
        Some(now + Duration::from_secs(5))
    );
    assert!(t.bucket(ID_BITS).is_none());
}

#[test]
fn zero_k_is_treated_as_one() {
    let now = Instant::now();
    let mut t = RoutingTable::new(LOCAL, &Config { k: 0, ..small() });
    assert_eq!(
        t.insert(contact(id_at(10, 1), "203.0.113.1:1"), now),
        InsertOutcome::Inserted
    );
    assert!(matches!(
        t.insert(contact(id_at(10, 2), "203.0.114.1:1"), now),
        InsertOutcome::PendingEviction { .. }
    ));
}

#[test]
fn buckets_below_the_lowest_used_one_are_not_stored() {
    let now = Instant::now();
    let mut t = RoutingTable::new(LOCAL, &small());
    assert_eq!(t.stored_bucket_count(), 0);
    assert!(t
        .bucket(0)
        .is_some_and(|b| b.is_empty() && b.last_touched().is_none()));
    let _ = t.insert(contact(id_at(150, 1), "203.0.113.1:1"), now);
    assert_eq!(t.stored_bucket_count(), ID_BITS - 150);
    // A rejected newcomer (own id) or a lookup past 159 stores nothing.
    let _ = t.insert(contact(LOCAL, "203.0.113.2:1"), now);
    t.touch_bucket(ID_BITS, now);
    assert_eq!(t.stored_bucket_count(), ID_BITS - 150);
    // A touch of a lower bucket extends the range down to it, and keeps
    // what the higher buckets held.
    t.touch_bucket(140, now + Duration::from_secs(1));
    assert_eq!(t.stored_bucket_count(), ID_BITS - 140);
    assert_eq!(bucket_ids(&t, 150), vec![id_at(150, 1)]);
    assert_eq!(
        t.bucket(140).unwrap().last_touched(),
        Some(now + Duration::from_secs(1))
    );
    assert!(t.bucket(139).is_some_and(|b| b.last_touched().is_none()));
    // Failures, successes and removals of unknown ids in unstored buckets
    // change nothing.
    assert_eq!(t.on_failure(&id_at(20, 1)), FailureOutcome::Unknown);
    t.on_success(&id_at(20, 1), now);
    assert_eq!(t.remove(&id_at(20, 1)), None);
    assert_eq!(t.resolve_eviction(&id_at(20, 1), false, now), None);
    assert_eq!(t.stored_bucket_count(), ID_BITS - 140);
}

#[test]
fn subnet_count_follows_inserts_address_changes_and_removals() {
    let now = Instant::now();
    let mut t = RoutingTable::new(LOCAL, &small());
    let _ = t.insert(contact(id_at(150, 1), "203.0.113.1:1"), now);
    let _ = t.insert(contact(id_at(151, 1), "203.0.113.2:1"), now);
    let _ = t.insert(contact(id_at(152, 1), "198.51.100.1:1"), now);
    assert_eq!(t.subnet_count(&SubnetKey::V4([203, 0, 113])), 2);
    assert_eq!(t.subnet_count(&SubnetKey::V4([198, 51, 100])), 1);
    // After two failures the entry may move to a new address.
    let _ = t.on_failure(&id_at(151, 1));
    assert_eq!(
        t.insert(contact(id_at(151, 1), "198.51.100.2:1"), now),
        InsertOutcome::Updated
    );
    assert_eq!(t.subnet_count(&SubnetKey::V4([203, 0, 113])), 1);
    assert_eq!(t.subnet_count(&SubnetKey::V4([198, 51, 100])), 2);
    assert!(t.remove(&id_at(152, 1)).is_some());
    assert_eq!(t.subnet_count(&SubnetKey::V4([198, 51, 100])), 1);
}

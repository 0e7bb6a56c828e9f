//! The replacement cache: which cached contact is promoted, what the cache
//! keeps, and removal.

use std::time::{Duration, Instant};

use super::{bucket_ids, cache_ids, contact, full_bucket, id_at, small, LOCAL};
use crate::config::Config;
use crate::routing::{FailureOutcome, InsertOutcome, RoutingTable};

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

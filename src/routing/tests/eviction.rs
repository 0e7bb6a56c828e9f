//! A full bucket: the newcomer waits in the cache while the least recently
//! seen entry is pinged; a stale entry is replaced at once; failures are
//! counted until the entry is replaced by a cached contact.

use std::time::{Duration, Instant};

use super::{bucket_ids, cache_ids, contact, full_bucket, id_at, LOCAL};
use crate::routing::{FailureOutcome, InsertOutcome, SubnetKey};

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

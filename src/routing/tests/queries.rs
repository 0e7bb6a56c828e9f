//! Reading the table: closest contacts by XOR distance, k below 1, and the
//! buckets it stores.

use std::time::{Duration, Instant};

use super::{bucket_ids, contact, id_at, ids_of, small, LOCAL};
use crate::config::Config;
use crate::id::ID_BITS;
use crate::routing::{FailureOutcome, InsertOutcome, RoutingTable};

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

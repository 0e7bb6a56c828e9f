//! Bucket clocks for refresh lookups: which buckets are idle, and touching
//! never moves a clock backwards.

use std::time::{Duration, Instant};

use super::{contact, id_at, small, LOCAL};
use crate::id::ID_BITS;
use crate::routing::RoutingTable;

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

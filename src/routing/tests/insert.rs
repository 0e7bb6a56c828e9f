//! Inserting contacts: new, known and local ids, and a known id at a new
//! address (accepted only once the old address failed, and within the caps).

use std::time::{Duration, Instant};

use super::{bucket_ids, contact, full_bucket, id_at, small, LOCAL};
use crate::config::Config;
use crate::routing::{FailureOutcome, InsertOutcome, RejectReason, RoutingTable, SubnetKey};

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

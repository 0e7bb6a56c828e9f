//! Per-subnet caps against Sybil flooding: per bucket and per table, IPv4
//! /24 and IPv6 /64, IPv4-mapped addresses, the loopback exemption, and
//! the table's subnet counts.

use std::time::Instant;

use super::{contact, id_at, small, LOCAL};
use crate::config::Config;
use crate::routing::{InsertOutcome, RejectReason, RoutingTable, SubnetKey};

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

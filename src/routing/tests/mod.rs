//! Tests of the routing table: focused unit tests, one per outcome, reject
//! reason and maintenance rule (helpers below), the packed storage, and
//! property tests of the table's invariants.
//!
//! | file | what it checks |
//! |---|---|
//! | `insert.rs` | new, known and local ids; address changes |
//! | `eviction.rs` | full buckets, ping-before-evict, failure counting |
//! | `replacements.rs` | the replacement cache and promotion |
//! | `subnet_caps.rs` | per-bucket and per-table subnet caps, subnet counts |
//! | `queries.rs` | closest contacts, k below 1, stored buckets |
//! | `refresh.rs` | idle buckets and bucket clocks |
//! | `packed.rs` | what the packed storage and the faster queries must not change |
//! | `invariants.rs` | property: random operation sequences keep the invariants and follow the rules; `closest` equals a brute-force sort |

mod eviction;
mod insert;
mod invariants;
mod packed;
mod queries;
mod refresh;
mod replacements;
mod subnet_caps;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::{InsertOutcome, RoutingTable};
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

/// The contact `id` at `addr` (a socket address literal).
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

/// The ids of `contacts`, in order.
fn ids_of(contacts: &[Contact]) -> Vec<NodeId> {
    contacts.iter().map(|c| c.id).collect()
}

/// The ids in bucket `index`, least recently seen first.
fn bucket_ids(t: &RoutingTable, index: usize) -> Vec<NodeId> {
    t.bucket(index)
        .unwrap()
        .entries()
        .map(|e| e.contact.id)
        .collect()
}

/// The ids in the replacement cache of bucket `index`, oldest first.
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

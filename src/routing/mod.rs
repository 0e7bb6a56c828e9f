//! The Kademlia routing table: 160 k-buckets around the local id, each with
//! a replacement cache, ping-before-evict of the least recently seen entry,
//! failure counting, per-subnet caps against Sybil flooding, closest-contact
//! queries and idle-bucket detection for refresh lookups.
//!
//! This module owns the table's contents and invariants (at most k entries
//! per bucket, no duplicate ids, never the local id, every entry in the
//! bucket of its distance, subnet caps held). It must never do I/O, read the
//! clock or draw randomness: the engine reports answers and failures, pings
//! the candidates it is handed, and passes `now` in.
//!
//! | file | concept |
//! |---|---|
//! | `table.rs` | [`RoutingTable`]: insert, failures, eviction, queries |
//! | `table/admission.rs` | its subnet-cap check, replacement promotion and cache parking |
//! | `entry.rs` | [`Entry`]: a contact with its last-seen time and failure count |
//! | `packed.rs` | `PackedEntry`: the packed 48-byte form the table stores each [`Entry`] in |
//! | `bucket.rs` | a bucket's storage, and the [`KBucket`] view with its [`Entries`] |
//! | `closest.rs` | the bucket visiting order behind [`RoutingTable::closest`], with its proof, and the [`Closest`] walk |
//! | `subnet.rs` | [`SubnetKey`] (IPv4 /24, IPv6 /64), the local-address exemption, the table's subnet filter |
//! | `outcome.rs` | [`InsertOutcome`], [`RejectReason`], [`FailureOutcome`] |

mod bucket;
mod closest;
mod entry;
mod outcome;
mod packed;
mod subnet;
mod table;

#[cfg(test)]
mod tests;

pub use bucket::{Entries, KBucket};
pub use closest::Closest;
pub use entry::Entry;
pub use outcome::{FailureOutcome, InsertOutcome, RejectReason};
pub use subnet::{is_local_address, subnet_key, SubnetKey};
pub use table::RoutingTable;

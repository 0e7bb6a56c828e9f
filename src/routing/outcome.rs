//! What the routing table reports back to its caller: the result of an
//! insert ([`InsertOutcome`], with [`RejectReason`]) and of a failed request
//! ([`FailureOutcome`]).
//!
//! Plain data only. The outcomes are `#[must_use]` where ignoring them would
//! lose work the caller has to do (a pending ping-before-evict).

use crate::wire::Contact;

/// The result of [`RoutingTable::insert`](super::RoutingTable::insert).
#[must_use = "a PendingEviction asks the caller to ping the candidate and call resolve_eviction"]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertOutcome {
    /// The contact is now in its bucket as the most recently seen entry. If
    /// the bucket was full, a stale entry (one with at least
    /// `max_failures` consecutive failures) was dropped to make room.
    Inserted,
    /// The id was already in the bucket: it is marked seen (failures reset,
    /// moved to most recently seen). An address change is taken only when
    /// the entry at the old address has failed at least once since it last
    /// answered; otherwise the insert is
    /// [`Rejected(AddressConflict)`](RejectReason::AddressConflict) and the
    /// entry is left untouched.
    Updated,
    /// The bucket is full of live entries. The newcomer was parked in the
    /// bucket's replacement cache (newest kept); the caller should ping
    /// `candidate` (the least recently seen entry) and report the answer
    /// with [`resolve_eviction`](super::RoutingTable::resolve_eviction).
    ///
    /// The same candidate is reported again for every further newcomer
    /// until the check is resolved, so the caller should not start a second
    /// ping for a candidate it is already checking.
    PendingEviction {
        /// The entry to ping.
        candidate: Contact,
    },
    /// The contact was not added anywhere (not to the bucket, not to the
    /// replacement cache); the table is unchanged.
    Rejected(RejectReason),
}

/// Why an insert was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// The contact has the table's own id: a table never holds itself.
    OwnId,
    /// The contact's bucket already holds `max_per_subnet_bucket` entries
    /// from its subnet (IPv4 /24, IPv6 /64).
    SubnetBucketCap,
    /// The table already holds `max_per_subnet_table` entries from the
    /// contact's subnet.
    SubnetTableCap,
    /// The id is known at another address that has not failed since it
    /// last answered: a second node claiming a live node's id is more
    /// likely an impostor or a replayed answer than a node that moved.
    /// The change is accepted once the old address fails a request.
    AddressConflict,
}

/// The result of [`RoutingTable::on_failure`](super::RoutingTable::on_failure).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureOutcome {
    /// The id is neither in a bucket nor in a replacement cache.
    Unknown,
    /// The failure was counted; `failures` is the new consecutive count. A
    /// bucket entry stays in place even past `max_failures` while no
    /// replacement can take its slot (the Kademlia paper's rule: an
    /// unreliable contact is better than an empty slot). A cached
    /// replacement that reaches `max_failures` is dropped from the cache.
    Counted {
        /// Consecutive failures, including this one.
        failures: u32,
    },
    /// The entry reached `max_failures` and was replaced by the most
    /// recently seen replacement that the subnet caps allow.
    Replaced {
        /// The stale entry, now gone from the table.
        removed: Contact,
        /// The replacement that took its slot.
        promoted: Contact,
    },
}

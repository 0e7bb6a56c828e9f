//! [`Entry`]: a contact in the routing table with what the table knows
//! about its liveness, the unpacked form every table query hands out.
//!
//! This module owns that plain value type and nothing else: how the table
//! stores an entry is `packed.rs`, where it stores it is `bucket.rs`.

use std::time::Instant;

use crate::wire::Contact;

/// A contact in the routing table (or in a replacement cache), with what the
/// table knows about its liveness.
///
/// The table stores entries packed (see [`KBucket`](super::KBucket)); an `Entry` is the
/// unpacked copy its queries hand out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// The node's id and the UDP address it answered from.
    pub contact: Contact,
    /// When the node last answered us (insert, `on_success`, or a ping that
    /// kept it during `resolve_eviction`).
    pub last_seen: Instant,
    /// Consecutive failed requests since it last answered.
    pub failures: u32,
}

impl Entry {
    pub(crate) fn new(contact: Contact, now: Instant) -> Self {
        Entry {
            contact,
            last_seen: now,
            failures: 0,
        }
    }
}

//! One k-bucket: up to k live [`Entry`]s in least-recently-seen order, a
//! bounded replacement cache of contacts waiting for a free slot, and the
//! time the bucket's id range was last touched.
//!
//! This module owns the ordering inside a bucket and nothing else: sizes,
//! subnet caps and the choice of which entry to promote are the table's
//! (`table.rs`), so a bucket never decides on its own what to evict.

use std::time::Instant;

use crate::id::NodeId;
use crate::wire::Contact;

/// A contact in the routing table (or in a replacement cache), with what the
/// table knows about its liveness.
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

    /// Marks the entry as having answered at `now`.
    pub(crate) fn seen(&mut self, now: Instant) {
        self.last_seen = now;
        self.failures = 0;
    }
}

/// One bucket of the routing table: the contacts whose distance to the
/// local id lies in `[2^i, 2^(i+1))` for the bucket's index `i`.
///
/// Invariants kept by the table (and checked by its property tests): at most
/// `k` entries, no id twice, no id both in the bucket and in its replacement
/// cache, entries ordered least-recently-seen first.
#[derive(Debug, Clone, Default)]
pub struct KBucket {
    /// Front = least recently seen (the eviction candidate), back = most
    /// recently seen.
    pub(crate) entries: Vec<Entry>,
    /// Oldest first, newest last.
    pub(crate) replacements: Vec<Entry>,
    /// Last lookup through, or contact activity in, this bucket's range.
    pub(crate) last_touched: Option<Instant>,
}

impl KBucket {
    /// An empty bucket, never touched.
    pub(crate) const EMPTY: KBucket = KBucket {
        entries: Vec::new(),
        replacements: Vec::new(),
        last_touched: None,
    };

    /// The live entries, least recently seen first.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The replacement cache, oldest first. These contacts answered us while
    /// the bucket was full; they are promoted when a slot frees up.
    pub fn replacements(&self) -> &[Entry] {
        &self.replacements
    }

    /// Number of live entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the bucket has no live entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// When a lookup went through the bucket's range or one of its contacts
    /// was active; `None` if never.
    pub fn last_touched(&self) -> Option<Instant> {
        self.last_touched
    }

    /// The live entry for `id`, if any.
    pub fn get(&self, id: &NodeId) -> Option<&Entry> {
        self.entries.iter().find(|e| e.contact.id == *id)
    }

    pub(crate) fn position(&self, id: &NodeId) -> Option<usize> {
        self.entries.iter().position(|e| e.contact.id == *id)
    }

    pub(crate) fn replacement_position(&self, id: &NodeId) -> Option<usize> {
        self.replacements.iter().position(|e| e.contact.id == *id)
    }

    /// Records activity at `now`; never moves the time backwards.
    pub(crate) fn touch(&mut self, now: Instant) {
        self.last_touched = Some(match self.last_touched {
            Some(t) if t > now => t,
            _ => now,
        });
    }

    /// Moves the entry at `pos` to the back (most recently seen), marking it
    /// seen at `now`.
    pub(crate) fn mark_seen(&mut self, pos: usize, now: Instant) {
        if pos < self.entries.len() {
            let mut entry = self.entries.remove(pos);
            entry.seen(now);
            self.entries.push(entry);
        }
    }

    /// Makes room for one more entry in `list` without ever reserving more
    /// than `limit` slots in all: `Vec`'s doubling would give a bucket of
    /// 20 a capacity of 32, and the tables of a simulated 100,000-node
    /// network are most of its memory.
    pub(crate) fn reserve_one(list: &mut Vec<Entry>, limit: usize) {
        if list.len() == list.capacity() {
            let room = limit.saturating_sub(list.len()).max(1);
            list.reserve_exact(list.len().max(4).min(room));
        }
    }

    /// Inserts `entry` after every entry seen no later than it, so a
    /// promoted replacement keeps the least-recently-seen order.
    pub(crate) fn insert_by_last_seen(&mut self, entry: Entry) {
        let pos = self
            .entries
            .partition_point(|e| e.last_seen <= entry.last_seen);
        self.entries.insert(pos, entry);
    }
}

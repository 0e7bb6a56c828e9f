//! One k-bucket: up to k live entries in least-recently-seen order, a
//! bounded replacement cache of contacts waiting for a free slot, and the
//! time the bucket's id range was last touched; plus the [`KBucket`] view
//! and its [`Entries`] iterator through which callers read it.
//!
//! This module owns the ordering inside a bucket and nothing else: sizes,
//! subnet caps and the choice of which entry to promote are the table's
//! (`table.rs`), so a bucket never decides on its own what to evict.

use std::time::Instant;

use super::entry::Entry;
use super::packed::PackedEntry;
use crate::id::NodeId;
use crate::wire::Contact;

/// The stored form of one bucket (see [`KBucket`] for its invariants).
#[derive(Debug, Clone, Default)]
pub(crate) struct Bucket {
    /// Front = least recently seen (the eviction candidate), back = most
    /// recently seen.
    pub(crate) entries: Vec<PackedEntry>,
    /// Oldest first, newest last.
    pub(crate) replacements: Vec<PackedEntry>,
    /// Last lookup through, or contact activity in, this bucket's range.
    pub(crate) last_touched: Option<Instant>,
}

impl Bucket {
    /// An empty bucket, never touched.
    pub(crate) const EMPTY: Bucket = Bucket {
        entries: Vec::new(),
        replacements: Vec::new(),
        last_touched: None,
    };

    pub(crate) fn position(&self, id: &NodeId) -> Option<usize> {
        self.entries.iter().position(|e| e.id() == id)
    }

    pub(crate) fn replacement_position(&self, id: &NodeId) -> Option<usize> {
        self.replacements.iter().position(|e| e.id() == id)
    }

    /// Records activity at `now`; never moves the time backwards.
    pub(crate) fn touch(&mut self, now: Instant) {
        self.last_touched = Some(match self.last_touched {
            Some(t) if t > now => t,
            _ => now,
        });
    }

    /// Moves the entry at `pos` to the back (most recently seen), marking it
    /// seen at `now` (failures reset).
    pub(crate) fn mark_seen(&mut self, pos: usize, now: Instant, epoch: Instant) {
        if pos < self.entries.len() {
            let entry = self.entries.remove(pos);
            self.entries
                .push(PackedEntry::pack(Entry::new(entry.contact(), now), epoch));
        }
    }

    /// Moves the replacement at `pos` to the back (newest), marking it seen
    /// at `now` (failures reset).
    pub(crate) fn mark_replacement_seen(&mut self, pos: usize, now: Instant, epoch: Instant) {
        if pos < self.replacements.len() {
            let entry = self.replacements.remove(pos);
            self.replacements
                .push(PackedEntry::pack(Entry::new(entry.contact(), now), epoch));
        }
    }

    /// Makes room for one more entry in `list` without ever reserving more
    /// than `limit` slots in all: `Vec`'s doubling would give a bucket of
    /// 20 a capacity of 32, and routing tables are most of a large
    /// simulated network's memory (docs/TESTING.md, "Memory per node").
    pub(crate) fn reserve_one(list: &mut Vec<PackedEntry>, limit: usize) {
        if list.len() == list.capacity() {
            let room = limit.saturating_sub(list.len()).max(1);
            list.reserve_exact(list.len().max(4).min(room));
        }
    }

    /// Inserts `slot` after every entry seen no later than it, so a
    /// promoted replacement keeps the least-recently-seen order.
    pub(crate) fn insert_by_last_seen(&mut self, slot: PackedEntry, epoch: Instant) {
        let seen = slot.last_seen(epoch);
        let pos = self.entries.partition_point(|e| e.last_seen(epoch) <= seen);
        self.entries.insert(pos, slot);
    }
}

/// One bucket of the routing table, as [`RoutingTable::bucket`] and
/// [`RoutingTable::buckets`] show it: the contacts whose distance to the
/// local id lies in `[2^i, 2^(i+1))` for the bucket's index `i`.
///
/// Invariants kept by the table (and checked by its property tests): at most
/// `k` entries, no id twice, no id both in the bucket and in its replacement
/// cache, entries ordered least-recently-seen first.
///
/// A cheap view (a reference and the table's time base): the table keeps
/// its entries packed (a 48-byte `PackedEntry` each, see `packed.rs`), and
/// [`entries`](Self::entries) and [`replacements`](Self::replacements)
/// unpack them as they go.
///
/// [`RoutingTable::bucket`]: super::RoutingTable::bucket
/// [`RoutingTable::buckets`]: super::RoutingTable::buckets
#[derive(Debug, Clone, Copy)]
pub struct KBucket<'a> {
    bucket: &'a Bucket,
    /// `None` only while the table never stored a time, so every bucket is
    /// empty.
    epoch: Option<Instant>,
}

impl<'a> KBucket<'a> {
    pub(crate) fn new(bucket: &'a Bucket, epoch: Option<Instant>) -> Self {
        KBucket { bucket, epoch }
    }

    /// The live entries, least recently seen first.
    pub fn entries(&self) -> Entries<'a> {
        Entries::new(&self.bucket.entries, self.epoch)
    }

    /// The replacement cache, oldest first. These contacts answered us while
    /// the bucket was full; they are promoted when a slot frees up.
    pub fn replacements(&self) -> Entries<'a> {
        Entries::new(&self.bucket.replacements, self.epoch)
    }

    /// Number of live entries.
    pub fn len(&self) -> usize {
        self.bucket.entries.len()
    }

    /// Whether the bucket has no live entry.
    pub fn is_empty(&self) -> bool {
        self.bucket.entries.is_empty()
    }

    /// When a lookup went through the bucket's range or one of its contacts
    /// was active; `None` if never.
    pub fn last_touched(&self) -> Option<Instant> {
        self.bucket.last_touched
    }

    /// The live entry for `id`, if any.
    pub fn get(&self, id: &NodeId) -> Option<Entry> {
        let pos = self.bucket.position(id)?;
        self.entries().nth(pos)
    }

    /// Whether the replacement cache holds `contact` (same id and
    /// address): `replacements().any(|e| e.contact == *contact)` without
    /// unpacking the times.
    pub(crate) fn has_replacement(&self, contact: &Contact) -> bool {
        self.bucket
            .replacements
            .iter()
            .any(|s| *s.id() == contact.id && s.addr() == contact.addr)
    }

    /// Whether no live entry has a failed request on record:
    /// `entries().all(|e| e.failures == 0)` without unpacking the entries.
    pub(crate) fn no_failures(&self) -> bool {
        self.bucket.entries.iter().all(|s| s.failures() == 0)
    }
}

/// The entries of a bucket or replacement cache, unpacked one at a time;
/// see [`KBucket::entries`].
#[derive(Debug, Clone)]
pub struct Entries<'a> {
    /// Empty when the table has no time base yet (then it has no entry).
    slots: std::slice::Iter<'a, PackedEntry>,
    epoch: Option<Instant>,
}

impl<'a> Entries<'a> {
    pub(crate) fn new(slots: &'a [PackedEntry], epoch: Option<Instant>) -> Self {
        let slots = if epoch.is_some() { slots } else { &[] };
        Entries {
            slots: slots.iter(),
            epoch,
        }
    }
}

impl Iterator for Entries<'_> {
    type Item = Entry;

    fn next(&mut self) -> Option<Entry> {
        let epoch = self.epoch?;
        self.slots.next().map(|s| s.unpack(epoch))
    }

    fn nth(&mut self, n: usize) -> Option<Entry> {
        let epoch = self.epoch?;
        self.slots.nth(n).map(|s| s.unpack(epoch))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.slots.size_hint()
    }
}

impl DoubleEndedIterator for Entries<'_> {
    fn next_back(&mut self) -> Option<Entry> {
        let epoch = self.epoch?;
        self.slots.next_back().map(|s| s.unpack(epoch))
    }
}

impl ExactSizeIterator for Entries<'_> {}

impl std::iter::FusedIterator for Entries<'_> {}

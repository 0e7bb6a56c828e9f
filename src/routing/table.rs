//! The [`RoutingTable`]: 160 k-buckets around the local id, with
//! replacement caches, ping-before-evict, failure counting, per-subnet caps,
//! closest-contact queries and idle-bucket detection for refreshes.
//!
//! This module owns every decision about who is in the table. It sends
//! nothing and reads no clock: the caller reports answers and failures, is
//! told whom to ping, and passes `now` in.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::bucket::{Bucket, Entries, KBucket};
use super::closest::Closest;
use super::entry::Entry;
use super::outcome::{FailureOutcome, InsertOutcome, RejectReason};
use super::packed::PackedEntry;
use super::subnet::{capped_key, SubnetFilter, SubnetKey};

mod admission;
use crate::config::Config;
use crate::id::{NodeId, ID_BITS};
use crate::wire::Contact;

/// The Kademlia routing table of one node.
///
/// Bucket `i` holds the contacts whose XOR distance `d` to the local id has
/// `2^i <= d < 2^(i+1)`; each bucket keeps at most `k` entries, least
/// recently seen first, plus a replacement cache.
///
/// Life cycle of a contact, as the engine drives it:
///
/// * it answers a request of ours: [`insert`](Self::insert). If its bucket
///   is full the outcome is [`InsertOutcome::PendingEviction`]: ping the
///   candidate, then [`resolve_eviction`](Self::resolve_eviction);
/// * later requests to it: [`on_success`](Self::on_success) /
///   [`on_failure`](Self::on_failure); after `max_failures` consecutive
///   failures it is replaced by a cached contact when one fits;
/// * queries: [`closest`](Self::closest), [`closest_iter`](Self::closest_iter),
///   [`get`](Self::get), [`iter`](Self::iter), [`buckets`](Self::buckets);
/// * maintenance: lookups report the buckets they cover with
///   [`touch_bucket`](Self::touch_bucket), and
///   [`idle_buckets`](Self::idle_buckets) says which ranges to refresh.
///
/// Subnet caps: a bucket holds at most `max_per_subnet_bucket` and the table
/// at most `max_per_subnet_table` entries of one IPv4 /24 or IPv6 /64
/// (IPv4-mapped IPv6 counts as IPv4). With `subnet_caps_on_local == false`
/// loopback, private and link-local addresses are not counted. Replacement
/// caches are not counted; a replacement is checked against the caps when
/// it is promoted, and a cache keeps at most `max_per_subnet_bucket`
/// entries of one subnet (a newcomer from a full subnet displaces the
/// oldest of that subnet), so one subnet cannot flush a cache either.
///
/// Entries are stored packed (48 bytes each, times as offsets from the
/// first `now` the table was given); queries hand out unpacked [`Entry`]
/// copies, exactly as they were recorded.
///
/// ```
/// use std::time::Instant;
/// use meshara_dht::config::Config;
/// use meshara_dht::id::NodeId;
/// use meshara_dht::routing::{InsertOutcome, RoutingTable};
/// use meshara_dht::wire::Contact;
///
/// let now = Instant::now();
/// let mut table = RoutingTable::new(NodeId::from_bytes([0; 20]), &Config::default());
/// let contact = Contact { id: NodeId::from_bytes([1; 20]), addr: "192.0.2.1:4000".parse().unwrap() };
/// assert_eq!(table.insert(contact, now), InsertOutcome::Inserted);
/// let entry = table.get(&contact.id).unwrap();
/// assert_eq!((entry.contact, entry.last_seen, entry.failures), (contact, now, 0));
/// assert_eq!(table.closest(&contact.id, 20), vec![contact]);
/// ```
#[derive(Debug, Clone)]
pub struct RoutingTable {
    local_id: NodeId,
    k: usize,
    replacement_cache_size: usize,
    max_failures: u32,
    max_per_subnet_bucket: usize,
    max_per_subnet_table: usize,
    subnet_caps_on_local: bool,
    /// Buckets `ID_BITS - buckets.len() ..ID_BITS`, lowest index first.
    /// Every bucket below the stored range is empty and was never touched,
    /// so it is not stored: only the ranges near the top hold contacts (a
    /// network of `N` nodes fills about `log2(N / k)` buckets), and a
    /// header for every empty bucket would be most of a small table's
    /// memory (docs/TESTING.md, "Memory per node"). The range grows
    /// downwards when an insert or touch first reaches a lower bucket.
    buckets: Vec<Bucket>,
    len: usize,
    /// The time base of the packed entries: the first `now` an insert
    /// brought. `None` until then, while the table holds no entry.
    epoch: Option<Instant>,
    /// The capped subnets of the live entries, so the cap check skips the
    /// count when no entry shares the newcomer's subnet.
    subnets: SubnetFilter,
}

/// What [`RoutingTable::bucket`] shows for a bucket below the stored range.
static EMPTY_BUCKET: Bucket = Bucket::EMPTY;

impl RoutingTable {
    /// An empty table around `local_id`, sized by `config.k`,
    /// `replacement_cache_size`, `max_failures` and the subnet-cap fields.
    /// A `k` of zero is treated as one, so no bucket is ever unusable.
    pub fn new(local_id: NodeId, config: &Config) -> Self {
        RoutingTable {
            local_id,
            k: config.k.max(1),
            replacement_cache_size: config.replacement_cache_size,
            max_failures: config.max_failures,
            max_per_subnet_bucket: config.max_per_subnet_bucket,
            max_per_subnet_table: config.max_per_subnet_table,
            subnet_caps_on_local: config.subnet_caps_on_local,
            buckets: Vec::new(),
            len: 0,
            epoch: None,
            subnets: SubnetFilter::default(),
        }
    }

    /// The id the table is built around.
    pub fn local_id(&self) -> NodeId {
        self.local_id
    }

    /// Records that `contact` proved itself (it answered a request of
    /// ours). See [`InsertOutcome`] for each result; the table never holds
    /// the local id. Touches the contact's bucket unless rejected.
    pub fn insert(&mut self, contact: Contact, now: Instant) -> InsertOutcome {
        let Some(index) = self.local_id.bucket_index(&contact.id) else {
            return InsertOutcome::Rejected(RejectReason::OwnId);
        };
        if index >= ID_BITS {
            return InsertOutcome::Rejected(RejectReason::OwnId);
        }
        let epoch = *self.epoch.get_or_insert(now);
        let bucket = self.stored(index).unwrap_or(&EMPTY_BUCKET);

        // Already a live entry: refresh it, maybe move it.
        if let Some(pos) = bucket.position(&contact.id) {
            let Some(old) = bucket.entries.get(pos) else {
                return InsertOutcome::Rejected(RejectReason::AddressConflict);
            };
            let old_addr = old.addr();
            if old_addr != contact.addr {
                if old.failures() == 0 {
                    return InsertOutcome::Rejected(RejectReason::AddressConflict);
                }
                if let Err(reason) = self.check_caps(index, &contact.addr, Some(&contact.id)) {
                    return InsertOutcome::Rejected(reason);
                }
                self.count_subnet(&old_addr, false);
                self.count_subnet(&contact.addr, true);
            }
            if let Some(bucket) = self.stored_mut(index) {
                if pos < bucket.entries.len() {
                    bucket.entries.remove(pos);
                    bucket
                        .entries
                        .push(PackedEntry::pack(Entry::new(contact, now), epoch));
                }
                bucket.touch(now);
            }
            return InsertOutcome::Updated;
        }

        // Already cached: same address rule, then treated as a newcomer.
        let cached = bucket.replacement_position(&contact.id);
        if let Some(entry) = cached.and_then(|pos| bucket.replacements.get(pos)) {
            if entry.addr() != contact.addr && entry.failures() == 0 {
                return InsertOutcome::Rejected(RejectReason::AddressConflict);
            }
        }
        if let Err(reason) = self.check_caps(index, &contact.addr, None) {
            return InsertOutcome::Rejected(reason);
        }
        let (k, max_failures) = (self.k, self.max_failures);
        let new_key = self.key(&contact.addr);
        let Some(bucket) = self.stored_or_grown(index) else {
            return InsertOutcome::Rejected(RejectReason::OwnId);
        };
        if let Some(pos) = cached {
            bucket.replacements.remove(pos);
        }
        bucket.touch(now);
        let entry = PackedEntry::pack(Entry::new(contact, now), epoch);

        if bucket.entries.len() < k {
            Bucket::reserve_one(&mut bucket.entries, k);
            bucket.entries.push(entry);
            self.len += 1;
            if let Some(key) = new_key {
                self.subnets.add(&key);
            }
            return InsertOutcome::Inserted;
        }
        if let Some(stale) = bucket
            .entries
            .iter()
            .position(|e| e.failures() >= max_failures)
        {
            let removed = bucket.entries.remove(stale);
            bucket.entries.push(entry);
            self.count_subnet(&removed.addr(), false);
            if let Some(key) = new_key {
                self.subnets.add(&key);
            }
            return InsertOutcome::Inserted;
        }
        let candidate = bucket.entries.first().map(PackedEntry::contact);
        self.park(index, entry);
        match candidate {
            Some(candidate) => InsertOutcome::PendingEviction { candidate },
            // Unreachable: k >= 1 and the bucket is full. Reported as a cap
            // rather than a panic.
            None => InsertOutcome::Rejected(RejectReason::SubnetBucketCap),
        }
    }

    /// A request to `id` succeeded: its failure count is reset, it becomes
    /// the most recently seen entry of its bucket (or the newest entry of
    /// its replacement cache), and the bucket is touched. Unknown ids are
    /// ignored.
    pub fn on_success(&mut self, id: &NodeId, now: Instant) {
        // A stored entry means an insert set the epoch.
        let Some(epoch) = self.epoch else {
            return;
        };
        let Some(bucket) = self.bucket_for_mut(id) else {
            return;
        };
        if let Some(pos) = bucket.position(id) {
            bucket.mark_seen(pos, now, epoch);
            bucket.touch(now);
        } else if let Some(pos) = bucket.replacement_position(id) {
            bucket.mark_replacement_seen(pos, now, epoch);
            bucket.touch(now);
        }
    }

    /// A request to `id` failed. The failure is counted; once a bucket
    /// entry has `max_failures` consecutive failures it is replaced by the
    /// most recently seen replacement that the subnet caps allow, if any.
    /// See [`FailureOutcome`].
    pub fn on_failure(&mut self, id: &NodeId) -> FailureOutcome {
        let Some(index) = self.local_id.bucket_index(id) else {
            return FailureOutcome::Unknown;
        };
        let max_failures = self.max_failures;
        // A stored entry means an insert set the epoch.
        let Some(epoch) = self.epoch else {
            return FailureOutcome::Unknown;
        };
        let Some(bucket) = self.stored_mut(index) else {
            return FailureOutcome::Unknown;
        };
        if let Some(pos) = bucket.position(id) {
            let Some(entry) = bucket.entries.get_mut(pos) else {
                return FailureOutcome::Unknown;
            };
            let failures = entry.count_failure(epoch);
            if failures >= max_failures {
                if let Some(promoted) = self.promote_over(index, Some(id)) {
                    let removed = self.detach(index, id);
                    if let Some(removed) = removed {
                        return FailureOutcome::Replaced {
                            removed: removed.contact(),
                            promoted,
                        };
                    }
                }
            }
            return FailureOutcome::Counted { failures };
        }
        if let Some(pos) = bucket.replacement_position(id) {
            let Some(entry) = bucket.replacements.get_mut(pos) else {
                return FailureOutcome::Unknown;
            };
            let failures = entry.count_failure(epoch);
            if failures >= max_failures {
                bucket.replacements.remove(pos);
            }
            return FailureOutcome::Counted { failures };
        }
        FailureOutcome::Unknown
    }

    /// Finishes a ping-before-evict started by
    /// [`InsertOutcome::PendingEviction`].
    ///
    /// `alive == true`: the candidate answered; it is marked seen (most
    /// recently seen, failures reset) and the newcomer stays in the
    /// replacement cache. Returns `None`.
    ///
    /// `alive == false`: the candidate is removed (from the bucket and from
    /// any cache) and, if its bucket now has room, the most recently seen
    /// replacement the subnet caps allow is promoted and returned. This also
    /// fills a slot that freed up some other way while the ping was out.
    pub fn resolve_eviction(
        &mut self,
        candidate: &NodeId,
        alive: bool,
        now: Instant,
    ) -> Option<Contact> {
        let index = self.local_id.bucket_index(candidate)?;
        if alive {
            let epoch = self.epoch?;
            let bucket = self.stored_mut(index)?;
            if let Some(pos) = bucket.position(candidate) {
                bucket.mark_seen(pos, now, epoch);
                bucket.touch(now);
            }
            return None;
        }
        self.detach(index, candidate);
        if let Some(bucket) = self.stored_mut(index) {
            if let Some(pos) = bucket.replacement_position(candidate) {
                bucket.replacements.remove(pos);
            }
        }
        self.fill(index)
    }

    /// Removes `id` from its bucket (promoting the best allowed replacement
    /// into the freed slot) or from its replacement cache. Returns the
    /// removed contact, from wherever it was found.
    pub fn remove(&mut self, id: &NodeId) -> Option<Contact> {
        let index = self.local_id.bucket_index(id)?;
        if let Some(removed) = self.detach(index, id) {
            let _promoted = self.fill(index);
            return Some(removed.contact());
        }
        let bucket = self.stored_mut(index)?;
        let pos = bucket.replacement_position(id)?;
        Some(bucket.replacements.remove(pos).contact())
    }

    /// The live entry for `id` (replacement caches are not searched), as
    /// a copy.
    pub fn get(&self, id: &NodeId) -> Option<Entry> {
        let slot = self.packed(id)?;
        Some(slot.unpack(self.epoch?))
    }

    /// The address of the live entry for `id`: `get(id)` without
    /// unpacking the rest of the entry.
    pub(crate) fn addr_of(&self, id: &NodeId) -> Option<SocketAddr> {
        self.packed(id).map(PackedEntry::addr)
    }

    /// The failure count of the live entry for `id`: `get(id)` without
    /// unpacking the rest of the entry.
    pub(crate) fn failures_of(&self, id: &NodeId) -> Option<u32> {
        self.packed(id).map(PackedEntry::failures)
    }

    /// Whether `id` is a live entry of the table.
    pub fn contains(&self, id: &NodeId) -> bool {
        self.packed(id).is_some()
    }

    /// The `n` live contacts closest to `target` by XOR distance, closest
    /// first; `target` itself is included if it is in the table. Returns
    /// fewer than `n` when the table is smaller. The first `n` contacts of
    /// [`closest_iter`](Self::closest_iter).
    pub fn closest(&self, target: &NodeId, n: usize) -> Vec<Contact> {
        let mut out = Vec::with_capacity(n.min(self.len));
        let mut walk = self.walk(target);
        while out.len() < n {
            let Some(slot) = walk.next_packed() else {
                break;
            };
            out.push(slot.contact());
        }
        out
    }

    /// Every live entry by increasing XOR distance to `target`, closest
    /// first, for callers that filter as they go (stop taking when you
    /// have enough: the walk is lazy).
    ///
    /// Visits buckets in the order proven in `closest.rs` and sorts one
    /// bucket at a time, so the cost is that of the few buckets needed, not
    /// of the whole table.
    pub fn closest_iter(&self, target: &NodeId) -> Closest<'_> {
        self.walk(target)
    }

    /// The buckets to refresh: indices `i` with no touch (lookup or contact
    /// activity) in the last `idle_for`, including never-touched ones.
    ///
    /// Only buckets from the closest non-empty bucket `lo` up to bucket 159
    /// are considered; an empty table reports nothing. This is the Kademlia
    /// paper's "refresh every bucket further than the closest neighbour":
    /// knowing a node at distance about `2^lo` suggests the network is dense
    /// enough for every larger range to hold nodes, while smaller ranges are
    /// probably empty and are covered by the lookup of the local id that a
    /// bootstrap performs anyway. A fresh table holding only a bootstrap
    /// contact in bucket `b` thus reports `b..=159` once idle (`b+1..=159`
    /// right after the insert touched `b`): every range at least as large
    /// as the one the contact was found in.
    pub fn idle_buckets(&self, now: Instant, idle_for: Duration) -> Vec<usize> {
        let Some(lo) = self
            .stored_buckets()
            .position(|(_, b)| !b.entries.is_empty())
        else {
            return Vec::new();
        };
        self.stored_buckets()
            .skip(lo)
            .filter(|(_, b)| match b.last_touched {
                None => true,
                Some(t) => now.saturating_duration_since(t) >= idle_for,
            })
            .map(|(i, _)| i)
            .collect()
    }

    /// Records that a lookup went through bucket `index`'s range at `now`
    /// (the refresh clock). Out-of-range indices are ignored.
    pub fn touch_bucket(&mut self, index: usize, now: Instant) {
        if let Some(bucket) = self.stored_or_grown(index) {
            bucket.touch(now);
        }
    }

    /// Number of live entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the table has no live entry.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Every live entry (as a copy), bucket 0 first, least recently seen
    /// first within a bucket.
    pub fn iter(&self) -> impl Iterator<Item = Entry> + '_ {
        let epoch = self.epoch;
        self.buckets
            .iter()
            .flat_map(move |b| Entries::new(&b.entries, epoch))
    }

    /// The buckets holding at least one live entry, with their indices.
    pub fn buckets(&self) -> impl Iterator<Item = (usize, KBucket<'_>)> {
        let epoch = self.epoch;
        self.stored_buckets()
            .filter(|(_, b)| !b.entries.is_empty())
            .map(move |(i, b)| (i, KBucket::new(b, epoch)))
    }

    /// Bucket `index`, empty or not (`None` past 159).
    pub fn bucket(&self, index: usize) -> Option<KBucket<'_>> {
        if index >= ID_BITS {
            return None;
        }
        let bucket = self.stored(index).unwrap_or(&EMPTY_BUCKET);
        Some(KBucket::new(bucket, self.epoch))
    }

    /// Live entries counted against the subnet caps for `key` (0 for an
    /// exempt or unknown subnet).
    ///
    /// Counted on demand: a per-subnet map would cost every node an entry
    /// per contact (each contact of a real network has its own subnet;
    /// docs/TESTING.md, "Memory per node"), and the cap checks that need
    /// the count run only for newcomers, whose admission already cost a
    /// key proof.
    pub fn subnet_count(&self, key: &SubnetKey) -> usize {
        if !self.subnets.may_contain(key) {
            return 0;
        }
        let on_local = self.subnet_caps_on_local;
        self.buckets
            .iter()
            .flat_map(|b| &b.entries)
            .filter(|e| e.counts_under(key, on_local))
            .count()
    }

    /// Buckets held in memory (the stored range), for tests.
    #[cfg(test)]
    pub(super) fn stored_bucket_count(&self) -> usize {
        self.buckets.len()
    }

    /// Whether the subnet filter holds exactly the live entries' capped
    /// subnets, for tests.
    #[cfg(test)]
    pub(super) fn subnet_filter_in_sync(&self) -> bool {
        let mut rebuilt = SubnetFilter::default();
        for slot in self.buckets.iter().flat_map(|b| &b.entries) {
            if let Some(key) = self.key(&slot.addr()) {
                rebuilt.add(&key);
            }
        }
        rebuilt == self.subnets
    }

    // ---- internals -------------------------------------------------------

    fn key(&self, addr: &SocketAddr) -> Option<SubnetKey> {
        capped_key(addr.ip(), self.subnet_caps_on_local)
    }

    /// Records in the subnet filter that a live entry at `addr` arrived
    /// (`added`) or left.
    fn count_subnet(&mut self, addr: &SocketAddr, added: bool) {
        if let Some(key) = self.key(addr) {
            if added {
                self.subnets.add(&key);
            } else {
                self.subnets.remove(&key);
            }
        }
    }

    /// Index of the lowest stored bucket.
    fn first_stored(&self) -> usize {
        ID_BITS.saturating_sub(self.buckets.len())
    }

    /// Bucket `index` if it is in the stored range.
    fn stored(&self, index: usize) -> Option<&Bucket> {
        let first = self.first_stored();
        self.buckets.get(index.checked_sub(first)?)
    }

    /// Bucket `index` if it is in the stored range, for changes that keep
    /// an empty, untouched bucket as it is (a bucket outside the range is
    /// exactly that).
    fn stored_mut(&mut self, index: usize) -> Option<&mut Bucket> {
        let first = self.first_stored();
        self.buckets.get_mut(index.checked_sub(first)?)
    }

    /// Bucket `index`, extending the stored range down to it first
    /// (`None` past 159).
    fn stored_or_grown(&mut self, index: usize) -> Option<&mut Bucket> {
        if index >= ID_BITS {
            return None;
        }
        let first = self.first_stored();
        if index < first {
            let mut grown = Vec::with_capacity(ID_BITS - index);
            grown.resize_with(first - index, Bucket::default);
            grown.append(&mut self.buckets);
            self.buckets = grown;
        }
        self.stored_mut(index)
    }

    /// The stored buckets with their indices, lowest index first.
    fn stored_buckets(&self) -> impl Iterator<Item = (usize, &Bucket)> {
        let first = self.first_stored();
        self.buckets
            .iter()
            .enumerate()
            .map(move |(i, b)| (first + i, b))
    }

    fn bucket_for_mut(&mut self, id: &NodeId) -> Option<&mut Bucket> {
        let index = self.local_id.bucket_index(id)?;
        self.stored_mut(index)
    }

    /// The live slot for `id`: its bucket by distance, then a scan of at
    /// most k entries.
    fn packed(&self, id: &NodeId) -> Option<&PackedEntry> {
        let index = self.local_id.bucket_index(id)?;
        let bucket = self.stored(index)?;
        bucket.entries.iter().find(|e| e.id() == id)
    }

    /// The walk behind [`closest`](Self::closest) and
    /// [`closest_iter`](Self::closest_iter).
    fn walk(&self, target: &NodeId) -> Closest<'_> {
        Closest::new(
            &self.local_id,
            &self.buckets,
            self.first_stored(),
            self.epoch,
            target,
        )
    }
}

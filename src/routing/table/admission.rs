//! Who may enter a bucket: the subnet-cap check, the choice of the
//! replacement to promote into a freed slot, and parking newcomers in the
//! replacement cache. Internals of [`RoutingTable`], split from `table.rs`
//! to keep files short.
//!
//! This module owns the cap and promotion rules stated on
//! [`RoutingTable`]; it never reads the clock or touches other buckets'
//! order.

use std::net::SocketAddr;
use std::time::Instant;

use super::super::bucket::Bucket;
use super::super::outcome::RejectReason;
use super::super::packed::PackedEntry;
use super::RoutingTable;
use crate::id::NodeId;
use crate::wire::Contact;

impl RoutingTable {
    /// Whether a live entry at `addr` may join bucket `index`, counting the
    /// bucket and table as if the live entry `ignoring` were gone.
    ///
    /// Bucket `index` is counted first, then the others only until the
    /// table cap is reached; the slots compare subnets without unpacking.
    pub(super) fn check_caps(
        &self,
        index: usize,
        addr: &SocketAddr,
        ignoring: Option<&NodeId>,
    ) -> Result<(), RejectReason> {
        let Some(key) = self.key(addr) else {
            return Ok(());
        };
        let on_local = self.subnet_caps_on_local;
        let count = |bucket: &Bucket| {
            bucket
                .entries
                .iter()
                .filter(|e| e.counts_under(&key, on_local) && Some(e.id()) != ignoring)
                .count()
        };
        // No live entry of that subnet: both counts are 0, no need to read
        // the buckets.
        let maybe = self.subnets.may_contain(&key);
        let in_bucket = if maybe {
            self.stored(index).map_or(0, count)
        } else {
            0
        };
        if in_bucket >= self.max_per_subnet_bucket {
            return Err(RejectReason::SubnetBucketCap);
        }
        let mut in_table = in_bucket;
        for (i, bucket) in self.stored_buckets().filter(|_| maybe) {
            if in_table >= self.max_per_subnet_table {
                break;
            }
            if i != index {
                in_table += count(bucket);
            }
        }
        if in_table >= self.max_per_subnet_table {
            return Err(RejectReason::SubnetTableCap);
        }
        Ok(())
    }

    /// The cache position of the most recently seen replacement of bucket
    /// `index` that the caps allow once `ignoring` has left (ties: the
    /// newest cached).
    ///
    /// Candidates are checked best first, so the usual answer costs one
    /// cap check instead of one per cached entry.
    pub(super) fn best_replacement(
        &self,
        index: usize,
        ignoring: Option<&NodeId>,
    ) -> Option<usize> {
        let bucket = self.stored(index)?;
        let epoch = self.epoch?;
        // Bit `pos` set: replacement `pos` was checked and refused. Caches
        // of more than 64 take the plain scan below.
        let mut refused: u64 = 0;
        if bucket.replacements.len() <= 64 {
            loop {
                let (_, pos) = bucket
                    .replacements
                    .iter()
                    .enumerate()
                    .filter(|&(pos, _)| refused & (1 << pos) == 0)
                    .map(|(pos, e)| (e.last_seen(epoch), pos))
                    .max()?;
                let slot = bucket.replacements.get(pos)?;
                if self.check_caps(index, &slot.addr(), ignoring).is_ok() {
                    return Some(pos);
                }
                refused |= 1 << pos;
            }
        }
        let mut best: Option<(usize, Instant)> = None;
        for (pos, e) in bucket.replacements.iter().enumerate() {
            let seen = e.last_seen(epoch);
            if best.is_some_and(|(_, best_seen)| seen < best_seen) {
                continue;
            }
            if self.check_caps(index, &e.addr(), ignoring).is_ok() {
                best = Some((pos, seen));
            }
        }
        best.map(|(pos, _)| pos)
    }

    /// Moves the best allowed replacement of bucket `index` into the bucket
    /// (placed by its `last_seen`), as if `ignoring` were already gone; the
    /// caller removes `ignoring` right after. Returns the promoted contact.
    pub(super) fn promote_over(
        &mut self,
        index: usize,
        ignoring: Option<&NodeId>,
    ) -> Option<Contact> {
        let pos = self.best_replacement(index, ignoring)?;
        let (k, epoch) = (self.k, self.epoch?);
        let bucket = self.stored_mut(index)?;
        if pos >= bucket.replacements.len() {
            return None;
        }
        let slot = bucket.replacements.remove(pos);
        let contact = slot.contact();
        Bucket::reserve_one(&mut bucket.entries, k);
        bucket.insert_by_last_seen(slot, epoch);
        self.len += 1;
        self.count_subnet(&contact.addr, true);
        Some(contact)
    }

    /// Promotes the best allowed replacement if bucket `index` has room.
    pub(super) fn fill(&mut self, index: usize) -> Option<Contact> {
        if self.stored(index)?.entries.len() >= self.k {
            return None;
        }
        self.promote_over(index, None)
    }

    /// Removes the live entry `id` from bucket `index`, keeping counts.
    pub(super) fn detach(&mut self, index: usize, id: &NodeId) -> Option<PackedEntry> {
        let bucket = self.stored_mut(index)?;
        let pos = bucket.position(id)?;
        let removed = bucket.entries.remove(pos);
        self.len = self.len.saturating_sub(1);
        self.count_subnet(&removed.addr(), false);
        Some(removed)
    }

    /// Parks `entry` in bucket `index`'s replacement cache: at most
    /// `max_per_subnet_bucket` of one subnet (the oldest of that subnet
    /// makes way), at most `replacement_cache_size` in all (the oldest makes
    /// way). The caller has removed any older copy of the same id.
    pub(super) fn park(&mut self, index: usize, entry: PackedEntry) {
        if self.replacement_cache_size == 0 {
            return;
        }
        let on_local = self.subnet_caps_on_local;
        // (count, oldest position) of the cached entries of entry's subnet.
        let (same_subnet, oldest) = match (self.key(&entry.addr()), self.stored(index)) {
            (Some(key), Some(bucket)) => bucket
                .replacements
                .iter()
                .enumerate()
                .filter(|(_, e)| e.counts_under(&key, on_local))
                .fold((0, None), |(n, first), (pos, _)| {
                    (n + 1, first.or(Some(pos)))
                }),
            _ => (0, None),
        };
        let cache_size = self.replacement_cache_size;
        let cap = self.max_per_subnet_bucket;
        let Some(bucket) = self.stored_mut(index) else {
            return;
        };
        if same_subnet >= cap {
            if let Some(oldest) = oldest {
                bucket.replacements.remove(oldest);
            }
        }
        if bucket.replacements.len() >= cache_size {
            bucket.replacements.remove(0);
        }
        Bucket::reserve_one(&mut bucket.replacements, cache_size);
        bucket.replacements.push(entry);
    }
}

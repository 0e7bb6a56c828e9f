//! The order in which buckets must be visited to meet contacts by
//! increasing XOR distance to a target, so `closest` never sorts the whole
//! table, and the walk ([`Closest`]) that follows it.
//!
//! This module owns that ordering, its proof and the walk; it never changes
//! the table.
//!
//! # Why the order is correct
//!
//! Let `L` be the local id, `t` the target and `dt = L ^ t`. A contact `c`
//! in bucket `i` has `dc = L ^ c` with highest set bit `i`, and its distance
//! to the target is `c ^ t = dc ^ dt`. Write `j` for the highest set bit of
//! `dt` (none when `t == L`).
//!
//! * `i > j`: bit `i` is the highest bit of `dc ^ dt`, so every contact of
//!   bucket `i` is at a distance in `[2^i, 2^(i+1))`.
//! * `i == j`: the two leading bits cancel; every distance is `< 2^j`.
//! * `i < j`: `dc ^ dt` agrees with `dt` on every bit above `i`, and has
//!   bit `i` equal to `1 ^ dt_i`; the bits below `i` vary.
//!
//! So each bucket's contacts fill one interval of distances, the intervals
//! of different buckets are disjoint, and they are ordered as follows. Two
//! buckets `a > b` below `j` share the prefix of `dt` above `a`; at bit `a`,
//! bucket `a` has `!dt_a` and bucket `b` has `dt_a`. Hence bucket `a` is
//! nearer than bucket `b` exactly when `dt_a == 1`. It follows that the
//! buckets whose bit is set in `dt` come first, highest index first (bucket
//! `j` is the highest of them and is nearer than everything), and the
//! buckets whose bit is clear come after, lowest index first (those below
//! `j`, then those above `j`, which are the farthest of all). For `t == L`
//! no bit is set and the order is simply `0, 1, 2, ...`.
//!
//! Visiting buckets in this order and sorting each bucket (at most k
//! entries) therefore yields contacts by increasing distance; `closest`
//! stops as soon as it has `n`.

use std::time::Instant;

use super::bucket::Bucket;
use super::entry::Entry;
use super::packed::PackedEntry;
use crate::id::{Distance, DistanceKey, NodeId, ID_BITS};
use crate::wire::Contact;

/// A set of bucket indices `0..ID_BITS`: bit `i % 64` of word `i / 64`.
/// Lets [`bucket_order`] walk the indices with a few bit operations each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BucketSet([u64; 3]);

impl BucketSet {
    /// No index.
    #[cfg(test)]
    pub(crate) const EMPTY: BucketSet = BucketSet([0; 3]);

    /// Every index `0..ID_BITS`.
    #[cfg(test)]
    pub(crate) const ALL: BucketSet = BucketSet([u64::MAX, u64::MAX, (1 << (ID_BITS - 128)) - 1]);

    /// The indices `i` whose bit `i` (0 = least significant) is set in `d`.
    fn of_distance(d: &Distance) -> Self {
        let mut words = [0u64; 3];
        for (i, byte) in d.as_bytes().iter().rev().enumerate() {
            if let Some(w) = words.get_mut(i / 8) {
                *w |= u64::from(*byte) << (8 * (i % 8));
            }
        }
        BucketSet(words)
    }

    /// The indices `first..ID_BITS`.
    pub(crate) fn from(first: usize) -> Self {
        let mut words = [0u64; 3];
        for (w, word) in words.iter_mut().enumerate() {
            let (lo, hi) = (w * 64, (w * 64 + 64).min(ID_BITS));
            let start = first.clamp(lo, hi);
            for i in start..hi {
                *word |= 1 << (i - lo);
            }
        }
        BucketSet(words)
    }

    /// Adds index `i` (ignored when `i >= ID_BITS`).
    #[cfg(test)]
    pub(crate) fn insert(&mut self, i: usize) {
        if i < ID_BITS {
            if let Some(w) = self.0.get_mut(i / 64) {
                *w |= 1 << (i % 64);
            }
        }
    }

    /// Whether index `i` is in the set.
    #[cfg(test)]
    fn contains(&self, i: usize) -> bool {
        self.0.get(i / 64).is_some_and(|w| (w >> (i % 64)) & 1 == 1)
    }

    /// The indices in both sets, or (`invert_other`) in `self` only.
    fn and(self, other: Self, invert_other: bool) -> Self {
        let mut out = self.0;
        for (o, b) in out.iter_mut().zip(other.0) {
            *o &= if invert_other { !b } else { b };
        }
        BucketSet(out)
    }

    /// Removes and returns the highest index.
    fn pop_highest(&mut self) -> Option<usize> {
        for (w, word) in self.0.iter_mut().enumerate().rev() {
            if *word != 0 {
                let bit = 63 - word.leading_zeros() as usize;
                *word &= !(1u64 << bit);
                return Some(w * 64 + bit);
            }
        }
        None
    }

    /// Removes and returns the lowest index.
    fn pop_lowest(&mut self) -> Option<usize> {
        for (w, word) in self.0.iter_mut().enumerate() {
            if *word != 0 {
                let bit = word.trailing_zeros() as usize;
                *word &= *word - 1;
                return Some(w * 64 + bit);
            }
        }
        None
    }
}

/// Bucket indices ordered by the distance of their contacts to a target
/// `t`, given `dt = local ^ t`: the set bits of `dt` from the highest down,
/// then the clear bits from the lowest up; only the indices in `among`
/// (every index of `0..ID_BITS` for [`BucketSet::ALL`]), each exactly
/// once. Lazy: a caller that stops after a few buckets pays for those
/// only.
pub(crate) fn bucket_order(dt: Distance, among: BucketSet) -> BucketOrder {
    let set = BucketSet::of_distance(&dt);
    BucketOrder {
        set: among.and(set, false),
        clear: among.and(set, true),
    }
}

/// The iterator [`bucket_order`] returns.
#[derive(Debug, Clone)]
pub(crate) struct BucketOrder {
    /// Still to visit, highest first.
    set: BucketSet,
    /// Visited after `set`, lowest first.
    clear: BucketSet,
}

impl Iterator for BucketOrder {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        self.set.pop_highest().or_else(|| self.clear.pop_lowest())
    }
}

/// The live entries of a table by increasing XOR distance to a target,
/// closest first: what [`RoutingTable::closest_iter`] returns.
///
/// Lazy, one bucket at a time: each bucket met on the way is sorted (at
/// most k entries, by the order proven above), so a caller that stops
/// after a few contacts pays for a few buckets.
///
/// [`RoutingTable::closest_iter`]: super::RoutingTable::closest_iter
#[derive(Debug, Clone)]
pub struct Closest<'a> {
    order: BucketOrder,
    /// The table's stored buckets and the index of the first of them.
    buckets: &'a [Bucket],
    first: usize,
    epoch: Option<Instant>,
    target: DistanceKey,
    /// The current bucket's slots and, in `sorted[next..]`, the positions
    /// still to hand out, with their distances, nearest first.
    current: &'a [PackedEntry],
    sorted: Vec<(DistanceKey, usize)>,
    next: usize,
}

impl<'a> Closest<'a> {
    /// A walk over `buckets` (bucket `first + i` at `buckets[i]`) of the
    /// table around `local`, towards `target`.
    pub(crate) fn new(
        local: &NodeId,
        buckets: &'a [Bucket],
        first: usize,
        epoch: Option<Instant>,
        target: &NodeId,
    ) -> Self {
        // Only the stored range, so the walk never steps through the
        // never-used indices below it (most of the 160); empty buckets in
        // the range are skipped as they come (listing the occupied ones
        // up front would read every bucket even when a few suffice).
        Closest {
            order: bucket_order(local.distance(target), BucketSet::from(first)),
            buckets,
            first,
            epoch,
            target: DistanceKey::of(target),
            current: &[],
            sorted: SORT_BUFFER.with(|b| b.take()),
            next: 0,
        }
    }

    /// The next slot, closest first.
    pub(crate) fn next_packed(&mut self) -> Option<&'a PackedEntry> {
        loop {
            if let Some(&(_, pos)) = self.sorted.get(self.next) {
                self.next += 1;
                return self.current.get(pos);
            }
            let index = self.order.next()?;
            let Some(bucket) = index
                .checked_sub(self.first)
                .and_then(|i| self.buckets.get(i))
                .filter(|b| !b.entries.is_empty())
            else {
                continue;
            };
            let target = self.target;
            self.current = &bucket.entries;
            self.sorted.clear();
            self.sorted.extend(
                bucket
                    .entries
                    .iter()
                    .enumerate()
                    .map(|(pos, e)| (DistanceKey::of(e.id()).xor(target), pos)),
            );
            self.sorted.sort_unstable();
            self.next = 0;
        }
    }
}

thread_local! {
    /// The sort buffer of the walks on this thread: taken by a new walk,
    /// given back when it ends, so that a walk (one per FIND_NODE served)
    /// does not allocate.
    static SORT_BUFFER: std::cell::Cell<Vec<(DistanceKey, usize)>> =
        const { std::cell::Cell::new(Vec::new()) };
}

impl Drop for Closest<'_> {
    fn drop(&mut self) {
        let mut buffer = std::mem::take(&mut self.sorted);
        buffer.clear();
        // `try_with`: a walk dropped while its thread exits just frees it.
        let _ = SORT_BUFFER.try_with(|b| {
            // Keep the larger of the two (a nested walk may have taken a
            // fresh one meanwhile).
            let held = b.take();
            b.set(if held.capacity() >= buffer.capacity() {
                held
            } else {
                buffer
            });
        });
    }
}

impl Closest<'_> {
    /// The next contact and its count of consecutive failures, closest
    /// first: [`next`](Iterator::next) without building the last-seen
    /// time, for callers that filter on failures only.
    pub fn next_contact(&mut self) -> Option<(Contact, u32)> {
        self.next_packed().map(|s| (s.contact(), s.failures()))
    }
}

impl Iterator for Closest<'_> {
    type Item = Entry;

    fn next(&mut self) -> Option<Entry> {
        let epoch = self.epoch?;
        self.next_packed().map(|s| s.unpack(epoch))
    }
}

/// Whether bit `i` (0 = least significant) of `d` is set.
#[cfg(test)]
fn bit(d: &Distance, i: usize) -> bool {
    let Some(byte_index) = (crate::id::ID_LEN - 1).checked_sub(i / 8) else {
        return false;
    };
    d.as_bytes()
        .get(byte_index)
        .is_some_and(|b| (b >> (i % 8)) & 1 == 1)
}

/// [`bucket_order`] written straight from its definition, one bit test
/// per index: the reference the fast version is checked against.
#[cfg(test)]
fn bucket_order_by_bit_tests(dt: Distance) -> impl Iterator<Item = usize> {
    let set = (0..ID_BITS).rev().filter(move |&i| bit(&dt, i));
    let clear = (0..ID_BITS).filter(move |&i| !bit(&dt, i));
    set.chain(clear)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::{NodeId, ID_LEN};
    use proptest::prelude::*;

    fn id() -> impl Strategy<Value = NodeId> {
        any::<[u8; ID_LEN]>().prop_map(NodeId::from_bytes)
    }

    #[test]
    fn order_for_the_local_id_is_ascending() {
        let order: Vec<usize> = bucket_order(Distance::ZERO, BucketSet::ALL).collect();
        assert_eq!(order, (0..ID_BITS).collect::<Vec<_>>());
    }

    #[test]
    fn order_puts_set_bits_first_descending_then_clear_bits_ascending() {
        let mut d = [0u8; ID_LEN];
        d[ID_LEN - 1] = 0b0000_0101; // bits 0 and 2
        let order: Vec<usize> = bucket_order(Distance::from_bytes(d), BucketSet::ALL)
            .take(5)
            .collect();
        assert_eq!(order, vec![2, 0, 1, 3, 4]);
    }

    proptest! {
        #[test]
        fn order_is_a_permutation(d in any::<[u8; ID_LEN]>()) {
            let mut order: Vec<usize> = bucket_order(Distance::from_bytes(d), BucketSet::ALL).collect();
            order.sort_unstable();
            prop_assert_eq!(order, (0..ID_BITS).collect::<Vec<_>>());
        }

        #[test]
        fn order_among_a_set_is_the_bit_by_bit_definition_filtered(
            d in any::<[u8; ID_LEN]>(),
            among in proptest::collection::vec(0..ID_BITS + 8, 0..40),
        ) {
            let dt = Distance::from_bytes(d);
            let all: Vec<usize> = bucket_order(dt, BucketSet::ALL).collect();
            prop_assert_eq!(&all, &bucket_order_by_bit_tests(dt).collect::<Vec<_>>());
            let mut set = BucketSet::EMPTY;
            for &i in &among {
                set.insert(i);
            }
            let some: Vec<usize> = bucket_order(dt, set).collect();
            let reference: Vec<usize> =
                bucket_order_by_bit_tests(dt).filter(|i| among.contains(i)).collect();
            prop_assert_eq!(some, reference);
        }

        #[test]
        fn bucket_set_from_holds_the_indices_from_first_up(first in 0..ID_BITS + 8) {
            let set = BucketSet::from(first);
            for i in 0..ID_BITS + 32 {
                prop_assert_eq!(set.contains(i), i >= first && i < ID_BITS);
            }
        }

        #[test]
        fn bucket_set_of_distance_has_the_distance_bits(d in any::<[u8; ID_LEN]>()) {
            let dt = Distance::from_bytes(d);
            let set = BucketSet::of_distance(&dt);
            for i in 0..ID_BITS + 32 {
                prop_assert_eq!(set.contains(i), i < ID_BITS && bit(&dt, i));
            }
        }

        /// The claim of the module proof, checked directly: a contact in an
        /// earlier bucket of the order is always nearer the target.
        #[test]
        fn earlier_bucket_means_nearer_contact(
            local in id(),
            it in 0..=ID_BITS,
            ia in 0..ID_BITS,
            ib in 0..ID_BITS,
            seed in any::<u64>(),
        ) {
            use rand::SeedableRng;
            prop_assume!(ia != ib);
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            // it == ID_BITS stands for the local id itself as the target.
            let target = local.random_in_bucket(it, &mut rng).unwrap_or(local);
            let a = local.random_in_bucket(ia, &mut rng).unwrap();
            let b = local.random_in_bucket(ib, &mut rng).unwrap();
            let order: Vec<usize> = bucket_order(local.distance(&target), BucketSet::ALL).collect();
            let rank = |i: usize| order.iter().position(|&x| x == i);
            let (da, db) = (a.distance(&target), b.distance(&target));
            prop_assert_eq!(rank(ia) < rank(ib), da < db);
        }
    }
}

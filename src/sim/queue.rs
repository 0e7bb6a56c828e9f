//! The simulator's event queue: events in `(time, seq)` order.
//!
//! This module owns the order of events and nothing else: it never looks
//! inside an event. `seq` is a counter the queue assigns on insertion, so
//! events due at the same nanosecond come out in the order they were
//! queued and a run is deterministic.
//!
//! The queue holds 24-byte keys `(time, seq, slot)`; the events themselves
//! (a datagram delivery carries its payload `Vec`) wait in a slab indexed
//! by `slot`, whose free slots are reused.
//!
//! The keys live in a calendar: time is cut into buckets of 2^20 ns
//! (about 1 ms), and a ring of `RING` = 256 buckets covers the ~268 ms
//! after the last popped key's bucket, which is where almost every event
//! lands (datagrams are 10-160 ms ahead). A key later than the ring goes
//! into a binary heap of far events (long timers, commands) and moves
//! into the ring when the ring reaches it. Ring buckets are unsorted
//! `Vec`s, so a push is an append. When the current bucket runs out, `pop`
//! finds the next non-empty one through a bitmap, sorts it once, latest
//! first, and pops from its end. A push into the current bucket (or
//! earlier, which the simulator never does but the queue allows) is a
//! sorted insert there. The calendar only moves when `pop` takes a key,
//! never ahead of it: had it jumped to a far timer, every later push
//! before that timer would have been a sorted insert.
//!
//! Why not a heap: a `BinaryHeap` of keys misses the cache on each level
//! of every sift-down, and the queue is on the path of every event; the
//! calendar gives the same order for a fraction of the cost (figures:
//! docs/BENCHMARKS.md, "Simulator").

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// `(time, seq, slot)`: the order is the tuple's.
type Key = (u64, u64, u32);

/// A bucket spans `2^BUCKET_SHIFT` ns.
const BUCKET_SHIFT: u32 = 20;
/// Buckets in the ring (a power of two, a multiple of 64).
const RING: u64 = 256;
const RING_MASK: u64 = RING - 1;
const WORDS: usize = (RING / 64) as usize;

fn bucket_of(at: u64) -> u64 {
    at >> BUCKET_SHIFT
}

/// A min-queue of events of type `E`, ordered by `(time, insertion order)`.
///
/// Invariants: `cur` is the bucket of the last key taken out of the
/// calendar (it only grows). `current` holds the keys of bucket `cur` and
/// any pushed earlier than it, sorted latest first. `ring[b & RING_MASK]`
/// holds the keys of bucket `b` for `cur < b < cur + RING`, unsorted, and
/// `occupied` has its bit set when it is not empty. `far` holds the keys
/// of buckets `cur + RING` and later.
#[derive(Debug, Clone)]
pub(super) struct EventQueue<E> {
    current: Vec<Key>,
    cur: u64,
    ring: Vec<Vec<Key>>,
    occupied: [u64; WORDS],
    in_ring: usize,
    far: BinaryHeap<Reverse<Key>>,
    slab: Vec<Option<E>>,
    free: Vec<u32>,
    seq: u64,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        EventQueue {
            current: Vec::new(),
            cur: 0,
            ring: (0..RING).map(|_| Vec::new()).collect(),
            occupied: [0; WORDS],
            in_ring: 0,
            far: BinaryHeap::new(),
            slab: Vec::new(),
            free: Vec::new(),
            seq: 0,
        }
    }
}

impl<E> EventQueue<E> {
    /// Queues `event` at time `at`.
    pub(super) fn push(&mut self, at: u64, event: E) {
        self.seq += 1;
        let slot = match self.free.pop() {
            Some(slot) => {
                if let Some(cell) = self.slab.get_mut(slot as usize) {
                    *cell = Some(event);
                }
                slot
            }
            None => {
                // More than 2^32 events in flight at once would need far
                // more memory than any machine has; saturate rather than
                // wrap if it ever happened.
                let slot = u32::try_from(self.slab.len()).unwrap_or(u32::MAX);
                self.slab.push(Some(event));
                slot
            }
        };
        let key = (at, self.seq, slot);
        let b = bucket_of(at);
        if b <= self.cur {
            // Latest first: the key goes after every later key (for a key
            // at the last popped time, that is next to the end).
            let i = self.current.partition_point(|k| *k > key);
            self.current.insert(i, key);
        } else if b - self.cur < RING {
            self.file_in_ring(b, key);
        } else {
            self.far.push(Reverse(key));
        }
    }

    fn file_in_ring(&mut self, b: u64, key: Key) {
        let pos = (b & RING_MASK) as usize;
        if let Some(bucket) = self.ring.get_mut(pos) {
            bucket.push(key);
        }
        if let Some(word) = self.occupied.get_mut(pos / 64) {
            *word |= 1 << (pos % 64);
        }
        self.in_ring += 1;
    }

    /// The time of the earliest event. When the current bucket is empty
    /// this scans the next one (which the following `pop` sorts anyway).
    pub(super) fn peek_time(&self) -> Option<u64> {
        if let Some(k) = self.current.last() {
            return Some(k.0);
        }
        if self.in_ring > 0 {
            let pos = ((self.cur + self.next_occupied_offset()) & RING_MASK) as usize;
            return self.ring.get(pos)?.iter().map(|k| k.0).min();
        }
        self.far.peek().map(|Reverse(k)| k.0)
    }

    /// Takes the earliest event and its time.
    pub(super) fn pop(&mut self) -> Option<(u64, E)> {
        loop {
            if self.current.is_empty() {
                self.advance();
            }
            let (at, _, slot) = self.current.pop()?;
            let event = self.slab.get_mut(slot as usize).and_then(Option::take);
            self.free.push(slot);
            if let Some(event) = event {
                return Some((at, event));
            }
        }
    }

    /// Takes the earliest event and its time if it is due no later than
    /// `limit`: `peek_time` and `pop` in one call.
    #[cfg_attr(not(test), allow(dead_code))] // for the event loop to adopt
    pub(super) fn pop_before(&mut self, limit: u64) -> Option<(u64, E)> {
        if self.peek_time()? > limit {
            return None;
        }
        self.pop()
    }

    /// Events queued.
    pub(super) fn len(&self) -> usize {
        self.current.len() + self.in_ring + self.far.len()
    }

    /// Moves on to the next non-empty bucket, if any, and sorts it into
    /// the empty `current`. Only `pop` calls this, so `cur` never runs
    /// ahead of the key about to be taken: pushes between the last popped
    /// time and a far bucket still land in the ring.
    fn advance(&mut self) {
        let next = if self.in_ring > 0 {
            self.cur + self.next_occupied_offset()
        } else if let Some(Reverse(k)) = self.far.peek() {
            bucket_of(k.0)
        } else {
            return;
        };
        self.cur = next;
        // The ring now reaches `RING` buckets past `next`; the slots it
        // gains are those of the buckets it skipped, all empty.
        while let Some(Reverse(k)) = self.far.peek() {
            let b = bucket_of(k.0);
            if b - next >= RING {
                break;
            }
            let Some(Reverse(k)) = self.far.pop() else {
                break;
            };
            self.file_in_ring(b, k);
        }
        let pos = (next & RING_MASK) as usize;
        if let Some(bucket) = self.ring.get_mut(pos) {
            std::mem::swap(&mut self.current, bucket);
        }
        if let Some(word) = self.occupied.get_mut(pos / 64) {
            *word &= !(1 << (pos % 64));
        }
        self.in_ring -= self.current.len();
        self.current.sort_unstable_by(|a, b| b.cmp(a));
    }

    /// How many buckets after `cur` the next non-empty ring bucket is
    /// (`in_ring > 0`).
    fn next_occupied_offset(&self) -> u64 {
        let cp = (self.cur & RING_MASK) as usize;
        let (w0, b0) = (cp / 64, cp % 64);
        let first = self.occupied.get(w0).copied().unwrap_or(0);
        let found = if first & (!0u64 << b0) != 0 {
            Some(w0 * 64 + (first & (!0u64 << b0)).trailing_zeros() as usize)
        } else {
            (1..WORDS)
                .map(|k| (w0 + k) % WORDS)
                .find_map(|w| {
                    let word = self.occupied.get(w).copied().unwrap_or(0);
                    (word != 0).then(|| w * 64 + word.trailing_zeros() as usize)
                })
                .or_else(|| {
                    let low = first & ((1u64 << b0) - 1);
                    (low != 0).then(|| w0 * 64 + low.trailing_zeros() as usize)
                })
        };
        let p = found.unwrap_or(cp) as u64;
        (p + RING - cp as u64) & RING_MASK
    }
}
#[cfg(test)]
mod tests {
    use super::{EventQueue, BUCKET_SHIFT, RING};
    use proptest::prelude::*;
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;

    #[test]
    fn events_come_out_by_time_then_insertion_order() {
        let mut q = EventQueue::default();
        q.push(30, "c");
        q.push(10, "a1");
        q.push(20, "b");
        q.push(10, "a2");
        assert_eq!(q.len(), 4);
        assert_eq!(q.peek_time(), Some(10));
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(order, vec![(10, "a1"), (10, "a2"), (20, "b"), (30, "c")]);
        assert_eq!(q.pop(), None);
        assert_eq!(q.peek_time(), None);
    }

    #[test]
    fn freed_slots_are_reused_without_disturbing_order() {
        let mut q = EventQueue::default();
        for i in 0..100u64 {
            q.push(i % 7, i);
        }
        let mut out = Vec::new();
        for _ in 0..50 {
            out.extend(q.pop());
        }
        for i in 100..150u64 {
            q.push(6, i);
        }
        out.extend(std::iter::from_fn(|| q.pop()));
        assert_eq!(out.len(), 150);
        // Sorted by time; within one time, by insertion (= value) order.
        let mut expected = out.clone();
        expected.sort_by_key(|&(at, v)| (at, v));
        assert_eq!(out, expected);
        assert!(q.slab.len() <= 100, "slab grew to {}", q.slab.len());
    }

    #[test]
    fn far_and_backward_events_keep_their_order() {
        let ring_span = RING << BUCKET_SHIFT;
        let mut q = EventQueue::default();
        q.push(5 * ring_span, "far");
        q.push(u64::MAX, "max");
        q.push(1000, "near");
        q.push(5 * ring_span, "far2");
        assert_eq!(q.pop(), Some((1000, "near")));
        // Earlier than the last pop: still comes out first.
        q.push(10, "back");
        q.push(ring_span + 7, "mid");
        assert_eq!(q.len(), 5);
        assert_eq!(q.pop_before(9), None);
        assert_eq!(q.pop_before(10), Some((10, "back")));
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(
            order,
            vec![
                (ring_span + 7, "mid"),
                (5 * ring_span, "far"),
                (5 * ring_span, "far2"),
                (u64::MAX, "max"),
            ]
        );
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn a_far_event_does_not_pull_the_calendar_ahead() {
        let mut q = EventQueue::default();
        q.push(60_000_000_000, 0u64);
        q.push(5, 1);
        assert_eq!(q.pop(), Some((5, 1)));
        assert_eq!(q.peek_time(), Some(60_000_000_000));
        // Nothing is due before the far event, and the calendar has not
        // moved to it: later pushes are appends to ring buckets, not
        // sorted inserts.
        for i in 0..1000 {
            q.push(10_000_000 + i * 100_000, i + 2);
        }
        assert!(q.current.is_empty());
        assert_eq!(q.peek_time(), Some(10_000_000));
        assert_eq!(q.pop(), Some((10_000_000, 2)));
        assert!(q.current.len() < 20, "{}", q.current.len());
        assert_eq!(q.len(), 1000);
    }

    #[derive(Debug, Clone)]
    enum Op {
        /// Push at the last popped time plus (or minus) an offset.
        Push(When),
        Pop,
        /// `pop_before(last popped + offset)`.
        PopBefore(u64),
    }

    #[derive(Debug, Clone)]
    enum When {
        After(u64),
        Before(u64),
        Absolute(u64),
    }

    fn when() -> impl Strategy<Value = When> {
        let bucket = 1u64 << BUCKET_SHIFT;
        let span = RING * bucket;
        prop_oneof![
            // Exactly the last popped time, and near ties.
            3 => (0u64..4).prop_map(When::After),
            // Datagrams: 10-160 ms, coarse so that times tie.
            6 => (10u64..160).prop_map(|ms| When::After(ms * 1_000_000)),
            // Bucket and ring edges.
            3 => (0u64..3, 0u64..2 * RING, 0u64..3)
                .prop_map(move |(e, b, d)| When::After((b * bucket + e * span + d).wrapping_sub(1))),
            // Timers: 0.1-60 s, some far beyond.
            2 => (1u64..600).prop_map(|ds| When::After(ds * 100_000_000)),
            1 => (0u64..1 << 40).prop_map(When::After),
            1 => prop_oneof![Just(u64::MAX), Just(u64::MAX - 1), (0u64..1 << 63)].prop_map(When::Absolute),
            // Earlier than the last pop (the simulator never does this).
            1 => (1u64..3 * span).prop_map(When::Before),
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            5 => when().prop_map(Op::Push),
            4 => Just(Op::Pop),
            1 => (0u64..200_000_000).prop_map(Op::PopBefore),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn matches_a_binary_heap(ops in proptest::collection::vec(op(), 0..400)) {
            let mut q = EventQueue::default();
            let mut model: BinaryHeap<Reverse<(u64, u64)>> = BinaryHeap::new();
            let mut last = 0u64;
            let mut n = 0u64;
            for op in ops {
                match op {
                    Op::Push(w) => {
                        let at = match w {
                            When::After(d) => last.saturating_add(d),
                            When::Before(d) => last.saturating_sub(d),
                            When::Absolute(t) => t,
                        };
                        n += 1;
                        q.push(at, n);
                        model.push(Reverse((at, n)));
                    }
                    Op::Pop => {
                        let got = q.pop();
                        let want = model.pop().map(|Reverse(k)| k);
                        prop_assert_eq!(got, want);
                        if let Some((at, _)) = got {
                            last = at;
                        }
                    }
                    Op::PopBefore(d) => {
                        let limit = last.saturating_add(d);
                        let got = q.pop_before(limit);
                        let want = match model.peek() {
                            Some(Reverse((at, _))) if *at <= limit => model.pop().map(|Reverse(k)| k),
                            _ => None,
                        };
                        prop_assert_eq!(got, want);
                        if let Some((at, _)) = got {
                            last = at;
                        }
                    }
                }
                prop_assert_eq!(q.len(), model.len());
                prop_assert_eq!(q.peek_time(), model.peek().map(|Reverse((at, _))| *at));
            }
            let rest: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
            let want: Vec<_> = std::iter::from_fn(|| model.pop().map(|Reverse(k)| k)).collect();
            prop_assert_eq!(rest, want);
        }
    }
}

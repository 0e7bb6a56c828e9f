//! The simulator's event queue: events in `(time, seq)` order.
//!
//! This module owns the order of events and nothing else: it never looks
//! inside an event. `seq` is a counter the queue assigns on insertion, so
//! events due at the same nanosecond come out in the order they were
//! queued and a run is deterministic.
//!
//! The heap holds 24-byte keys `(time, seq, slot)`; the events themselves
//! (a datagram delivery carries its payload `Vec`) wait in a slab indexed
//! by `slot`, whose free slots are reused. A heap of whole events moved
//! twice as many bytes on every sift, and its pop was the largest single
//! item of a simulation's profile.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// A min-queue of events of type `E`, ordered by `(time, insertion order)`.
#[derive(Debug, Clone)]
pub(super) struct EventQueue<E> {
    heap: BinaryHeap<Reverse<(u64, u64, u32)>>,
    slab: Vec<Option<E>>,
    free: Vec<u32>,
    seq: u64,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        EventQueue {
            heap: BinaryHeap::new(),
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
        self.heap.push(Reverse((at, self.seq, slot)));
    }

    /// The time of the earliest event.
    pub(super) fn peek_time(&self) -> Option<u64> {
        self.heap.peek().map(|Reverse((at, _, _))| *at)
    }

    /// Takes the earliest event and its time.
    pub(super) fn pop(&mut self) -> Option<(u64, E)> {
        loop {
            let Reverse((at, _, slot)) = self.heap.pop()?;
            let event = self.slab.get_mut(slot as usize).and_then(Option::take);
            self.free.push(slot);
            if let Some(event) = event {
                return Some((at, event));
            }
        }
    }

    /// Events queued.
    pub(super) fn len(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::EventQueue;

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
}

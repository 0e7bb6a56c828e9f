//! [`DeadlineSet`]: the engine's ordered sets of `(deadline, id)` timers
//! (request deadlines, query deadlines), with the earliest deadline kept
//! at hand.
//!
//! This module owns only that bookkeeping and must never decide what a
//! deadline means: the order and contents are exactly those of a
//! `BTreeSet<(Instant, T)>`. The copy of the earliest
//! deadline exists because [`Node::poll_timeout`](super::Node::poll_timeout)
//! runs after every input of every node, so it must not walk down to the
//! first leaf of a tree each time.

use std::collections::BTreeSet;
use std::time::Instant;

/// A `BTreeSet<(Instant, T)>` that also remembers its first instant.
#[derive(Debug, Clone)]
pub(super) struct DeadlineSet<T> {
    set: BTreeSet<(Instant, T)>,
    /// The instant of `set.first()`, `None` when empty.
    earliest: Option<Instant>,
}

impl<T> Default for DeadlineSet<T> {
    fn default() -> Self {
        DeadlineSet {
            set: BTreeSet::new(),
            earliest: None,
        }
    }
}

impl<T: Ord + Copy> DeadlineSet<T> {
    /// The earliest deadline, without touching the tree.
    pub(super) fn earliest(&self) -> Option<Instant> {
        self.earliest
    }

    /// Adds `(when, id)`; returns whether it was not there yet.
    pub(super) fn insert(&mut self, entry: (Instant, T)) -> bool {
        let when = entry.0;
        let added = self.set.insert(entry);
        if self.earliest.is_none_or(|e| when < e) {
            self.earliest = Some(when);
        }
        added
    }

    /// Removes `(when, id)`; returns whether it was there.
    pub(super) fn remove(&mut self, entry: &(Instant, T)) -> bool {
        let removed = self.set.remove(entry);
        if removed && self.earliest == Some(entry.0) {
            self.refresh();
        }
        removed
    }

    /// Removes and returns the earliest entry.
    pub(super) fn pop_first(&mut self) -> Option<(Instant, T)> {
        let first = self.set.pop_first();
        self.refresh();
        first
    }

    /// Entries held.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.set.len()
    }

    fn refresh(&mut self) {
        self.earliest = self.set.first().map(|(when, _)| *when);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn earliest_follows_inserts_removals_and_pops() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let mut set = DeadlineSet::<u64>::default();
        assert_eq!(set.earliest(), None);
        assert!(set.insert((at(30), 1)));
        assert!(set.insert((at(10), 2)));
        assert!(set.insert((at(10), 3)));
        assert!(!set.insert((at(10), 3)));
        assert_eq!(set.earliest(), Some(at(10)));
        // Removing one of two entries at the earliest instant keeps it.
        assert!(set.remove(&(at(10), 2)));
        assert_eq!(set.earliest(), Some(at(10)));
        assert!(!set.remove(&(at(10), 2)));
        assert_eq!(set.pop_first(), Some((at(10), 3)));
        assert_eq!(set.earliest(), Some(at(30)));
        assert!(set.remove(&(at(30), 1)));
        assert_eq!(set.earliest(), None);
        assert_eq!(set.pop_first(), None);
        assert_eq!(set.len(), 0);
    }
}

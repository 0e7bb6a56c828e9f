//! Housekeeping: what the engine does on its own at every round of
//! `Config::maintenance_interval`, and the memory it gives back.
//!
//! This module owns the refresh of buckets no lookup went through for
//! `Config::bucket_refresh_interval`, the republishing of the records and
//! provider announcements this node published (until
//! `Node::stop_publishing`), and shrinking the engine's maps and queues
//! after a burst. It must never start more than
//! `Config::max_refreshes_per_round` refreshes in one round, and never let
//! hash-map order decide the order of the queries it starts (their RNG
//! draws must not differ between runs).

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use super::query::QueryKind;
use super::{Node, QueryOptions};
use crate::id::Key;
use crate::record::Record;

/// A record this node published and keeps alive by republishing.
#[derive(Debug, Clone)]
pub(super) enum Published {
    /// A record it put.
    Record(Box<Record>),
    /// Its announcement as a provider of the key.
    Provider,
}

impl Node {
    /// One housekeeping round: memory release, the refresh of idle
    /// buckets (at most `Config::max_refreshes_per_round`), and the
    /// republishing of what is due.
    pub(super) fn maintenance(&mut self, now: Instant) {
        self.release_memory(now);
        if !self.table.is_empty() {
            let idle = self
                .table
                .idle_buckets(now, self.config.bucket_refresh_interval);
            for index in idle.into_iter().take(self.config.max_refreshes_per_round) {
                self.table.touch_bucket(index, now);
                if let Some(target) = self.id.random_in_bucket(index, &mut self.rng) {
                    self.start_query(
                        now,
                        target,
                        QueryKind::refresh(None),
                        false,
                        QueryOptions::default(),
                    );
                }
            }
        }
        let mut due: Vec<Key> = self
            .published
            .iter()
            .filter(|(_, (_, at))| *at <= now)
            .map(|(k, _)| *k)
            .collect();
        // Hash-map order differs between runs; the RNG draws of the
        // queries started below must not.
        due.sort_unstable();
        for key in due {
            let Some((what, at)) = self.published.get_mut(&key) else {
                continue;
            };
            *at = now + self.config.republish_interval;
            let kind = match what {
                Published::Record(r) => QueryKind::put((**r).clone()),
                Published::Provider => QueryKind::add_provider(),
            };
            self.start_query(now, key, kind, false, QueryOptions::default());
        }
    }

    /// Gives back memory a burst left behind: hash tables and queues keep
    /// their peak capacity, so after a bootstrap (many requests in flight
    /// at once) a node would otherwise hold their empty slots for good.
    /// Runs after each bootstrap and at every housekeeping round; shrinks
    /// only what is mostly empty.
    pub(super) fn release_memory(&mut self, now: Instant) {
        shrink_map(&mut self.pending);
        self.retransmissions.release_memory();
        self.queries.release_memory();
        shrink_set(&mut self.proving);
        shrink_set(&mut self.evicting);
        if self.transmits.len() * 4 < self.transmits.capacity() {
            self.transmits.shrink_to(2 * self.transmits.len());
        }
        if self.events.len() * 4 < self.events.capacity() {
            self.events.shrink_to(2 * self.events.len());
        }
        self.limiter.release_memory(now);
        self.rtt.release_memory();
    }

    /// Shrinks the request-tracking maps once a burst has drained (each
    /// after holding under a quarter of its capacity, so the rehashing
    /// costs O(1) per request, amortised), after every input rather than
    /// at the housekeeping round, so that a node that just bootstrapped
    /// does not hold the table of its peak until then.
    pub(super) fn trim_request_maps(&mut self) {
        shrink_map(&mut self.pending);
        shrink_set(&mut self.proving);
        shrink_set(&mut self.evicting);
    }
}

/// Shrinks a map holding under a quarter of its capacity.
fn shrink_map<K: Eq + std::hash::Hash, V, S: std::hash::BuildHasher>(map: &mut HashMap<K, V, S>) {
    if map.len() * 4 < map.capacity() {
        map.shrink_to(2 * map.len());
    }
}

/// Shrinks a set holding under a quarter of its capacity.
fn shrink_set<T: Eq + std::hash::Hash>(set: &mut HashSet<T>) {
    if set.len() * 4 < set.capacity() {
        set.shrink_to(2 * set.len());
    }
}

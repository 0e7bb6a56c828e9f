//! The contact cache: verified contacts until they go stale, and misses
//! for a short while, so a busy router does not query the DHT for every
//! message.
//!
//! Pure data structure: time (milliseconds of the adapter's wall clock) is
//! an argument, and it never touches the network. Bounded: at capacity,
//! expired entries go first, then the entry closest to expiry.

use std::collections::HashMap;

use super::contact::ContactInfo;
use super::traits::MesharaId;

#[derive(Debug, Clone)]
enum Entry {
    Found { info: ContactInfo, expires_ms: u64 },
    Missing { expires_ms: u64 },
}

impl Entry {
    fn expires_ms(&self) -> u64 {
        match self {
            Entry::Found { expires_ms, .. } | Entry::Missing { expires_ms } => *expires_ms,
        }
    }
}

/// What the cache knows about a destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cached {
    /// A verified contact, not yet stale.
    Found(ContactInfo),
    /// A recent lookup found nothing.
    Missing,
}

#[derive(Debug)]
pub(crate) struct ContactCache {
    entries: HashMap<MesharaId, Entry>,
    capacity: usize,
}

impl ContactCache {
    pub(crate) fn new(capacity: usize) -> Self {
        ContactCache {
            entries: HashMap::new(),
            capacity: capacity.max(1),
        }
    }

    /// The live entry for `id` at `now_ms`; an expired one is removed.
    pub(crate) fn get(&mut self, id: &MesharaId, now_ms: u64) -> Option<Cached> {
        let entry = self.entries.get(id)?;
        if entry.expires_ms() <= now_ms {
            self.entries.remove(id);
            return None;
        }
        Some(match entry {
            Entry::Found { info, .. } => Cached::Found(info.clone()),
            Entry::Missing { .. } => Cached::Missing,
        })
    }

    /// Caches a contact until `expires_ms`. An older contact never replaces
    /// a newer one already cached.
    pub(crate) fn insert_found(
        &mut self,
        id: MesharaId,
        info: ContactInfo,
        expires_ms: u64,
        now_ms: u64,
    ) {
        if let Some(Entry::Found { info: have, .. }) = self.entries.get(&id) {
            if have.advertised_at > info.advertised_at {
                return;
            }
        }
        self.make_room(&id, now_ms);
        self.entries.insert(id, Entry::Found { info, expires_ms });
    }

    /// Caches a miss until `expires_ms` (replacing nothing but an older
    /// miss or nothing).
    pub(crate) fn insert_missing(&mut self, id: MesharaId, expires_ms: u64, now_ms: u64) {
        if matches!(self.entries.get(&id), Some(Entry::Found { .. })) {
            return;
        }
        self.make_room(&id, now_ms);
        self.entries.insert(id, Entry::Missing { expires_ms });
    }

    /// Drops whatever is cached for `id`; returns whether there was a
    /// contact.
    pub(crate) fn remove(&mut self, id: &MesharaId) -> bool {
        matches!(self.entries.remove(id), Some(Entry::Found { .. }))
    }

    /// Drops a cached contact for `id` only if it is `info` (a newer one
    /// learnt meanwhile stays).
    pub(crate) fn remove_if(&mut self, id: &MesharaId, info: &ContactInfo) -> bool {
        match self.entries.get(id) {
            Some(Entry::Found { info: have, .. }) if have == info => {
                self.entries.remove(id);
                true
            }
            _ => false,
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    fn make_room(&mut self, incoming: &MesharaId, now_ms: u64) {
        if self.entries.len() < self.capacity || self.entries.contains_key(incoming) {
            return;
        }
        self.entries.retain(|_, e| e.expires_ms() > now_ms);
        while self.entries.len() >= self.capacity {
            let Some(victim) = self
                .entries
                .iter()
                .min_by_key(|(_, e)| e.expires_ms())
                .map(|(id, _)| *id)
            else {
                return;
            };
            self.entries.remove(&victim);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(at: u64) -> ContactInfo {
        ContactInfo {
            addresses: vec!["127.0.0.1:1".parse().unwrap()],
            public_key: [7; 64],
            advertised_at: at,
        }
    }

    #[test]
    fn cache_returns_contacts_until_they_expire() {
        let mut c = ContactCache::new(8);
        c.insert_found([1; 32], info(10), 100, 10);
        assert_eq!(c.get(&[1; 32], 99), Some(Cached::Found(info(10))));
        assert_eq!(c.get(&[1; 32], 100), None);
        assert_eq!(c.len(), 0);
    }

    #[test]
    fn cache_keeps_misses_briefly_and_never_over_a_contact() {
        let mut c = ContactCache::new(8);
        c.insert_missing([2; 32], 50, 0);
        assert_eq!(c.get(&[2; 32], 49), Some(Cached::Missing));
        assert_eq!(c.get(&[2; 32], 50), None);
        c.insert_found([3; 32], info(1), 100, 0);
        c.insert_missing([3; 32], 50, 0);
        assert_eq!(c.get(&[3; 32], 10), Some(Cached::Found(info(1))));
    }

    #[test]
    fn cache_prefers_the_newer_contact() {
        let mut c = ContactCache::new(8);
        c.insert_found([4; 32], info(20), 100, 0);
        c.insert_found([4; 32], info(10), 200, 0);
        assert_eq!(c.get(&[4; 32], 1), Some(Cached::Found(info(20))));
        assert!(!c.remove_if(&[4; 32], &info(10)));
        assert!(c.remove_if(&[4; 32], &info(20)));
        assert_eq!(c.get(&[4; 32], 1), None);
    }

    #[test]
    fn cache_at_capacity_evicts_expired_then_soonest_to_expire() {
        let mut c = ContactCache::new(2);
        c.insert_found([1; 32], info(1), 10, 0);
        c.insert_found([2; 32], info(1), 30, 0);
        // At 20, entry 1 has expired: it goes, 2 stays.
        c.insert_found([3; 32], info(1), 40, 20);
        assert_eq!(c.len(), 2);
        assert!(c.get(&[2; 32], 20).is_some());
        // Nothing expired: the soonest to expire (2, at 30) goes.
        c.insert_missing([4; 32], 25, 21);
        assert_eq!(c.len(), 2);
        assert_eq!(c.get(&[2; 32], 21), None);
        assert_eq!(c.get(&[3; 32], 21), Some(Cached::Found(info(1))));
        assert_eq!(c.get(&[4; 32], 21), Some(Cached::Missing));
    }
}

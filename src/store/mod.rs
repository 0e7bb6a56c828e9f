//! The node's local record store: records and provider records kept for a
//! limited time, with caps on entries, bytes and entries per source address.
//!
//! This module owns what a node holds on behalf of others and the
//! accounting behind its limits. It never does I/O, never reads the clock
//! (every entry point takes `now`), and never evicts a live, valid entry to
//! make room: when a cap is reached, new writes are refused instead, so a
//! flood of junk cannot push honest records out.
//!
//! # Expiry
//!
//! Every entry has a deadline (`now + record_ttl` or `now + provider_ttl`
//! at its last write). An entry is dead from its deadline on: [`get`] and
//! [`providers`] hide it at once, and [`expire`] removes it. Deadlines live
//! in an ordered index, so expiry costs `O(expired * log n)` and never scans
//! the store. Writes purge expired entries first, so a dead entry never
//! holds capacity against a live write.
//!
//! # Accounting
//!
//! Each record is charged to the IP address that last wrote it (stored,
//! replaced or refreshed it); each provider record to its provider's IP.
//! The quota `max_records_per_ip` is per source: an IPv4 address (an
//! IPv4-mapped IPv6 address counts as the IPv4 address), or an IPv6 /64,
//! since one IPv6 host holds a whole /64; the /64s of one IPv6 /48 share
//! `ipv6_budgets_per_48` such quotas (see `quota.rs`). Records and
//! provider records both count toward `max_records` and the quotas; only
//! records count toward `max_record_bytes` (sum of
//! [`Record::stored_size`]).
//!
//! # Key clashes
//!
//! An immutable record whose value is `public_key || salt` has the same key
//! as the ed25519 mutable record for that key and salt. The signed record
//! wins: it replaces such an immutable record (reported as
//! `Replaced { old_seq: 0 }`), and an immutable record is refused where a
//! signed one is stored. Two different immutable values under one key (a
//! SHA-1 collision) are resolved first-writer-wins.
//!
//! [`get`]: RecordStore::get
//! [`providers`]: RecordStore::providers
//! [`expire`]: RecordStore::expire

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::id::{Key, NodeId};
use crate::record::{Record, Refusal};
use crate::wire::{Contact, MAX_PROVIDERS};

use quota::Quotas;
pub(crate) use quota::{source_keys, SourceKey};

#[cfg(test)]
mod proptests;
mod quota;
#[cfg(test)]
mod tests;

/// What an accepted write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum PutOutcome {
    /// Nothing was stored under this key (or for this provider) before.
    Stored,
    /// A mutable record with a lower sequence number was replaced.
    Replaced {
        /// The sequence number of the record that was replaced (0 for an
        /// immutable record displaced by a signed one).
        old_seq: u64,
    },
    /// The identical record (or an already-known provider) was written
    /// again: its expiry was extended.
    Refreshed,
}

/// The limits a store enforces, copied from [`Config`].
#[derive(Debug, Clone, Copy)]
struct Limits {
    record_ttl: Duration,
    provider_ttl: Duration,
    max_records: usize,
    max_record_bytes: usize,
    max_providers_per_key: usize,
}

/// What an expiry-index entry points at. Each slot has at most one live
/// entry, so `(deadline, slot)` is unique and needs no extra tiebreak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Slot {
    Record(Key),
    Provider(Key, NodeId),
}

/// A record with its deadline and the address it is charged to.
#[derive(Debug, Clone)]
struct StoredRecord {
    record: Record,
    expires: Instant,
    source: IpAddr,
}

/// A provider with its deadline; charged to `contact.addr`'s IP.
#[derive(Debug, Clone, Copy)]
struct StoredProvider {
    contact: Contact,
    expires: Instant,
}

impl StoredProvider {
    fn ip(&self) -> IpAddr {
        self.contact.addr.ip().to_canonical()
    }
}

/// A TTL'd store of records and provider records with caps on entries,
/// bytes and entries per source (IPv4 address, IPv6 /64 and /48).
///
/// - Writes: [`put`](Self::put), [`add_provider`](Self::add_provider),
///   [`remove`](Self::remove).
/// - Reads (expired entries are invisible even before they are purged):
///   [`get`](Self::get), [`providers`](Self::providers),
///   [`records`](Self::records).
/// - Time: [`expire`](Self::expire) removes dead entries;
///   [`next_expiry`](Self::next_expiry) says when to call it next.
/// - Accounting: [`len`](Self::len), [`provider_count`](Self::provider_count),
///   [`bytes`](Self::bytes), [`quota_used`](Self::quota_used).
///
/// An empty store allocates nothing.
#[derive(Debug, Clone)]
pub struct RecordStore {
    limits: Limits,
    records: HashMap<Key, StoredRecord>,
    /// Per key, oldest write first (a re-add moves a provider to the end).
    providers: HashMap<Key, Vec<StoredProvider>>,
    provider_count: usize,
    bytes: usize,
    /// Entries charged to each source and IPv6 /48.
    quotas: Quotas,
    expiry: BTreeSet<(Instant, Slot)>,
}

impl RecordStore {
    /// An empty store with the TTLs and caps of `config`.
    pub fn new(config: &Config) -> Self {
        RecordStore {
            limits: Limits {
                record_ttl: config.record_ttl,
                provider_ttl: config.provider_ttl,
                max_records: config.max_records,
                max_record_bytes: config.max_record_bytes,
                max_providers_per_key: config.max_providers_per_key,
            },
            records: HashMap::new(),
            providers: HashMap::new(),
            provider_count: 0,
            bytes: 0,
            quotas: Quotas::new(config.max_records_per_ip, config.ipv6_budgets_per_48),
            expiry: BTreeSet::new(),
        }
    }

    /// Verifies `record` ([`Record::verify`]) and stores it under
    /// [`Record::key`] until `now + record_ttl`, charged to `source`.
    ///
    /// Expired entries are purged first. Then, against a record already
    /// stored under the key:
    /// - a mutable record with a higher sequence number replaces it
    ///   ([`PutOutcome::Replaced`]);
    /// - the identical record refreshes its expiry
    ///   ([`PutOutcome::Refreshed`]);
    /// - anything else is refused with [`Refusal::SequenceNotNewer`].
    ///
    /// Caps, checked after the purge and counting the replaced record as
    /// gone: [`Refusal::QuotaExceeded`] when `source` (its IPv6 /64) already
    /// has `max_records_per_ip` entries or its IPv6 /48 is at its share, [`Refusal::StoreFull`] when the write
    /// would exceed `max_records` entries or `max_record_bytes`. Nothing is
    /// ever evicted to make room. A refused write changes nothing but the
    /// purge.
    pub fn put(
        &mut self,
        now: Instant,
        source: IpAddr,
        record: Record,
    ) -> Result<PutOutcome, Refusal> {
        record.verify()?;
        self.expire(now);
        let source = source.to_canonical();
        let key = record.key();
        let new_size = record.stored_size();

        let (outcome, old) = match self.records.get(&key) {
            None => (PutOutcome::Stored, None),
            Some(old) => (
                overwrite(&old.record, &record)?,
                Some((old.source, old.record.stored_size())),
            ),
        };
        let freed_ip = old.map(|(ip, _)| ip);
        if !self.quotas.has_room(source, freed_ip) {
            return Err(Refusal::QuotaExceeded);
        }
        let (freed_entries, freed_bytes) = old.map_or((0, 0), |(_, size)| (1, size));
        let entries_after = (self.entry_count() - freed_entries).saturating_add(1);
        let bytes_after = (self.bytes - freed_bytes).saturating_add(new_size);
        if entries_after > self.limits.max_records || bytes_after > self.limits.max_record_bytes {
            return Err(Refusal::StoreFull);
        }

        self.remove(&key);
        let expires = deadline(now, self.limits.record_ttl);
        self.expiry.insert((expires, Slot::Record(key)));
        self.charge(source);
        self.bytes += new_size;
        self.records.insert(
            key,
            StoredRecord {
                record,
                expires,
                source,
            },
        );
        Ok(outcome)
    }

    /// The record stored under `key`, unless there is none or it has
    /// expired at `now` (even if [`expire`](Self::expire) has not run).
    pub fn get(&self, now: Instant, key: &Key) -> Option<&Record> {
        self.records
            .get(key)
            .filter(|e| e.expires > now)
            .map(|e| &e.record)
    }

    /// When the record under `key` expires, if one is stored (expired or
    /// not): lets a caller decide whether a republish is due.
    pub fn record_expiry(&self, key: &Key) -> Option<Instant> {
        self.records.get(key).map(|e| e.expires)
    }

    /// Removes the record under `key` (not its providers), expired or not,
    /// and returns it.
    pub fn remove(&mut self, key: &Key) -> Option<Record> {
        let old = self.records.remove(key)?;
        self.expiry.remove(&(old.expires, Slot::Record(*key)));
        self.discharge(old.source);
        self.bytes -= old.record.stored_size();
        Some(old.record)
    }

    /// Records `provider` as holding the content under `key` until
    /// `now + provider_ttl`, charged to the provider's IP.
    ///
    /// Expired entries are purged first. A provider already known for the
    /// key (same node id) is refreshed: new deadline, new address, and the
    /// most recent position ([`PutOutcome::Refreshed`]); if its IP changed,
    /// the charge moves and the new IP's quota applies. A new provider is
    /// refused with [`Refusal::QuotaExceeded`] when the key already has
    /// `max_providers_per_key` providers or the IP is at its quota, and
    /// with [`Refusal::StoreFull`] when the store holds `max_records`
    /// entries. Nothing is ever evicted to make room.
    pub fn add_provider(
        &mut self,
        now: Instant,
        key: Key,
        provider: Contact,
    ) -> Result<PutOutcome, Refusal> {
        self.expire(now);
        let ip = provider.addr.ip().to_canonical();
        let known = self.providers.get(&key).and_then(|set| {
            set.iter()
                .find(|p| p.contact.id == provider.id)
                .map(StoredProvider::ip)
        });
        let outcome = match known {
            Some(old_ip) => {
                if !self.quotas.has_room(ip, Some(old_ip)) {
                    return Err(Refusal::QuotaExceeded);
                }
                self.remove_provider(&key, &provider.id);
                PutOutcome::Refreshed
            }
            None => {
                let on_key = self.providers.get(&key).map_or(0, Vec::len);
                if on_key >= self.limits.max_providers_per_key || !self.quotas.has_room(ip, None) {
                    return Err(Refusal::QuotaExceeded);
                }
                if self.entry_count() >= self.limits.max_records {
                    return Err(Refusal::StoreFull);
                }
                PutOutcome::Stored
            }
        };
        let expires = deadline(now, self.limits.provider_ttl);
        self.expiry
            .insert((expires, Slot::Provider(key, provider.id)));
        self.charge(ip);
        self.provider_count += 1;
        self.providers.entry(key).or_default().push(StoredProvider {
            contact: provider,
            expires,
        });
        Ok(outcome)
    }

    /// The unexpired providers of `key`, most recently added (or
    /// refreshed) first, at most [`MAX_PROVIDERS`].
    pub fn providers(&self, now: Instant, key: &Key) -> Vec<Contact> {
        self.providers.get(key).map_or_else(Vec::new, |set| {
            set.iter()
                .rev()
                .filter(|p| p.expires > now)
                .take(MAX_PROVIDERS)
                .map(|p| p.contact)
                .collect()
        })
    }

    /// Removes every record and provider record whose deadline is at or
    /// before `now`; returns how many went. Costs `O(expired * log n)`.
    pub fn expire(&mut self, now: Instant) -> usize {
        let mut removed = 0;
        while let Some(&(at, slot)) = self.expiry.first() {
            if at > now {
                break;
            }
            match slot {
                Slot::Record(key) => {
                    self.remove(&key);
                }
                Slot::Provider(key, id) => {
                    self.remove_provider(&key, &id);
                }
            }
            // The removal above took the index entry out; this only guards
            // the loop's progress should the two ever disagree.
            self.expiry.remove(&(at, slot));
            removed += 1;
        }
        if removed > 0 {
            self.shrink_if_sparse();
        }
        removed
    }

    /// The earliest deadline of any stored entry: when
    /// [`expire`](Self::expire) next has work.
    pub fn next_expiry(&self) -> Option<Instant> {
        self.expiry.first().map(|&(at, _)| at)
    }

    /// Records stored (not provider records), including expired ones not
    /// yet purged.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether no record is stored (provider records aside).
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Provider records stored, including expired ones not yet purged.
    pub fn provider_count(&self) -> usize {
        self.provider_count
    }

    /// Sum of [`Record::stored_size`] over stored records.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Entries (records and provider records) charged to `ip`'s source:
    /// its IPv4 address, or its IPv6 /64.
    pub fn quota_used(&self, ip: IpAddr) -> usize {
        self.quotas.used(ip)
    }

    /// The unexpired records, in no particular order: what a node hands to
    /// newly closer nodes for re-replication.
    pub fn records(&self, now: Instant) -> impl Iterator<Item = (&Key, &Record)> {
        self.records
            .iter()
            .filter(move |(_, e)| e.expires > now)
            .map(|(k, e)| (k, &e.record))
    }

    /// Records plus provider records: what `max_records` caps.
    fn entry_count(&self) -> usize {
        self.records.len() + self.provider_count
    }

    /// Removes one provider record with its index entry and charge.
    fn remove_provider(&mut self, key: &Key, id: &NodeId) -> Option<Contact> {
        let set = self.providers.get_mut(key)?;
        let pos = set.iter().position(|p| p.contact.id == *id)?;
        let old = set.remove(pos);
        if set.is_empty() {
            self.providers.remove(key);
        }
        self.expiry
            .remove(&(old.expires, Slot::Provider(*key, *id)));
        self.discharge(old.ip());
        self.provider_count -= 1;
        Some(old.contact)
    }

    fn charge(&mut self, ip: IpAddr) {
        self.quotas.charge(ip);
    }

    fn discharge(&mut self, ip: IpAddr) {
        self.quotas.discharge(ip);
    }

    /// Gives memory back after mass expiry, so a node whose store emptied
    /// does not keep its peak footprint. Amortised: a map is rebuilt only
    /// when at most a quarter of its capacity is used.
    fn shrink_if_sparse(&mut self) {
        fn sparse<K, V>(map: &HashMap<K, V>) -> bool {
            map.capacity() > 16 && map.len() * 4 <= map.capacity()
        }
        if sparse(&self.records) {
            self.records.shrink_to_fit();
        }
        if sparse(&self.providers) {
            self.providers.shrink_to_fit();
        }
        self.quotas.shrink_if_sparse();
    }

    /// Checks every counter against a full recount; tests only.
    #[cfg(test)]
    fn assert_consistent(&self) {
        let bytes: usize = self.records.values().map(|e| e.record.stored_size()).sum();
        assert_eq!(self.bytes, bytes);
        let providers: usize = self.providers.values().map(Vec::len).sum();
        assert_eq!(self.provider_count, providers);
        assert!(self.providers.values().all(|set| !set.is_empty()));
        assert_eq!(self.expiry.len(), self.records.len() + providers);
        let mut quotas = self.quotas.emptied();
        for (key, e) in &self.records {
            assert_eq!(e.record.key(), *key);
            assert!(self.expiry.contains(&(e.expires, Slot::Record(*key))));
            quotas.charge(e.source);
        }
        for (key, set) in &self.providers {
            for p in set {
                assert!(self
                    .expiry
                    .contains(&(p.expires, Slot::Provider(*key, p.contact.id))));
                quotas.charge(p.ip());
            }
        }
        assert_eq!(self.quotas, quotas);
    }
}

/// Whether `new` may overwrite `old` (both under the same key), and how.
fn overwrite(old: &Record, new: &Record) -> Result<PutOutcome, Refusal> {
    if old == new {
        return Ok(PutOutcome::Refreshed);
    }
    match (old, new) {
        (Record::Mutable(o), Record::Mutable(n)) if n.seq > o.seq => {
            Ok(PutOutcome::Replaced { old_seq: o.seq })
        }
        (Record::Immutable(_), Record::Mutable(_)) => Ok(PutOutcome::Replaced { old_seq: 0 }),
        _ => Err(Refusal::SequenceNotNewer { stored: old.seq() }),
    }
}

/// `now + ttl`, saturating near the latest representable instant instead
/// of panicking on overflow (a configured TTL of `Duration::MAX`).
fn deadline(now: Instant, ttl: Duration) -> Instant {
    if let Some(at) = now.checked_add(ttl) {
        return at;
    }
    // Add ever smaller halvings of `ttl` while they fit: at most ~94 steps
    // (64 bits of seconds, 30 of nanoseconds).
    let mut at = now;
    let mut step = ttl;
    while !step.is_zero() {
        if let Some(later) = at.checked_add(step) {
            at = later;
        }
        step /= 2;
    }
    at
}

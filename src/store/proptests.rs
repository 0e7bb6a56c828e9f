//! Model-based property test: random sequences of writes, removals, reads
//! and expiry run against both the [`RecordStore`] and a naive reference
//! model (plain vectors, full scans), which must agree on every outcome,
//! every read and every counter, while no cap is ever exceeded.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use proptest::prelude::*;

use super::*;
use crate::record::{ImmutableRecord, SignedRecord};

const TTL: Duration = Duration::from_secs(10);
const PROVIDER_TTL: Duration = Duration::from_secs(7);

fn config() -> Config {
    Config {
        record_ttl: TTL,
        provider_ttl: PROVIDER_TTL,
        max_records: 6,
        max_record_bytes: 900,
        max_records_per_ip: 3,
        max_providers_per_key: 2,
        ..Config::default()
    }
}

/// Writer addresses; the last is the IPv4-mapped form of the first.
fn ips() -> [IpAddr; 5] {
    let v4 = |n| IpAddr::V4(Ipv4Addr::new(192, 0, 2, n));
    [
        v4(1),
        v4(2),
        v4(3),
        v4(4),
        IpAddr::V6(Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped()),
    ]
}

/// Every record the test writes: signed versions (3 signers x 2 salts x 4
/// sequence numbers x 3 value sizes), immutable values, a squatter whose
/// value is signer 0's public key, and one forged record. Signed once.
fn record_pool() -> &'static [Record] {
    static POOL: OnceLock<Vec<Record>> = OnceLock::new();
    POOL.get_or_init(|| {
        let mut pool = Vec::new();
        let sizes = [1usize, 120, 400];
        for seed in 0..3u8 {
            let sk = SigningKey::from_bytes(&[seed; 32]);
            for salt in [&b""[..], &b"s"[..]] {
                for seq in 0..4u64 {
                    for (i, len) in sizes.iter().enumerate() {
                        let value = vec![b'a' + i as u8; *len];
                        if let Ok(r) = SignedRecord::sign_ed25519(&sk, salt.to_vec(), seq, value) {
                            pool.push(Record::Mutable(r));
                        }
                    }
                }
            }
        }
        for (i, len) in sizes.iter().enumerate() {
            pool.push(Record::Immutable(ImmutableRecord {
                value: vec![b'x' + i as u8; *len].into(),
            }));
        }
        let sk0 = SigningKey::from_bytes(&[0; 32]);
        pool.push(Record::Immutable(ImmutableRecord {
            value: sk0.verifying_key().to_bytes().to_vec().into(),
        }));
        if let Some(Record::Mutable(r)) = pool.first() {
            let mut forged = r.clone();
            forged.seq += 100;
            pool.push(Record::Mutable(forged));
        }
        pool
    })
}

/// [`Record::verify`] of each pool record, computed once (signature checks
/// are slow in unoptimised test builds).
fn pool_validity() -> &'static [Result<(), Refusal>] {
    static VALID: OnceLock<Vec<Result<(), Refusal>>> = OnceLock::new();
    VALID.get_or_init(|| record_pool().iter().map(Record::verify).collect())
}

/// Keys the test reads, removes and adds providers under: every record key
/// plus two keys only providers use.
fn key_pool() -> &'static [Key] {
    static KEYS: OnceLock<Vec<Key>> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mut keys: Vec<Key> = record_pool().iter().map(Record::key).collect();
        keys.push(Key::sha1(b"provided 1"));
        keys.push(Key::sha1(b"provided 2"));
        keys.sort();
        keys.dedup();
        keys
    })
}

fn provider(node: u8, ip: usize) -> Contact {
    Contact {
        id: NodeId::from_bytes([node; 20]),
        addr: SocketAddr::new(ips()[ip % 5], 6000 + u16::from(node)),
    }
}

#[derive(Debug, Clone)]
enum Op {
    Put {
        dt: u64,
        ip: usize,
        rec: usize,
    },
    AddProvider {
        dt: u64,
        key: usize,
        node: u8,
        ip: usize,
    },
    Remove {
        key: usize,
    },
    Expire {
        dt: u64,
    },
    Wait {
        dt: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let recs = record_pool().len();
    let keys = key_pool().len();
    // Providers go under the first four keys only, so per-key caps and
    // refreshes come up often.
    prop_oneof![
        4 => (0..3u64, 0..5usize, 0..recs).prop_map(|(dt, ip, rec)| Op::Put { dt, ip, rec }),
        3 => (0..3u64, 0..4usize, 0..5u8, 0..5usize)
            .prop_map(|(dt, key, node, ip)| Op::AddProvider { dt, key, node, ip }),
        1 => (0..keys).prop_map(|key| Op::Remove { key }),
        1 => (0..6u64).prop_map(|dt| Op::Expire { dt }),
        1 => (0..6u64).prop_map(|dt| Op::Wait { dt }),
    ]
}

/// The reference: flat vectors, full scans, the rules stated plainly.
#[derive(Default)]
struct Model {
    /// (key, record, deadline, charged ip)
    records: Vec<(Key, Record, Instant, IpAddr)>,
    /// (key, provider, deadline), oldest write first.
    providers: Vec<(Key, Contact, Instant)>,
}

impl Model {
    fn expire(&mut self, now: Instant) -> usize {
        let before = self.records.len() + self.providers.len();
        self.records.retain(|r| r.2 > now);
        self.providers.retain(|p| p.2 > now);
        before - self.records.len() - self.providers.len()
    }

    fn charged(&self, ip: IpAddr) -> usize {
        let ip = ip.to_canonical();
        self.records.iter().filter(|r| r.3 == ip).count()
            + self
                .providers
                .iter()
                .filter(|p| p.1.addr.ip().to_canonical() == ip)
                .count()
    }

    fn bytes(&self) -> usize {
        self.records.iter().map(|r| r.1.stored_size()).sum()
    }

    /// The caps a state must respect, writer's quota checked first.
    fn check(&self, limits: &Config, writer: IpAddr) -> Result<(), Refusal> {
        let per_key_over = self.providers.iter().any(|p| {
            self.providers.iter().filter(|q| q.0 == p.0).count() > limits.max_providers_per_key
        });
        if per_key_over || self.charged(writer) > limits.max_records_per_ip {
            return Err(Refusal::QuotaExceeded);
        }
        if self.records.len() + self.providers.len() > limits.max_records
            || self.bytes() > limits.max_record_bytes
        {
            return Err(Refusal::StoreFull);
        }
        Ok(())
    }

    fn put(
        &mut self,
        c: &Config,
        now: Instant,
        ip: IpAddr,
        rec: &Record,
        valid: Result<(), Refusal>,
    ) -> Result<PutOutcome, Refusal> {
        valid?;
        self.expire(now);
        let key = rec.key();
        let old = self
            .records
            .iter()
            .find(|r| r.0 == key)
            .map(|r| r.1.clone());
        let outcome = match &old {
            None => PutOutcome::Stored,
            Some(o) if o == rec => PutOutcome::Refreshed,
            Some(Record::Mutable(o)) if rec.seq() > o.seq && matches!(rec, Record::Mutable(_)) => {
                PutOutcome::Replaced { old_seq: o.seq }
            }
            Some(Record::Immutable(_)) if matches!(rec, Record::Mutable(_)) => {
                PutOutcome::Replaced { old_seq: 0 }
            }
            Some(o) => return Err(Refusal::SequenceNotNewer { stored: o.seq() }),
        };
        let mut next = Model {
            records: self
                .records
                .iter()
                .filter(|r| r.0 != key)
                .cloned()
                .collect(),
            providers: self.providers.clone(),
        };
        next.records
            .push((key, rec.clone(), now + c.record_ttl, ip.to_canonical()));
        next.check(c, ip)?;
        *self = next;
        Ok(outcome)
    }

    fn add_provider(
        &mut self,
        c: &Config,
        now: Instant,
        key: Key,
        p: Contact,
    ) -> Result<PutOutcome, Refusal> {
        self.expire(now);
        let known = self.providers.iter().any(|q| q.0 == key && q.1.id == p.id);
        let mut next = Model {
            records: self.records.clone(),
            providers: self
                .providers
                .iter()
                .filter(|q| !(q.0 == key && q.1.id == p.id))
                .cloned()
                .collect(),
        };
        next.providers.push((key, p, now + c.provider_ttl));
        next.check(c, p.addr.ip())?;
        *self = next;
        Ok(if known {
            PutOutcome::Refreshed
        } else {
            PutOutcome::Stored
        })
    }

    fn remove(&mut self, key: &Key) -> Option<Record> {
        let pos = self.records.iter().position(|r| r.0 == *key)?;
        Some(self.records.remove(pos).1)
    }

    fn get(&self, now: Instant, key: &Key) -> Option<&Record> {
        self.records
            .iter()
            .find(|r| r.0 == *key && r.2 > now)
            .map(|r| &r.1)
    }

    fn providers(&self, now: Instant, key: &Key) -> Vec<Contact> {
        self.providers
            .iter()
            .rev()
            .filter(|p| p.0 == *key && p.2 > now)
            .take(MAX_PROVIDERS)
            .map(|p| p.1)
            .collect()
    }
}

fn agree(
    store: &RecordStore,
    model: &Model,
    c: &Config,
    now: Instant,
) -> Result<(), TestCaseError> {
    store.assert_consistent();
    prop_assert_eq!(store.len(), model.records.len());
    prop_assert_eq!(store.provider_count(), model.providers.len());
    prop_assert_eq!(store.bytes(), model.bytes());
    prop_assert!(store.len() + store.provider_count() <= c.max_records);
    prop_assert!(store.bytes() <= c.max_record_bytes);
    for ip in ips() {
        prop_assert_eq!(store.quota_used(ip), model.charged(ip));
        prop_assert!(store.quota_used(ip) <= c.max_records_per_ip);
    }
    for key in key_pool() {
        prop_assert_eq!(store.get(now, key), model.get(now, key));
        let providers = store.providers(now, key);
        prop_assert!(providers.len() <= c.max_providers_per_key);
        prop_assert_eq!(providers, model.providers(now, key));
    }
    let mut live: Vec<Key> = store.records(now).map(|(k, _)| *k).collect();
    live.sort();
    let mut expected: Vec<Key> = model
        .records
        .iter()
        .filter(|r| r.2 > now)
        .map(|r| r.0)
        .collect();
    expected.sort();
    prop_assert_eq!(live, expected);
    let earliest = model
        .records
        .iter()
        .map(|r| r.2)
        .chain(model.providers.iter().map(|p| p.2))
        .min();
    prop_assert_eq!(store.next_expiry(), earliest);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn store_agrees_with_reference_model(ops in proptest::collection::vec(op(), 1..80)) {
        let c = config();
        let mut store = RecordStore::new(&c);
        let mut model = Model::default();
        let mut now = Instant::now();
        for op in ops {
            match op {
                Op::Put { dt, ip, rec } => {
                    now += Duration::from_secs(dt);
                    let valid = pool_validity()[rec];
                    let rec = &record_pool()[rec];
                    let ip = ips()[ip];
                    prop_assert_eq!(store.put(now, ip, rec.clone()), model.put(&c, now, ip, rec, valid));
                }
                Op::AddProvider { dt, key, node, ip } => {
                    now += Duration::from_secs(dt);
                    let key = key_pool()[key];
                    let p = provider(node, ip);
                    prop_assert_eq!(store.add_provider(now, key, p), model.add_provider(&c, now, key, p));
                }
                Op::Remove { key } => {
                    let key = key_pool()[key];
                    prop_assert_eq!(store.remove(&key), model.remove(&key));
                }
                Op::Expire { dt } => {
                    now += Duration::from_secs(dt);
                    prop_assert_eq!(store.expire(now), model.expire(now));
                }
                Op::Wait { dt } => now += Duration::from_secs(dt),
            }
            agree(&store, &model, &c, now)?;
        }
    }
}

//! Arbitrary routing-table operations (insert, on_success, on_failure,
//! resolve_eviction, remove, closest, idle_buckets, touch_bucket) with
//! arbitrary contacts, times and configurations. After every operation the
//! table must keep the invariants stated in `src/routing/mod.rs` (no bucket
//! over k, no duplicate ids, never the local id, every entry in the bucket of
//! its distance, subnet caps held) and each answer must agree with a
//! brute-force reading of the table (`closest` sorted and equal to sorting
//! `iter()`, `idle_buckets` equal to a scan). Uses only the public API.
use std::collections::{BTreeMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use meshara_dht::id::{Distance, ID_BITS, ID_LEN};
use meshara_dht::routing::{
    is_local_address, subnet_key, Entry, FailureOutcome, InsertOutcome, RejectReason, RoutingTable,
    SubnetKey,
};
use meshara_dht::wire::Contact;
use meshara_dht::{Config, NodeId};

/// Addresses contacts draw from: shared IPv4 /24s, an IPv4-mapped member of
/// one of them, IPv6 /64s, and local addresses (exempt from the caps when
/// `subnet_caps_on_local` is off).
const ADDRS: &[&str] = &[
    "203.0.113.1",
    "203.0.113.2",
    "203.0.113.3",
    "::ffff:203.0.113.4",
    "203.0.114.1",
    "198.51.100.1",
    "198.51.100.2",
    "192.0.2.1",
    "2001:db8::1",
    "2001:db8::1:0:0:2",
    "2001:db8:1::1",
    "127.0.0.1",
    "127.0.0.2",
    "10.0.0.1",
    "::1",
    "fe80::1",
];

#[derive(Debug, Arbitrary)]
pub struct Input {
    pub k: u8,
    pub cache: u8,
    pub max_failures: u8,
    pub per_bucket: u8,
    pub per_table: u8,
    pub caps_on_local: bool,
    pub local: [u8; ID_LEN],
    pub ops: Vec<Op>,
}

/// Which id an operation names.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum IdSpec {
    /// One of 32 ids spread over the four farthest buckets (which fill up).
    Pool(u8),
    /// An id in bucket `bucket % 160`, lower bits from `low`.
    InBucket { bucket: u8, low: [u8; ID_LEN] },
    /// Any id.
    Raw([u8; ID_LEN]),
    /// The table's own id.
    Local,
    /// The last candidate a `PendingEviction` named (else pool id 0).
    Candidate,
}

#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum AddrSpec {
    /// The pool id's usual address (so most re-inserts are refreshes).
    Home,
    Pool {
        index: u8,
        port: u16,
    },
    V4 {
        ip: [u8; 4],
        port: u16,
    },
    V6 {
        ip: [u8; 16],
        port: u16,
    },
}

#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum Op {
    Insert { id: IdSpec, addr: AddrSpec },
    Success { id: IdSpec },
    Failure { id: IdSpec },
    ResolveEviction { id: IdSpec, alive: bool },
    Remove { id: IdSpec },
    Closest { target: IdSpec, n: u8 },
    IdleBuckets { idle_secs: u16 },
    TouchBucket { index: u8 },
    Advance { millis: u32 },
}

/// The id at distance `2^bucket + (low's bits below bucket)` from `local`.
fn in_bucket(local: &NodeId, bucket: usize, low: &[u8; ID_LEN]) -> NodeId {
    let bucket = bucket % ID_BITS;
    let mut d = *low;
    let top_byte = ID_LEN - 1 - bucket / 8;
    let bit = bucket % 8;
    for b in d.iter_mut().take(top_byte) {
        *b = 0;
    }
    let below = ((1u16 << bit) - 1) as u8;
    d[top_byte] = (d[top_byte] & below) | (1u8 << bit);
    local.at_distance(&Distance::from_bytes(d))
}

fn pool_id(local: &NodeId, i: u8) -> NodeId {
    let i = i % 32;
    let low = NodeId::sha1(&[i]);
    in_bucket(local, ID_BITS - 1 - usize::from(i % 4), low.as_bytes())
}

fn pool_addr(index: u8, port: u16) -> SocketAddr {
    let ip: IpAddr = ADDRS[usize::from(index) % ADDRS.len()]
        .parse()
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
    SocketAddr::new(ip, port)
}

/// The capped subnet of `addr`, from the public helpers.
fn key_of(addr: &SocketAddr, config: &Config) -> Option<SubnetKey> {
    (config.subnet_caps_on_local || !is_local_address(addr.ip())).then(|| subnet_key(addr.ip()))
}

fn check_invariants(t: &RoutingTable, config: &Config) {
    let local = t.local_id();
    let k = config.k.max(1);
    let mut seen = HashSet::new();
    let mut table_counts: BTreeMap<SubnetKey, usize> = BTreeMap::new();
    let mut total = 0;
    for i in 0..ID_BITS {
        let b = t.bucket(i).expect("160 buckets");
        assert!(b.len() <= k, "bucket {i} holds {} > k = {k}", b.len());
        assert!(b.replacements().len() <= config.replacement_cache_size);
        let mut bucket_counts: BTreeMap<SubnetKey, usize> = BTreeMap::new();
        let mut cache_counts: BTreeMap<SubnetKey, usize> = BTreeMap::new();
        for e in b.entries().chain(b.replacements()) {
            assert_ne!(e.contact.id, local, "the table holds its own id");
            assert!(seen.insert(e.contact.id), "duplicate id {}", e.contact.id);
            assert_eq!(
                local.bucket_index(&e.contact.id),
                Some(i),
                "entry in wrong bucket"
            );
        }
        for e in b.entries() {
            if let Some(key) = key_of(&e.contact.addr, config) {
                *bucket_counts.entry(key).or_default() += 1;
                *table_counts.entry(key).or_default() += 1;
            }
        }
        for e in b.replacements() {
            if let Some(key) = key_of(&e.contact.addr, config) {
                *cache_counts.entry(key).or_default() += 1;
            }
        }
        for count in bucket_counts.values() {
            assert!(
                *count <= config.max_per_subnet_bucket,
                "bucket subnet cap broken"
            );
        }
        for count in cache_counts.values() {
            assert!(
                *count <= config.max_per_subnet_bucket,
                "cache subnet cap broken"
            );
        }
        let entries: Vec<Entry> = b.entries().collect();
        assert!(
            entries.windows(2).all(|w| w[0].last_seen <= w[1].last_seen),
            "bucket not ordered least recently seen first"
        );
        total += b.len();
    }
    assert!(t.bucket(ID_BITS).is_none());
    for (key, count) in &table_counts {
        assert!(
            *count <= config.max_per_subnet_table,
            "table subnet cap broken"
        );
        assert_eq!(t.subnet_count(key), *count, "subnet count out of sync");
    }
    assert_eq!(t.len(), total);
    assert_eq!(t.iter().count(), total);
    assert_eq!(t.is_empty(), total == 0);
    assert!(total <= ID_BITS * k);
    let nonempty: Vec<usize> = (0..ID_BITS)
        .filter(|&i| t.bucket(i).is_some_and(|b| !b.is_empty()))
        .collect();
    assert_eq!(t.buckets().map(|(i, _)| i).collect::<Vec<_>>(), nonempty);
}

fn brute_closest(t: &RoutingTable, target: &NodeId, n: usize) -> Vec<Contact> {
    let mut all: Vec<Contact> = t.iter().map(|e| e.contact).collect();
    all.sort_by_key(|c| c.id.distance(target));
    all.truncate(n);
    all
}

fn brute_idle(t: &RoutingTable, now: Instant, idle_for: Duration) -> Vec<usize> {
    let Some(lo) = (0..ID_BITS).find(|&i| t.bucket(i).is_some_and(|b| !b.is_empty())) else {
        return Vec::new();
    };
    (lo..ID_BITS)
        .filter(|&i| {
            t.bucket(i)
                .and_then(|b| b.last_touched())
                .is_none_or(|at| now.saturating_duration_since(at) >= idle_for)
        })
        .collect()
}

/// The bucket entry (live or cached) for `id`, if any.
fn find(t: &RoutingTable, id: &NodeId) -> (Option<Entry>, Option<Entry>) {
    let Some(b) = t.local_id().bucket_index(id).and_then(|i| t.bucket(i)) else {
        return (None, None);
    };
    (b.get(id), b.replacements().find(|e| e.contact.id == *id))
}

/// Runs one input, panicking on any broken invariant.
pub fn run(input: Input) {
    let config = Config {
        k: usize::from(input.k % 8),
        replacement_cache_size: usize::from(input.cache % 5),
        max_failures: u32::from(input.max_failures % 4).max(1),
        max_per_subnet_bucket: usize::from(input.per_bucket % 4).max(1),
        max_per_subnet_table: usize::from(input.per_table % 8).max(1),
        subnet_caps_on_local: input.caps_on_local,
        ..Config::default()
    };
    let local = NodeId::from_bytes(input.local);
    let mut t = RoutingTable::new(local, &config);
    let start = Instant::now();
    let mut now = start;
    let mut candidate: Option<NodeId> = None;
    let resolve = |spec: IdSpec, candidate: Option<NodeId>| match spec {
        IdSpec::Pool(i) => pool_id(&local, i),
        IdSpec::InBucket { bucket, low } => in_bucket(&local, usize::from(bucket), &low),
        IdSpec::Raw(bytes) => NodeId::from_bytes(bytes),
        IdSpec::Local => local,
        IdSpec::Candidate => candidate.unwrap_or_else(|| pool_id(&local, 0)),
    };
    for op in input.ops.into_iter().take(512) {
        match op {
            Op::Insert { id, addr } => {
                let id_value = resolve(id, candidate);
                let addr = match (addr, id) {
                    (AddrSpec::Home, IdSpec::Pool(i)) => pool_addr(i, 100 + u16::from(i % 32)),
                    (AddrSpec::Home, _) => pool_addr(id_value.as_bytes()[0], 6881),
                    (AddrSpec::Pool { index, port }, _) => pool_addr(index, port),
                    (AddrSpec::V4 { ip, port }, _) => {
                        SocketAddr::new(Ipv4Addr::from(ip).into(), port)
                    }
                    (AddrSpec::V6 { ip, port }, _) => {
                        SocketAddr::new(Ipv6Addr::from(ip).into(), port)
                    }
                };
                let contact = Contact { id: id_value, addr };
                let before_len = t.len();
                let (was_live, _) = find(&t, &id_value);
                let out = t.insert(contact, now);
                assert_eq!(
                    id_value == local,
                    out == InsertOutcome::Rejected(RejectReason::OwnId),
                    "own id handling"
                );
                match out {
                    InsertOutcome::Inserted => {
                        assert!(was_live.is_none());
                        assert_eq!(
                            t.get(&id_value),
                            Some(Entry {
                                contact,
                                last_seen: now,
                                failures: 0
                            })
                        );
                        assert!(t.len() == before_len + 1 || t.len() == before_len);
                    }
                    InsertOutcome::Updated => {
                        let old = was_live.expect("Updated names a live entry");
                        assert!(old.contact.addr == addr || old.failures > 0);
                        assert_eq!(
                            t.get(&id_value),
                            Some(Entry {
                                contact,
                                last_seen: now,
                                failures: 0
                            })
                        );
                        assert_eq!(t.len(), before_len);
                    }
                    InsertOutcome::PendingEviction { candidate: c } => {
                        assert!(!t.contains(&id_value));
                        let b = local.bucket_index(&id_value).and_then(|i| t.bucket(i));
                        let b = b.expect("a bucket");
                        assert_eq!(b.len(), config.k.max(1), "eviction from a bucket not full");
                        assert_eq!(b.entries().next().map(|e| e.contact), Some(c));
                        assert_eq!(t.len(), before_len);
                        candidate = Some(c.id);
                    }
                    InsertOutcome::Rejected(_) => assert_eq!(t.len(), before_len),
                }
            }
            Op::Success { id } => {
                let id = resolve(id, candidate);
                let was_live = find(&t, &id).0.is_some();
                t.on_success(&id, now);
                if was_live {
                    let e = t.get(&id).expect("still live");
                    assert_eq!((e.last_seen, e.failures), (now, 0));
                }
            }
            Op::Failure { id } => {
                let id = resolve(id, candidate);
                let (live, cached) = find(&t, &id);
                match t.on_failure(&id) {
                    FailureOutcome::Unknown => assert!(live.is_none() && cached.is_none()),
                    FailureOutcome::Counted { failures } => {
                        let old = live.or(cached).expect("a counted failure names a known id");
                        assert_eq!(failures, old.failures + 1);
                    }
                    FailureOutcome::Replaced { removed, promoted } => {
                        assert_eq!(Some(removed), live.map(|e| e.contact));
                        assert!(!t.contains(&id) && t.contains(&promoted.id));
                        assert!(live.is_some_and(|e| e.failures + 1 >= config.max_failures));
                    }
                }
            }
            Op::ResolveEviction { id, alive } => {
                let id = resolve(id, candidate);
                let was_live = t.contains(&id);
                let promoted = t.resolve_eviction(&id, alive, now);
                if alive {
                    assert_eq!(promoted, None);
                    assert_eq!(t.contains(&id), was_live);
                } else {
                    assert!(!t.contains(&id), "a dead candidate stayed");
                    if let Some(p) = promoted {
                        assert!(t.contains(&p.id), "promoted contact missing");
                    }
                }
            }
            Op::Remove { id } => {
                let id = resolve(id, candidate);
                let (live, cached) = find(&t, &id);
                let removed = t.remove(&id);
                assert_eq!(removed, live.or(cached).map(|e| e.contact));
                assert_eq!(find(&t, &id), (None, None));
            }
            Op::Closest { target, n } => {
                let target = resolve(target, candidate);
                let n = usize::from(n);
                let got = t.closest(&target, n);
                assert_eq!(got.len(), n.min(t.len()));
                assert!(got
                    .windows(2)
                    .all(|w| w[0].id.distance(&target) < w[1].id.distance(&target)));
                assert_eq!(got, brute_closest(&t, &target, n));
            }
            Op::IdleBuckets { idle_secs } => {
                let idle_for = Duration::from_secs(u64::from(idle_secs));
                assert_eq!(t.idle_buckets(now, idle_for), brute_idle(&t, now, idle_for));
            }
            Op::TouchBucket { index } => {
                // Indices past 159 must be ignored.
                let index = usize::from(index);
                t.touch_bucket(index, now);
                if let Some(b) = t.bucket(index) {
                    assert_eq!(b.last_touched(), Some(now));
                }
            }
            Op::Advance { millis } => {
                now += Duration::from_millis(u64::from(millis));
            }
        }
        check_invariants(&t, &config);
    }
}

//! Property tests: random operation sequences against the table's
//! invariants, outcomes checked against an independent reading of the rules,
//! and `closest` against a brute-force sort.

use std::collections::{BTreeMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use rand::SeedableRng;

use crate::config::Config;
use crate::id::{NodeId, ID_BITS, ID_LEN};
use crate::routing::*;
use crate::wire::Contact;

/// Addresses the generated contacts draw from: several share an IPv4 /24,
/// one is the IPv4-mapped form of such a /24, two pairs share an IPv6 /64,
/// and some are local (exempt when `subnet_caps_on_local` is off).
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
];

#[derive(Debug, Clone)]
enum Op {
    /// `addr: None` uses the id's usual address, so most re-inserts are
    /// plain refreshes and only some are address changes.
    Insert {
        id: usize,
        addr: Option<usize>,
        port: u16,
    },
    Success {
        id: usize,
    },
    /// `pending`: fail the last eviction candidate instead, if any.
    Failure {
        id: usize,
        pending: bool,
    },
    /// Resolves the last `PendingEviction` candidate (or a pool id).
    Resolve {
        id: usize,
        alive: bool,
    },
    Remove {
        id: usize,
    },
    Touch {
        bucket: usize,
    },
    Closest {
        target: Option<usize>,
        random: [u8; ID_LEN],
        n: usize,
    },
}

fn op(pool: usize) -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..pool, proptest::option::weighted(0.25, 0..ADDRS.len()), 1u16..4)
            .prop_map(|(id, addr, port)| Op::Insert { id, addr, port }),
        2 => (0..pool).prop_map(|id| Op::Success { id }),
        4 => (0..pool, any::<bool>()).prop_map(|(id, pending)| Op::Failure { id, pending }),
        2 => (0..pool, any::<bool>()).prop_map(|(id, alive)| Op::Resolve { id, alive }),
        1 => (0..pool).prop_map(|id| Op::Remove { id }),
        1 => (0..ID_BITS + 2).prop_map(|bucket| Op::Touch { bucket }),
        2 => (proptest::option::of(0..pool), any::<[u8; ID_LEN]>(), 0usize..40)
            .prop_map(|(target, random, n)| Op::Closest { target, random, n }),
    ]
}

fn config() -> impl Strategy<Value = Config> {
    (
        1usize..5,
        0usize..4,
        1u32..4,
        1usize..4,
        1usize..7,
        any::<bool>(),
    )
        .prop_map(
            |(k, cache, fails, per_bucket, per_table, on_local)| Config {
                k,
                replacement_cache_size: cache,
                max_failures: fails,
                max_per_subnet_bucket: per_bucket,
                max_per_subnet_table: per_table,
                subnet_caps_on_local: on_local,
                ..Config::default()
            },
        )
}

/// A pool of ids: mostly in the far buckets (which fill up), some anywhere,
/// some equal to the local id.
fn pool(local: NodeId, seed: u64, buckets: &[Option<usize>]) -> Vec<NodeId> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    buckets
        .iter()
        .map(|b| match b {
            Some(b) => local.random_in_bucket(*b, &mut rng).unwrap_or(local),
            None => local,
        })
        .collect()
}

fn bucket_choice() -> impl Strategy<Value = Option<usize>> {
    prop_oneof![
        1 => Just(None),
        6 => (158usize..ID_BITS).prop_map(Some),
        3 => (0usize..ID_BITS).prop_map(Some),
    ]
}

fn addr(index: usize, port: u16) -> SocketAddr {
    let ip: IpAddr = ADDRS[index % ADDRS.len()].parse().unwrap();
    SocketAddr::new(ip, port)
}

/// The capped subnet of `addr`, computed from the public helpers.
fn key_of(addr: &SocketAddr, config: &Config) -> Option<SubnetKey> {
    (config.subnet_caps_on_local || !is_local_address(addr.ip())).then(|| subnet_key(addr.ip()))
}

type Snapshot = Vec<(Vec<Entry>, Vec<Entry>, Option<Instant>)>;

fn snapshot(t: &RoutingTable) -> Snapshot {
    (0..ID_BITS)
        .map(|i| {
            let b = t.bucket(i).unwrap();
            (
                b.entries().collect(),
                b.replacements().collect(),
                b.last_touched(),
            )
        })
        .collect()
}

fn brute_closest(t: &RoutingTable, target: &NodeId, n: usize) -> Vec<Contact> {
    let mut all: Vec<Contact> = t.iter().map(|e| e.contact).collect();
    all.sort_by_key(|c| c.id.distance(target));
    all.truncate(n);
    all
}

fn check_invariants(t: &RoutingTable, config: &Config) -> Result<(), TestCaseError> {
    let local = t.local_id();
    let k = config.k.max(1);
    let mut seen = HashSet::new();
    let mut table_counts: BTreeMap<SubnetKey, usize> = BTreeMap::new();
    let mut total = 0;
    for i in 0..ID_BITS {
        let b = t.bucket(i).unwrap();
        prop_assert!(b.len() <= k, "bucket {} holds {} > k = {}", i, b.len(), k);
        prop_assert!(b.replacements().len() <= config.replacement_cache_size);
        let mut bucket_counts: BTreeMap<SubnetKey, usize> = BTreeMap::new();
        for e in b.entries().chain(b.replacements()) {
            prop_assert_ne!(e.contact.id, local);
            prop_assert!(seen.insert(e.contact.id), "duplicate id {}", e.contact.id);
            prop_assert_eq!(local.bucket_index(&e.contact.id), Some(i));
        }
        for e in b.entries() {
            if let Some(key) = key_of(&e.contact.addr, config) {
                *bucket_counts.entry(key).or_default() += 1;
                *table_counts.entry(key).or_default() += 1;
            }
        }
        for count in bucket_counts.values() {
            prop_assert!(*count <= config.max_per_subnet_bucket);
        }
        let entries: Vec<Entry> = b.entries().collect();
        prop_assert_eq!(entries.len(), b.entries().len());
        prop_assert!(entries.windows(2).all(|w| w[0].last_seen <= w[1].last_seen));
        total += b.len();
    }
    for (key, count) in &table_counts {
        prop_assert!(*count <= config.max_per_subnet_table);
        prop_assert_eq!(t.subnet_count(key), *count);
    }
    prop_assert_eq!(t.len(), total);
    prop_assert!(t.subnet_filter_in_sync());
    prop_assert_eq!(t.iter().count(), total);
    prop_assert_eq!(t.is_empty(), total == 0);
    let nonempty: Vec<usize> = (0..ID_BITS)
        .filter(|&i| !t.bucket(i).unwrap().is_empty())
        .collect();
    prop_assert_eq!(t.buckets().map(|(i, _)| i).collect::<Vec<_>>(), nonempty);
    Ok(())
}

/// Which replacement the rules say must take the failing entry's slot:
/// the most recently seen cached entry (latest cached on ties) whose subnet
/// has room in the bucket and the table once `failing` has left.
fn expected_promotion(
    before: &Snapshot,
    index: usize,
    failing: &NodeId,
    config: &Config,
) -> Option<Contact> {
    let (entries, cache, _) = &before[index];
    let mut best: Option<&Entry> = None;
    for r in cache {
        let allowed = match key_of(&r.contact.addr, config) {
            None => true,
            Some(key) => {
                let same = |e: &&Entry| {
                    e.contact.id != *failing && key_of(&e.contact.addr, config) == Some(key)
                };
                let in_bucket = entries.iter().filter(same).count();
                let in_table = before.iter().flat_map(|b| b.0.iter()).filter(same).count();
                in_bucket < config.max_per_subnet_bucket && in_table < config.max_per_subnet_table
            }
        };
        if allowed && best.is_none_or(|b| r.last_seen >= b.last_seen) {
            best = Some(r);
        }
    }
    best.map(|e| e.contact)
}

fn find(before: &Snapshot, index: usize, id: &NodeId) -> (Option<Entry>, Option<Entry>) {
    let (entries, cache, _) = &before[index];
    (
        entries.iter().find(|e| e.contact.id == *id).copied(),
        cache.iter().find(|e| e.contact.id == *id).copied(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_operations_keep_invariants_and_follow_the_rules(
        config in config(),
        local in any::<[u8; ID_LEN]>().prop_map(NodeId::from_bytes),
        seed in any::<u64>(),
        buckets in proptest::collection::vec(bucket_choice(), 4..24),
        ops in proptest::collection::vec(op(24), 1..160),
    ) {
        let ids = pool(local, seed, &buckets);
        let id = |i: usize| ids[i % ids.len()];
        let mut t = RoutingTable::new(local, &config);
        let start = Instant::now();
        let mut pending: Option<NodeId> = None;
        for (step, op) in ops.into_iter().enumerate() {
            let now = start + Duration::from_secs(step as u64 + 1);
            let before = snapshot(&t);
            match op {
                Op::Insert { id: i, addr: a, port } => {
                    let i = i % ids.len();
                    let home = u16::try_from(i).unwrap_or(0);
                    let addr = a.map_or_else(|| addr(i, 100 + home), |a| addr(a, port));
                    let c = Contact { id: id(i), addr };
                    let out = t.insert(c, now);
                    prop_assert_eq!(c.id == local, out == InsertOutcome::Rejected(RejectReason::OwnId));
                    let index = local.bucket_index(&c.id);
                    let (was_live, was_cached) = index.map_or((None, None), |i| find(&before, i, &c.id));
                    match out {
                        InsertOutcome::Inserted => {
                            prop_assert!(was_live.is_none());
                            prop_assert_eq!(t.get(&c.id), Some(Entry { contact: c, last_seen: now, failures: 0 }));
                        }
                        InsertOutcome::Updated => {
                            let old = was_live.unwrap();
                            prop_assert!(old.contact.addr == c.addr || old.failures > 0);
                            prop_assert_eq!(t.get(&c.id), Some(Entry { contact: c, last_seen: now, failures: 0 }));
                            let b = t.bucket(index.unwrap()).unwrap();
                            prop_assert_eq!(b.entries().next_back().map(|e| e.contact.id), Some(c.id));
                        }
                        InsertOutcome::PendingEviction { candidate } => {
                            prop_assert!(!t.contains(&c.id));
                            let b = t.bucket(index.unwrap()).unwrap();
                            prop_assert_eq!(b.len(), config.k.max(1));
                            prop_assert_eq!(b.entries().next().map(|e| e.contact), Some(candidate));
                            if config.replacement_cache_size > 0 {
                                prop_assert_eq!(b.replacements().next_back().map(|e| e.contact), Some(c));
                            }
                            pending = Some(candidate.id);
                        }
                        InsertOutcome::Rejected(reason) => {
                            prop_assert_eq!(snapshot(&t), before.clone());
                            if reason == RejectReason::AddressConflict {
                                let old = was_live.or(was_cached).unwrap();
                                prop_assert!(old.contact.addr != c.addr && old.failures == 0);
                            }
                        }
                    }
                }
                Op::Success { id: i } => {
                    let target = id(i);
                    t.on_success(&target, now);
                    if let Some(index) = local.bucket_index(&target) {
                        if find(&before, index, &target).0.is_some() {
                            let b = t.bucket(index).unwrap();
                            let last = b.entries().next_back().unwrap();
                            prop_assert_eq!((last.contact.id, last.last_seen, last.failures), (target, now, 0));
                        }
                    }
                }
                Op::Failure { id: i, pending: p } => {
                    let target = pending.filter(|_| p).unwrap_or_else(|| id(i));
                    let out = t.on_failure(&target);
                    let Some(index) = local.bucket_index(&target) else {
                        prop_assert_eq!(out, FailureOutcome::Unknown);
                        continue;
                    };
                    match find(&before, index, &target) {
                        (None, None) => prop_assert_eq!(out, FailureOutcome::Unknown),
                        (Some(live), _) => {
                            let failures = live.failures + 1;
                            let promoted = (failures >= config.max_failures)
                                .then(|| expected_promotion(&before, index, &target, &config))
                                .flatten();
                            match promoted {
                                Some(promoted) => {
                                    prop_assert_eq!(out, FailureOutcome::Replaced { removed: live.contact, promoted });
                                    prop_assert!(!t.contains(&target));
                                    prop_assert!(t.contains(&promoted.id));
                                }
                                None => {
                                    prop_assert_eq!(out, FailureOutcome::Counted { failures });
                                    prop_assert_eq!(t.get(&target).map(|e| e.failures), Some(failures));
                                }
                            }
                        }
                        (None, Some(cached)) => {
                            prop_assert_eq!(out, FailureOutcome::Counted { failures: cached.failures + 1 });
                        }
                    }
                }
                Op::Resolve { id: i, alive } => {
                    let candidate = pending.take().unwrap_or_else(|| id(i));
                    let promoted = t.resolve_eviction(&candidate, alive, now);
                    if alive {
                        prop_assert_eq!(promoted, None);
                        let live_before = local.bucket_index(&candidate).and_then(|b| find(&before, b, &candidate).0);
                        prop_assert_eq!(t.contains(&candidate), live_before.is_some());
                    } else {
                        prop_assert!(!t.contains(&candidate));
                        if let Some(p) = promoted {
                            let index = local.bucket_index(&p.id).unwrap();
                            prop_assert_eq!(find(&before, index, &p.id).1.map(|e| e.contact), Some(p));
                            prop_assert!(t.contains(&p.id));
                        }
                    }
                }
                Op::Remove { id: i } => {
                    let target = id(i);
                    let removed = t.remove(&target);
                    let (live, cached) = local.bucket_index(&target).map_or((None, None), |b| find(&before, b, &target));
                    prop_assert_eq!(removed, live.or(cached).map(|e| e.contact));
                    prop_assert!(!t.contains(&target));
                    if let Some(b) = local.bucket_index(&target) {
                        prop_assert_eq!(find(&snapshot(&t), b, &target), (None, None));
                    }
                }
                Op::Touch { bucket } => {
                    t.touch_bucket(bucket, now);
                    if let Some(b) = t.bucket(bucket) {
                        prop_assert_eq!(b.last_touched(), Some(now));
                    }
                }
                Op::Closest { target, random, n } => {
                    let target = target.map_or(NodeId::from_bytes(random), id);
                    prop_assert_eq!(t.closest(&target, n), brute_closest(&t, &target, n));
                }
            }
            check_invariants(&t, &config)?;
        }
    }

    #[test]
    fn closest_equals_a_brute_force_sort(
        local in any::<[u8; ID_LEN]>().prop_map(NodeId::from_bytes),
        k in 1usize..24,
        contacts in proptest::collection::vec((any::<[u8; ID_LEN]>(), 0usize..ID_BITS, any::<bool>()), 0..400),
        targets in proptest::collection::vec((any::<[u8; ID_LEN]>(), 0usize..ID_BITS, 0u8..3), 1..8),
        n in 0usize..500,
    ) {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let config = Config { k, ..Config::local() };
        let mut t = RoutingTable::new(local, &config);
        let now = Instant::now();
        let mut ids = Vec::new();
        for (i, (bytes, bucket, near)) in contacts.into_iter().enumerate() {
            // Half uniform (far buckets), half spread over all buckets.
            let id = if near { local.random_in_bucket(bucket, &mut rng).unwrap() } else { NodeId::from_bytes(bytes) };
            let port = u16::try_from(1 + i).unwrap();
            let _ = t.insert(Contact { id, addr: SocketAddr::from(([127, 0, 0, 1], port)) }, now);
            ids.push(id);
        }
        check_invariants(&t, &config)?;
        for (bytes, bucket, kind) in targets {
            let target = match kind {
                0 => NodeId::from_bytes(bytes),
                1 => local.random_in_bucket(bucket, &mut rng).unwrap(),
                _ => ids.get(bucket % ids.len().max(1)).copied().unwrap_or(local),
            };
            let got = t.closest(&target, n);
            prop_assert_eq!(got.len(), n.min(t.len()));
            prop_assert_eq!(&got, &brute_closest(&t, &target, n));
            if t.contains(&target) && n > 0 {
                prop_assert_eq!(got.first().map(|c| c.id), Some(target));
            }
        }
        prop_assert_eq!(t.closest(&local, n), brute_closest(&t, &local, n));
    }

    #[test]
    fn lrs_entry_is_replaced_after_exactly_max_failures(
        local in any::<[u8; ID_LEN]>().prop_map(NodeId::from_bytes),
        k in 1usize..6,
        max_failures in 1u32..6,
        seed in any::<u64>(),
    ) {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let config = Config { k, max_failures, ..Config::default() };
        let mut t = RoutingTable::new(local, &config);
        let start = Instant::now();
        let contact = |i: u8, rng: &mut rand::rngs::StdRng| Contact {
            id: local.random_in_bucket(140, rng).unwrap(),
            addr: SocketAddr::from(([100, 64 + i, 0, 1], 9000)),
        };
        let mut members = Vec::new();
        for i in 0..k {
            let c = contact(i as u8, &mut rng);
            prop_assert_eq!(t.insert(c, start + Duration::from_secs(i as u64)), InsertOutcome::Inserted);
            members.push(c);
        }
        let newcomer = contact(50, &mut rng);
        let out = t.insert(newcomer, start + Duration::from_secs(100));
        prop_assert_eq!(out, InsertOutcome::PendingEviction { candidate: members[0] });
        for failures in 1..max_failures {
            prop_assert_eq!(t.on_failure(&members[0].id), FailureOutcome::Counted { failures });
        }
        prop_assert_eq!(
            t.on_failure(&members[0].id),
            FailureOutcome::Replaced { removed: members[0], promoted: newcomer }
        );
        prop_assert!(t.contains(&newcomer.id));
        prop_assert!(!t.contains(&members[0].id));
        prop_assert_eq!(t.len(), k);
    }
}

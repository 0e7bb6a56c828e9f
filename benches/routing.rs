//! Routing-table benchmarks: `closest(20)` on tables filled by inserting
//! 10,000 random contacts (loopback with `Config::local()`, and random
//! public IPv4 addresses with the default, capped, config), a brute-force
//! sort of the same table for comparison, and one `Distance` comparison.
//!
//! Run with `cargo bench --bench routing`.

use std::hint::black_box;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
use meshara_dht::routing::{is_local_address, RoutingTable};
use meshara_dht::wire::Contact;
use meshara_dht::{Config, Distance, NodeId};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const CONTACTS: usize = 10_000;
const TARGETS: usize = 1024;

/// A table around a random id after inserting `CONTACTS` random contacts,
/// with addresses from `addr`; pending evictions are left unresolved, as a
/// node that has not pinged anyone yet would.
fn filled(config: &Config, mut addr: impl FnMut(&mut StdRng, usize) -> SocketAddr) -> RoutingTable {
    let mut rng = StdRng::seed_from_u64(0x006d_6573_6861_7261);
    let mut table = RoutingTable::new(NodeId::random(&mut rng), config);
    let now = Instant::now();
    for i in 0..CONTACTS {
        let id = NodeId::random(&mut rng);
        let addr = addr(&mut rng, i);
        let _ = table.insert(Contact { id, addr }, now);
    }
    table
}

fn loopback(_: &mut StdRng, i: usize) -> SocketAddr {
    let port = u16::try_from(1024 + i).unwrap_or(u16::MAX);
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

fn public_v4(rng: &mut StdRng, _: usize) -> SocketAddr {
    loop {
        let ip = Ipv4Addr::from(rng.gen::<u32>());
        if !is_local_address(ip.into()) && !ip.is_unspecified() && !ip.is_multicast() {
            return SocketAddr::from((ip, 6881));
        }
    }
}

fn targets() -> Vec<NodeId> {
    let mut rng = StdRng::seed_from_u64(42);
    (0..TARGETS).map(|_| NodeId::random(&mut rng)).collect()
}

fn bench_closest(c: &mut Criterion) {
    let targets = targets();
    let tables = [
        ("local_config_loopback", filled(&Config::local(), loopback)),
        (
            "default_config_public_v4",
            filled(&Config::default(), public_v4),
        ),
    ];
    for (name, table) in &tables {
        let replacements: usize = table.buckets().map(|(_, b)| b.replacements().len()).sum();
        println!(
            "routing table {name}: {} of {CONTACTS} contacts in {} buckets (+{replacements} cached)",
            table.len(),
            table.buckets().count(),
        );
        let mut i = 0;
        c.bench_function(&format!("closest_20/{name}"), |b| {
            b.iter(|| {
                i = (i + 1) % TARGETS;
                black_box(table.closest(black_box(&targets[i]), 20))
            })
        });
    }
    let table = &tables[0].1;
    let local = table.local_id();
    c.bench_function("closest_20/local_config_loopback_self_lookup", |b| {
        b.iter(|| black_box(table.closest(black_box(&local), 20)))
    });
    let mut i = 0;
    c.bench_function("closest_20/brute_force_sort_for_comparison", |b| {
        b.iter(|| {
            i = (i + 1) % TARGETS;
            let target = black_box(&targets[i]);
            let mut all: Vec<(Distance, Contact)> = table
                .iter()
                .map(|e| (e.contact.id.distance(target), e.contact))
                .collect();
            all.sort_unstable_by_key(|(d, _)| *d);
            let closest: Vec<Contact> = all.into_iter().take(20).map(|(_, c)| c).collect();
            black_box(closest)
        })
    });
}

fn bench_distance(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(7);
    let pairs: Vec<(Distance, Distance)> = (0..TARGETS)
        .map(|_| {
            let a = NodeId::random(&mut rng);
            (
                a.distance(&NodeId::random(&mut rng)),
                a.distance(&NodeId::random(&mut rng)),
            )
        })
        .collect();
    let mut i = 0;
    c.bench_function("distance/cmp", |b| {
        b.iter(|| {
            i = (i + 1) % TARGETS;
            let (x, y) = &pairs[i];
            black_box(black_box(x).cmp(black_box(y)))
        })
    });
    let ids: Vec<NodeId> = (0..TARGETS).map(|_| NodeId::random(&mut rng)).collect();
    c.bench_function("distance/xor", |b| {
        b.iter(|| {
            i = (i + 1) % TARGETS;
            black_box(black_box(&ids[i]).distance(black_box(&ids[(i + 1) % TARGETS])))
        })
    });
}

criterion_group!(benches, bench_closest, bench_distance);
criterion_main!(benches);

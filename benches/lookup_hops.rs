//! Lookup benchmarks on simulated networks of 1,000 and 10,000 real
//! engines (`meshara_dht::sim`): one find-node lookup of a random target
//! from a random node per iteration, measured three ways:
//!
//! - `lookup_time`: wall-clock time per lookup (criterion's default
//!   measurement): what simulating one lookup costs;
//! - `lookup_hops`: rounds per lookup (`QueryStats::hops`), through the
//!   custom [`Counted`] measurement, so criterion reports hops where it
//!   would report nanoseconds;
//! - `lookup_messages`: requests sent per lookup (`QueryStats::messages`),
//!   the same way.
//!
//! Each network is bootstrapped once, on first use (outside every measured
//! loop), and shared by the three groups. The networks use modelled key
//! proofs (`KeyProofs::Modelled`: the same protocol with a hash in place
//! of each ed25519 signature), so the 10,000-node bootstrap takes minutes,
//! not a quarter of an hour; hops and messages do not depend on it, and
//! `lookup_time` leaves out the signature work of the few key proofs a
//! lookup triggers in a bootstrapped network.
//! `cargo bench --bench lookup_hops -- '/1000$'` runs the 1,000-node
//! benchmarks alone. CI only builds this file (`cargo bench --no-run`).

use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use criterion::measurement::{Measurement, ValueFormatter};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use meshara_dht::sim::{KeyProofs, LookupRecord, SimConfig, Simulation};

/// Network sizes benchmarked.
const SIZES: [usize; 2] = [1_000, 10_000];

/// The bootstrapped network of `nodes` nodes, built on first use.
fn network(nodes: usize) -> &'static Mutex<Simulation> {
    static SMALL: OnceLock<Mutex<Simulation>> = OnceLock::new();
    static LARGE: OnceLock<Mutex<Simulation>> = OnceLock::new();
    let cell = if nodes <= SIZES[0] { &SMALL } else { &LARGE };
    cell.get_or_init(|| {
        let mut cfg = SimConfig::new(nodes, 0x6c6f_6f6b);
        // Checking every result against all node ids would be measured too.
        cfg.verify_lookups = false;
        cfg.hash_event_log = false;
        cfg.key_proofs = KeyProofs::Modelled;
        eprintln!("bootstrapping {nodes} simulated nodes...");
        let sim = Simulation::new(cfg).expect("valid simulation config");
        let report = sim.bootstrap_report();
        eprintln!(
            "bootstrapped {nodes} nodes in {:.1} s ({} waves, mean table {:.1})",
            report.wall.as_secs_f64(),
            report.waves,
            report.mean_table_size
        );
        Mutex::new(sim)
    })
}

/// Runs `iters` lookups on `sim` and sums `count` over them.
fn lookups(sim: &mut Simulation, iters: u64, count: fn(&LookupRecord) -> u64) -> u64 {
    (0..iters)
        .filter_map(|_| sim.lookup())
        .map(|r| count(&r))
        .sum()
}

/// A measurement that counts something the routine reports (hops or
/// messages) instead of timing it. Used with `iter_custom`, whose routine
/// returns the count for its iterations; `start` and `end` are unused.
struct Counted {
    unit: &'static str,
}

impl Measurement for Counted {
    type Intermediate = ();
    type Value = u64;

    fn start(&self) {}

    fn end(&self, _: ()) -> u64 {
        0
    }

    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }

    fn zero(&self) -> u64 {
        0
    }

    fn to_f64(&self, value: &u64) -> f64 {
        *value as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        self
    }
}

impl ValueFormatter for Counted {
    fn scale_values(&self, _typical: f64, _values: &mut [f64]) -> &'static str {
        self.unit
    }

    fn scale_throughputs(
        &self,
        _typical: f64,
        throughput: &Throughput,
        values: &mut [f64],
    ) -> &'static str {
        if let Throughput::Elements(n) = throughput {
            for v in values.iter_mut() {
                *v /= (*n).max(1) as f64;
            }
        }
        self.unit
    }

    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        self.unit
    }
}

fn bench_time(c: &mut Criterion) {
    let mut group = c.benchmark_group("lookup_time");
    group.sample_size(20);
    for nodes in SIZES {
        group.bench_with_input(BenchmarkId::from_parameter(nodes), &nodes, |b, &n| {
            let mut sim = network(n).lock().expect("network lock");
            b.iter(|| sim.lookup());
        });
    }
    group.finish();
}

fn bench_counted(c: &mut Criterion<Counted>, name: &str, count: fn(&LookupRecord) -> u64) {
    let mut group = c.benchmark_group(name);
    group.sample_size(20);
    for nodes in SIZES {
        group.bench_with_input(BenchmarkId::from_parameter(nodes), &nodes, |b, &n| {
            let mut sim = network(n).lock().expect("network lock");
            b.iter_custom(|iters| lookups(&mut sim, iters, count));
        });
    }
    group.finish();
}

fn bench_hops(c: &mut Criterion<Counted>) {
    bench_counted(c, "lookup_hops", |r| u64::from(r.hops));
}

fn bench_messages(c: &mut Criterion<Counted>) {
    bench_counted(c, "lookup_messages", |r| u64::from(r.messages));
}

fn counted(unit: &'static str) -> Criterion<Counted> {
    Criterion::default()
        .with_measurement(Counted { unit })
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group!(time, bench_time);
criterion_group! {
    name = hops;
    config = counted("hops");
    targets = bench_hops
}
criterion_group! {
    name = messages;
    config = counted("msgs");
    targets = bench_messages
}
criterion_main!(time, hops, messages);

//! Measures the real heap memory of a bootstrapped simulated network, per
//! node, with a counting global allocator (every byte the process
//! allocates goes through it), and breaks it down by structure.
//!
//! ```text
//! cargo run --release --example sim_memory -- [--nodes 2000] [--seed 1] \
//!     [--settle 0] [--lookups 0] [--hash]
//! ```
//!
//! `--settle S` lets the network idle for S virtual seconds after the
//! bootstrap (housekeeping runs every 60 s) and measures again; `--hash`
//! prints the event-log hash (two builds that behave the same on the wire
//! print the same hash).
//!
//! Figures printed (all in bytes unless marked):
//!
//! - `live heap per node`: heap in use after the bootstrap (and the
//!   optional lookups), minus the heap in use before the simulation was
//!   built, divided by the number of nodes. Everything is counted: the
//!   engines, their boxes, and the simulator's own vectors and (empty)
//!   event queue.
//! - `peak heap per node`: the highest heap in use at any moment of the
//!   bootstrap, same base and divisor: it includes the in-flight datagrams
//!   of the event queue (`Vec<u8>` payloads), queries and pending requests.
//! - `peak RSS per node`: `VmHWM` of the process divided by the nodes
//!   (includes the allocator's own overhead and the binary).
//! - the breakdown clones, per live node, its routing table, its record
//!   store and the whole engine, and counts what each clone allocates. A
//!   clone allocates the same hash-table capacity as the original but
//!   `Vec`s exactly to their length, so the clones show content, and the
//!   difference to the live heap is slack capacity plus the simulator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use meshara_dht::node::Node;
use meshara_dht::routing::{Entry, KBucket, RoutingTable};
use meshara_dht::sim::{peak_rss_bytes, SimConfig, Simulation};

/// The system allocator, counting bytes in use, their peak and the number
/// of live allocations.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static BLOCKS: AtomicUsize = AtomicUsize::new(0);
/// Bytes in byte-aligned blocks (`Vec<u8>`: datagram payloads and encode
/// buffers; the engines' own structures are 4- to 16-byte aligned).
static BYTE_BLOCKS: AtomicUsize = AtomicUsize::new(0);
/// `BYTE_BLOCKS` at the moment `PEAK` was last raised.
static BYTE_BLOCKS_AT_PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(bytes: usize) {
    let now = LIVE.fetch_add(bytes, Ordering::Relaxed) + bytes;
    if PEAK.fetch_max(now, Ordering::Relaxed) < now {
        BYTE_BLOCKS_AT_PEAK.store(BYTE_BLOCKS.load(Ordering::Relaxed), Ordering::Relaxed);
    }
}

fn byte_blocks(layout: &Layout, size: usize, sign: isize) {
    if layout.align() == 1 {
        if sign > 0 {
            BYTE_BLOCKS.fetch_add(size, Ordering::Relaxed);
        } else {
            BYTE_BLOCKS.fetch_sub(size, Ordering::Relaxed);
        }
    }
}

// SAFETY: every call is forwarded unchanged to `System`; the counters are
// only bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            byte_blocks(&layout, layout.size(), 1);
            grew(layout.size());
            BLOCKS.fetch_add(1, Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            byte_blocks(&layout, layout.size(), 1);
            grew(layout.size());
            BLOCKS.fetch_add(1, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        byte_blocks(&layout, layout.size(), -1);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        BLOCKS.fetch_sub(1, Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            byte_blocks(&layout, layout.size(), -1);
            byte_blocks(&layout, new_size, 1);
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            grew(new_size);
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn live() -> usize {
    LIVE.load(Ordering::Relaxed)
}

/// Heap bytes allocated (and still held) by `make`'s result.
fn allocated_by<T>(make: impl FnOnce() -> T) -> usize {
    let before = live();
    let value = make();
    let after = live();
    drop(value);
    after.saturating_sub(before)
}

struct Args {
    nodes: usize,
    seed: u64,
    lookups: usize,
    settle: u64,
    hash: bool,
}

fn parse() -> Result<Args, String> {
    let mut args = Args {
        nodes: 2_000,
        seed: 1,
        lookups: 0,
        settle: 0,
        hash: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match flag.as_str() {
            "--nodes" => args.nodes = value("--nodes")?.parse().map_err(|e| format!("{e}"))?,
            "--seed" => args.seed = value("--seed")?.parse().map_err(|e| format!("{e}"))?,
            "--lookups" => {
                args.lookups = value("--lookups")?.parse().map_err(|e| format!("{e}"))?
            }
            "--settle" => args.settle = value("--settle")?.parse().map_err(|e| format!("{e}"))?,
            "--hash" => args.hash = true,
            "--help" | "-h" => return Err(
                "usage: sim_memory [--nodes N] [--seed S] [--settle SECS] [--lookups M] [--hash]"
                    .into(),
            ),
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    Ok(args)
}

/// What the clones of every live node's parts allocate, summed.
#[derive(Default)]
struct Breakdown {
    nodes: usize,
    engine: usize,
    table: usize,
    store: usize,
    entries: usize,
    spares: usize,
    occupied_buckets: usize,
}

fn breakdown(sim: &Simulation) -> Breakdown {
    let mut b = Breakdown::default();
    for slot in sim.live_slots() {
        let Some(node) = sim.node(slot) else {
            continue;
        };
        b.nodes += 1;
        b.engine += allocated_by(|| Box::new(node.clone()));
        let table: &RoutingTable = node.routing_table();
        b.table += allocated_by(|| table.clone());
        b.store += allocated_by(|| node.store().clone());
        b.entries += table.len();
        b.occupied_buckets += table.buckets().count();
        b.spares += (0..160)
            .filter_map(|i| table.bucket(i))
            .map(|bucket| bucket.replacements().len())
            .sum::<usize>();
    }
    b
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let n = args.nodes as f64;
    let base = live();
    let base_bytes = BYTE_BLOCKS.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let started = Instant::now();
    let mut sim = match Simulation::new(SimConfig::new(args.nodes, args.seed)) {
        Ok(sim) => sim,
        Err(e) => {
            eprintln!("invalid simulation: {e}");
            return ExitCode::from(2);
        }
    };
    let wall = started.elapsed();
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(base);
    let after = live().saturating_sub(base);
    let report = sim.bootstrap_report();
    println!(
        "nodes {}  seed {}  bootstrap wall {:.1} s  failed {}  mean table {:.1}",
        args.nodes,
        args.seed,
        wall.as_secs_f64(),
        report.failed,
        report.mean_table_size
    );
    println!(
        "sizes: Node {} B, RoutingTable {} B, KBucket view {} B, Entry {} B (the table stores entries packed)",
        std::mem::size_of::<Node>(),
        std::mem::size_of::<RoutingTable>(),
        std::mem::size_of::<KBucket>(),
        std::mem::size_of::<Entry>()
    );
    println!(
        "after bootstrap: live heap {:.0} B/node ({:.1} MiB), {:.1} blocks/node",
        after as f64 / n,
        after as f64 / 1048576.0,
        BLOCKS.load(Ordering::Relaxed) as f64 / n
    );
    println!(
        "bootstrap peak: heap {:.0} B/node ({:.1} MiB); transient above the final heap {:.0} B/node",
        peak as f64 / n,
        peak as f64 / 1048576.0,
        peak.saturating_sub(after) as f64 / n
    );
    println!(
        "  of the peak, byte buffers (datagram payloads in the event queue, encode buffers): {:.0} B/node",
        BYTE_BLOCKS_AT_PEAK
            .load(Ordering::Relaxed)
            .saturating_sub(base_bytes) as f64
            / n
    );
    if args.settle > 0 {
        sim.run_for(Duration::from_secs(args.settle));
        println!(
            "after {} s idle: live heap {:.0} B/node",
            args.settle,
            live().saturating_sub(base) as f64 / n
        );
    }
    if args.lookups > 0 {
        PEAK.store(live(), Ordering::Relaxed);
        let summary = sim.run_lookups(args.lookups);
        let after_lookups = live().saturating_sub(base);
        println!(
            "after {} lookups (success {:.4}): live heap {:.0} B/node, peak {:.0} B/node",
            summary.lookups,
            summary.success_rate,
            after_lookups as f64 / n,
            PEAK.load(Ordering::Relaxed).saturating_sub(base) as f64 / n
        );
    }
    let b = breakdown(&sim);
    let per = |bytes: usize| bytes as f64 / b.nodes.max(1) as f64;
    println!("breakdown by clone, per live node ({} nodes):", b.nodes);
    println!(
        "  whole engine (Box<Node> + everything it owns) {:>8.0}",
        per(b.engine)
    );
    println!(
        "  routing table (heap only)                     {:>8.0}",
        per(b.table)
    );
    println!(
        "    {:.1} entries in {:.1} occupied buckets, {:.1} spares",
        per(b.entries),
        per(b.occupied_buckets),
        per(b.spares)
    );
    println!(
        "  record store (heap only)                      {:>8.0}",
        per(b.store)
    );
    println!(
        "  rest of the engine (struct, rtt, limiter, maps) {:>6.0}",
        per(b.engine.saturating_sub(b.table + b.store))
    );
    let final_heap = live().saturating_sub(base);
    println!(
        "  not in the clones (Vec slack, simulator)      {:>8.0}",
        (final_heap as f64 / n) - per(b.engine)
    );
    if let Some(rss) = peak_rss_bytes() {
        println!(
            "peak RSS {:.1} MiB, {:.1} KiB/node",
            rss as f64 / 1048576.0,
            rss as f64 / 1024.0 / n
        );
    }
    if args.hash {
        let hash: String = sim
            .event_log_hash()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        println!("event log hash {hash}");
    }
    println!(
        "SUMMARY nodes={} live_heap_per_node={:.0} peak_heap_per_node={:.0} peak_rss_kib_per_node={:.1}",
        args.nodes,
        after as f64 / n,
        peak as f64 / n,
        peak_rss_bytes().map_or(0.0, |r| r as f64 / 1024.0 / n)
    );
    ExitCode::SUCCESS
}

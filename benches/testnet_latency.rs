//! Lookup latency on a loopback testnet of real UDP nodes.
//!
//! `Testnet::new(64)` (64 `Dht` nodes on 127.0.0.1, `Config::local()`),
//! then every node puts one signed record under its own key and one
//! immutable value. Then `--gets` get_mutable calls, each from a random
//! node for another random node's key, one at a time, then as many
//! get_immutable and find_node calls the same way. For each call: the wall
//! time around `Dht::query` and the engine's `QueryStats` (hops = depth of
//! the answer that completed the lookup, messages = requests sent).
//! Reported: p50 / p90 / p99 / max latency, hops p50 / p99 / max, messages
//! mean / p50 / p99, and how many calls found what they looked for.
//!
//! All nodes share 127.0.0.1, so with `Config::local()` (what
//! `Testnet::new` uses) every node sees the whole testnet as one source IP
//! with one budget of 200 requests per second and 8 KiB per second of
//! answers to senders that are not in the answering node's routing table
//! (anti-amplification); `--unlimited` raises the
//! per-IP limits, as if every node had its own address. The run ends with
//! the summed counters of rate-limited requests and timeouts.
//!
//! `cargo bench --bench testnet_latency [-- --nodes N --gets G --unlimited]`; without
//! `--bench` (as `cargo test --benches` runs it) a short smoke run on a
//! small testnet.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use meshara_dht::node::{NodeStats, QueryOutcome, QueryStats};
use meshara_dht::record::Record;
use meshara_dht::runtime::{QueryRequest, Testnet};
use meshara_dht::{Config, Key, NodeId};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[derive(Debug, Clone, Copy)]
struct Options {
    full: bool,
    nodes: usize,
    gets: usize,
    /// Raise the per-IP rate limits (all nodes share 127.0.0.1).
    unlimited: bool,
}

impl Options {
    fn parse() -> Self {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let full = args.iter().any(|a| a == "--bench");
        let value = |name: &str| -> Option<usize> {
            let at = args.iter().position(|a| a == name)?;
            args.get(at + 1)?.parse().ok()
        };
        let (nodes, gets) = if full { (64, 2000) } else { (12, 40) };
        Options {
            full,
            nodes: value("--nodes").unwrap_or(nodes).max(2),
            gets: value("--gets").unwrap_or(gets).max(1),
            unlimited: args.iter().any(|a| a == "--unlimited"),
        }
    }
}

/// One call's cost.
#[derive(Debug, Clone, Copy)]
struct Sample {
    wall: Duration,
    stats: QueryStats,
    found: bool,
}

/// The nearest-rank `p`-th percentile of sorted values.
fn percentile<T: Copy>(sorted: &[T], p: f64) -> Option<T> {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.max(1) - 1).copied()
}

fn ms(d: Option<Duration>) -> String {
    d.map_or_else(|| "-".into(), |d| format!("{:.2}", d.as_secs_f64() * 1e3))
}

fn num(v: Option<u32>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

fn report(name: &str, samples: &[Sample]) {
    let mut wall: Vec<Duration> = samples.iter().map(|s| s.wall).collect();
    let mut hops: Vec<u32> = samples.iter().map(|s| s.stats.hops).collect();
    let mut msgs: Vec<u32> = samples.iter().map(|s| s.stats.messages).collect();
    wall.sort_unstable();
    hops.sort_unstable();
    msgs.sort_unstable();
    let found = samples.iter().filter(|s| s.found).count();
    let timed_out = samples.iter().filter(|s| s.stats.timed_out).count();
    let mean_msgs = msgs.iter().map(|&m| f64::from(m)).sum::<f64>() / msgs.len().max(1) as f64;
    println!(
        "| {name} | {} | {found} | {timed_out} | {} | {} | {} | {} | {} / {} / {} | {mean_msgs:.1} / {} / {} |",
        samples.len(),
        ms(percentile(&wall, 50.0)),
        ms(percentile(&wall, 90.0)),
        ms(percentile(&wall, 99.0)),
        ms(wall.last().copied()),
        num(percentile(&hops, 50.0)),
        num(percentile(&hops, 99.0)),
        num(hops.last().copied()),
        num(percentile(&msgs, 50.0)),
        num(percentile(&msgs, 99.0)),
    );
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// Runs `request` on `net.nodes[from]`, timing it; `found` judges the
/// outcome.
async fn timed(
    net: &Testnet,
    from: usize,
    request: QueryRequest,
    found: impl FnOnce(&QueryOutcome) -> bool,
) -> Result<Sample, Box<dyn std::error::Error>> {
    let node = net.nodes.get(from).ok_or("no such node")?;
    let start = Instant::now();
    let (outcome, stats) = node.query(request).await?;
    Ok(Sample {
        wall: start.elapsed(),
        stats,
        found: found(&outcome),
    })
}

/// A random pair of distinct node indices `(reader, owner)`.
fn pair(rng: &mut StdRng, n: usize) -> (usize, usize) {
    let reader = rng.gen_range(0..n);
    let owner = (reader + rng.gen_range(1..n)) % n;
    (reader, owner)
}

async fn run(o: Options) -> Result<(), Box<dyn std::error::Error>> {
    println!(
        "testnet_latency: nproc {}, load average {} (before)",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average()
    );
    let started = Instant::now();
    let config = if o.unlimited {
        Config {
            rate_limit_requests_per_sec: u32::MAX,
            rate_limit_burst: u32::MAX,
            unverified_bytes_per_sec: u32::MAX,
            ..Config::local()
        }
    } else {
        Config::local()
    };
    // The same as `Testnet::new` when not `--unlimited`.
    let net = Testnet::with(o.nodes, SocketAddr::from(([127, 0, 0, 1], 0)), config, 0).await?;
    println!(
        "testnet of {} nodes up in {:.2} s ({})",
        o.nodes,
        started.elapsed().as_secs_f64(),
        if o.unlimited {
            "Config::local() with per-IP rate limits raised"
        } else {
            "Config::local(): all nodes share 127.0.0.1 and so one per-IP budget: \
             200 requests/s, 8 KiB/s of answers to senders not in the table"
        }
    );

    let mut mutable_keys: Vec<Key> = Vec::with_capacity(o.nodes);
    let mut immutable_keys: Vec<Key> = Vec::with_capacity(o.nodes);
    let mut puts = Vec::with_capacity(2 * o.nodes);
    for (i, node) in net.nodes.iter().enumerate() {
        let record = node.sign("", 1, format!("contact of node {i}: {}", node.local_addr()))?;
        let key = record.key();
        let start = Instant::now();
        let (_, stats) = node
            .query(QueryRequest::Put(Record::Mutable(record)))
            .await?;
        puts.push(Sample {
            wall: start.elapsed(),
            stats,
            found: true,
        });
        mutable_keys.push(key);
        let value = format!("immutable value number {i}");
        let start = Instant::now();
        let report = node.put_immutable(value.into_bytes()).await?;
        puts.push(Sample {
            wall: start.elapsed(),
            stats: report.stats,
            found: true,
        });
        immutable_keys.push(report.key);
    }

    let mut rng = StdRng::seed_from_u64(2024);
    let mut get_mutable = Vec::with_capacity(o.gets);
    for _ in 0..o.gets {
        let (reader, owner) = pair(&mut rng, o.nodes);
        let key = *mutable_keys.get(owner).ok_or("no key")?;
        let s = timed(&net, reader, QueryRequest::GetMutable(key), |out| {
            matches!(out, QueryOutcome::Get { record: Some(Record::Mutable(r)), .. } if r.key() == key)
        })
        .await?;
        get_mutable.push(s);
    }
    let mut get_immutable = Vec::with_capacity(o.gets);
    for _ in 0..o.gets {
        let (reader, owner) = pair(&mut rng, o.nodes);
        let key = *immutable_keys.get(owner).ok_or("no key")?;
        let s = timed(&net, reader, QueryRequest::GetImmutable(key), |out| {
            matches!(out, QueryOutcome::Get { record: Some(r @ Record::Immutable(_)), .. } if r.key() == key)
        })
        .await?;
        get_immutable.push(s);
    }
    let mut find_node = Vec::with_capacity(o.gets);
    for _ in 0..o.gets {
        let (reader, owner) = pair(&mut rng, o.nodes);
        let target: NodeId = net.nodes.get(owner).ok_or("no node")?.node_id();
        let s = timed(&net, reader, QueryRequest::FindNode(target), |out| {
            matches!(out, QueryOutcome::FindNode { closest } if closest.first().is_some_and(|c| c.id == target))
        })
        .await?;
        find_node.push(s);
    }

    println!();
    println!(
        "| call | n | found | timed out | p50 ms | p90 ms | p99 ms | max ms | hops p50 / p99 / max | messages mean / p50 / p99 |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    report("put (mutable + immutable)", &puts);
    report("get_mutable", &get_mutable);
    report("get_immutable", &get_immutable);
    report("find_node (existing id)", &find_node);
    println!();
    let mut totals = NodeStats::default();
    for node in &net.nodes {
        let s = node.stats().await?.node;
        totals.requests_served += s.requests_served;
        totals.requests_rate_limited += s.requests_rate_limited;
        totals.responses_throttled += s.responses_throttled;
        totals.requests_timed_out += s.requests_timed_out;
        totals.datagrams_sent += s.datagrams_sent;
        totals.key_proofs_verified += s.key_proofs_verified;
        totals.queries_started += s.queries_started;
    }
    println!(
        "all nodes, whole run: queries started {}, datagrams sent {}, key proofs verified {}, \
         requests served {}, rate-limited {}, answers throttled {}, requests timed out {}",
        totals.queries_started,
        totals.datagrams_sent,
        totals.key_proofs_verified,
        totals.requests_served,
        totals.requests_rate_limited,
        totals.responses_throttled,
        totals.requests_timed_out
    );
    println!("testnet_latency: load average {} (after)", load_average());
    net.shutdown().await;
    let missed = get_mutable
        .iter()
        .chain(&get_immutable)
        .filter(|s| !s.found)
        .count();
    if !o.full && missed > 0 {
        return Err(format!("{missed} gets found nothing").into());
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let options = Options::parse();
    if !options.full {
        println!("testnet_latency: smoke run (pass --bench, as `cargo bench` does, to measure)");
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(options))
}

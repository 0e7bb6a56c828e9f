//! `meshara-dht testnet`: N real nodes on loopback UDP in this process.
//! They join, each advertises a signed contact record under its own id,
//! and random nodes look up random other nodes' records; the command
//! prints what that cost (latency percentiles, hops, messages, memory,
//! CPU).
//!
//! Everything goes through the public [`Dht`] handle, exactly as an
//! application would use it; this module holds no protocol logic.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use clap::Args;
use indicatif::ProgressBar;
use meshara_dht::identity::Identity;
use meshara_dht::node::QueryOutcome;
use meshara_dht::record::Record;
use meshara_dht::runtime::{Dht, QueryRequest};
use meshara_dht::Config;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use tokio::task::JoinSet;

use crate::advert::NodeAdvert;
use crate::error::CliError;
use crate::metrics::{self, quantile, sorted};
use crate::progress::Progress;
use crate::Outcome;

/// Options of `meshara-dht testnet`.
#[derive(Debug, Args)]
pub(crate) struct TestnetArgs {
    /// Nodes to start.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(2..=10_000))]
    nodes: u32,
    /// Lookups to run: each a get of a random node's advertisement from
    /// another random node.
    #[arg(long, default_value_t = 1000)]
    lookups: u32,
    /// Seed of the node identities, the engines' RNGs and the lookup plan.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Joins, puts or lookups in flight at once. Every node shares this
    /// process's CPUs, so latencies include queueing behind the others in
    /// flight; 1 gives the latency of an unloaded network.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=1024))]
    parallel: u32,
    /// Use ::1 instead of 127.0.0.1.
    #[arg(long)]
    ipv6: bool,
    /// End the output with one line holding a JSON object of every figure.
    #[arg(long)]
    json: bool,
}

/// Every figure of a run; the `--json` line is this, serialized. README.md
/// documents each field.
#[derive(Debug, Clone, Serialize)]
struct Report {
    nodes: u32,
    lookups: u32,
    seed: u64,
    bootstrap_s: f64,
    rt_min: usize,
    rt_median: usize,
    rt_max: usize,
    put_success_rate: f64,
    put_p50_ms: f64,
    put_p90_ms: f64,
    put_p99_ms: f64,
    get_success_rate: f64,
    get_p50_ms: f64,
    get_p90_ms: f64,
    get_p99_ms: f64,
    hops_p50: f64,
    hops_p99: f64,
    msgs_p50: f64,
    msgs_p99: f64,
    rpc_timeouts: u64,
    peak_rss_mb: Option<f64>,
    cpu_s: Option<f64>,
    wall_s: f64,
}

/// One put or get as measured from the caller.
#[derive(Debug, Clone, Copy)]
struct Sample {
    ok: bool,
    ms: f64,
    hops: Option<u32>,
    messages: Option<u32>,
}

/// The configuration of testnet nodes: [`Config::local`] (no subnet caps,
/// since every node is on one address) with the per-IP limits raised, as
/// every node here shares one source IP and would otherwise be throttled
/// as if the whole testnet were one abusive peer (the request rate limit,
/// the byte budget for not-yet-verified addresses, the per-IP record
/// quota).
fn testnet_config(nodes: usize) -> Config {
    let mut config = Config::local();
    config.rate_limit_requests_per_sec = 1_000_000;
    config.rate_limit_burst = 1_000_000;
    config.unverified_bytes_per_sec = 1_000_000_000;
    config.max_records_per_ip = config.max_records_per_ip.max(nodes * 4);
    config
}

pub(crate) async fn run(args: TestnetArgs, progress: Progress) -> Result<Outcome, CliError> {
    let started = Instant::now();
    let n = args.nodes as usize;
    let parallel = args.parallel as usize;
    let ip = if args.ipv6 {
        IpAddr::V6(Ipv6Addr::LOCALHOST)
    } else {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    };
    let config = testnet_config(n);

    let join_started = Instant::now();
    let nodes = spawn_nodes(n, ip, &config, args.seed, &progress).await?;
    join(&nodes, config.k, parallel, args.seed, &progress).await?;
    let bootstrap_s = join_started.elapsed().as_secs_f64();
    let mut rt_sizes = Vec::with_capacity(n);
    for node in &nodes {
        rt_sizes.push(node.stats().await?.routing_table_size);
    }
    rt_sizes.sort_unstable();

    let puts = advertise(&nodes, parallel, &progress).await?;
    let gets = lookups(
        &nodes,
        args.lookups as usize,
        parallel,
        args.seed,
        &progress,
    )
    .await?;
    let mut rpc_timeouts = 0;
    for node in &nodes {
        rpc_timeouts += node.stats().await?.node.requests_timed_out;
    }
    let cpu = metrics::cpu_time();
    let peak = metrics::peak_rss_mib();
    for node in &nodes {
        node.shutdown().await;
    }

    let mut report = build_report(
        &args,
        bootstrap_s,
        &rt_sizes,
        &puts,
        &gets,
        peak,
        cpu,
        started,
    );
    report.rpc_timeouts = rpc_timeouts;
    print_report(&report, ip);
    if args.json {
        // serde_json cannot fail on this struct of numbers.
        println!("{}", serde_json::to_string(&report).unwrap_or_default());
    }
    Ok(Outcome::Done)
}

/// Binds `n` nodes with deterministic identities.
async fn spawn_nodes(
    n: usize,
    ip: IpAddr,
    config: &Config,
    seed: u64,
    progress: &Progress,
) -> Result<Vec<Dht>, CliError> {
    let bar = progress.bar(n as u64, "bind");
    let mut nodes = Vec::with_capacity(n);
    for i in 0..n as u64 {
        let node = Dht::builder()
            .bind(SocketAddr::new(ip, 0))
            .config(config.clone())
            .identity(Identity::from_seed(
                seed.wrapping_mul(1_000_003).wrapping_add(i + 1),
            ))
            .seed(seed.wrapping_mul(7_919).wrapping_add(i))
            .spawn()
            .await?;
        nodes.push(node);
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(nodes)
}

/// Joins every node: the first k + 1 one by one through node 0, the rest
/// `parallel` at a time through a random one of those, then the first
/// ones refresh so they learn the nodes that came after them.
async fn join(
    nodes: &[Dht],
    k: usize,
    parallel: usize,
    seed: u64,
    progress: &Progress,
) -> Result<(), CliError> {
    let bar = progress.bar(nodes.len() as u64, "bootstrap");
    bar.inc(1);
    let core = nodes.len().min(k + 1);
    let first = nodes.first().map(Dht::local_addr);
    for node in nodes.iter().take(core).skip(1) {
        node.bootstrap_from(first.into_iter().collect()).await?;
        bar.inc(1);
    }
    let mut rng = StdRng::seed_from_u64(seed ^ 0xb007_57a9);
    let rest: Vec<(Dht, SocketAddr)> = nodes
        .iter()
        .skip(core)
        .map(|node| {
            let via = nodes
                .get(rng.gen_range(0..core))
                .map_or_else(|| node.local_addr(), Dht::local_addr);
            (node.clone(), via)
        })
        .collect();
    let joined = bounded(rest.len(), parallel, &bar, |i| {
        let (node, via) = rest[i].clone();
        async move { node.bootstrap_from(vec![via]).await.map(|_| ()) }
    })
    .await?;
    joined.into_iter().collect::<Result<Vec<()>, _>>()?;
    // Node 0 never asked anyone anything, so its table is empty: it goes
    // through node 1; the others refresh from their own tables.
    let mut settle: Vec<(Dht, Vec<SocketAddr>)> = Vec::with_capacity(core);
    for (i, node) in nodes.iter().take(core).enumerate() {
        let via = match (i, nodes.get(1)) {
            (0, Some(second)) => vec![second.local_addr()],
            _ => Vec::new(),
        };
        settle.push((node.clone(), via));
    }
    let settled = bounded(settle.len(), parallel, &ProgressBar::hidden(), |i| {
        let (node, via) = settle[i].clone();
        async move { node.bootstrap_from(via).await.map(|_| ()) }
    })
    .await?;
    settled.into_iter().collect::<Result<Vec<()>, _>>()?;
    bar.finish_and_clear();
    Ok(())
}

/// Every node puts its signed advertisement under its own id.
async fn advertise(
    nodes: &[Dht],
    parallel: usize,
    progress: &Progress,
) -> Result<Vec<Sample>, CliError> {
    let bar = progress.bar(nodes.len() as u64, "advertise");
    let mut records = Vec::with_capacity(nodes.len());
    for node in nodes {
        records.push(NodeAdvert::now(node.local_addr()).sign(node)?);
    }
    let samples = bounded(nodes.len(), parallel, &bar, |i| {
        let node = nodes[i].clone();
        let record = records[i].clone();
        async move {
            let t = Instant::now();
            let result = node.put_mutable(record).await;
            let ms = ms(t.elapsed());
            match result {
                Ok(report) => Sample {
                    ok: true,
                    ms,
                    hops: Some(report.stats.hops),
                    messages: Some(report.stats.messages),
                },
                Err(e) => {
                    tracing::warn!(node = %node.node_id(), "advertisement failed: {e}");
                    Sample {
                        ok: false,
                        ms,
                        hops: None,
                        messages: None,
                    }
                }
            }
        }
    })
    .await?;
    bar.finish_and_clear();
    Ok(samples)
}

/// `count` gets of a random node's advertisement from another random node;
/// a get succeeds if it finds the record and it names the right address.
async fn lookups(
    nodes: &[Dht],
    count: usize,
    parallel: usize,
    seed: u64,
    progress: &Progress,
) -> Result<Vec<Sample>, CliError> {
    let bar = progress.bar(count as u64, "lookup");
    let mut rng = StdRng::seed_from_u64(seed ^ 0x100c_0b5e);
    let n = nodes.len();
    let plan: Vec<(usize, usize)> = (0..count)
        .map(|_| {
            let from = rng.gen_range(0..n);
            // A different node: shift by 1..n.
            let to = (from + rng.gen_range(1..n)) % n;
            (from, to)
        })
        .collect();
    let samples = bounded(count, parallel, &bar, |i| {
        let (from, to) = plan[i];
        let node = nodes[from].clone();
        let target = nodes[to].node_id();
        let expected = nodes[to].local_addr();
        async move {
            let t = Instant::now();
            let result = node.query(QueryRequest::GetMutable(target)).await;
            let ms = ms(t.elapsed());
            match result {
                Ok((outcome, stats)) => {
                    let ok = match outcome {
                        QueryOutcome::Get {
                            record: Some(Record::Mutable(record)),
                            ..
                        } => NodeAdvert::from_record(target, &record)
                            .is_ok_and(|advert| advert.addr == expected),
                        _ => false,
                    };
                    Sample {
                        ok,
                        ms,
                        hops: Some(stats.hops),
                        messages: Some(stats.messages),
                    }
                }
                Err(e) => {
                    tracing::warn!(%target, "lookup failed: {e}");
                    Sample {
                        ok: false,
                        ms,
                        hops: None,
                        messages: None,
                    }
                }
            }
        }
    })
    .await?;
    bar.finish_and_clear();
    Ok(samples)
}

/// Runs `make(0..count)` with at most `parallel` in flight, advancing
/// `bar` as each finishes; results come back in completion order.
async fn bounded<T, F, Fut>(
    count: usize,
    parallel: usize,
    bar: &ProgressBar,
    mut make: F,
) -> Result<Vec<T>, CliError>
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let mut set = JoinSet::new();
    let mut out = Vec::with_capacity(count);
    let mut next = 0;
    while next < count || !set.is_empty() {
        while next < count && set.len() < parallel.max(1) {
            set.spawn(make(next));
            next += 1;
        }
        if let Some(done) = set.join_next().await {
            out.push(done?);
            bar.inc(1);
        }
    }
    Ok(out)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Rounds to `places` decimals, for readable JSON.
fn round(x: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (x * f).round() / f
}

#[allow(clippy::too_many_arguments)]
fn build_report(
    args: &TestnetArgs,
    bootstrap_s: f64,
    rt_sizes: &[usize],
    puts: &[Sample],
    gets: &[Sample],
    peak_rss_mb: Option<f64>,
    cpu: Option<Duration>,
    started: Instant,
) -> Report {
    let rate = |s: &[Sample]| {
        if s.is_empty() {
            0.0
        } else {
            s.iter().filter(|x| x.ok).count() as f64 / s.len() as f64
        }
    };
    let latency = |s: &[Sample]| sorted(s.iter().map(|x| x.ms).collect());
    let put_ms = latency(puts);
    let get_ms = latency(gets);
    let hops = sorted(gets.iter().filter_map(|x| x.hops).map(f64::from).collect());
    let msgs = sorted(
        gets.iter()
            .filter_map(|x| x.messages)
            .map(f64::from)
            .collect(),
    );
    let rt = |q: f64| {
        let i = ((rt_sizes.len() as f64 - 1.0) * q).round() as usize;
        rt_sizes.get(i).copied().unwrap_or(0)
    };
    Report {
        nodes: args.nodes,
        lookups: args.lookups,
        seed: args.seed,
        bootstrap_s: round(bootstrap_s, 3),
        rt_min: rt(0.0),
        rt_median: rt(0.5),
        rt_max: rt(1.0),
        put_success_rate: round(rate(puts), 4),
        put_p50_ms: round(quantile(&put_ms, 0.5), 3),
        put_p90_ms: round(quantile(&put_ms, 0.9), 3),
        put_p99_ms: round(quantile(&put_ms, 0.99), 3),
        get_success_rate: round(rate(gets), 4),
        get_p50_ms: round(quantile(&get_ms, 0.5), 3),
        get_p90_ms: round(quantile(&get_ms, 0.9), 3),
        get_p99_ms: round(quantile(&get_ms, 0.99), 3),
        hops_p50: quantile(&hops, 0.5),
        hops_p99: quantile(&hops, 0.99),
        msgs_p50: quantile(&msgs, 0.5),
        msgs_p99: quantile(&msgs, 0.99),
        rpc_timeouts: 0,
        peak_rss_mb: peak_rss_mb.map(|x| round(x, 1)),
        cpu_s: cpu.map(|d| round(d.as_secs_f64(), 3)),
        wall_s: round(started.elapsed().as_secs_f64(), 3),
    }
}

fn print_report(r: &Report, ip: IpAddr) {
    let count = |rate: f64, total: u32| (rate * f64::from(total)).round() as u64;
    let opt = |x: Option<f64>, unit: &str| x.map_or("n/a".to_string(), |v| format!("{v} {unit}"));
    println!(
        "testnet: {} nodes on {ip}, {} lookups, seed {}",
        r.nodes, r.lookups, r.seed
    );
    println!(
        "bootstrap  {:.2} s; routing table min {} / median {} / max {} contacts",
        r.bootstrap_s, r.rt_min, r.rt_median, r.rt_max
    );
    println!(
        "put        {}/{} ok ({:.1} %); latency p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms",
        count(r.put_success_rate, r.nodes),
        r.nodes,
        r.put_success_rate * 100.0,
        r.put_p50_ms,
        r.put_p90_ms,
        r.put_p99_ms
    );
    println!(
        "get        {}/{} ok ({:.1} %); latency p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms",
        count(r.get_success_rate, r.lookups),
        r.lookups,
        r.get_success_rate * 100.0,
        r.get_p50_ms,
        r.get_p90_ms,
        r.get_p99_ms
    );
    println!(
        "lookup     hops p50 {} / p99 {}; messages per lookup p50 {} / p99 {}; \
         requests timed out {}",
        r.hops_p50, r.hops_p99, r.msgs_p50, r.msgs_p99, r.rpc_timeouts
    );
    println!(
        "process    peak RSS {}; CPU {}; wall {:.2} s",
        opt(r.peak_rss_mb, "MiB"),
        opt(r.cpu_s, "s"),
        r.wall_s
    );
}

//! `meshara-dht sim`: a simulated network of real engines on virtual time
//! (the library's `sim` module), printing its summary and hop histogram;
//! with `--json` the last line is the simulator's JSON summary object.

use std::time::Duration;

use clap::Args;
use meshara_dht::sim::{ChurnConfig, KeyProofs, NetworkBootstrapReport, SimConfig, Simulation};

use crate::error::CliError;
use crate::progress::Progress;
use crate::Outcome;

/// Flags of `meshara-dht sim`.
#[derive(Debug, Args)]
pub(crate) struct SimArgs {
    /// Simulated nodes.
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(2..=200_000))]
    nodes: u64,
    /// Lookups (or gets, with --gets) to measure after the bootstrap.
    #[arg(long, default_value_t = 1_000)]
    lookups: usize,
    /// Datagram loss probability, from 0 to 1 (exclusive).
    #[arg(long, default_value_t = 0.0, value_parser = fraction)]
    loss: f64,
    /// Fraction of the nodes replaced by churn while the lookups run.
    #[arg(long, default_value_t = 0.0, value_parser = fraction)]
    churn: f64,
    /// Seed of identities, link model and lookup plan.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Publish records first and measure gets instead of find-node lookups.
    #[arg(long)]
    gets: bool,
    /// End with the JSON summary object on one line.
    #[arg(long)]
    json: bool,
    /// Model key proofs with a hash instead of ed25519 signatures (same
    /// protocol and wire sizes, much less CPU; for large networks).
    #[arg(long)]
    modelled_proofs: bool,
    /// Hash every delivered datagram and event, and print the event-log
    /// hash (two runs with the same flags print the same hash). Off by
    /// default: hashing costs a few percent of the CPU.
    #[arg(long)]
    hash: bool,
    /// Threads that run the engines (0: one per core). The run is the same
    /// with any number; only its wall time changes.
    #[arg(long, default_value_t = 0)]
    threads: usize,
}

/// A probability: a number in `[0, 1)`.
fn fraction(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("{s:?} is not a number"))?;
    if (0.0..1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{v} is not between 0 and 1"))
    }
}

pub(crate) async fn run(args: SimArgs, progress: Progress) -> Result<Outcome, CliError> {
    // The simulation is pure CPU: keep it off the async workers.
    tokio::task::spawn_blocking(move || simulate(args, progress)).await?
}

fn simulate(args: SimArgs, progress: Progress) -> Result<Outcome, CliError> {
    let nodes = args.nodes as usize;
    let mut cfg = SimConfig::new(nodes, args.seed);
    cfg.link.loss = args.loss;
    cfg.hash_event_log = args.hash;
    cfg.threads = args.threads;
    if args.modelled_proofs {
        cfg.key_proofs = KeyProofs::Modelled;
    }
    println!(
        "sim: {nodes} nodes, {} {}, loss {:.1} %, churn {:.1} %, seed {}, {} key proofs",
        args.lookups,
        if args.gets { "gets" } else { "lookups" },
        args.loss * 100.0,
        args.churn * 100.0,
        args.seed,
        if args.modelled_proofs {
            "modelled"
        } else {
            "ed25519"
        }
    );
    let bar = progress.bar(args.nodes, "bootstrap");
    let mut sim = Simulation::with_progress(cfg, |r: &NetworkBootstrapReport| {
        bar.set_position(r.nodes as u64);
    })
    .map_err(CliError::Sim)?;
    bar.finish_and_clear();
    let boot = sim.bootstrap_report();
    println!(
        "bootstrap  {} nodes in {} waves, {:.2} s wall, {:.1} s virtual, {} datagrams ({:.0} per node), mean table {:.1}, {} failed",
        boot.nodes,
        boot.waves,
        boot.wall.as_secs_f64(),
        boot.virtual_time.as_secs_f64(),
        boot.datagrams,
        boot.datagrams as f64 / boot.nodes.max(1) as f64,
        boot.mean_table_size,
        boot.failed
    );
    if args.gets {
        let records = (args.lookups / 10).clamp(1, 1_000);
        let put = sim.publish_records(records);
        println!(
            "published  {} records, each stored on at least {} nodes (mean {:.1})",
            put.records, put.stored_min, put.stored_mean
        );
    }
    if args.churn > 0.0 {
        let period = sim.config().lookup_interval * args.lookups.max(1) as u32;
        let churn = ChurnConfig::replacing(args.churn, nodes, period.max(Duration::from_secs(1)));
        sim.set_churn(churn).map_err(CliError::Sim)?;
    }
    let spinner = progress.spinner(if args.gets { "gets" } else { "lookups" });
    let summary = if args.gets {
        sim.run_gets(args.lookups)
    } else {
        sim.run_lookups(args.lookups)
    };
    spinner.finish_and_clear();
    print!("{summary}");
    if args.hash {
        let hex: String = sim
            .event_log_hash()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        println!("event log hash {hex}");
    }
    if args.json {
        println!("{}", summary.to_json());
    }
    Ok(Outcome::Done)
}

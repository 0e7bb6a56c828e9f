//! Runs one simulated network: bootstrap, then find-node lookups (or gets),
//! and prints the summary, the hop histogram and the JSON object.
//!
//! ```text
//! cargo run --release --example sim -- --nodes 10000 --lookups 10000 \
//!     [--loss 0.01] [--churn 0.1] [--gets] [--seed 1] [--modelled-proofs] [--json]
//! ```
//!
//! `--churn R` replaces the fraction R of the nodes (half silently, half
//! gracefully; as many join) while the lookups run. `--gets` publishes
//! records first and measures gets of them instead of find-node lookups.
//! `--modelled-proofs` replaces the ed25519 key proofs by a hash of the same
//! size (see `KeyProofs::Modelled`). `--json` prints only the JSON object (on one line).

use std::process::ExitCode;
use std::time::Duration;

use meshara_dht::sim::{ChurnConfig, KeyProofs, SimConfig, Simulation};

struct Args {
    nodes: usize,
    lookups: usize,
    loss: f64,
    churn: f64,
    seed: u64,
    json: bool,
    gets: bool,
    modelled_proofs: bool,
}

fn parse() -> Result<Args, String> {
    let mut args = Args {
        nodes: 1_000,
        lookups: 1_000,
        loss: 0.0,
        churn: 0.0,
        seed: 1,
        json: false,
        gets: false,
        modelled_proofs: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match flag.as_str() {
            "--nodes" => args.nodes = value("--nodes")?.parse().map_err(|e| format!("{e}"))?,
            "--lookups" => {
                args.lookups = value("--lookups")?.parse().map_err(|e| format!("{e}"))?
            }
            "--loss" => args.loss = value("--loss")?.parse().map_err(|e| format!("{e}"))?,
            "--churn" => args.churn = value("--churn")?.parse().map_err(|e| format!("{e}"))?,
            "--seed" => args.seed = value("--seed")?.parse().map_err(|e| format!("{e}"))?,
            "--json" => args.json = true,
            "--gets" => args.gets = true,
            "--modelled-proofs" => args.modelled_proofs = true,
            "--help" | "-h" => {
                return Err(
                    "usage: sim [--nodes N] [--lookups M] [--loss P] [--churn R] \
                            [--seed S] [--gets] [--modelled-proofs] [--json]"
                        .into(),
                )
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let mut cfg = SimConfig::new(args.nodes, args.seed);
    cfg.link.loss = args.loss;
    if args.modelled_proofs {
        cfg.key_proofs = KeyProofs::Modelled;
    }
    if !args.json {
        println!("bootstrapping {} nodes (seed {})...", args.nodes, args.seed);
    }
    let json = args.json;
    let progress = |r: &meshara_dht::sim::NetworkBootstrapReport| {
        if !json {
            println!(
                "  wave {:>2}: {:>7} nodes joined, {:>7.1} s wall, {:>6.1} s virtual, peak RSS {} MiB",
                r.waves,
                r.nodes,
                r.wall.as_secs_f64(),
                r.virtual_time.as_secs_f64(),
                meshara_dht::sim::peak_rss_bytes().unwrap_or(0) / (1024 * 1024)
            );
        }
    };
    let mut sim = match Simulation::with_progress(cfg, progress) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("invalid simulation: {e}");
            return ExitCode::from(2);
        }
    };
    let boot = sim.bootstrap_report();
    if !args.json {
        println!(
            "bootstrap: {} nodes in {} waves, {:.2} s wall, {:.1} s virtual, {} datagrams, \
             mean table size {:.1}, {} failed",
            boot.nodes,
            boot.waves,
            boot.wall.as_secs_f64(),
            boot.virtual_time.as_secs_f64(),
            boot.datagrams,
            boot.mean_table_size,
            boot.failed
        );
    }
    if args.gets {
        let records = (args.lookups / 10).clamp(1, 1_000);
        let put = sim.publish_records(records);
        if !args.json {
            println!(
                "published {} records: stored on {}..{:.1} (min..mean) nodes each",
                put.records, put.stored_min, put.stored_mean
            );
        }
    }
    if args.churn > 0.0 {
        let period = sim.config().lookup_interval * args.lookups.max(1) as u32;
        let period = period.max(Duration::from_secs(1));
        if let Err(e) = sim.set_churn(ChurnConfig::replacing(args.churn, args.nodes, period)) {
            eprintln!("invalid churn: {e}");
            return ExitCode::from(2);
        }
    }
    let summary = if args.gets {
        sim.run_gets(args.lookups)
    } else {
        sim.run_lookups(args.lookups)
    };
    if args.json {
        println!("{}", summary.to_json());
    } else {
        print!("{summary}");
        println!("{:?}", sim.network_stats());
        println!("{}", engine_totals(&sim));
        println!("json: {}", summary.to_json());
    }
    ExitCode::SUCCESS
}

/// Engine counters summed over the live nodes.
fn engine_totals(sim: &Simulation) -> String {
    let (mut proofs, mut served, mut timeouts, mut unsolicited, mut limited) = (0, 0, 0, 0, 0);
    let mut table = 0;
    for slot in sim.live_slots() {
        if let Some(node) = sim.node(slot) {
            let st = node.stats();
            proofs += st.key_proofs_verified;
            served += st.requests_served;
            timeouts += st.requests_timed_out;
            unsolicited += st.responses_unsolicited;
            limited += st.requests_rate_limited + st.responses_throttled;
            table += node.routing_table().len();
        }
    }
    format!(
        "engines: {served} requests served, {proofs} key proofs verified, {timeouts} requests \
         timed out, {unsolicited} unsolicited answers, {limited} rate-limited, mean table {:.1}",
        table as f64 / sim.live_nodes().max(1) as f64
    )
}

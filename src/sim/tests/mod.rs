//! Simulator tests: whole networks of real engines on virtual time. Each
//! test builds its own seeded network or clones one of the shared networks
//! below (bootstrapped once per test run); the 1,000-node ones take a few
//! seconds. The bounds of the adversarial tests are the measured figures
//! with a margin (docs/SECURITY.md).
//!
//! | file | what it checks |
//! |---|---|
//! | `addresses_and_configs.rs` | the address plan, refused configs |
//! | `lookup_success.rs` | lookups and gets find what they should, under loss and churn |
//! | `determinism.rs` | same seed, same run, whatever the threads |
//! | `partitions_and_churn.rs` | partitions, departures, joiners |
//! | `summary_json.rs` | every documented JSON field |
//! | `key_proofs.rs` | modelled key proofs change no protocol decision |
//! | `hostile_gets.rs` | colluding, dropping and forging nodes against gets, one path and disjoint paths |
//! | `hostile_stores.rs` | forged and replayed STOREs, STORE floods from one /24 |
//! | `hostile_eclipse.rs` | ids ground near a target from two /24s against the subnet caps |
//!
//! `cargo test --lib sim::tests::hostile_` runs the three hostile-network files.

mod addresses_and_configs;
mod determinism;
mod hostile_eclipse;
mod hostile_gets;
mod hostile_stores;
mod key_proofs;
mod lookup_success;
mod partitions_and_churn;
mod summary_json;

use std::sync::OnceLock;

use super::*;
use crate::record::{Record, SignedRecord};

/// A bootstrapped network of `nodes` with `seed`, default links.
fn network(nodes: usize, seed: u64) -> Simulation {
    Simulation::new(SimConfig::new(nodes, seed)).expect("valid config")
}

/// The 1,000-node network most tests start from, bootstrapped once per
/// test run (the key proofs of a bootstrap are real ed25519 signatures)
/// and cloned by each test. Records are republished every 2 minutes and
/// live 5.
fn base() -> Simulation {
    static BASE: OnceLock<Simulation> = OnceLock::new();
    BASE.get_or_init(|| {
        let mut cfg = SimConfig::new(1_000, 10);
        cfg.node.republish_interval = Duration::from_secs(120);
        cfg.node.record_ttl = Duration::from_secs(300);
        Simulation::new(cfg).expect("valid config")
    })
    .clone()
}

/// Nodes in the [`published`] network.
const PUBLISHED_NODES: usize = 400;

/// The network every test starts from: bootstrapped once, 40 records
/// published by honest (pinned) nodes before anyone turns malicious.
fn published() -> Simulation {
    static BASE: OnceLock<Simulation> = OnceLock::new();
    BASE.get_or_init(|| {
        let mut sim = Simulation::new(SimConfig::new(PUBLISHED_NODES, 21)).expect("valid config");
        let put = sim.publish_records(40);
        assert_eq!((put.records, put.abandoned), (40, 0));
        sim
    })
    .clone()
}

/// Live, honest slots in slot order.
fn honest(sim: &Simulation) -> Vec<usize> {
    let mut slots: Vec<usize> = sim.live_slots().filter(|&s| !sim.is_malicious(s)).collect();
    slots.sort_unstable();
    slots
}

/// Live slots that publish nothing (not pinned), in slot order.
fn unpinned(sim: &Simulation) -> Vec<usize> {
    let mut slots: Vec<usize> = sim
        .live_slots()
        .filter(|&s| !sim.pinned.get(s).copied().unwrap_or(true))
        .collect();
    slots.sort_unstable();
    slots
}

/// The `Record::Mutable` inside `r`.
fn signed(r: SignedRecord) -> Record {
    Record::Mutable(r)
}

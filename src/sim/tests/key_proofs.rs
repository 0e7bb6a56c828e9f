//! Modelled key proofs ([`KeyProofs::Modelled`]) change what a proof costs,
//! not what any engine decides.

use super::*;

/// A 200-node network with `key_proofs`, 100 lookups, and what happened.
fn run(key_proofs: KeyProofs) -> (Vec<LookupRecord>, NetworkStats, NetworkBootstrapReport) {
    let mut cfg = SimConfig::new(200, 21);
    cfg.key_proofs = key_proofs;
    let mut sim = Simulation::new(cfg).expect("valid config");
    let summary = sim.run_lookups(100);
    assert_eq!(summary.lookups, 100);
    let mut boot = sim.bootstrap_report();
    boot.wall = Duration::ZERO;
    (sim.lookup_records().to_vec(), sim.network_stats(), boot)
}

#[test]
fn modelled_key_proofs_leave_every_protocol_decision_unchanged() {
    let (real_lookups, real_net, real_boot) = run(KeyProofs::Ed25519);
    let (model_lookups, model_net, model_boot) = run(KeyProofs::Modelled);
    // Same datagrams delivered, same timers, same tables, same lookups
    // (hops, messages, virtual latency, recall), record for record.
    assert_eq!(model_net, real_net);
    assert_eq!(model_boot, real_boot);
    assert_eq!(model_lookups, real_lookups);
    assert!(real_boot.mean_table_size > 50.0, "{real_boot:?}");
}

//! Adversarial simulations: a share of the nodes of a bootstrapped
//! network (400 nodes, and the shared 1,000-node network) turns
//! malicious (see [`Misbehaviour`]) and honest nodes get honest records,
//! with one lookup path and with four disjoint paths. The bounds asserted
//! are the measured figures with a margin (docs/SECURITY.md, "Adversarial
//! simulations").

use std::sync::OnceLock;

use super::*;

/// The shared 1,000-node network ([`base`], seed 10, built once per test
/// run) with 40 records published by honest
/// (pinned) nodes before anyone turns malicious.
fn published_1000() -> Simulation {
    static BASE: OnceLock<Simulation> = OnceLock::new();
    BASE.get_or_init(|| {
        let mut sim = base();
        let put = sim.publish_records(40);
        assert_eq!((put.records, put.abandoned), (40, 0));
        sim
    })
    .clone()
}

/// Get success of 200 gets by honest readers of honest records in `sim`
/// with `percent`% of its nodes malicious with `behaviour`, using `paths`
/// disjoint paths.
fn success_in(mut sim: Simulation, percent: usize, behaviour: Misbehaviour, paths: usize) -> f64 {
    let nodes = sim.live_nodes();
    let count = nodes * percent / 100;
    assert_eq!(sim.make_malicious(count, behaviour), count);
    sim.set_get_paths(Some(paths));
    let gets = sim.run_gets(200);
    assert_eq!(gets.lookups, 200, "{gets}");
    println!(
        "adversary {nodes} nodes {behaviour:?} {percent}% paths {paths}: get success {:.3}, \
         messages p50 {} p99 {}, timed out {}",
        gets.success_rate, gets.messages.p50, gets.messages.p99, gets.timed_out
    );
    gets.success_rate
}

/// [`success_in`] on the 400-node network.
fn get_success(percent: usize, behaviour: Misbehaviour, paths: usize) -> f64 {
    success_in(published(), percent, behaviour, paths)
}

#[test]
fn malicious_nodes_are_only_ever_chosen_among_unpinned_nodes() {
    let mut sim = published();
    assert_eq!(sim.make_malicious(80, Misbehaviour::Collude), 80);
    let malicious = (0..PUBLISHED_NODES)
        .filter(|&s| sim.is_malicious(s))
        .count();
    assert_eq!(malicious, 80);
    for slot in 0..PUBLISHED_NODES {
        if sim.pinned.get(slot).copied().unwrap_or(false) {
            assert!(!sim.is_malicious(slot), "publisher {slot} turned");
        }
    }
}

#[test]
fn colluding_nodes_leave_honest_gets_at_least_95_percent_successful() {
    // Measured: 1.000 in every row (200 gets each).
    for (percent, paths) in [(10, 1), (10, 4), (20, 1), (20, 4)] {
        let success = get_success(percent, Misbehaviour::Collude, paths);
        assert!(
            success >= 0.95,
            "Collude {percent}% paths {paths}: {success}"
        );
    }
}

#[test]
fn dropping_nodes_leave_honest_gets_at_least_95_percent_successful() {
    // Measured: 1.000 in every row (200 gets each).
    for (percent, paths) in [(10, 1), (10, 4), (20, 1), (20, 4)] {
        let success = get_success(percent, Misbehaviour::DropRequests, paths);
        assert!(
            success >= 0.95,
            "DropRequests {percent}% paths {paths}: {success}"
        );
    }
}

#[test]
fn forging_nodes_leave_honest_gets_at_least_95_percent_successful() {
    // Measured: 1.000 in every row (200 gets each).
    for (percent, paths) in [(10, 1), (10, 4), (20, 1), (20, 4)] {
        let success = get_success(percent, Misbehaviour::ForgeRecords, paths);
        assert!(
            success >= 0.95,
            "ForgeRecords {percent}% paths {paths}: {success}"
        );
    }
}

#[test]
fn a_third_colluding_costs_single_path_gets_more_than_four_disjoint_paths() {
    // Measured: 0.980 with one path, 1.000 with four.
    let one = get_success(33, Misbehaviour::Collude, 1);
    let four = get_success(33, Misbehaviour::Collude, 4);
    assert!(one >= 0.93, "one path: {one}");
    assert!(
        four >= 0.97 && four >= one,
        "four paths: {four}, one: {one}"
    );
}

#[test]
fn at_1000_nodes_a_fifth_colluding_leaves_gets_at_least_97_percent_successful() {
    // Measured: 1.000 with one path and with four (200 gets each); the
    // goal is 95 % with disjoint paths.
    for paths in [1, 4] {
        let success = success_in(published_1000(), 20, Misbehaviour::Collude, paths);
        assert!(success >= 0.97, "Collude 20% paths {paths}: {success}");
    }
}

#[test]
fn at_1000_nodes_a_fifth_dropping_leaves_gets_at_least_97_percent_successful() {
    // DropRequests: the costlier of the other two behaviours (requests
    // time out); ForgeRecords measured the same 1.000. Measured: 1.000
    // with one path and with four (200 gets each).
    for paths in [1, 4] {
        let success = success_in(published_1000(), 20, Misbehaviour::DropRequests, paths);
        assert!(success >= 0.97, "DropRequests 20% paths {paths}: {success}");
    }
}

/// Prints every row (10, 20, 33 % of each behaviour, 1, 2 and 4 paths)
/// of a get table on clones of `network`, and checks the goal of issue 8:
/// at least 95 % success at 20 % malicious with four disjoint paths.
fn get_table(network: impl Fn() -> Simulation) {
    for behaviour in [
        Misbehaviour::Collude,
        Misbehaviour::DropRequests,
        Misbehaviour::ForgeRecords,
    ] {
        for percent in [10, 20, 33] {
            for paths in [1, 2, 4] {
                let success = success_in(network(), percent, behaviour, paths);
                if percent <= 20 && paths == 4 {
                    assert!(success >= 0.95, "{behaviour:?} {percent}%: {success}");
                }
            }
        }
    }
}

/// The 1,000-node table in docs/SECURITY.md. About three minutes
/// unoptimised:
/// `cargo test --all-features --lib adversarial_get_table_at_1000_nodes -- --ignored --nocapture`.
#[test]
#[ignore = "measurement: prints the full 1,000-node table"]
fn adversarial_get_table_at_1000_nodes() {
    get_table(published_1000);
}

/// The 5,000-node table in docs/SECURITY.md (default engine config, seed
/// 50, 40 records). Run it optimised:
/// `cargo test --release --all-features --lib adversarial_get_table_at_5000_nodes -- --ignored --nocapture`.
#[test]
#[ignore = "measurement: bootstraps 5,000 nodes (minutes, run with --release)"]
fn adversarial_get_table_at_5000_nodes() {
    let mut base = Simulation::new(SimConfig::new(5_000, 50)).expect("valid config");
    let put = base.publish_records(40);
    assert_eq!((put.records, put.abandoned), (40, 0));
    get_table(|| base.clone());
}

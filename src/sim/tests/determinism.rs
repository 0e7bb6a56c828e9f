//! A run is a function of its config: the same seed gives the same event
//! log whatever the number of threads and however the link model switches
//! between lookahead windows and event-by-event runs.

use super::*;

#[test]
fn same_seed_gives_the_same_event_log_and_another_seed_does_not() {
    let run = |seed: u64| {
        let mut cfg = SimConfig::new(150, seed);
        cfg.threads = 1;
        cfg.link.loss = 0.05;
        cfg.link.duplicate = 0.05;
        cfg.node.republish_interval = Duration::from_secs(30);
        let mut sim = Simulation::new(cfg).expect("valid config");
        sim.publish_records(10);
        sim.set_churn(ChurnConfig::replacing(0.1, 150, Duration::from_secs(60)))
            .expect("valid churn");
        let lookups = sim.run_lookups(40);
        sim.run_for(Duration::from_secs(60));
        let gets = sim.run_gets(20);
        (sim.event_log_hash(), lookups, gets, sim.network_stats())
    };
    let (a, lookups_a, gets_a, stats_a) = run(21);
    let (b, lookups_b, gets_b, stats_b) = run(21);
    assert_eq!(a, b);
    assert_eq!(stats_a, stats_b);
    assert_eq!(lookups_a.hop_histogram, lookups_b.hop_histogram);
    assert_eq!(lookups_a.latency_ms, lookups_b.latency_ms);
    assert_eq!(gets_a.success_rate, gets_b.success_rate);
    assert!(stats_a.lost > 0 && stats_a.duplicated > 0);
    let (c, ..) = run(22);
    assert_ne!(a, c);
}

/// The lookahead windows (window.rs) spread the engines over threads; the
/// run must not depend on how many, with loss, duplication, churn (whose
/// commands end windows early) and records republished meanwhile.
#[test]
fn the_number_of_threads_changes_nothing() {
    let run = |threads: usize| {
        let mut cfg = SimConfig::new(200, 5);
        cfg.threads = threads;
        cfg.link.loss = 0.05;
        cfg.link.duplicate = 0.05;
        cfg.node.republish_interval = Duration::from_secs(30);
        let mut sim = Simulation::new(cfg).expect("valid config");
        sim.publish_records(10);
        sim.set_churn(ChurnConfig::replacing(0.1, 200, Duration::from_secs(60)))
            .expect("valid churn");
        let lookups = sim.run_lookups(60);
        let gets = sim.run_gets(20);
        assert!(lookups.success_rate > 0.5, "{lookups}");
        (
            sim.event_log_hash(),
            lookups.hop_histogram,
            gets.success_rate,
            sim.network_stats(),
        )
    };
    let one = run(1);
    assert!(one.3.delivered > 10_000, "{:?}", one.3);
    assert_eq!(run(2), one);
    assert_eq!(run(3), one);
}

/// Constant latency without jitter makes many events fall on the same
/// nanosecond; switching to event-by-event links afterwards makes the
/// queue's tie order visible. Neither may depend on the threads.
#[test]
fn ties_and_a_switch_to_event_by_event_links_do_not_depend_on_the_threads() {
    let run = |threads: usize| {
        let mut cfg = SimConfig::new(150, 11);
        cfg.threads = threads;
        cfg.link.latency = LatencyDistribution::Constant(Duration::from_millis(20));
        cfg.link.jitter = Duration::ZERO;
        let mut sim = Simulation::new(cfg).expect("valid config");
        let before = sim.run_lookups(30);
        let link = LinkConfig {
            latency: LatencyDistribution::LogNormal {
                median: Duration::from_millis(30),
                sigma: 0.5,
                max: Duration::from_millis(300),
            },
            ..sim.config().link
        };
        sim.set_link(link).expect("valid link");
        let after = sim.run_lookups(30);
        assert_eq!(before.success_rate, 1.0, "{before}");
        assert_eq!(after.success_rate, 1.0, "{after}");
        (sim.event_log_hash(), sim.network_stats(), after.latency_ms)
    };
    let one = run(1);
    assert_eq!(run(2), one);
    assert_eq!(run(4), one);
}

/// Without a least latency (log-normal links) there are no windows: events
/// run one at a time, and the run is still reproducible.
#[test]
fn links_without_a_least_latency_run_event_by_event_and_reproducibly() {
    let run = || {
        let mut cfg = SimConfig::new(120, 9);
        cfg.link.latency = LatencyDistribution::LogNormal {
            median: Duration::from_millis(40),
            sigma: 0.6,
            max: Duration::from_millis(400),
        };
        let mut sim = Simulation::new(cfg).expect("valid config");
        let lookups = sim.run_lookups(40);
        assert_eq!(lookups.success_rate, 1.0, "{lookups}");
        (sim.event_log_hash(), sim.network_stats())
    };
    assert_eq!(run(), run());
}

//! [`ClosestIter`](crate::lookup::ClosestIter) driven against synthetic
//! Kademlia networks (see `synth.rs`): exactness against brute force,
//! failures, slow peers, and the hop/message figures report.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::synth::{drive, random_lookup, Behaviour, Peers, SynthNet, Trace};
use crate::id::NodeId;
use crate::lookup::LookupParams;

const K: usize = 20;
const ALPHA: usize = 3;
/// Mean of `synth::LATENCY` (uniform over 10..30 ticks).
const MEAN_LATENCY: f64 = 19.5;
const PARAMS: LookupParams = LookupParams { k: K, alpha: ALPHA };

#[derive(Debug, Default)]
struct Figures {
    hops: Vec<u32>,
    messages: Vec<u32>,
    traces: Vec<Trace>,
    elapsed: Vec<u64>,
    /// Lookups whose result equals the brute-force k closest.
    exact: usize,
    /// Members of the brute-force k closest found, over all lookups.
    found: usize,
    wanted: usize,
}

impl Figures {
    fn summary(&self) -> String {
        let mut hops = self.hops.clone();
        hops.sort_unstable();
        let mut messages = self.messages.clone();
        messages.sort_unstable();
        let n = hops.len().max(1);
        let mut histogram = [0usize; 12];
        for &h in &hops {
            histogram[(h as usize).min(11)] += 1;
        }
        format!(
            "lookups {n}, exact {}/{n}, recall {:.4}, hops mean {:.2} median {} p90 {} max {} histogram {:?}, \
             messages mean {:.1} median {} p90 {} max {}, \
             duration mean {:.1} round trips",
            self.exact,
            self.found as f64 / self.wanted.max(1) as f64,
            hops.iter().sum::<u32>() as f64 / n as f64,
            hops[n / 2],
            hops[n * 9 / 10],
            hops[n - 1],
            &histogram[..=hops[n - 1].min(11) as usize],
            messages.iter().sum::<u32>() as f64 / n as f64,
            messages[n / 2],
            messages[n * 9 / 10],
            messages[n - 1],
            self.elapsed.iter().sum::<u64>() as f64 / n as f64 / MEAN_LATENCY,
        )
    }
}

/// The population of one series of lookups: `percent`% of the nodes
/// behave as `other`, and `stale_percent`% of the table entries pointing at
/// a non-answering node are still listed in answers.
#[derive(Debug, Clone, Copy)]
struct Population {
    percent: u32,
    other: Behaviour,
    stale_percent: u64,
}

const ALL_LIVE: Population = Population {
    percent: 0,
    other: Behaviour::Live,
    stale_percent: 100,
};

/// Runs `lookups` random lookups of `PARAMS` and checks each one:
/// - the result is exactly the k closest answering nodes among all the
///   iterator ever learned of (nothing learned was skipped or lost);
/// - at most alpha requests were in flight before the first fan-out;
/// - with `must_be_exact`, the result is the k closest answering nodes of
///   the whole network (brute force).
fn run_lookups(
    net: &SynthNet,
    lookups: usize,
    population: Population,
    must_be_exact: bool,
    seed: u64,
) -> Figures {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut figures = Figures::default();
    for round in 0..lookups {
        let (from, target) = random_lookup(net, &mut rng);
        let mut peers = Peers::mixed(
            net.len(),
            population.percent,
            population.other,
            from,
            seed ^ round as u64,
        );
        peers.stale_percent = population.stale_percent;
        let out = drive(net, from, target, PARAMS, &peers, rng.gen(), 100_000);
        let answers = |i: u32| i != from && peers.behaviour(i).answers();

        let mut reachable: Vec<NodeId> = out
            .learned
            .iter()
            .copied()
            .filter(|id| net.index_of(id).is_some_and(answers))
            .collect();
        reachable.sort_by_key(|id| target.distance(id));
        reachable.truncate(K);
        assert_eq!(
            out.closest, reachable,
            "lookup {round}: skipped a learned node"
        );
        assert!(out.max_active_before_fan_out <= ALPHA);

        let expected = net.brute_force(&target, K, answers);
        if must_be_exact {
            assert_eq!(out.closest, expected, "lookup {round} of {target}");
        }
        figures.exact += usize::from(out.closest == expected);
        figures.found += expected
            .iter()
            .filter(|id| out.closest.contains(id))
            .count();
        figures.wanted += expected.len();
        figures.hops.push(out.hops);
        figures.messages.push(out.messages);
        figures.traces.push(out.trace);
        figures.elapsed.push(out.elapsed);
    }
    figures
}

#[test]
fn finds_the_exact_k_closest_among_2000_nodes() {
    let net = SynthNet::new(2_000, K, 1);
    let figures = run_lookups(&net, 40, ALL_LIVE, true, 11);
    assert!(
        figures.hops.iter().all(|&h| (1..=5).contains(&h)),
        "{}",
        figures.summary()
    );
    assert!(
        figures.messages.iter().all(|&m| m <= 80),
        "{}",
        figures.summary()
    );
}

#[test]
fn finds_the_k_closest_live_nodes_with_30_percent_dead() {
    // 30% of the nodes are dead; a third of the entries pointing at them
    // have not been evicted yet, so lookups meet dead seeds and dead
    // contacts in answers, time out on them and go on.
    let net = SynthNet::new(2_000, K, 2);
    let population = Population {
        percent: 30,
        other: Behaviour::Dead,
        stale_percent: 30,
    };
    let figures = run_lookups(&net, 40, population, true, 12);
    assert!(
        figures.hops.iter().all(|&h| h <= 6),
        "{}",
        figures.summary()
    );
    assert!(
        figures.messages.iter().all(|&m| m <= 120),
        "{}",
        figures.summary()
    );
}

#[test]
fn never_evicted_dead_nodes_cost_results_but_nothing_learned_is_lost() {
    // Every entry to a dead node is still listed: answers (k contacts) are
    // crowded with dead ones, so a live node may never be mentioned by
    // anyone. The iterator must still return the k closest answering nodes
    // it heard of, and most of the true k closest.
    let net = SynthNet::new(2_000, K, 2);
    let population = Population {
        percent: 30,
        other: Behaviour::Dead,
        stale_percent: 100,
    };
    let figures = run_lookups(&net, 40, population, false, 12);
    assert!(
        figures.found * 10 >= figures.wanted * 9,
        "{}",
        figures.summary()
    );
}

#[test]
fn finds_the_k_closest_with_30_percent_refusing() {
    // Refusals fail at once, without ever being overdue.
    let net = SynthNet::new(1_000, K, 3);
    let population = Population {
        percent: 30,
        other: Behaviour::Refuses,
        stale_percent: 30,
    };
    run_lookups(&net, 20, population, true, 13);
}

#[test]
fn slow_peers_late_answers_are_used() {
    // Slow peers answer only after being overdue; their answers count and
    // the contacts they carry are followed.
    let net = SynthNet::new(1_000, K, 4);
    let mut rng = StdRng::seed_from_u64(14);
    let mut late_answers = 0;
    for round in 0..20 {
        let (from, target) = random_lookup(&net, &mut rng);
        let peers = Peers::mixed(net.len(), 50, Behaviour::Slow, from, round);
        let out = drive(&net, from, target, PARAMS, &peers, round, 100_000);
        // Overdue peers count as failed for termination, so the result is
        // the k closest among the live nodes and the slow ones that
        // answered before the end.
        let answered = |i: u32| out.answered.contains(&net.ids[i as usize]);
        let expected = net.brute_force(&target, K, |i| {
            i != from && (peers.behaviour(i) == Behaviour::Live || answered(i))
        });
        assert_eq!(out.closest, expected);
        late_answers += (0..net.len() as u32)
            .filter(|&i| peers.behaviour(i) == Behaviour::Slow && answered(i))
            .count();
    }
    assert!(late_answers > 0);
}

#[test]
fn when_every_peer_is_slow_late_answers_carry_the_lookup() {
    // Nobody answers before the soft deadline: every slot is freed by an
    // overdue notice and only late answers bring new contacts.
    let net = SynthNet::new(500, K, 5);
    let mut rng = StdRng::seed_from_u64(15);
    let (from, target) = random_lookup(&net, &mut rng);
    let peers = Peers::mixed(net.len(), 100, Behaviour::Slow, u32::MAX, 5);
    let out = drive(&net, from, target, PARAMS, &peers, 5, 100_000);
    assert_eq!(out.closest.len(), K);
    // Contacts learned from late answers were queried in turn.
    assert!(out.hops >= 2, "hops {}", out.hops);
    let mut answered: Vec<NodeId> = out.answered.iter().copied().collect();
    answered.sort_by_key(|id| target.distance(id));
    answered.truncate(K);
    assert_eq!(out.closest, answered);
}

/// Prints the figures quoted in the report. Run with
/// `cargo test --release --lib lookup::tests::synthetic_networks::report_figures -- --ignored --nocapture`.
#[test]
#[ignore = "prints figures; slow in debug builds"]
fn report_figures() {
    let populations = [
        ("all live", ALL_LIVE),
        (
            "30% dead, 30% of their entries stale",
            Population {
                percent: 30,
                other: Behaviour::Dead,
                stale_percent: 30,
            },
        ),
        (
            "30% dead, never evicted",
            Population {
                percent: 30,
                other: Behaviour::Dead,
                stale_percent: 100,
            },
        ),
    ];
    for (n, lookups) in [(2_000, 500), (10_000, 500)] {
        let started = std::time::Instant::now();
        let net = SynthNet::new(n, K, n as u64);
        println!("{n} nodes: network built in {:?}", started.elapsed());
        for (label, population) in populations {
            let figures = run_lookups(&net, lookups, population, false, 7);
            // The iterator's own cost: replay the recorded calls, 20 times.
            let started = std::time::Instant::now();
            let mut sink = 0u64;
            for _ in 0..20 {
                for trace in &figures.traces {
                    sink += u64::from(trace.replay());
                }
            }
            let per_lookup = started.elapsed() / (20 * lookups as u32);
            println!(
                "{n} nodes, {label}: {} (iterator alone: {per_lookup:?} per lookup, sink {sink})",
                figures.summary(),
            );
        }
    }
}

//! Hand-built scenarios for [`ClosestIter`]: the target is the zero id, so
//! the contact `c(n)` is at distance `n` and the order of every candidate
//! is obvious.

use std::net::{Ipv4Addr, SocketAddr};

use super::{ClosestIter, LookupParams, LookupStep, CANDIDATE_FACTOR};
use crate::id::{NodeId, ID_LEN};
use crate::wire::Contact;

fn id(n: u32) -> NodeId {
    let mut bytes = [0u8; ID_LEN];
    bytes[ID_LEN - 4..].copy_from_slice(&n.to_be_bytes());
    NodeId::from_bytes(bytes)
}

fn c(n: u32) -> Contact {
    Contact {
        id: id(n),
        addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 1000 + (n % 60_000) as u16)),
    }
}

/// The local node: far from the target, never in any answer by accident.
fn local() -> NodeId {
    id(u32::MAX)
}

fn iter(seeds: &[u32], k: usize, alpha: usize) -> ClosestIter {
    ClosestIter::new(
        NodeId::ZERO,
        local(),
        seeds.iter().map(|&n| c(n)),
        LookupParams { k, alpha },
    )
}

fn query(n: u32) -> LookupStep {
    LookupStep::Query(c(n))
}

fn ids(contacts: &[Contact]) -> Vec<NodeId> {
    contacts.iter().map(|c| c.id).collect()
}

#[test]
fn seeds_are_queried_closest_first_alpha_at_a_time() {
    let mut it = iter(&[40, 20, 60, 10, 50, 30], 4, 2);
    assert_eq!(it.next(), query(10));
    assert_eq!(it.next(), query(20));
    assert_eq!(it.next(), LookupStep::Waiting);
    assert_eq!(it.next(), LookupStep::Waiting);
    assert_eq!(it.messages(), 2);
    assert_eq!(it.in_flight(), vec![id(10), id(20)]);
    assert!(!it.is_fanning_out());
}

#[test]
fn non_improving_answer_fans_out_to_all_of_the_k_closest() {
    let mut it = iter(&[40, 20, 60, 10, 50, 30], 4, 2);
    assert_eq!(it.next(), query(10));
    assert_eq!(it.next(), query(20));
    // 70 is farther than 10, the closest seen: no progress.
    assert!(it.on_success(&id(10), &[c(70)]));
    assert!(it.is_fanning_out());
    // Both remaining members of the 4 closest at once, though 20 is still
    // in flight (3 in flight > alpha = 2); 50 and 60 are not in the 4.
    assert_eq!(it.next(), query(30));
    assert_eq!(it.next(), query(40));
    assert_eq!(it.next(), LookupStep::Waiting);
    assert!(it.on_success(&id(20), &[]));
    assert!(it.on_success(&id(30), &[]));
    assert!(!it.is_finished());
    assert!(it.on_success(&id(40), &[c(50)]));
    assert!(it.is_finished());
    assert_eq!(it.next(), LookupStep::Finished);
    assert_eq!(
        ids(&it.closest_succeeded()),
        vec![id(10), id(20), id(30), id(40)]
    );
    assert_eq!(it.messages(), 4);
    assert_eq!(it.hops(), 1);
}

#[test]
fn improving_answer_keeps_alpha_at_a_time() {
    let mut it = iter(&[10, 20, 30, 40], 4, 1);
    assert_eq!(it.next(), query(10));
    assert_eq!(it.next(), LookupStep::Waiting);
    assert!(it.on_success(&id(10), &[c(5), c(7)]));
    assert!(!it.is_fanning_out());
    assert_eq!(it.next(), query(5));
    assert_eq!(it.next(), LookupStep::Waiting);
    assert!(it.on_success(&id(5), &[c(3)]));
    assert_eq!(it.next(), query(3));
    assert_eq!(it.next(), LookupStep::Waiting);
    assert!(it.on_success(&id(3), &[c(5)]));
    assert!(it.is_fanning_out());
    // The 4 closest live are 3, 5, 7, 10: only 7 is left to ask.
    assert_eq!(it.next(), query(7));
    assert_eq!(it.next(), LookupStep::Waiting);
    assert!(it.on_success(&id(7), &[]));
    assert!(it.is_finished());
    assert_eq!(
        ids(&it.closest_succeeded()),
        vec![id(3), id(5), id(7), id(10)]
    );
    // 7 (learned from 10 at depth 1) completed the lookup at depth 2 even
    // though 3 answered at depth 3.
    assert_eq!(it.hops(), 2);
    assert_eq!(it.deepest_answer(), 3);
    assert_eq!(it.messages(), 4);
}

#[test]
fn fan_out_after_improvement_returns_to_alpha() {
    let mut it = iter(&[10, 20, 30, 40, 50], 4, 1);
    assert_eq!(it.next(), query(10));
    assert!(it.on_success(&id(10), &[]));
    assert!(it.is_fanning_out());
    assert_eq!(it.next(), query(20));
    assert_eq!(it.next(), query(30));
    assert_eq!(it.next(), query(40));
    assert_eq!(it.next(), LookupStep::Waiting);
    // 20 brings two closer contacts: back to one in flight at a time, and
    // two (30, 40) are still in flight, so nothing is sent.
    assert!(it.on_success(&id(20), &[c(1), c(2)]));
    assert!(!it.is_fanning_out());
    assert_eq!(it.next(), LookupStep::Waiting);
    // 30 brings nothing closer than 1: fan out to 1 and 2 together.
    assert!(it.on_success(&id(30), &[]));
    assert_eq!(it.next(), query(1));
    assert_eq!(it.next(), query(2));
    assert_eq!(it.next(), LookupStep::Waiting);
    assert!(it.on_success(&id(1), &[]));
    assert!(it.on_success(&id(2), &[]));
    // 1, 2, 10, 20 answered; 40 is still in flight but not among the 4.
    assert!(it.is_finished());
    assert_eq!(it.in_flight(), vec![id(40)]);
    assert_eq!(it.hops(), 2);
    assert_eq!(it.messages(), 6);
}

#[test]
fn overdue_frees_its_slot_and_a_late_answer_is_used() {
    let mut it = iter(&[10, 20, 30], 3, 1);
    assert_eq!(it.next(), query(10));
    assert_eq!(it.next(), LookupStep::Waiting);
    it.on_overdue(&id(10));
    // 10 is still outstanding, yet the slot is free.
    assert_eq!(it.next(), query(20));
    assert_eq!(it.next(), LookupStep::Waiting);
    assert_eq!(it.in_flight(), vec![id(10), id(20)]);
    // The late answer is accepted and its contact used.
    assert!(it.on_success(&id(10), &[c(2)]));
    assert_eq!(it.depth_of(&id(2)), Some(2));
    assert_eq!(it.in_flight(), vec![id(20)]);
    assert_eq!(it.next(), LookupStep::Waiting);
    assert!(it.on_success(&id(20), &[]));
    assert_eq!(it.next(), query(2));
    assert!(it.on_success(&id(2), &[]));
    assert!(it.is_finished());
    assert_eq!(ids(&it.closest_succeeded()), vec![id(2), id(10), id(20)]);
    assert_eq!(it.messages(), 3);
    assert_eq!(it.hops(), 2);
}

#[test]
fn overdue_peer_counts_as_failed_for_termination() {
    let mut it = iter(&[10, 20, 30], 2, 2);
    assert_eq!(it.next(), query(10));
    assert_eq!(it.next(), query(20));
    it.on_overdue(&id(10));
    assert_eq!(it.next(), query(30));
    assert!(it.on_success(&id(20), &[]));
    assert!(it.on_success(&id(30), &[]));
    assert!(it.is_finished());
    assert_eq!(ids(&it.closest_succeeded()), vec![id(20), id(30)]);
    // 10 is still pending for the engine to drop; its answer now is ignored.
    assert_eq!(it.in_flight(), vec![id(10)]);
    assert!(!it.on_success(&id(10), &[c(1)]));
    assert_eq!(ids(&it.closest_succeeded()), vec![id(20), id(30)]);
}

#[test]
fn failure_frees_its_slot_and_is_never_returned() {
    let mut it = iter(&[10, 20, 30], 2, 1);
    assert_eq!(it.next(), query(10));
    it.on_failure(&id(10));
    assert!(it.in_flight().is_empty());
    assert_eq!(it.next(), query(20));
    assert!(it.on_success(&id(20), &[c(10)]));
    // 10 failed: it is known, so it is not asked again.
    assert_eq!(it.next(), query(30));
    assert_eq!(it.next(), LookupStep::Waiting);
    assert!(!it.on_success(&id(10), &[]));
    assert!(it.on_success(&id(30), &[]));
    assert!(it.is_finished());
    assert_eq!(ids(&it.closest_succeeded()), vec![id(20), id(30)]);
    assert_eq!(it.messages(), 3);
}

#[test]
fn overdue_then_failure_ends_the_request() {
    let mut it = iter(&[10, 20], 2, 1);
    assert_eq!(it.next(), query(10));
    it.on_overdue(&id(10));
    assert_eq!(it.next(), query(20));
    it.on_failure(&id(10));
    assert_eq!(it.in_flight(), vec![id(20)]);
    assert!(!it.on_success(&id(10), &[]));
    assert!(it.on_success(&id(20), &[]));
    assert!(it.is_finished());
    assert_eq!(ids(&it.closest_succeeded()), vec![id(20)]);
}

#[test]
fn unsolicited_duplicate_and_failed_answers_are_ignored() {
    let mut it = iter(&[10, 20, 30], 3, 1);
    assert_eq!(it.next(), query(10));
    // Never queried: a stranger, and a known seed not asked yet.
    assert!(!it.on_success(&id(99), &[c(1)]));
    assert!(!it.on_success(&id(20), &[c(1)]));
    assert_eq!(it.depth_of(&id(1)), None);
    assert!(it.on_success(&id(10), &[]));
    // A duplicated datagram.
    assert!(!it.on_success(&id(10), &[c(1)]));
    assert_eq!(it.depth_of(&id(1)), None);
    // Overdue and failure notices for peers not in flight change nothing.
    it.on_overdue(&id(30));
    it.on_failure(&id(10));
    assert_eq!(ids(&it.closest_succeeded()), vec![id(10)]);
    assert_eq!(it.next(), query(20));
}

#[test]
fn local_id_and_duplicate_seeds_are_ignored() {
    let seeds = [
        c(20),
        c(10),
        c(20),
        Contact {
            id: local(),
            addr: c(1).addr,
        },
        c(10),
    ];
    let mut it = ClosestIter::new(
        NodeId::ZERO,
        local(),
        seeds,
        LookupParams { k: 5, alpha: 5 },
    );
    assert_eq!(it.num_candidates(), 2);
    assert_eq!(it.next(), query(10));
    assert_eq!(it.next(), query(20));
    assert_eq!(it.next(), LookupStep::Waiting);
    let me = Contact {
        id: local(),
        addr: c(2).addr,
    };
    assert!(it.on_success(&id(10), &[me, c(20), c(10)]));
    assert!(it.on_success(&id(20), &[me]));
    assert!(it.is_finished());
    assert_eq!(ids(&it.closest_succeeded()), vec![id(10), id(20)]);
    assert_eq!(it.messages(), 2);
    assert_eq!(it.depth_of(&local()), None);
}

#[test]
fn lookup_without_seeds_finishes_at_once() {
    let mut it = ClosestIter::new(NodeId::ZERO, local(), [], LookupParams::default());
    assert!(it.is_finished());
    assert_eq!(it.next(), LookupStep::Finished);
    assert!(it.closest_succeeded().is_empty());
    assert_eq!((it.hops(), it.messages()), (0, 0));
    // Only the local id as seed is no seed.
    let mut it = ClosestIter::new(
        NodeId::ZERO,
        local(),
        [Contact {
            id: local(),
            addr: c(1).addr,
        }],
        LookupParams::default(),
    );
    assert_eq!(it.next(), LookupStep::Finished);
}

#[test]
fn depth_and_hops_are_exact_on_a_three_level_chain() {
    // A (seed, depth 1) knows B, B knows C, C knows nobody closer.
    let (a, b, cc) = (100, 50, 20);
    let mut it = iter(&[a], 3, 1);
    assert_eq!(it.next(), query(a));
    assert_eq!(it.depth_of(&id(a)), Some(1));
    assert!(it.on_success(&id(a), &[c(b)]));
    assert_eq!(it.hops(), 1);
    assert_eq!(it.next(), query(b));
    assert_eq!(it.depth_of(&id(b)), Some(2));
    assert!(it.on_success(&id(b), &[c(cc), c(a)]));
    assert_eq!(it.next(), query(cc));
    assert_eq!(it.depth_of(&id(cc)), Some(3));
    assert!(!it.is_finished());
    assert!(it.on_success(&id(cc), &[c(b)]));
    assert!(it.is_finished());
    assert_eq!(it.hops(), 3);
    assert_eq!(it.messages(), 3);
    assert_eq!(it.deepest_answer(), 3);
    assert_eq!(ids(&it.closest_succeeded()), vec![id(cc), id(b), id(a)]);
    // The depths do not change once queried, even when re-learned deeper.
    assert_eq!(
        [a, b, cc].map(|n| it.depth_of(&id(n))),
        [Some(1), Some(2), Some(3)]
    );
}

#[test]
fn a_contact_learned_twice_keeps_the_smaller_depth() {
    let mut it = iter(&[100], 4, 1);
    assert_eq!(it.next(), query(100));
    assert!(it.on_success(&id(100), &[c(50), c(60)]));
    assert_eq!(it.depth_of(&id(60)), Some(2));
    assert_eq!(it.next(), query(50));
    assert!(it.on_success(&id(50), &[c(20), c(60)]));
    assert_eq!(it.depth_of(&id(60)), Some(2));
    assert_eq!(it.next(), query(20));
    assert!(it.on_success(&id(20), &[]));
    assert_eq!(it.next(), query(60));
    assert!(it.on_success(&id(60), &[]));
    assert!(it.is_finished());
    assert_eq!(it.hops(), 2);
    assert_eq!(it.deepest_answer(), 3);
}

#[test]
fn finish_reports_the_deepest_answer_so_far() {
    let mut it = iter(&[100], 3, 1);
    assert_eq!(it.next(), query(100));
    assert!(it.on_success(&id(100), &[c(50)]));
    assert_eq!(it.next(), query(50));
    assert!(it.on_success(&id(50), &[c(20)]));
    assert_eq!(it.next(), query(20));
    it.finish();
    assert!(it.is_finished());
    assert_eq!(it.next(), LookupStep::Finished);
    assert_eq!(it.hops(), 2);
    assert_eq!(it.in_flight(), vec![id(20)]);
    assert!(!it.on_success(&id(20), &[]));
    assert_eq!(ids(&it.closest_succeeded()), vec![id(50), id(100)]);
}

#[test]
fn completion_by_a_failure_reports_the_deepest_answer() {
    let mut it = iter(&[10, 20], 2, 2);
    assert_eq!(it.next(), query(10));
    assert_eq!(it.next(), query(20));
    assert!(it.on_success(&id(20), &[c(5)]));
    assert_eq!(it.next(), query(5));
    assert!(it.on_success(&id(5), &[]));
    assert!(!it.is_finished());
    it.on_failure(&id(10));
    assert!(it.is_finished());
    assert_eq!(ids(&it.closest_succeeded()), vec![id(5), id(20)]);
    assert_eq!(it.hops(), 2);
}

#[test]
fn zero_k_and_alpha_count_as_one() {
    let mut it = iter(&[10, 20], 0, 0);
    assert_eq!(it.params(), LookupParams { k: 1, alpha: 1 });
    assert_eq!(it.next(), query(10));
    assert_eq!(it.next(), LookupStep::Waiting);
    assert!(it.on_success(&id(10), &[]));
    assert!(it.is_finished());
    assert_eq!(ids(&it.closest_succeeded()), vec![id(10)]);
}

#[test]
fn a_flood_of_contacts_keeps_memory_bounded_and_the_closest() {
    let k = 4;
    let mut it = iter(&[1_000_000], k, 1);
    assert_eq!(it.next(), query(1_000_000));
    // 10,000 contacts, farthest first, so pruning happens mid-answer.
    let flood: Vec<Contact> = (1..=10_000).rev().map(|n| c(n * 10)).collect();
    assert!(it.on_success(&id(1_000_000), &flood));
    assert_eq!(it.num_candidates(), 1 + CANDIDATE_FACTOR * k);
    assert_eq!(it.next(), query(10));
    assert_eq!(
        it.depth_of(&id(10 * (CANDIDATE_FACTOR * k) as u32)),
        Some(2)
    );
    assert_eq!(
        it.depth_of(&id(10 * (CANDIDATE_FACTOR * k + 1) as u32)),
        None
    );
}

#[test]
fn params_follow_the_config() {
    let config = crate::Config {
        k: 8,
        alpha: 2,
        ..crate::Config::default()
    };
    assert_eq!(
        LookupParams::from_config(&config),
        LookupParams { k: 8, alpha: 2 }
    );
    let defaults = crate::Config::default();
    assert_eq!(
        LookupParams::default(),
        LookupParams {
            k: defaults.k,
            alpha: defaults.alpha
        }
    );
}

#[test]
fn retry_frees_its_slot_but_the_lookup_waits_for_the_peer() {
    let mut it = iter(&[10, 20, 30], 2, 1);
    assert_eq!(it.next(), query(10));
    assert_eq!(it.next(), LookupStep::Waiting);
    assert!(it.on_retry(&id(10)));
    // The slot is free, but 10 is still one of the k closest live peers.
    assert_eq!(it.next(), query(20));
    assert!(it.on_success(&id(20), &[]));
    assert!(!it.is_finished());
    assert_eq!(it.next(), LookupStep::Waiting);
    assert_eq!(it.in_flight(), vec![id(10)]);
    // The retried peer answers: at its own depth, and the lookup is done.
    assert!(it.on_success(&id(10), &[]));
    assert!(it.is_finished());
    assert_eq!(ids(&it.closest_succeeded()), vec![id(10), id(20)]);
    assert_eq!(it.hops(), 1);
    assert_eq!((it.messages(), it.retries()), (3, 1));
}

#[test]
fn retried_peer_that_stays_silent_ends_as_overdue_then_failed() {
    let mut it = iter(&[10, 20, 30], 2, 1);
    assert_eq!(it.next(), query(10));
    assert!(it.on_retry(&id(10)));
    assert_eq!(it.next(), query(20));
    // A second retry keeps it waiting and counts another message.
    assert!(it.on_retry(&id(10)));
    assert!(it.on_success(&id(20), &[]));
    assert_eq!(it.next(), LookupStep::Waiting);
    // No retry left: overdue, so the lookup moves past it.
    it.on_overdue(&id(10));
    assert!(!it.on_retry(&id(10)));
    assert_eq!(it.next(), query(30));
    assert!(it.on_success(&id(30), &[]));
    assert!(it.is_finished());
    assert_eq!(ids(&it.closest_succeeded()), vec![id(20), id(30)]);
    assert_eq!(it.in_flight(), vec![id(10)]);
    it.on_failure(&id(10));
    assert!(it.in_flight().is_empty());
    assert_eq!((it.messages(), it.retries()), (5, 2));
}

#[test]
fn retry_is_refused_unless_the_peer_is_awaited() {
    let mut it = iter(&[10, 20, 30], 3, 1);
    // Never queried, and a stranger.
    assert!(!it.on_retry(&id(10)));
    assert!(!it.on_retry(&id(99)));
    assert_eq!(it.next(), query(10));
    assert!(it.on_success(&id(10), &[]));
    // Answered already.
    assert!(!it.on_retry(&id(10)));
    assert_eq!(it.next(), query(20));
    it.on_failure(&id(20));
    assert!(!it.on_retry(&id(20)));
    assert_eq!(it.next(), query(30));
    it.finish();
    assert!(!it.on_retry(&id(30)));
    assert_eq!((it.messages(), it.retries()), (3, 0));
}

#[test]
fn failure_of_a_retried_peer_frees_nothing_twice() {
    let mut it = iter(&[10, 20, 30, 40], 4, 2);
    assert_eq!(it.next(), query(10));
    assert_eq!(it.next(), query(20));
    assert!(it.on_retry(&id(10)));
    assert_eq!(it.next(), query(30));
    assert_eq!(it.next(), LookupStep::Waiting);
    // 10's slot was freed by the retry: its failure must not free another.
    it.on_failure(&id(10));
    assert_eq!(it.next(), LookupStep::Waiting);
    assert_eq!(it.in_flight(), vec![id(20), id(30)]);
}

#[test]
fn only_the_k_closest_live_candidates_are_among_closest() {
    let mut it = iter(&[10, 20, 30, 40], 2, 1);
    let among = |it: &ClosestIter| {
        [10, 20, 30, 40, 99]
            .into_iter()
            .filter(|&n| it.is_among_closest(&id(n)))
            .collect::<Vec<_>>()
    };
    assert_eq!(among(&it), vec![10, 20]);
    assert_eq!(it.next(), query(10));
    // A retried peer stays live, so it is still one of the k closest.
    assert!(it.on_retry(&id(10)));
    assert_eq!(among(&it), vec![10, 20]);
    // An overdue peer no longer counts: the next candidate moves up.
    it.on_overdue(&id(10));
    assert_eq!(among(&it), vec![20, 30]);
    assert_eq!(it.next(), query(20));
    // A closer contact learned from an answer pushes 30 out.
    assert!(it.on_success(&id(20), &[c(5)]));
    assert_eq!(among(&it), vec![20]);
    assert!(it.is_among_closest(&id(5)));
    it.finish();
    assert_eq!(among(&it), Vec::<u32>::new());
    assert!(!it.is_among_closest(&id(5)));
}

/// Pumps `it` until it waits or finishes; returns the contacts queried.
fn pump(it: &mut ClosestIter) -> Vec<u32> {
    let mut queried = Vec::new();
    loop {
        match it.next() {
            LookupStep::Query(contact) => {
                let n = (1..=60u32)
                    .find(|&n| id(n) == contact.id)
                    .expect("only c(1..=60) exist");
                queried.push(n);
            }
            LookupStep::Waiting => {
                assert!(!it.in_flight().is_empty(), "waiting with nothing out");
                return queried;
            }
            LookupStep::Finished => return queried,
        }
    }
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config { cases: 128, ..Default::default() })]

    /// Any interleaving of answers, retries, overdue notices and failures
    /// keeps the counts exact, queries each peer once, and ends.
    #[test]
    fn retries_keep_the_iterators_invariants(
        ops in proptest::collection::vec((0u8..4, 0usize..64, 1u32..=60, 1u32..=60), 1..150)
    ) {
        let mut it = iter(&[30, 40, 50, 60], 5, 2);
        let mut queried = std::collections::HashSet::new();
        let mut outstanding: Vec<u32> = Vec::new();
        let mut retries = 0u32;
        for (kind, pick, a, b) in ops {
            for n in pump(&mut it) {
                proptest::prop_assert!(queried.insert(n), "c({}) queried twice", n);
                outstanding.push(n);
            }
            if outstanding.is_empty() {
                continue;
            }
            let slot = pick % outstanding.len();
            let n = outstanding[slot];
            match kind {
                0 => {
                    if it.on_success(&id(n), &[c(a), c(b)]) {
                        outstanding.swap_remove(slot);
                    }
                }
                1 => {
                    if it.on_retry(&id(n)) {
                        retries += 1;
                    }
                }
                2 => it.on_overdue(&id(n)),
                _ => {
                    it.on_failure(&id(n));
                    outstanding.swap_remove(slot);
                }
            }
            proptest::prop_assert_eq!(it.retries(), retries);
            proptest::prop_assert_eq!(it.messages(), queried.len() as u32 + retries);
            for peer in it.in_flight() {
                proptest::prop_assert!(outstanding.iter().any(|&n| id(n) == peer));
            }
        }
        // Fail whatever is still out: the lookup must end.
        for _ in 0..100 {
            for n in pump(&mut it) {
                proptest::prop_assert!(queried.insert(n), "c({}) queried twice", n);
            }
            if it.is_finished() {
                break;
            }
            for peer in it.in_flight() {
                it.on_failure(&peer);
            }
        }
        proptest::prop_assert!(it.is_finished());
        let closest = it.closest_succeeded();
        proptest::prop_assert!(closest.len() <= 5);
        proptest::prop_assert!(closest.windows(2).all(|w| w[0].id.distance(&NodeId::ZERO) < w[1].id.distance(&NodeId::ZERO)));
    }
}

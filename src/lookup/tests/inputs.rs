//! Inputs the iterator must shrug off or bound: answers nobody asked for,
//! the local id and duplicates among seeds, no seeds, zero parameters, a
//! flood of contacts; and the parameters taken from the config.

use super::{c, id, ids, iter, local, query};
use crate::id::NodeId;
use crate::lookup::{ClosestIter, LookupParams, LookupStep, CANDIDATE_FACTOR};
use crate::wire::Contact;

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

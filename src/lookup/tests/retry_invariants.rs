//! Property: any interleaving of answers, retries, overdue notices and
//! failures keeps the counts exact, queries each peer once, and ends.

use super::{c, id, iter};
use crate::id::NodeId;
use crate::lookup::{ClosestIter, LookupStep};

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

//! The depth of every contact, the hops of a finished lookup and the
//! deepest answer, however the lookup ends.

use super::{c, id, ids, iter, query};
use crate::lookup::LookupStep;

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

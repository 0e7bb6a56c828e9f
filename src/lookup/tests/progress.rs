//! Alpha requests at a time while answers bring closer contacts, the
//! fan-out to all of the k closest when they stop, and which candidates
//! count among the k closest.

use super::{c, id, ids, iter, query};
use crate::lookup::{ClosestIter, LookupStep};

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

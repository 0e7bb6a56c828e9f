//! Requests that time out: overdue notices free a slot, failures end a
//! request, retransmissions free a slot while the lookup still waits for
//! the peer.

use super::{c, id, ids, iter, query};
use crate::lookup::LookupStep;

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

//! [`DisjointIter`]: lookups over several disjoint paths on synthetic
//! networks. No peer is queried by two paths, the union finds the k
//! closest, retries stay on the peer's own path, and one path behaves
//! exactly like a single [`ClosestIter`].

use std::collections::HashSet;

use super::synth::SynthNet;
use crate::id::NodeId;
use crate::lookup::{ClosestIter, DisjointIter, LookupParams, LookupStep};

/// Runs a lookup to the end against `net`, every peer answering at once.
fn run(net: &SynthNet, iter: &mut DisjointIter, target: &NodeId) -> HashSet<NodeId> {
    let mut queried = HashSet::new();
    for _ in 0..100_000 {
        match iter.next() {
            LookupStep::Query(c) => {
                assert!(queried.insert(c.id), "peer {} queried twice", c.id);
                let index = net.index_of(&c.id).expect("known peer");
                let closer = net.answer(index, target, |_| true);
                iter.on_success(&c.id, &closer);
            }
            LookupStep::Waiting => panic!("waiting with nothing in flight"),
            LookupStep::Finished => return queried,
        }
    }
    panic!("lookup did not end");
}

#[test]
fn paths_never_share_a_peer_and_find_the_k_closest() {
    let net = SynthNet::new(1500, 20, 5);
    let params = LookupParams { k: 20, alpha: 3 };
    for round in 0..20u32 {
        let target = NodeId::sha1(&round.to_be_bytes());
        let local = net.ids[round as usize];
        let seeds = net.answer(round, &target, |_| true);
        let mut iter = DisjointIter::new(target, local, seeds, params, 4);
        assert_eq!(iter.paths(), 4);
        let queried = run(&net, &mut iter, &target);
        assert_eq!(iter.messages() as usize, queried.len());
        let expected = net.brute_force(&target, 20, |i| i != round);
        let found: Vec<NodeId> = iter.closest_succeeded().iter().map(|c| c.id).collect();
        assert_eq!(found, expected);
        // Each queried peer belongs to exactly one path.
        assert!(queried.iter().all(|id| iter.path_of(id).is_some()));
    }
}

#[test]
fn a_retry_is_sent_on_the_peers_own_path_and_counted() {
    let net = SynthNet::new(200, 20, 3);
    let params = LookupParams { k: 20, alpha: 3 };
    let target = NodeId::sha1(b"retry");
    let seeds = net.answer(0, &target, |_| true);
    let mut iter = DisjointIter::new(target, net.ids[0], seeds, params, 2);
    let LookupStep::Query(first) = iter.next() else {
        panic!("no request");
    };
    let path = iter.path_of(&first.id);
    assert!(iter.on_retry(&first.id));
    assert_eq!(iter.path_of(&first.id), path);
    assert_eq!(iter.messages(), 2);
    // A peer nobody queried is not retried, and costs nothing.
    assert!(!iter.on_retry(&NodeId::sha1(b"stranger")));
    assert_eq!(iter.messages(), 2);
}

#[test]
fn is_among_closest_follows_the_peers_own_path() {
    let net = SynthNet::new(200, 20, 3);
    let params = LookupParams { k: 20, alpha: 3 };
    let target = NodeId::sha1(b"closest");
    let seeds = net.answer(0, &target, |_| true);
    let mut iter = DisjointIter::new(target, net.ids[0], seeds, params, 2);
    let LookupStep::Query(first) = iter.next() else {
        panic!("no request");
    };
    // Each path holds at most k seeds: a queried seed is live and
    // among its path's k closest until it is overdue.
    assert!(iter.is_among_closest(&first.id));
    iter.on_overdue(&first.id);
    assert!(!iter.is_among_closest(&first.id));
    assert!(!iter.is_among_closest(&NodeId::sha1(b"stranger")));
}

#[test]
fn one_path_behaves_like_a_single_lookup() {
    let net = SynthNet::new(500, 20, 9);
    let params = LookupParams { k: 20, alpha: 3 };
    let target = NodeId::sha1(b"x");
    let seeds = net.answer(0, &target, |_| true);
    let local = net.ids[0];
    let mut single = ClosestIter::new(target, local, seeds.clone(), params);
    let mut disjoint = DisjointIter::new(target, local, seeds, params, 1);
    loop {
        let (a, b) = (single.next(), disjoint.next());
        assert_eq!(a, b);
        let LookupStep::Query(c) = a else { break };
        let index = net.index_of(&c.id).expect("known peer");
        let closer = net.answer(index, &target, |_| true);
        single.on_success(&c.id, &closer);
        disjoint.on_success(&c.id, &closer);
    }
    assert_eq!(single.closest_succeeded(), disjoint.closest_succeeded());
    assert_eq!(single.hops(), disjoint.hops());
    assert_eq!(single.messages(), disjoint.messages());
}

//! Tests of retransmission: lookup requests, key proofs and bootstrap
//! pings are sent again after their timeout, fail once, and are answered
//! once.

use super::*;

const ORIGIN: usize = 0;
/// The peer whose datagrams the tests lose.
const PEER: usize = 3;
const NODES: usize = 8;

fn target() -> NodeId {
    NodeId::sha1(b"retransmission")
}

fn closest_ids(outcome: &QueryOutcome) -> Vec<NodeId> {
    match outcome {
        QueryOutcome::FindNode { closest } => closest.iter().map(|c| c.id).collect(),
        other => panic!("not a find-node outcome: {other:?}"),
    }
}

/// A bootstrapped network and the outcome of the reference lookup from
/// `ORIGIN`, run on a copy over a perfect network.
fn network_and_reference(config: Config) -> (Net, QueryOutcome, QueryStats) {
    let net = Net::bootstrapped(NODES, config);
    assert!(net.nodes[ORIGIN]
        .routing_table()
        .contains(&net.nodes[PEER].id()));
    let mut reference = net.copy();
    let q = reference.nodes[ORIGIN].start_find_node(reference.now, target());
    let (outcome, stats) = reference.wait_with(ORIGIN, q, |_, _| Fate::Deliver);
    assert_eq!(reference.find_nodes_to(ORIGIN, PEER).len(), 1);
    assert_eq!(closest_ids(&outcome).len(), NODES - 1);
    (net, outcome, stats)
}

/// Whether `d` is a FIND_NODE request from the origin to the peer.
fn origin_to_peer(net_addrs: &[SocketAddr], d: &Datagram, msg: &Message) -> bool {
    d.from == ORIGIN
        && d.to == net_addrs[PEER]
        && matches!(
            msg.body,
            Body::Request {
                request: Request::FindNode { .. },
                ..
            }
        )
}

#[test]
fn dropped_lookup_request_is_resent_after_its_timeout_and_the_answer_used() {
    let (mut net, reference, reference_stats) = network_and_reference(Config::local());
    let failures_before = net.nodes[ORIGIN].stats().requests_timed_out;
    let addrs = net.addrs.clone();
    let mut dropped = 0;
    let q = net.nodes[ORIGIN].start_find_node(net.now, target());
    let (outcome, stats) = net.wait_with(ORIGIN, q, |d, msg| {
        if dropped == 0 && origin_to_peer(&addrs, d, msg) {
            dropped += 1;
            Fate::Drop
        } else {
            Fate::Deliver
        }
    });
    // The same answer set as without loss, the peer included.
    assert_eq!(outcome, reference);
    assert!(closest_ids(&outcome).contains(&net.nodes[PEER].id()));
    // One more message (the copy), at the same depth.
    assert_eq!(stats.messages, reference_stats.messages + 1);
    assert_eq!(stats.hops, reference_stats.hops);
    let sent = net.find_nodes_to(ORIGIN, PEER);
    assert_eq!(sent.len(), 2);
    assert_ne!(sent[0].txid, sent[1].txid, "a copy has a fresh txid");
    assert_eq!(
        sent[1].at - sent[0].at,
        Config::local().rpc_timeout_min,
        "resent when the first copy's timeout passed"
    );
    // The request did not fail, and the contact is not charged a failure.
    net.run_for(Duration::from_secs(10), |_, _| Fate::Deliver);
    assert_eq!(
        net.nodes[ORIGIN].stats().requests_timed_out,
        failures_before
    );
    let entry = net.nodes[ORIGIN].routing_table().get(&net.nodes[PEER].id());
    assert_eq!(entry.map(|e| e.failures), Some(0));
    assert_eq!(net.nodes[ORIGIN].pending_requests(), 0);
}

#[test]
fn contact_that_never_answers_costs_one_plus_retries_requests() {
    let config = Config::local();
    let retries = config.request_retries;
    assert_eq!(retries, 2);
    let (mut net, reference, reference_stats) = network_and_reference(config.clone());
    let failures_before = net.nodes[ORIGIN].stats().requests_timed_out;
    let addrs = net.addrs.clone();
    let q = net.nodes[ORIGIN].start_find_node(net.now, target());
    let offline = |d: &Datagram, _: &Message| {
        if d.to == addrs[PEER] {
            Fate::Drop
        } else {
            Fate::Deliver
        }
    };
    let (outcome, stats) = net.wait_with(ORIGIN, q, offline);
    let peer_id = net.nodes[PEER].id();
    let expected: Vec<NodeId> = closest_ids(&reference)
        .into_iter()
        .filter(|id| *id != peer_id)
        .collect();
    assert_eq!(closest_ids(&outcome), expected);
    // No answer to a retransmitted copy was ever seen (the peer is silent,
    // not lossy), so even as one of the k closest it gets only
    // `request_retries`, not `close_request_retries`.
    assert!(!net.nodes[ORIGIN].retransmissions.recent_loss.seen());
    assert!(config.close_request_retries > retries);
    let sent = net.find_nodes_to(ORIGIN, PEER);
    assert_eq!(sent.len(), 1 + retries as usize);
    assert_eq!(stats.messages, reference_stats.messages + retries);
    // Each copy waits the same adaptive timeout: no doubling.
    let t = config.rpc_timeout_min;
    assert_eq!(sent[1].at - sent[0].at, t);
    assert_eq!(sent[2].at - sent[1].at, t);
    // The lookup waited for the last copy's timeout, no longer: 3 t.
    assert_eq!(stats.duration, 3 * t);
    // Once the late windows are over the request fails once, not once per
    // copy, and the contact is charged one failure.
    net.run_for(config.rpc_late_window + Duration::from_secs(1), offline);
    assert_eq!(
        net.nodes[ORIGIN].stats().requests_timed_out,
        failures_before + 1
    );
    let entry = net.nodes[ORIGIN].routing_table().get(&peer_id);
    assert_eq!(entry.map(|e| e.failures), Some(1));
    assert_eq!(net.nodes[ORIGIN].pending_requests(), 0);
}

#[test]
fn late_answer_to_the_first_copy_is_used_once() {
    let (mut net, reference, reference_stats) = network_and_reference(Config::local());
    let addrs = net.addrs.clone();
    let unsolicited_before = net.nodes[ORIGIN].stats().responses_unsolicited;
    let q = net.nodes[ORIGIN].start_find_node(net.now, target());
    // Hold both copies of the request to the peer, so the lookup cannot
    // finish; then deliver them together: the peer answers both.
    let mut first = true;
    loop {
        net.drain(|d, msg| {
            if origin_to_peer(&addrs, d, msg) {
                Fate::Hold
            } else {
                Fate::Deliver
            }
        });
        assert!(
            net.finished(ORIGIN, q).is_none(),
            "finished without the peer"
        );
        if net.held.len() == 2 {
            break;
        }
        if first {
            assert_eq!(net.held.len(), 1);
            first = false;
        }
        net.advance();
    }
    let held = std::mem::take(&mut net.held);
    let sent = net.find_nodes_to(ORIGIN, PEER);
    assert_eq!(sent.len(), 2);
    assert_ne!(sent[0].txid, sent[1].txid);
    // The first copy reaches the peer first, so its answer comes first.
    for d in held {
        net.deliver(d);
    }
    let (outcome, stats) = net.wait_with(ORIGIN, q, |_, _| Fate::Deliver);
    assert_eq!(outcome, reference);
    assert_eq!(stats.messages, reference_stats.messages + 1);
    assert_eq!(stats.hops, reference_stats.hops);
    // The answer to the second copy found its request retired.
    assert_eq!(
        net.nodes[ORIGIN].stats().responses_unsolicited,
        unsolicited_before + 1
    );
    net.run_for(Duration::from_secs(10), |_, _| Fate::Deliver);
    assert_eq!(net.nodes[ORIGIN].pending_requests(), 0);
    let entry = net.nodes[ORIGIN].routing_table().get(&net.nodes[PEER].id());
    assert_eq!(entry.map(|e| e.failures), Some(0));
}

#[test]
fn stale_contact_is_not_retried() {
    let config = Config::local();
    let (mut net, ..) = network_and_reference(config.clone());
    let addrs = net.addrs.clone();
    let peer_id = net.nodes[PEER].id();
    let offline = |d: &Datagram, _: &Message| {
        if d.to == addrs[PEER] {
            Fate::Drop
        } else {
            Fate::Deliver
        }
    };
    let mut per_lookup = Vec::new();
    for _ in 0..3 {
        let before = net.find_nodes_to(ORIGIN, PEER).len();
        let q = net.nodes[ORIGIN].start_find_node(net.now, target());
        net.wait_with(ORIGIN, q, offline);
        net.run_for(config.rpc_late_window + Duration::from_secs(1), offline);
        per_lookup.push(net.find_nodes_to(ORIGIN, PEER).len() - before);
    }
    // Two lookups charge two failures (= max_failures): the contact is
    // stale, and the third lookup asks it once.
    assert_eq!(config.max_failures, 2);
    assert_eq!(per_lookup, vec![3, 3, 1]);
    let failures = net.nodes[ORIGIN]
        .routing_table()
        .get(&peer_id)
        .map(|e| e.failures);
    assert_eq!(failures, Some(3));
}

#[test]
fn zero_retries_never_resends() {
    let config = Config {
        request_retries: 0,
        ..Config::local()
    };
    let (mut net, _, reference_stats) = network_and_reference(config.clone());
    let addrs = net.addrs.clone();
    let q = net.nodes[ORIGIN].start_find_node(net.now, target());
    let (outcome, stats) = net.wait_with(ORIGIN, q, |d, _| {
        if d.to == addrs[PEER] {
            Fate::Drop
        } else {
            Fate::Deliver
        }
    });
    assert!(!closest_ids(&outcome).contains(&net.nodes[PEER].id()));
    assert_eq!(net.find_nodes_to(ORIGIN, PEER).len(), 1);
    assert_eq!(stats.messages, reference_stats.messages);
    // Overdue at once: the lookup did not wait past the first timeout.
    assert_eq!(stats.duration, config.rpc_timeout_min);
}

#[test]
fn retry_in_a_disjoint_lookup_is_sent_and_its_answer_used() {
    let net = Net::bootstrapped(NODES, Config::local());
    let options = QueryOptions {
        disjoint_paths: Some(2),
    };
    let mut reference = net.copy();
    let mut net = net;
    let q = reference.nodes[ORIGIN]
        .start(reference.now, QueryRequest::FindNode(target()), options)
        .expect("a find-node cannot be refused");
    let (expected, expected_stats) = reference.wait_with(ORIGIN, q, |_, _| Fate::Deliver);
    let addrs = net.addrs.clone();
    let mut dropped = 0;
    let q = net.nodes[ORIGIN]
        .start(net.now, QueryRequest::FindNode(target()), options)
        .expect("a find-node cannot be refused");
    let (outcome, stats) = net.wait_with(ORIGIN, q, |d, msg| {
        if dropped == 0 && origin_to_peer(&addrs, d, msg) {
            dropped += 1;
            Fate::Drop
        } else {
            Fate::Deliver
        }
    });
    assert_eq!(dropped, 1);
    assert_eq!(outcome, expected);
    assert!(closest_ids(&outcome).contains(&net.nodes[PEER].id()));
    assert_eq!(net.find_nodes_to(ORIGIN, PEER).len(), 2);
    assert_eq!(stats.messages, expected_stats.messages + 1);
    // Hops may differ from the lossless run here, and not because of the
    // retry: with the peer's answer missing, the other path's answers come
    // first and that path claims a contact both paths know (at its depth
    // 2) before the peer's path could ask it (at depth 1).
    assert!(stats.hops <= expected_stats.hops + 1);
}

/// Runs one lookup from the origin in which the first request to the peer
/// is lost, so the origin sees an answer to a retransmitted copy.
fn see_one_loss(net: &mut Net) {
    let addrs = net.addrs.clone();
    let mut dropped = 0;
    let q = net.nodes[ORIGIN].start_find_node(net.now, target());
    net.wait_with(ORIGIN, q, |d, msg| {
        if dropped == 0 && origin_to_peer(&addrs, d, msg) {
            dropped += 1;
            Fate::Drop
        } else {
            Fate::Deliver
        }
    });
    assert_eq!(dropped, 1);
    net.run_for(Duration::from_secs(10), |_, _| Fate::Deliver);
    assert!(net.nodes[ORIGIN].retransmissions.recent_loss.seen());
}

/// The FIND_NODE copies the origin sends the peer in one lookup while the
/// peer is offline, and the lookup's stats.
fn lookup_with_peer_offline(net: &mut Net) -> (Vec<SeenRequest>, QueryStats) {
    let addrs = net.addrs.clone();
    let before = net.find_nodes_to(ORIGIN, PEER).len();
    let q = net.nodes[ORIGIN].start_find_node(net.now, target());
    let (_, stats) = net.wait_with(ORIGIN, q, |d, _| {
        if d.to == addrs[PEER] {
            Fate::Drop
        } else {
            Fate::Deliver
        }
    });
    let sent = net.find_nodes_to(ORIGIN, PEER).split_off(before);
    (sent, stats)
}

#[test]
fn close_contact_gets_close_request_retries_once_loss_was_seen() {
    let config = Config::local();
    assert_eq!(
        (config.request_retries, config.close_request_retries),
        (2, 4)
    );
    let (mut net, _, reference_stats) = network_and_reference(config.clone());
    see_one_loss(&mut net);
    let failures_before = net.nodes[ORIGIN].stats().requests_timed_out;
    // The peer is one of the k closest (k = 20 > 7 contacts) and stays
    // silent: 1 + 4 copies, each after the same timeout.
    let (sent, stats) = lookup_with_peer_offline(&mut net);
    assert_eq!(sent.len(), 5);
    assert_eq!(stats.messages, reference_stats.messages + 4);
    let t = config.rpc_timeout_min;
    for pair in sent.windows(2) {
        assert_eq!(pair[1].at - pair[0].at, t);
    }
    // A dead close contact holds the lookup for 5 timeouts, no longer.
    assert_eq!(stats.duration, 5 * t);
    // It still fails once, and is charged one failure.
    let addrs = net.addrs.clone();
    net.run_for(config.rpc_late_window + Duration::from_secs(1), |d, _| {
        if d.to == addrs[PEER] {
            Fate::Drop
        } else {
            Fate::Deliver
        }
    });
    assert_eq!(
        net.nodes[ORIGIN].stats().requests_timed_out,
        failures_before + 1
    );
    let entry = net.nodes[ORIGIN].routing_table().get(&net.nodes[PEER].id());
    assert_eq!(entry.map(|e| e.failures), Some(1));
    assert_eq!(net.nodes[ORIGIN].pending_requests(), 0);
}

#[test]
fn close_request_retries_at_request_retries_turn_the_close_rule_off() {
    let config = Config {
        close_request_retries: 2,
        ..Config::local()
    };
    let (mut net, _, reference_stats) = network_and_reference(config.clone());
    see_one_loss(&mut net);
    let (sent, stats) = lookup_with_peer_offline(&mut net);
    assert_eq!(sent.len(), 3);
    assert_eq!(stats.messages, reference_stats.messages + 2);
    assert_eq!(stats.duration, 3 * config.rpc_timeout_min);
}

#[test]
fn close_retry_answered_on_the_last_copy_keeps_the_peer_in_the_result() {
    let config = Config::local();
    let (mut net, reference, reference_stats) = network_and_reference(config.clone());
    see_one_loss(&mut net);
    // The first four copies to the peer are lost, the fifth answered: with
    // `request_retries` alone the peer would be missing from the result.
    let addrs = net.addrs.clone();
    let mut dropped = 0;
    let q = net.nodes[ORIGIN].start_find_node(net.now, target());
    let (outcome, stats) = net.wait_with(ORIGIN, q, |d, msg| {
        if dropped < 4 && origin_to_peer(&addrs, d, msg) {
            dropped += 1;
            Fate::Drop
        } else {
            Fate::Deliver
        }
    });
    assert_eq!(dropped, 4);
    assert_eq!(outcome, reference);
    assert_eq!(stats.messages, reference_stats.messages + 4);
    assert_eq!(stats.duration, 4 * config.rpc_timeout_min);
    assert_eq!(stats.hops, reference_stats.hops);
}

/// Node 1 joins through node 0 while the first key-proof challenge node 0
/// sends node 1 is lost; then `config.rpc_late_window` and a second pass.
fn join_losing_first_proof(config: Config) -> (Net, QueryOutcome) {
    let mut net = Net::new(2, config.clone());
    let addrs = net.addrs.clone();
    let mut dropped = 0;
    let mut fate = move |d: &Datagram, msg: &Message| {
        if dropped == 0 && d.from == 0 && d.to == addrs[1] && is_challenge(msg) {
            dropped += 1;
            Fate::Drop
        } else {
            Fate::Deliver
        }
    };
    let q = net.nodes[1].start_bootstrap(net.now, vec![net.addrs[0]]);
    let (outcome, _) = net.wait_with(1, q, &mut fate);
    net.run_for(config.rpc_late_window + Duration::from_secs(1), &mut fate);
    (net, outcome)
}

#[test]
fn lost_key_proof_is_asked_again_and_the_contact_enters_the_table() {
    let config = Config::local();
    let (net, outcome) = join_losing_first_proof(config.clone());
    assert!(matches!(
        outcome,
        QueryOutcome::Bootstrap { reached: 1, .. }
    ));
    let sent = net.challenges_to(0, 1);
    assert_eq!(sent.len(), 2);
    assert_ne!(sent[0].txid, sent[1].txid, "a copy has a fresh txid");
    // Node 0 never measured a round trip: the initial timeout.
    assert_eq!(sent[1].at - sent[0].at, config.rpc_timeout_initial);
    assert!(net.nodes[0].routing_table().contains(&net.nodes[1].id()));
    assert_eq!(net.nodes[0].stats().key_proofs_verified, 1);
    assert_eq!(net.nodes[0].stats().requests_timed_out, 0);
    assert_eq!(net.nodes[0].pending_requests(), 0);
    // The answer to a copy counts as seen loss.
    assert!(net.nodes[0].retransmissions.recent_loss.seen());
}

#[test]
fn without_retries_a_lost_key_proof_keeps_the_contact_out() {
    let config = Config {
        request_retries: 0,
        ..Config::local()
    };
    let (net, outcome) = join_losing_first_proof(config);
    assert!(matches!(
        outcome,
        QueryOutcome::Bootstrap { reached: 1, .. }
    ));
    assert_eq!(net.challenges_to(0, 1).len(), 1);
    assert!(!net.nodes[0].routing_table().contains(&net.nodes[1].id()));
    assert_eq!(net.nodes[0].stats().key_proofs_verified, 0);
    assert_eq!(net.nodes[0].stats().requests_timed_out, 1);
}

/// Node 1 bootstraps from node 0, losing the first `lost` bootstrap pings.
fn bootstrap_losing_pings(config: Config, lost: usize) -> (Net, QueryOutcome, QueryStats) {
    let mut net = Net::new(2, config);
    let addrs = net.addrs.clone();
    let mut dropped = 0;
    let q = net.nodes[1].start_bootstrap(net.now, vec![addrs[0]]);
    let (outcome, stats) = net.wait_with(1, q, |d, msg| {
        if dropped < lost && d.from == 1 && is_challenge(msg) {
            dropped += 1;
            Fate::Drop
        } else {
            Fate::Deliver
        }
    });
    (net, outcome, stats)
}

#[test]
fn lost_bootstrap_ping_is_sent_again_and_the_join_succeeds() {
    let config = Config::local();
    let (net, outcome, _) = bootstrap_losing_pings(config.clone(), 2);
    assert!(matches!(
        outcome,
        QueryOutcome::Bootstrap {
            reached: 1,
            table_size: 1
        }
    ));
    let sent = net.challenges_to(1, 0);
    assert_eq!(sent.len(), 3);
    let t = config.rpc_timeout_initial;
    assert_eq!((sent[1].at - sent[0].at, sent[2].at - sent[1].at), (t, t));
}

#[test]
fn dead_bootstrap_address_fails_once_after_one_plus_retries_pings() {
    let config = Config::local();
    let (net, outcome, stats) = bootstrap_losing_pings(config.clone(), usize::MAX);
    assert!(matches!(
        outcome,
        QueryOutcome::Bootstrap {
            reached: 0,
            table_size: 0
        }
    ));
    assert_eq!(net.challenges_to(1, 0).len(), 3);
    // Three pings, each waiting the initial timeout; the join gives up
    // when the last one times out, and the request fails once.
    assert_eq!(stats.duration, 3 * config.rpc_timeout_initial);
    assert_eq!(stats.messages, 3);
    assert_eq!(net.nodes[1].stats().requests_timed_out, 1);
}

//! Engine tests of key-proof and bootstrap-ping retransmission, on the
//! test network of `tests_net`.

use std::time::Duration;

use super::tests_net::{is_challenge, Datagram, Fate, Net};
use super::*;

/// Node 1 joins through node 0 while the first key-proof challenge node 0
/// sends node 1 is lost; then `config.rpc_late_window` and a second pass.
fn join_losing_first_proof(config: Config) -> (Net, QueryOutcome) {
    let mut net = Net::fresh(2, config.clone());
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
    let (outcome, _) = net.wait(1, q, &mut fate);
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
    let mut net = Net::fresh(2, config);
    let addrs = net.addrs.clone();
    let mut dropped = 0;
    let q = net.nodes[1].start_bootstrap(net.now, vec![addrs[0]]);
    let (outcome, stats) = net.wait(1, q, |d, msg| {
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

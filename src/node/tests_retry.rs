//! Engine tests of lookup-request retransmission: a small zero-latency
//! network of real engines where the test decides the fate of each
//! datagram (deliver, drop, or hold and deliver later), on virtual time,
//! with a step limit.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::*;

const STEP_LIMIT: usize = 100_000;

/// A datagram on the wire.
#[derive(Debug, Clone)]
struct Datagram {
    from: usize,
    to: SocketAddr,
    bytes: Vec<u8>,
}

/// What the network does with one datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Deliver,
    Drop,
    /// Keep it aside until the test releases it.
    Hold,
}

/// A FIND_NODE request seen on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SeenRequest {
    at: Instant,
    from: usize,
    to: SocketAddr,
    txid: TxId,
}

struct Net {
    nodes: Vec<Node>,
    addrs: Vec<SocketAddr>,
    now: Instant,
    queue: VecDeque<Datagram>,
    held: Vec<Datagram>,
    events: Vec<(usize, Event)>,
    find_nodes: Vec<SeenRequest>,
    steps: usize,
}

impl Net {
    /// A network of `nodes` at `addrs` with nothing in flight.
    fn quiet(nodes: Vec<Node>, addrs: Vec<SocketAddr>, now: Instant) -> Self {
        Net {
            nodes,
            addrs,
            now,
            queue: VecDeque::new(),
            held: Vec::new(),
            events: Vec::new(),
            find_nodes: Vec::new(),
            steps: 0,
        }
    }

    /// A copy of the engines (state, RNGs and all) with nothing in flight.
    fn copy(&self) -> Self {
        Net::quiet(self.nodes.clone(), self.addrs.clone(), self.now)
    }

    /// `n` engines with `config`, nodes 1.. bootstrapped from node 0 over
    /// a perfect network.
    fn bootstrapped(n: usize, config: Config) -> Self {
        let now = Instant::now();
        let nodes = (0..n)
            .map(|i| {
                Node::new(
                    Identity::from_seed(i as u64 + 100),
                    config.clone(),
                    i as u64,
                    now,
                )
            })
            .collect();
        let addrs = (0..n)
            .map(|i| SocketAddr::from(([127, 0, 0, 1], 20_000 + i as u16)))
            .collect();
        let mut net = Net::quiet(nodes, addrs, now);
        for i in 1..n {
            let boot = net.addrs[0];
            let q = net.nodes[i].start_bootstrap(net.now, vec![boot]);
            net.wait(i, q, |_, _| Fate::Deliver);
        }
        net.drain(|_, _| Fate::Deliver);
        net.find_nodes.clear();
        net
    }

    fn index_of(&self, addr: &SocketAddr) -> Option<usize> {
        self.addrs.iter().position(|a| a == addr)
    }

    fn collect(&mut self) {
        for i in 0..self.nodes.len() {
            while let Some(t) = self.nodes[i].poll_transmit() {
                self.queue.push_back(Datagram {
                    from: i,
                    to: t.dest,
                    bytes: t.payload,
                });
            }
            while let Some(e) = self.nodes[i].poll_event() {
                self.events.push((i, e));
            }
        }
    }

    fn deliver(&mut self, d: Datagram) {
        if let Some(j) = self.index_of(&d.to) {
            let from = self.addrs[d.from];
            self.nodes[j].handle_datagram(self.now, from, &d.bytes);
        }
    }

    /// Delivers, drops or holds every datagram in flight, as `fate` says,
    /// until none is left.
    fn drain(&mut self, mut fate: impl FnMut(&Datagram, &Message) -> Fate) {
        loop {
            self.collect();
            let Some(d) = self.queue.pop_front() else {
                return;
            };
            self.steps += 1;
            assert!(self.steps < STEP_LIMIT, "step limit reached: protocol hung");
            let msg = wire::decode(&d.bytes).expect("engines send valid datagrams");
            if let Body::Request {
                request: Request::FindNode { .. },
                ..
            } = msg.body
            {
                self.find_nodes.push(SeenRequest {
                    at: self.now,
                    from: d.from,
                    to: d.to,
                    txid: msg.txid,
                });
            }
            match fate(&d, &msg) {
                Fate::Deliver => self.deliver(d),
                Fate::Drop => {}
                Fate::Hold => self.held.push(d),
            }
        }
    }

    /// Advances virtual time to the earliest timer and fires it.
    fn advance(&mut self) {
        let next = self
            .nodes
            .iter()
            .filter_map(Node::poll_timeout)
            .min()
            .expect("engines always have a timer");
        self.now = self.now.max(next);
        for node in &mut self.nodes {
            if node.poll_timeout().is_some_and(|t| t <= self.now) {
                node.handle_timeout(self.now);
            }
        }
    }

    fn finished(&mut self, i: usize, q: QueryId) -> Option<(QueryOutcome, QueryStats)> {
        let pos = self
            .events
            .iter()
            .position(|(n, Event::QueryFinished { id, .. })| *n == i && *id == q)?;
        let (_, Event::QueryFinished { outcome, stats, .. }) = self.events.remove(pos);
        Some((outcome, stats))
    }

    /// Runs until node `i` reports query `q` finished.
    fn wait(
        &mut self,
        i: usize,
        q: QueryId,
        mut fate: impl FnMut(&Datagram, &Message) -> Fate,
    ) -> (QueryOutcome, QueryStats) {
        loop {
            self.drain(&mut fate);
            if let Some(done) = self.finished(i, q) {
                return done;
            }
            self.advance();
        }
    }

    /// Runs every timer due within `span`, datagrams fated by `fate`.
    fn run_for(&mut self, span: Duration, mut fate: impl FnMut(&Datagram, &Message) -> Fate) {
        let end = self.now + span;
        loop {
            self.drain(&mut fate);
            let next = self.nodes.iter().filter_map(Node::poll_timeout).min();
            match next {
                Some(t) if t <= end => self.advance(),
                _ => break,
            }
        }
        self.now = end;
    }

    /// FIND_NODE requests node `from` sent to `to`.
    fn find_nodes_to(&self, from: usize, to: usize) -> Vec<SeenRequest> {
        self.find_nodes
            .iter()
            .filter(|r| r.from == from && r.to == self.addrs[to])
            .copied()
            .collect()
    }
}

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
    let (outcome, stats) = reference.wait(ORIGIN, q, |_, _| Fate::Deliver);
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
    let (outcome, stats) = net.wait(ORIGIN, q, |d, msg| {
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
    let (outcome, stats) = net.wait(ORIGIN, q, offline);
    let peer_id = net.nodes[PEER].id();
    let expected: Vec<NodeId> = closest_ids(&reference)
        .into_iter()
        .filter(|id| *id != peer_id)
        .collect();
    assert_eq!(closest_ids(&outcome), expected);
    let sent = net.find_nodes_to(ORIGIN, PEER);
    assert_eq!(sent.len(), 1 + retries as usize);
    assert_eq!(stats.messages, reference_stats.messages + retries);
    // Each copy waits twice as long as the one before.
    let t = config.rpc_timeout_min;
    assert_eq!(sent[1].at - sent[0].at, t);
    assert_eq!(sent[2].at - sent[1].at, 2 * t);
    // The lookup waited for the last copy's timeout (4 t), no longer.
    assert_eq!(stats.duration, t + 2 * t + 4 * t);
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
    let (outcome, stats) = net.wait(ORIGIN, q, |_, _| Fate::Deliver);
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
        net.wait(ORIGIN, q, offline);
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
    let (outcome, stats) = net.wait(ORIGIN, q, |d, _| {
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
    let (expected, expected_stats) = reference.wait(ORIGIN, q, |_, _| Fate::Deliver);
    let addrs = net.addrs.clone();
    let mut dropped = 0;
    let q = net.nodes[ORIGIN]
        .start(net.now, QueryRequest::FindNode(target()), options)
        .expect("a find-node cannot be refused");
    let (outcome, stats) = net.wait(ORIGIN, q, |d, msg| {
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

//! Engine tests: real engines wired together through the sans-IO interface
//! (no sockets), on virtual time.
//!
//! This module owns the one test network, [`Net`]: a zero-latency network
//! where the test decides the fate of each datagram (deliver, drop, or hold
//! and deliver later) and which nodes are online, with a step limit so that
//! a hung protocol fails the test instead of hanging it. It never sends
//! anything anywhere and never reads the clock after building the network.
//! The tests live beside it, by concern: `serve` (answering requests),
//! `queries` (lookups, puts, gets, providers), `proofs` (routing-table
//! admission), `bootstrap` (joining) and `retry` (retransmissions).

mod bootstrap;
mod proofs;
mod queries;
mod retry;
mod serve;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::{Event, Node, QueryId, QueryOptions, QueryOutcome, QueryRequest, QueryStats, Transmit};
use crate::config::Config;
use crate::id::NodeId;
use crate::identity::Identity;
use crate::record::{ImmutableRecord, Record, Refusal, SignedRecord};
use crate::wire::{self, Body, Contact, ErrorCode, Message, Request, Response, TxId};

/// Deliveries plus time advances a test may take before it counts as hung.
const STEP_LIMIT: usize = 200_000;

/// A datagram on the wire.
#[derive(Debug, Clone)]
struct Datagram {
    /// The index of the sending node.
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

/// A request seen on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SeenRequest {
    at: Instant,
    from: usize,
    to: SocketAddr,
    txid: TxId,
}

/// A zero-latency network of engines. Time advances only when no datagram
/// is in flight, to the earliest timer of an online node. A datagram to an
/// offline node is lost, and an offline node's timers do not fire.
struct Net {
    nodes: Vec<Node>,
    addrs: Vec<SocketAddr>,
    online: Vec<bool>,
    now: Instant,
    queue: VecDeque<Datagram>,
    held: Vec<Datagram>,
    events: Vec<(usize, Event)>,
    /// FIND_NODE requests, delivered or not.
    find_nodes: Vec<SeenRequest>,
    /// Pings asking for a key proof (key proofs and bootstrap pings).
    challenges: Vec<SeenRequest>,
    steps: usize,
}

impl Net {
    /// A network of `nodes` at `addrs`, all online, with nothing in flight.
    fn quiet(nodes: Vec<Node>, addrs: Vec<SocketAddr>, now: Instant) -> Self {
        Net {
            online: vec![true; nodes.len()],
            nodes,
            addrs,
            now,
            queue: VecDeque::new(),
            held: Vec::new(),
            events: Vec::new(),
            find_nodes: Vec::new(),
            challenges: Vec::new(),
            steps: 0,
        }
    }

    /// `n` engines with `config` that know nobody: node `i` has identity
    /// seed `i + 1`, RNG seed `i` and port `10_000 + i`.
    fn new(n: usize, config: Config) -> Self {
        let now = Instant::now();
        let nodes = (0..n)
            .map(|i| {
                Node::new(
                    Identity::from_seed(i as u64 + 1),
                    config.clone(),
                    i as u64,
                    now,
                )
            })
            .collect();
        let addrs = (0..n)
            .map(|i| SocketAddr::from(([127, 0, 0, 1], 10_000 + i as u16)))
            .collect();
        Net::quiet(nodes, addrs, now)
    }

    /// `n` engines with `config`, nodes 1.. bootstrapped from node 0 over
    /// a perfect network, with nothing in flight and no request recorded.
    fn bootstrapped(n: usize, config: Config) -> Self {
        let mut net = Net::new(n, config);
        for i in 1..n {
            let boot = net.addrs[0];
            let q = net.nodes[i].start_bootstrap(net.now, vec![boot]);
            net.wait(i, q);
        }
        net.settle();
        net.find_nodes.clear();
        net.challenges.clear();
        net
    }

    /// A copy of the engines (state, RNGs and all) with nothing in flight.
    fn copy(&self) -> Self {
        let mut copy = Net::quiet(self.nodes.clone(), self.addrs.clone(), self.now);
        copy.online.clone_from(&self.online);
        copy
    }

    fn index_of(&self, addr: &SocketAddr) -> Option<usize> {
        self.addrs.iter().position(|a| a == addr)
    }

    /// Takes every node's datagrams and events.
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

    /// Counts one step and fails the test past the step limit.
    fn count_step(&mut self) {
        self.steps += 1;
        assert!(self.steps < STEP_LIMIT, "step limit reached: protocol hung");
    }

    /// Hands `d` to its destination, if that node is online.
    fn deliver(&mut self, d: Datagram) {
        if let Some(j) = self.index_of(&d.to) {
            if self.online[j] {
                let from = self.addrs[d.from];
                self.nodes[j].handle_datagram(self.now, from, &d.bytes);
            }
        }
    }

    /// Takes the next datagram in flight, records it, and delivers, drops
    /// or holds it as `fate` says. Returns false when none was in flight.
    fn deliver_next(&mut self, fate: &mut impl FnMut(&Datagram, &Message) -> Fate) -> bool {
        self.collect();
        let Some(d) = self.queue.pop_front() else {
            return false;
        };
        self.count_step();
        let msg = wire::decode(&d.bytes).expect("engines send valid datagrams");
        let seen = SeenRequest {
            at: self.now,
            from: d.from,
            to: d.to,
            txid: msg.txid,
        };
        if matches!(
            msg.body,
            Body::Request {
                request: Request::FindNode { .. },
                ..
            }
        ) {
            self.find_nodes.push(seen);
        }
        if is_challenge(&msg) {
            self.challenges.push(seen);
        }
        match fate(&d, &msg) {
            Fate::Deliver => self.deliver(d),
            Fate::Drop => {}
            Fate::Hold => self.held.push(d),
        }
        true
    }

    /// Delivers, drops or holds every datagram in flight, as `fate` says,
    /// until none is left.
    fn drain(&mut self, mut fate: impl FnMut(&Datagram, &Message) -> Fate) {
        while self.deliver_next(&mut fate) {}
    }

    /// Delivers every datagram in flight until none is left.
    fn settle(&mut self) {
        self.drain(|_, _| Fate::Deliver);
    }

    /// Advances virtual time to the earliest timer of an online node and
    /// fires every online node's timers due then.
    fn advance(&mut self) {
        self.count_step();
        let next = (0..self.nodes.len())
            .filter(|&i| self.online[i])
            .filter_map(|i| self.nodes[i].poll_timeout())
            .min()
            .expect("engines always have a timer");
        self.now = self.now.max(next);
        for i in 0..self.nodes.len() {
            if self.online[i] && self.nodes[i].poll_timeout().is_some_and(|t| t <= self.now) {
                self.nodes[i].handle_timeout(self.now);
            }
        }
    }

    /// One step: deliver the next datagram in flight, or, when none is,
    /// advance time to the next timer.
    fn step(&mut self) {
        if !self.deliver_next(&mut |_, _| Fate::Deliver) {
            self.advance();
        }
    }

    /// The outcome of query `q` of node `i`, if it finished.
    fn finished(&mut self, i: usize, q: QueryId) -> Option<(QueryOutcome, QueryStats)> {
        let pos = self
            .events
            .iter()
            .position(|(n, Event::QueryFinished { id, .. })| *n == i && *id == q)?;
        let (_, Event::QueryFinished { outcome, stats, .. }) = self.events.remove(pos);
        Some((outcome, stats))
    }

    /// Runs over a perfect network until node `i` reports query `q`
    /// finished.
    fn wait(&mut self, i: usize, q: QueryId) -> (QueryOutcome, QueryStats) {
        self.wait_with(i, q, |_, _| Fate::Deliver)
    }

    /// Runs until node `i` reports query `q` finished, datagrams fated by
    /// `fate`.
    fn wait_with(
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
            let next = (0..self.nodes.len())
                .filter(|&i| self.online[i])
                .filter_map(|i| self.nodes[i].poll_timeout())
                .min();
            match next {
                Some(t) if t <= end => self.advance(),
                _ => break,
            }
        }
        self.now = end;
    }

    /// Sends a raw datagram to node `to` from `from` and returns the
    /// decoded answers sent back to `from`; the node's other datagrams go
    /// in flight.
    fn raw(&mut self, from: SocketAddr, to: usize, bytes: &[u8]) -> Vec<Message> {
        self.nodes[to].handle_datagram(self.now, from, bytes);
        let mut out = Vec::new();
        while let Some(t) = self.nodes[to].poll_transmit() {
            if t.dest == from {
                out.push(wire::decode(&t.payload).expect("engine sends valid datagrams"));
            } else {
                self.queue.push_back(Datagram {
                    from: to,
                    to: t.dest,
                    bytes: t.payload,
                });
            }
        }
        out
    }

    /// Key-proof challenges node `from` sent to `to`.
    fn challenges_to(&self, from: usize, to: usize) -> Vec<SeenRequest> {
        self.challenges
            .iter()
            .filter(|r| r.from == from && r.to == self.addrs[to])
            .copied()
            .collect()
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

/// Whether `msg` is a ping asking for a key proof.
fn is_challenge(msg: &Message) -> bool {
    matches!(
        msg.body,
        Body::Request {
            request: Request::Ping { challenge: Some(_) },
            ..
        }
    )
}

/// An encoded read-only request from `sender`.
fn request(sender: NodeId, txid: u64, request: Request) -> Vec<u8> {
    wire::encode(&Message {
        txid,
        sender,
        body: Body::Request {
            read_only: true,
            request,
        },
    })
    .unwrap()
}

/// An address no node of the network has.
fn outsider() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 2], 9999))
}

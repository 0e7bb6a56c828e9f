//! The test network of the retransmission tests: a small zero-latency
//! network of real engines where the test decides the fate of each
//! datagram (deliver, drop, or hold and deliver later), on virtual time,
//! with a step limit. Test code only; it never sends anything anywhere.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::*;

pub(super) const STEP_LIMIT: usize = 100_000;

/// A datagram on the wire.
#[derive(Debug, Clone)]
pub(super) struct Datagram {
    pub(super) from: usize,
    pub(super) to: SocketAddr,
    pub(super) bytes: Vec<u8>,
}

/// What the network does with one datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fate {
    Deliver,
    Drop,
    /// Keep it aside until the test releases it.
    Hold,
}

/// A FIND_NODE request seen on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct SeenRequest {
    pub(super) at: Instant,
    pub(super) from: usize,
    pub(super) to: SocketAddr,
    pub(super) txid: TxId,
}

pub(super) struct Net {
    pub(super) nodes: Vec<Node>,
    pub(super) addrs: Vec<SocketAddr>,
    pub(super) now: Instant,
    pub(super) queue: VecDeque<Datagram>,
    pub(super) held: Vec<Datagram>,
    pub(super) events: Vec<(usize, Event)>,
    pub(super) find_nodes: Vec<SeenRequest>,
    /// Pings asking for a key proof (key proofs and bootstrap pings).
    pub(super) challenges: Vec<SeenRequest>,
    pub(super) steps: usize,
}

impl Net {
    /// A network of `nodes` at `addrs` with nothing in flight.
    pub(super) fn quiet(nodes: Vec<Node>, addrs: Vec<SocketAddr>, now: Instant) -> Self {
        Net {
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

    /// A copy of the engines (state, RNGs and all) with nothing in flight.
    pub(super) fn copy(&self) -> Self {
        Net::quiet(self.nodes.clone(), self.addrs.clone(), self.now)
    }

    /// `n` engines with `config`, nodes 1.. bootstrapped from node 0 over
    /// a perfect network.
    pub(super) fn bootstrapped(n: usize, config: Config) -> Self {
        let mut net = Net::fresh(n, config);
        for i in 1..n {
            let boot = net.addrs[0];
            let q = net.nodes[i].start_bootstrap(net.now, vec![boot]);
            net.wait(i, q, |_, _| Fate::Deliver);
        }
        net.drain(|_, _| Fate::Deliver);
        net.find_nodes.clear();
        net
    }

    /// `n` engines with `config` that know nobody.
    pub(super) fn fresh(n: usize, config: Config) -> Self {
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
        Net::quiet(nodes, addrs, now)
    }

    pub(super) fn index_of(&self, addr: &SocketAddr) -> Option<usize> {
        self.addrs.iter().position(|a| a == addr)
    }

    pub(super) fn collect(&mut self) {
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

    pub(super) fn deliver(&mut self, d: Datagram) {
        if let Some(j) = self.index_of(&d.to) {
            let from = self.addrs[d.from];
            self.nodes[j].handle_datagram(self.now, from, &d.bytes);
        }
    }

    /// Delivers, drops or holds every datagram in flight, as `fate` says,
    /// until none is left.
    pub(super) fn drain(&mut self, mut fate: impl FnMut(&Datagram, &Message) -> Fate) {
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
            if is_challenge(&msg) {
                self.challenges.push(SeenRequest {
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
    pub(super) fn advance(&mut self) {
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

    pub(super) fn finished(&mut self, i: usize, q: QueryId) -> Option<(QueryOutcome, QueryStats)> {
        let pos = self
            .events
            .iter()
            .position(|(n, Event::QueryFinished { id, .. })| *n == i && *id == q)?;
        let (_, Event::QueryFinished { outcome, stats, .. }) = self.events.remove(pos);
        Some((outcome, stats))
    }

    /// Runs until node `i` reports query `q` finished.
    pub(super) fn wait(
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
    pub(super) fn run_for(
        &mut self,
        span: Duration,
        mut fate: impl FnMut(&Datagram, &Message) -> Fate,
    ) {
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

    /// Key-proof challenges node `from` sent to `to`.
    pub(super) fn challenges_to(&self, from: usize, to: usize) -> Vec<SeenRequest> {
        self.challenges
            .iter()
            .filter(|r| r.from == from && r.to == self.addrs[to])
            .copied()
            .collect()
    }

    /// FIND_NODE requests node `from` sent to `to`.
    pub(super) fn find_nodes_to(&self, from: usize, to: usize) -> Vec<SeenRequest> {
        self.find_nodes
            .iter()
            .filter(|r| r.from == from && r.to == self.addrs[to])
            .copied()
            .collect()
    }
}

/// Whether `msg` is a ping asking for a key proof.
pub(super) fn is_challenge(msg: &Message) -> bool {
    matches!(
        msg.body,
        Body::Request {
            request: Request::Ping { challenge: Some(_) },
            ..
        }
    )
}

//! The driver around the node under test: delivers datagrams, steps time
//! the way a perfect driver would (every deadline fired at its instant),
//! drains every output after every input, and checks after each step that
//! the node keeps its promises to a hostile network.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use meshara_dht::identity::verify_key_proof;
use meshara_dht::node::{Event, Node, QueryId};
use meshara_dht::wire::{
    self, Body, Contact, ErrorCode, Message, Request, Response, Token, TxId, MAX_CONTACTS,
    MAX_DATAGRAM_SIZE, MAX_PROVIDERS,
};
use meshara_dht::{Config, NodeId};

use super::model::{node_identity, peers, Builder};

/// A request the node sent, which a reply may answer.
pub struct Sent {
    pub dest: SocketAddr,
    pub txid: TxId,
    pub request: Request,
}

/// A request the harness delivered in the current step.
struct Delivered {
    from: SocketAddr,
    txid: TxId,
    sender: NodeId,
    request: Request,
    /// The sender was a table contact at `from` (no amplification limit).
    verified: bool,
}

/// What the node sent to one IP that never completed a round trip, against
/// the per-address byte budget (`Config::unverified_bytes_per_sec`).
#[derive(Default)]
struct Ledger {
    received: u64,
    sent: u64,
    /// One burst of the budget, plus one more each time the node may
    /// legitimately have forgotten the address (idle until its buckets
    /// refilled).
    allowance: u64,
    first_request: Option<Instant>,
    last_request: Option<Instant>,
}

pub struct Harness {
    pub node: Node,
    pub now: Instant,
    pub builder: Builder,
    config: Config,
    /// Newest last, at most 64.
    pub outstanding: Vec<Sent>,
    /// Send instants of every request the node sent recently.
    sent_times: VecDeque<Instant>,
    query_starts: VecDeque<Instant>,
    queries_started_seen: u64,
    /// User queries without their `QueryFinished` yet.
    pub open: HashMap<QueryId, Instant>,
    /// `QueryFinished` events seen.
    pub finished: usize,
    /// The last STORE token the node handed to each IP.
    pub tokens: HashMap<IpAddr, Token>,
    ledger: HashMap<IpAddr, Ledger>,
    /// How long an idle source takes to refill its buckets (after which the
    /// rate limiter may forget it).
    forget_after: Duration,
    peer_ids: HashSet<NodeId>,
}

impl Harness {
    pub fn new(config: Config, seed: u64) -> Self {
        let now = Instant::now();
        let forget_after = Duration::from_secs_f64(
            (f64::from(config.rate_limit_burst.max(1))
                / f64::from(config.rate_limit_requests_per_sec).max(1e-9))
            .max(
                f64::from(config.unverified_bytes_per_sec).max(MAX_DATAGRAM_SIZE as f64)
                    / f64::from(config.unverified_bytes_per_sec).max(1e-9),
            )
            .min(3600.0),
        );
        Harness {
            node: Node::new(node_identity().clone(), config.clone(), seed, now),
            now,
            builder: Builder::default(),
            config,
            outstanding: Vec::new(),
            sent_times: VecDeque::new(),
            query_starts: VecDeque::new(),
            queries_started_seen: 0,
            open: HashMap::new(),
            finished: 0,
            tokens: HashMap::new(),
            ledger: HashMap::new(),
            forget_after,
            peer_ids: peers().iter().map(|p| p.identity.node_id()).collect(),
        }
    }

    pub fn id(&self) -> NodeId {
        self.node.id()
    }

    /// Delivers one datagram and checks everything it caused.
    pub fn deliver(&mut self, from: SocketAddr, bytes: &[u8]) {
        let delivered = match wire::decode(bytes) {
            Ok(Message {
                txid,
                sender,
                body: Body::Request { request, .. },
            }) => {
                let verified = self
                    .node
                    .routing_table()
                    .get(&sender)
                    .is_some_and(|e| e.contact.addr == from);
                if !self.config.client_mode && sender != self.id() {
                    let burst = f64::from(self.config.unverified_bytes_per_sec)
                        .max(MAX_DATAGRAM_SIZE as f64) as u64;
                    // Past `rate_limit_tracked_ips` distinct sources the
                    // limiter may forget an active one, which then starts
                    // with a fresh budget (documented in SECURITY.md).
                    let crowded = self.ledger.len() >= self.config.rate_limit_tracked_ips;
                    let l = self.ledger.entry(from.ip()).or_default();
                    match l.last_request {
                        None => {
                            l.allowance = burst;
                            l.first_request = Some(self.now);
                        }
                        Some(last)
                            if self.now.saturating_duration_since(last) >= self.forget_after =>
                        {
                            l.allowance += burst;
                        }
                        Some(_) if crowded => l.allowance += burst,
                        Some(_) => {}
                    }
                    l.received += bytes.len() as u64;
                    l.last_request = Some(self.now);
                }
                Some(Delivered {
                    from,
                    txid,
                    sender,
                    request,
                    verified,
                })
            }
            _ => None,
        };
        self.node.handle_datagram(self.now, from, bytes);
        self.drain(delivered.as_ref());
        self.check_state();
    }

    /// Encodes and delivers `msg`; a message over the datagram limit is
    /// not sent (a real peer could not send it either).
    pub fn deliver_message(&mut self, from: SocketAddr, msg: &Message) {
        if let Ok(bytes) = wire::encode(msg) {
            self.deliver(from, &bytes);
        }
    }

    /// Moves time to `to`, firing every deadline at its own instant.
    pub fn advance(&mut self, to: Instant) {
        for _ in 0..200_000 {
            let Some(due) = self.node.poll_timeout() else {
                break;
            };
            if due > to {
                break;
            }
            self.now = self.now.max(due);
            self.fire();
        }
        self.now = self.now.max(to);
        self.check_state();
    }

    /// `handle_timeout(now)`: due or not (a driver may wake early).
    pub fn fire(&mut self) {
        self.node.handle_timeout(self.now);
        assert!(
            self.node.poll_timeout().is_none_or(|t| t > self.now),
            "after handle_timeout(now) the next timeout is not in the future: a driver would spin"
        );
        self.drain(None);
        self.check_state();
    }

    /// Drains every transmit and event and checks each.
    pub fn drain_after_command(&mut self) {
        self.drain(None);
        self.check_state();
    }

    fn drain(&mut self, delivered: Option<&Delivered>) {
        let mut responded = false;
        while let Some(t) = self.node.poll_transmit() {
            assert!(
                !t.payload.is_empty() && t.payload.len() <= MAX_DATAGRAM_SIZE,
                "datagram of {} bytes",
                t.payload.len()
            );
            let msg = match wire::decode(&t.payload) {
                Ok(m) => m,
                Err(e) => panic!("the node sent a datagram it cannot decode: {e}"),
            };
            assert_eq!(msg.sender, self.id(), "the node sent as someone else");
            match msg.body {
                Body::Request { read_only, request } => {
                    assert_eq!(read_only, self.config.client_mode);
                    assert!(
                        t.dest.port() != 0 && !t.dest.ip().is_unspecified(),
                        "request to an unusable address {}",
                        t.dest
                    );
                    self.sent_times.push_back(self.now);
                    if self.outstanding.len() >= 64 {
                        self.outstanding.remove(0);
                    }
                    self.outstanding.push(Sent {
                        dest: t.dest,
                        txid: msg.txid,
                        request,
                    });
                }
                body => {
                    assert!(!self.config.client_mode, "a client-mode node answered");
                    let Some(d) = delivered else {
                        panic!("a response nobody asked for: {body:?} to {}", t.dest);
                    };
                    assert!(!responded, "two responses to one request");
                    responded = true;
                    assert_eq!(t.dest, d.from, "response to another address");
                    assert_eq!(msg.txid, d.txid, "response does not echo the txid");
                    self.check_response(d, &body);
                    if let Body::Response(
                        Response::Nodes { token, .. }
                        | Response::Value { token, .. }
                        | Response::Providers { token, .. },
                    ) = body
                    {
                        self.tokens.insert(d.from.ip(), token);
                    }
                    if !d.verified {
                        let rate = f64::from(self.config.unverified_bytes_per_sec);
                        let now = self.now;
                        let l = self.ledger.entry(d.from.ip()).or_default();
                        l.sent += t.payload.len() as u64;
                        let elapsed = l
                            .first_request
                            .map_or(0.0, |f| now.saturating_duration_since(f).as_secs_f64());
                        let budget = l.allowance as f64 + rate * elapsed;
                        assert!(
                            l.sent as f64 <= budget + 1.0,
                            "amplification: {} bytes sent to {} (which sent {}) over the budget {budget}",
                            l.sent,
                            d.from.ip(),
                            l.received,
                        );
                    }
                }
            }
        }
        while let Some(event) = self.node.poll_event() {
            let Event::QueryFinished { id, .. } = event;
            assert!(
                self.open.remove(&id).is_some(),
                "event for an unknown or finished query {id:?}"
            );
            self.finished += 1;
        }
    }

    /// The contacts a correct node answers a lookup for `target` with.
    /// What a `Nodes` answer must list: the k closest table entries, not
    /// the requester, and none that failed `max_failures` requests in a row
    /// (computed from the whole table, independently of the engine's
    /// two-step fetch).
    fn expected_nodes(&self, target: &NodeId, requester: &NodeId) -> Vec<Contact> {
        let n = self.config.k.min(MAX_CONTACTS);
        let table = self.node.routing_table();
        let mut nodes = table.closest(target, table.len());
        nodes.retain(|c| {
            c.id != *requester
                && table
                    .get(&c.id)
                    .is_some_and(|e| e.failures < self.config.max_failures)
        });
        nodes.truncate(n);
        nodes
    }

    fn check_response(&self, d: &Delivered, body: &Body) {
        let store = self.node.store();
        match (&d.request, body) {
            (Request::Ping { challenge }, Body::Response(Response::Pong { your_addr, proof })) => {
                assert_eq!(*your_addr, d.from);
                match (challenge, proof) {
                    (None, None) => {}
                    (Some(n), Some(p)) => {
                        assert!(verify_key_proof(&self.id(), n, p), "bad key proof")
                    }
                    _ => panic!("proof does not match the challenge"),
                }
            }
            (Request::FindNode { target }, Body::Response(Response::Nodes { nodes, .. })) => {
                assert_eq!(*nodes, self.expected_nodes(target, &d.sender));
            }
            (Request::FindValue { key }, Body::Response(r)) => {
                match (store.get(self.now, key), r) {
                    (Some(stored), Response::Value { record, .. }) => assert_eq!(stored, record),
                    (None, Response::Nodes { nodes, .. }) => {
                        assert_eq!(*nodes, self.expected_nodes(key, &d.sender));
                    }
                    _ => panic!("FIND_VALUE answered with {r:?}"),
                }
            }
            (Request::Store { record, .. }, Body::Response(Response::Stored)) => {
                assert_eq!(
                    store.get(self.now, &record.key()),
                    Some(record),
                    "STORE acknowledged but not stored"
                );
            }
            (Request::AddProvider { key, .. }, Body::Response(Response::Stored)) => {
                let me = Contact {
                    id: d.sender,
                    addr: d.from,
                };
                assert!(
                    store.providers(self.now, key).contains(&me),
                    "provider acknowledged but not stored"
                );
            }
            (Request::Store { .. } | Request::AddProvider { .. }, Body::Error(e)) => {
                assert!(
                    matches!(e, ErrorCode::InvalidToken | ErrorCode::Refused(_)),
                    "error {e:?}"
                );
            }
            (
                Request::GetProviders { key },
                Body::Response(Response::Providers {
                    providers, nodes, ..
                }),
            ) => {
                let all = store.providers(self.now, key);
                assert!(providers.len() <= MAX_PROVIDERS && all.starts_with(providers));
                assert!(self.expected_nodes(key, &d.sender).starts_with(nodes));
            }
            (request, body) => panic!("{request:?} answered with {body:?}"),
        }
    }

    /// The bounds that must hold after every step.
    pub fn check_state(&mut self) {
        let c = &self.config;
        let store = self.node.store();
        assert!(
            store.len() + store.provider_count() <= c.max_records,
            "store over max_records"
        );
        assert!(
            store.bytes() <= c.max_record_bytes,
            "store over max_record_bytes"
        );
        for ip in peers()
            .iter()
            .map(|p| p.addr.ip())
            .chain([IpAddr::from([0, 0, 0, 0])])
        {
            assert!(
                store.quota_used(ip) <= c.max_records_per_ip,
                "{ip} over its quota"
            );
        }

        let table = self.node.routing_table();
        let k = c.k.max(1);
        assert!(table.len() <= 160 * k);
        assert_eq!(table.iter().count(), table.len());
        let mut seen = HashSet::new();
        for (_, bucket) in table.buckets() {
            assert!(bucket.len() <= k, "bucket over k");
            assert!(bucket.replacements().len() <= c.replacement_cache_size);
        }
        for e in table.iter() {
            assert!(seen.insert(e.contact.id), "duplicate table entry");
            assert_ne!(e.contact.id, self.id(), "the node is in its own table");
            // Only the harness's peers can prove a key: anyone else in the
            // table got in without a key proof.
            assert!(
                self.peer_ids.contains(&e.contact.id),
                "unproven id {} in the table",
                e.contact.id
            );
        }

        // Every outstanding request is younger than its longest life: the
        // timeout cap plus the late-answer window.
        let life = c.rpc_timeout_max.max(c.rpc_timeout_initial) + c.rpc_late_window;
        while self
            .sent_times
            .front()
            .is_some_and(|t| self.now.saturating_duration_since(*t) >= life)
        {
            self.sent_times.pop_front();
        }
        assert!(
            self.node.pending_requests() <= self.sent_times.len(),
            "{} requests pending, only {} sent in the last {life:?}",
            self.node.pending_requests(),
            self.sent_times.len()
        );

        // Every query ends by its deadline.
        let started = self.node.stats().queries_started;
        for _ in self.queries_started_seen..started {
            self.query_starts.push_back(self.now);
        }
        self.queries_started_seen = started;
        while self
            .query_starts
            .front()
            .is_some_and(|t| self.now.saturating_duration_since(*t) >= c.lookup_timeout)
        {
            self.query_starts.pop_front();
        }
        assert!(
            self.node.active_queries() <= self.query_starts.len(),
            "{} queries active, only {} started in the last {:?}",
            self.node.active_queries(),
            self.query_starts.len(),
            c.lookup_timeout
        );
        for (id, at) in &self.open {
            assert!(
                self.now.saturating_duration_since(*at) < c.lookup_timeout,
                "query {id:?} did not finish within lookup_timeout"
            );
        }
    }
}

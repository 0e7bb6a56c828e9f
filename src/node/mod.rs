//! The sans-IO protocol engine: one DHT node's whole protocol, driven by
//! explicit time and a seeded RNG.
//!
//! This module owns request/response matching, timeouts, the routing-table
//! admission rules (key proof), serving RPCs, and running queries. It never
//! touches a socket, never reads the clock and never uses the OS RNG: the
//! tokio driver (`runtime`) and the simulator (`sim`) feed it.
//!
//! # Life cycle
//!
//! - **Inputs**: [`Node::handle_datagram`] for every datagram received,
//!   [`Node::handle_timeout`] when the instant from [`Node::poll_timeout`]
//!   is reached, and the user commands `start_*`.
//! - **Outputs**: after any input, drain [`Node::poll_transmit`] (datagrams
//!   to send) and [`Node::poll_event`] (finished queries), then re-arm the
//!   timer with [`Node::poll_timeout`].
//!
//! ```
//! use std::time::Instant;
//! use meshara_dht::{identity::Identity, node::Node, Config};
//!
//! let now = Instant::now();
//! let mut node = Node::new(Identity::from_seed(1), Config::local(), 42, now);
//! let _query = node.start_bootstrap(now, vec!["127.0.0.1:6881".parse().unwrap()]);
//! while let Some(t) = node.poll_transmit() {
//!     // a driver would send t.payload to t.dest here
//!     assert_eq!(t.dest.port(), 6881);
//! }
//! assert!(node.poll_timeout().is_some());
//! ```

mod deadlines;
mod limits;
mod proof;
mod query;
mod retry;
mod rtt;
mod serve;
mod txmap;
mod types;

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::config::Config;
use crate::id::{Key, NodeId};
use crate::identity::Identity;
use crate::record::Record;
use crate::routing::{InsertOutcome, RoutingTable};
use crate::store::RecordStore;
use crate::wire::{self, Body, Contact, KeyProof, Message, Nonce, Request, Response, TxId};

use deadlines::DeadlineSet;
use limits::{RateLimiter, TokenSecrets};
pub(crate) use proof::ProofScheme;
use query::{Query, QueryKind};
use retry::{Attempt, Retransmissions};
use rtt::RttEstimator;
use txmap::TxIdMap;

pub use types::{
    Event, NodeStats, QueryId, QueryOptions, QueryOutcome, QueryRequest, QueryStats, Transmit,
};

/// How often the engine runs its housekeeping (bucket refresh, republish).
const MAINTENANCE_INTERVAL: Duration = Duration::from_secs(60);

/// Most key-proof pings in flight at once; bounds the work an unknown
/// sender can cause.
const MAX_PENDING_PROOFS: usize = 64;

/// Most refresh lookups started by one housekeeping round.
const MAX_REFRESHES_PER_ROUND: usize = 8;

/// Why a request is outstanding.
#[derive(Debug, Clone, Copy)]
enum Purpose {
    /// A lookup step of a query: one copy of it (see `retry`).
    Lookup(QueryId, Attempt),
    /// A STORE or ADD_PROVIDER of a query's store phase.
    Store(QueryId),
    /// A STORE pushing a newer record to a stale holder; nobody waits.
    Repair,
    /// A ping asking an unknown contact to prove its key: one copy of it
    /// (see `retry`).
    Proof { nonce: Nonce, attempt: Attempt },
    /// A ping to a bootstrap address (id unknown until it proves it): one
    /// copy of it (see `retry`).
    BootstrapPing {
        query: QueryId,
        nonce: Nonce,
        attempt: Attempt,
    },
    /// Ping-before-evict of the least recently seen contact of a bucket.
    Eviction,
}

#[derive(Debug, Clone)]
struct Pending {
    to: SocketAddr,
    expected: Option<NodeId>,
    sent_at: Instant,
    purpose: Purpose,
    /// Passed its soft deadline; its slot was freed but an answer is still
    /// taken until the hard deadline.
    overdue: bool,
    /// The deadline this request has in `Node::deadlines` (soft, then
    /// hard), so that an answered request takes it out again.
    deadline: Instant,
    /// The key-proof challenge a FIND_NODE carried, checked against the
    /// proof in its answer.
    challenge: Option<Nonce>,
}

/// A record this node published and keeps alive by republishing.
#[derive(Debug, Clone)]
enum Published {
    Record(Box<Record>),
    Provider,
}

/// One DHT node's protocol state machine. See the module docs for the life
/// cycle.
///
/// `Clone` copies the whole state, RNG and secrets included: the copy
/// behaves exactly as the original would (the simulator clones bootstrapped
/// networks instead of building them again). Never run two copies on the
/// network at once: they share an identity.
#[derive(Debug, Clone)]
pub struct Node {
    config: Config,
    identity: Identity,
    /// Ed25519 unless the simulator chose its modelled proofs.
    proofs: ProofScheme,
    id: NodeId,
    rng: StdRng,
    table: RoutingTable,
    store: RecordStore,
    rtt: RttEstimator,
    limiter: RateLimiter,
    tokens: TokenSecrets,
    pending: TxIdMap<Pending>,
    /// The copies of retransmitted lookup requests.
    retransmissions: Retransmissions,
    /// Request deadlines: `(when, txid)`; soft first, then hard.
    deadlines: DeadlineSet<TxId>,
    queries: HashMap<QueryId, Query>,
    query_deadlines: DeadlineSet<QueryId>,
    next_query_id: u64,
    /// Ids with a key-proof ping in flight.
    proving: HashSet<NodeId>,
    /// Bucket heads with a ping-before-evict in flight.
    evicting: HashSet<NodeId>,
    published: HashMap<Key, (Published, Instant)>,
    /// Disjoint paths for the query being started by [`Node::start`].
    paths_override: Option<usize>,
    next_maintenance: Instant,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    stats: NodeStats,
}

impl Node {
    /// A node with `identity`, `config`, an RNG seeded with `seed`, started
    /// at `now`.
    pub fn new(identity: Identity, config: Config, seed: u64, now: Instant) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let id = identity.node_id();
        let tokens = TokenSecrets::new(now, config.token_rotation, &mut rng);
        Node {
            table: RoutingTable::new(id, &config),
            store: RecordStore::new(&config),
            rtt: RttEstimator::new(
                config.rpc_timeout_initial,
                config.rpc_timeout_min,
                config.rpc_timeout_max,
                config.rtt_tracked_peers,
            ),
            limiter: RateLimiter::new(&config),
            tokens,
            pending: TxIdMap::default(),
            retransmissions: Retransmissions::default(),
            deadlines: DeadlineSet::default(),
            queries: HashMap::new(),
            query_deadlines: DeadlineSet::default(),
            next_query_id: 1,
            proving: HashSet::new(),
            evicting: HashSet::new(),
            published: HashMap::new(),
            paths_override: None,
            next_maintenance: now + MAINTENANCE_INTERVAL,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: NodeStats::default(),
            config,
            identity,
            proofs: ProofScheme::Ed25519,
            id,
            rng,
        }
    }

    /// Switches how this engine makes and checks key proofs (the simulator
    /// only; see [`ProofScheme`]).
    pub(crate) fn set_proof_scheme(&mut self, scheme: ProofScheme) {
        self.proofs = scheme;
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// This node's identity.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The routing table.
    pub fn routing_table(&self) -> &RoutingTable {
        &self.table
    }

    /// The record store.
    pub fn store(&self) -> &RecordStore {
        &self.store
    }

    /// Counters.
    pub fn stats(&self) -> NodeStats {
        self.stats
    }

    /// Queries not yet finished (user and internal).
    pub fn active_queries(&self) -> usize {
        self.queries.len()
    }

    /// Requests awaiting an answer.
    pub fn pending_requests(&self) -> usize {
        self.pending.len()
    }

    // ----- outputs -------------------------------------------------------

    /// The next datagram to send, if any.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        let t = self.transmits.pop_front()?;
        self.stats.datagrams_sent += 1;
        self.stats.bytes_sent += t.payload.len() as u64;
        Some(t)
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Node::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut t = self.next_maintenance;
        if let Some(d) = self.deadlines.earliest() {
            t = t.min(d);
        }
        if let Some(d) = self.query_deadlines.earliest() {
            t = t.min(d);
        }
        if let Some(d) = self.store.next_expiry() {
            t = t.min(d);
        }
        Some(t)
    }

    // ----- inputs --------------------------------------------------------

    /// Handles one received datagram. Garbage is counted and dropped; this
    /// never panics.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        self.stats.datagrams_received += 1;
        self.stats.bytes_received += bytes.len() as u64;
        let msg = match wire::decode(bytes) {
            Ok(m) => m,
            Err(e) => {
                self.stats.decode_errors += 1;
                tracing::trace!(%from, error = %e, "dropping undecodable datagram");
                return;
            }
        };
        match msg.body {
            Body::Request { read_only, request } => {
                self.handle_request(now, from, msg.txid, msg.sender, read_only, request)
            }
            Body::Response(response) => {
                self.handle_answer(now, from, msg.txid, msg.sender, Ok(response))
            }
            Body::Error(code) => self.handle_answer(now, from, msg.txid, msg.sender, Err(code)),
        }
        self.trim_request_maps();
    }

    /// Fires every timer due at `now`: request timeouts, query deadlines,
    /// record expiry and housekeeping.
    pub fn handle_timeout(&mut self, now: Instant) {
        while self.deadlines.earliest().is_some_and(|when| when <= now) {
            let Some((_, txid)) = self.deadlines.pop_first() else {
                break;
            };
            self.request_deadline(now, txid);
        }
        while self
            .query_deadlines
            .earliest()
            .is_some_and(|when| when <= now)
        {
            let Some((_, qid)) = self.query_deadlines.pop_first() else {
                break;
            };
            if let Some(q) = self.queries.get_mut(&qid) {
                q.timed_out = true;
                q.iter.finish();
            }
            self.drive_query(now, qid);
        }
        self.store.expire(now);
        if now >= self.next_maintenance {
            self.next_maintenance = now + MAINTENANCE_INTERVAL;
            self.maintenance(now);
        }
        self.trim_request_maps();
    }

    // ----- requests out --------------------------------------------------

    fn new_txid(&mut self) -> TxId {
        loop {
            let t: TxId = self.rng.gen();
            if !self.pending.contains_key(&t) {
                return t;
            }
        }
    }

    /// Encodes and queues `request` to `to`, and tracks it with the
    /// adaptive timeout.
    fn send_request(
        &mut self,
        now: Instant,
        to: SocketAddr,
        expected: Option<NodeId>,
        request: Request,
        purpose: Purpose,
    ) -> Option<TxId> {
        let timeout = self.rtt.timeout(&to);
        self.send_request_timed(now, to, expected, request, purpose, timeout)
    }

    /// [`Node::send_request`] with an explicit soft timeout.
    fn send_request_timed(
        &mut self,
        now: Instant,
        to: SocketAddr,
        expected: Option<NodeId>,
        request: Request,
        purpose: Purpose,
        timeout: Duration,
    ) -> Option<TxId> {
        let txid = self.new_txid();
        let challenge = match request {
            Request::FindNode { challenge, .. } => challenge,
            _ => None,
        };
        let msg = Message {
            txid,
            sender: self.id,
            body: Body::Request {
                read_only: self.config.client_mode,
                request,
            },
        };
        let payload = match wire::encode(&msg) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "request does not fit a datagram; not sent");
                return None;
            }
        };
        self.transmits.push_back(Transmit { dest: to, payload });
        self.pending.insert(
            txid,
            Pending {
                to,
                expected,
                sent_at: now,
                purpose,
                overdue: false,
                deadline: now + timeout,
                challenge,
            },
        );
        self.deadlines.insert((now + timeout, txid));
        Some(txid)
    }

    fn send_response(
        &mut self,
        now: Instant,
        to: SocketAddr,
        requester: NodeId,
        txid: TxId,
        body: Body,
    ) {
        let msg = Message {
            txid,
            sender: self.id,
            body,
        };
        let payload = match wire::encode(&msg) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "response does not fit a datagram; not sent");
                return;
            }
        };
        // Anti-amplification: an address that never completed a round trip
        // with us (it may be a spoofed victim) gets a bounded byte budget.
        if !self.is_verified(&requester, &to)
            && !self
                .limiter
                .allow_unverified_send(now, to.ip(), payload.len())
        {
            self.stats.responses_throttled += 1;
            return;
        }
        self.transmits.push_back(Transmit { dest: to, payload });
    }

    /// Whether `id` at `addr` is a contact of our table (it answered us
    /// from that address, so the address is not spoofed).
    fn is_verified(&self, id: &NodeId, addr: &SocketAddr) -> bool {
        self.table.addr_of(id).is_some_and(|a| a == *addr)
    }

    /// Stops tracking request `txid` (answered or retired) and takes its
    /// deadline out, so that no timer fires for it.
    fn remove_pending(&mut self, txid: TxId) -> Option<Pending> {
        let p = self.pending.remove(&txid)?;
        self.deadlines.remove(&(p.deadline, txid));
        Some(p)
    }

    /// A soft or hard request deadline fired.
    fn request_deadline(&mut self, now: Instant, txid: TxId) {
        let Some(p) = self.pending.get_mut(&txid) else {
            return;
        };
        if !p.overdue {
            match p.purpose {
                Purpose::Lookup(qid, attempt) => {
                    // Soft deadline of a lookup request: free its slot, keep
                    // listening for a late answer, and send it again if
                    // retries are left (the lookup then still waits for
                    // this peer); otherwise it is overdue.
                    p.overdue = true;
                    let hard = now + self.config.rpc_late_window;
                    p.deadline = hard;
                    let (peer, to) = (p.expected, p.to);
                    self.deadlines.insert((hard, txid));
                    if let Some(peer) = peer {
                        if !self.retransmit_lookup(now, qid, txid, attempt, to, peer) {
                            if let Some(q) = self.queries.get_mut(&qid) {
                                q.iter.on_overdue(&peer);
                            }
                        }
                    }
                    self.drive_query(now, qid);
                    return;
                }
                Purpose::Proof { .. } | Purpose::Eviction | Purpose::Repair => {
                    // Nobody waits on these, and failing them early is
                    // costly (a live contact evicted, a proof lost): they
                    // get the late window too, and a key proof is sent
                    // again if retries are left.
                    p.overdue = true;
                    let (purpose, to, expected) = (p.purpose, p.to, p.expected);
                    p.deadline = now + self.config.rpc_late_window;
                    self.deadlines.insert((p.deadline, txid));
                    self.retransmit_ping(now, txid, purpose, to, expected);
                    return;
                }
                Purpose::BootstrapPing { .. } => {
                    // The bootstrap waits on it: a copy keeps it matchable
                    // only until the next copy's timeout.
                    let (purpose, to, expected) = (p.purpose, p.to, p.expected);
                    if let Some(timeout) = self.retransmit_ping(now, txid, purpose, to, expected) {
                        if let Some(p) = self.pending.get_mut(&txid) {
                            p.overdue = true;
                            p.deadline = now + timeout;
                        }
                        self.deadlines.insert((now + timeout, txid));
                        return;
                    }
                }
                Purpose::Store(_) => {}
            }
        }
        let Some(p) = self.pending.remove(&txid) else {
            return;
        };
        // A request sent in copies fails once, when its last copy expires.
        if let Some(attempt) = p.purpose.attempt() {
            if self.copy_superseded(txid, attempt) {
                return;
            }
        }
        self.stats.requests_timed_out += 1;
        self.request_failed(now, p);
    }

    /// An outstanding request failed (timeout or error answer).
    fn request_failed(&mut self, now: Instant, p: Pending) {
        if let Some(id) = p.expected {
            let _ = self.table.on_failure(&id);
        }
        match p.purpose {
            Purpose::Lookup(qid, _) => {
                if let (Some(q), Some(peer)) = (self.queries.get_mut(&qid), p.expected) {
                    q.iter.on_failure(&peer);
                }
                self.drive_query(now, qid);
            }
            Purpose::Store(qid) => {
                if let Some(q) = self.queries.get_mut(&qid) {
                    q.store_failed();
                }
                self.drive_query(now, qid);
            }
            Purpose::Proof { .. } => {
                if let Some(id) = p.expected {
                    self.proving.remove(&id);
                }
            }
            Purpose::BootstrapPing { query, .. } => {
                if let Some(q) = self.queries.get_mut(&query) {
                    q.bootstrap_ping_done(false);
                }
                self.drive_query(now, query);
            }
            Purpose::Eviction => {
                if let Some(id) = p.expected {
                    self.evicting.remove(&id);
                    let _ = self.table.resolve_eviction(&id, false, now);
                }
            }
            Purpose::Repair => {}
        }
    }

    // ----- answers in ----------------------------------------------------

    fn handle_answer(
        &mut self,
        now: Instant,
        from: SocketAddr,
        txid: TxId,
        sender: NodeId,
        answer: Result<Response, wire::ErrorCode>,
    ) {
        let matches = self.pending.get(&txid).is_some_and(|p| {
            p.to == from && p.expected.is_none_or(|e| e == sender) && sender != self.id
        });
        if !matches {
            self.stats.responses_unsolicited += 1;
            return;
        }
        let Some(p) = self.remove_pending(txid) else {
            return;
        };
        // Any answer to one copy of a request completes it: the other
        // copies' answers will be unsolicited.
        self.retire_other_copies(txid, p.purpose);
        self.rtt
            .sample(from, now.saturating_duration_since(p.sent_at));
        let contact = Contact {
            id: sender,
            addr: from,
        };
        // Any answer proves liveness; a contact not yet in the table must
        // prove its key before it enters (a spare in a replacement cache
        // already did).
        if self.table.contains(&sender) || self.is_spare(&contact) {
            self.table.on_success(&sender, now);
        } else if let (Some(nonce), Ok(Response::Nodes { proof, .. })) = (&p.challenge, &answer) {
            // A FIND_NODE that carried a challenge: its answer holds the
            // proof (or, from a peer that left it out, a PING asks again).
            match proof {
                Some(proof) => {
                    self.check_proof(now, contact, nonce, Some(proof));
                }
                None => self.start_proof(now, contact),
            }
        } else if !matches!(
            p.purpose,
            Purpose::Proof { .. } | Purpose::BootstrapPing { .. }
        ) {
            self.start_proof(now, contact);
        }
        let answer = match answer {
            Ok(r) => r,
            Err(code) => {
                tracing::debug!(%from, ?code, "error answer");
                match p.purpose {
                    Purpose::Store(qid) => {
                        if let Some(q) = self.queries.get_mut(&qid) {
                            q.store_answered(Err(code));
                        }
                        self.drive_query(now, qid);
                    }
                    _ => self.request_failed(now, p),
                }
                return;
            }
        };
        match p.purpose {
            Purpose::Lookup(qid, _) => self.lookup_answer(now, qid, contact, answer),
            Purpose::Store(qid) => {
                if let Some(q) = self.queries.get_mut(&qid) {
                    q.store_answered(Ok(()));
                }
                self.drive_query(now, qid);
            }
            Purpose::Repair => {}
            Purpose::Proof { nonce, .. } => {
                self.proving.remove(&sender);
                self.proof_answer(now, contact, &nonce, &answer);
            }
            Purpose::BootstrapPing { query, nonce, .. } => {
                let ok = self.proof_answer(now, contact, &nonce, &answer);
                if let Some(q) = self.queries.get_mut(&query) {
                    q.bootstrap_ping_done(ok);
                }
                self.drive_query(now, query);
            }
            Purpose::Eviction => {
                self.evicting.remove(&sender);
                let _ = self.table.resolve_eviction(&sender, true, now);
            }
        }
    }

    /// Whether `id` is a table entry that failed `max_failures` requests in
    /// a row: most likely gone, so neither retried nor listed in answers.
    fn is_stale(&self, id: &NodeId) -> bool {
        self.table
            .failures_of(id)
            .is_some_and(|f| f >= self.config.max_failures)
    }

    /// Whether `contact` waits in a replacement cache, at that address: it
    /// proved its key when it was parked there.
    fn is_spare(&self, contact: &Contact) -> bool {
        self.id
            .bucket_index(&contact.id)
            .and_then(|i| self.table.bucket(i))
            .is_some_and(|b| b.has_replacement(contact))
    }

    /// Whether a key proof of `contact` could change the routing table.
    /// Not when it is already a spare (it proved its key then), and not
    /// when its bucket is full of entries with no failed request and the
    /// bucket's replacement cache is full of spares seen within the
    /// refresh interval: the newcomer would at best displace a fresh spare.
    /// A proof costs the peer a signature, us a verification, and both a
    /// round trip: in the simulator, before this check, a node re-proved
    /// every spare each time it talked to us and proved every stranger
    /// whose bucket was full, and such proofs were most of the traffic.
    fn proof_could_matter(&self, now: Instant, contact: &Contact) -> bool {
        let Some(bucket) = self
            .id
            .bucket_index(&contact.id)
            .and_then(|i| self.table.bucket(i))
        else {
            return false;
        };
        if bucket.has_replacement(contact) {
            return false;
        }
        let bucket_settled = bucket.len() >= self.config.k && bucket.no_failures();
        let spares_fresh = bucket.replacements().len() >= self.config.replacement_cache_size
            && bucket.replacements().all(|e| {
                now.saturating_duration_since(e.last_seen) < self.config.bucket_refresh_interval
            });
        !(bucket_settled && spares_fresh)
    }

    /// The challenge a FIND_NODE to `contact` should carry: a fresh nonce
    /// when `contact` is a stranger whose key proof could change the table
    /// and no proof of it is under way, so that its answer proves its key
    /// and no separate PING is needed.
    fn lookup_challenge(&mut self, now: Instant, contact: &Contact) -> Option<Nonce> {
        let wanted = !self.table.contains(&contact.id)
            && !self.proving.contains(&contact.id)
            && self.proof_could_matter(now, contact);
        wanted.then(|| self.rng.gen())
    }

    /// Asks `contact` to prove its key, unless that is already under way or
    /// could not change the table.
    fn start_proof(&mut self, now: Instant, contact: Contact) {
        if !self.proof_could_matter(now, &contact) {
            return;
        }
        if self.proving.len() >= MAX_PENDING_PROOFS || !self.proving.insert(contact.id) {
            return;
        }
        let nonce: Nonce = self.rng.gen();
        if self
            .send_request(
                now,
                contact.addr,
                Some(contact.id),
                Request::Ping {
                    challenge: Some(nonce),
                },
                Purpose::Proof {
                    nonce,
                    attempt: Attempt::default(),
                },
            )
            .is_none()
        {
            self.proving.remove(&contact.id);
        }
    }

    /// Checks a key proof in a Pong and, if it holds, offers the contact to
    /// the routing table. Returns whether the proof held.
    fn proof_answer(
        &mut self,
        now: Instant,
        contact: Contact,
        nonce: &Nonce,
        answer: &Response,
    ) -> bool {
        let proof = match answer {
            Response::Pong { proof, .. } => proof.as_ref(),
            _ => None,
        };
        self.check_proof(now, contact, nonce, proof)
    }

    /// Checks `proof` (from a Pong or a Nodes answer) against the `nonce`
    /// we sent and, if it holds, offers the contact to the routing table.
    /// A missing proof counts as a failed one. Returns whether it held.
    fn check_proof(
        &mut self,
        now: Instant,
        contact: Contact,
        nonce: &Nonce,
        proof: Option<&KeyProof>,
    ) -> bool {
        let Some(proof) = proof else {
            self.stats.key_proofs_failed += 1;
            return false;
        };
        if !self.proofs.verify(&contact.id, nonce, proof) {
            self.stats.key_proofs_failed += 1;
            return false;
        }
        self.stats.key_proofs_verified += 1;
        self.offer_contact(now, contact);
        true
    }

    /// Offers a proven contact to the table, running ping-before-evict when
    /// its bucket is full.
    fn offer_contact(&mut self, now: Instant, contact: Contact) {
        match self.table.insert(contact, now) {
            InsertOutcome::PendingEviction { candidate } => {
                if !self.evicting.insert(candidate.id) {
                    return;
                }
                let _ = self.send_request(
                    now,
                    candidate.addr,
                    Some(candidate.id),
                    Request::Ping { challenge: None },
                    Purpose::Eviction,
                );
            }
            InsertOutcome::Rejected(reason) => {
                tracing::trace!(id = %contact.id, ?reason, "contact not admitted");
            }
            InsertOutcome::Inserted | InsertOutcome::Updated => {}
        }
    }

    // ----- housekeeping --------------------------------------------------

    fn maintenance(&mut self, now: Instant) {
        self.release_memory(now);
        if !self.table.is_empty() {
            let idle = self
                .table
                .idle_buckets(now, self.config.bucket_refresh_interval);
            for index in idle.into_iter().take(MAX_REFRESHES_PER_ROUND) {
                self.table.touch_bucket(index, now);
                if let Some(target) = self.id.random_in_bucket(index, &mut self.rng) {
                    self.start_query(now, target, QueryKind::refresh(None), false);
                }
            }
        }
        let mut due: Vec<Key> = self
            .published
            .iter()
            .filter(|(_, (_, at))| *at <= now)
            .map(|(k, _)| *k)
            .collect();
        // Hash-map order differs between runs; the RNG draws of the
        // queries started below must not.
        due.sort_unstable();
        for key in due {
            let Some((what, at)) = self.published.get_mut(&key) else {
                continue;
            };
            *at = now + self.config.republish_interval;
            let kind = match what {
                Published::Record(r) => QueryKind::put((**r).clone()),
                Published::Provider => QueryKind::add_provider(key),
            };
            self.start_query(now, key, kind, false);
        }
    }

    /// Gives back memory a burst left behind: hash tables and queues keep
    /// their peak capacity, so after a bootstrap (hundreds of requests in
    /// flight at once) a node would otherwise hold tens of kilobytes of
    /// empty slots for good. Runs after each bootstrap and at every
    /// housekeeping round; shrinks only what is mostly empty.
    pub(super) fn release_memory(&mut self, now: Instant) {
        shrink_map(&mut self.pending);
        self.retransmissions.release_memory();
        shrink_map(&mut self.queries);
        shrink_set(&mut self.proving);
        shrink_set(&mut self.evicting);
        if self.transmits.len() * 4 < self.transmits.capacity() {
            self.transmits.shrink_to(2 * self.transmits.len());
        }
        if self.events.len() * 4 < self.events.capacity() {
            self.events.shrink_to(2 * self.events.len());
        }
        self.limiter.release_memory(now);
        self.rtt.release_memory();
    }

    /// Shrinks the request-tracking maps once a burst has drained (each
    /// after holding under a quarter of its capacity, so the rehashing
    /// costs O(1) per request, amortised). Waiting for the housekeeping
    /// round instead left a node that had just bootstrapped holding the
    /// table of its peak (hundreds of 128-byte slots of `pending`: about
    /// 19 KB per node in a simulated network of 2,000).
    fn trim_request_maps(&mut self) {
        shrink_map(&mut self.pending);
        shrink_set(&mut self.proving);
        shrink_set(&mut self.evicting);
    }

    /// Stops republishing `key` (the record then expires from the DHT after
    /// its TTL).
    pub fn stop_publishing(&mut self, key: &Key) -> bool {
        self.published.remove(key).is_some()
    }
}

/// Shrinks a map holding under a quarter of its capacity.
fn shrink_map<K: Eq + std::hash::Hash, V, S: std::hash::BuildHasher>(map: &mut HashMap<K, V, S>) {
    if map.len() * 4 < map.capacity() {
        map.shrink_to(2 * map.len());
    }
}

/// Shrinks a set holding under a quarter of its capacity.
fn shrink_set<T: Eq + std::hash::Hash>(set: &mut HashSet<T>) {
    if set.len() * 4 < set.capacity() {
        set.shrink_to(2 * set.len());
    }
}

#[cfg(test)]
mod tests;

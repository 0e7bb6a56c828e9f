//! The sans-IO protocol engine: one DHT node's whole protocol, driven by
//! explicit time and a seeded RNG.
//!
//! This module owns the [`Node`] type: its construction, its inputs and
//! outputs, and the state its rooms share. It never touches a socket, never
//! reads the clock and never uses the OS RNG: the tokio driver (`runtime`)
//! and the simulator (`sim`) feed it. The rooms, each an `impl Node` block
//! or a type the node holds:
//!
//! - `codec`: the wire seam, where messages become datagrams and back;
//! - `requests`: transaction ids, sending requests and answers, deadlines,
//!   and matching an answer to its request;
//! - `retry` and `rtt`: the copies of a retransmitted request, and the
//!   adaptive timeout each copy waits;
//! - `serve`: answering the requests of others;
//! - `admission`: which contacts must prove their key before they enter the
//!   routing table, and ping-before-evict;
//! - `commands` and `query`: the user commands, and the query pool that
//!   decides what each query does next (the engine carries it out);
//! - `housekeeping`: bucket refresh, republishing, memory release;
//! - `limits`, `deadlines`, `txmap`, `types`: rate limits and tokens, the
//!   timer sets, the txid-keyed map, and the public vocabulary.
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

mod admission;
mod codec;
mod commands;
mod deadlines;
mod housekeeping;
mod limits;
mod query;
mod requests;
mod retry;
mod rtt;
mod serve;
mod txmap;
mod types;

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::config::Config;
use crate::id::{Key, NodeId};
use crate::identity::Identity;
use crate::routing::RoutingTable;
use crate::store::RecordStore;
use crate::wire::{Body, TxId};

pub(crate) use admission::ProofScheme;
use codec::Codec;
use deadlines::DeadlineSet;
use housekeeping::Published;
use limits::{RateLimiter, TokenSecrets};
use query::QueryPool;
use requests::Pending;
use retry::Retransmissions;
use rtt::RttEstimator;
use txmap::TxIdMap;

pub use types::{
    Event, NodeStats, QueryId, QueryOptions, QueryOutcome, QueryRequest, QueryStats, Transmit,
};

/// One DHT node's protocol state machine.
///
/// Its methods come in four families:
///
/// - **Inputs**, which take `now` and change the state:
///   [`handle_datagram`](Node::handle_datagram) for every datagram
///   received, [`handle_timeout`](Node::handle_timeout) when the instant
///   from `poll_timeout` is reached.
/// - **Outputs**, drained after every input and command:
///   [`poll_transmit`](Node::poll_transmit) (datagrams to send),
///   [`poll_event`](Node::poll_event) (finished user queries), then
///   [`poll_timeout`](Node::poll_timeout) (when to call `handle_timeout`).
/// - **User commands**: [`start`](Node::start) and its shorthands
///   [`start_find_node`](Node::start_find_node),
///   [`start_get_immutable`](Node::start_get_immutable),
///   [`start_get_mutable`](Node::start_get_mutable),
///   [`start_put`](Node::start_put),
///   [`start_add_provider`](Node::start_add_provider),
///   [`start_get_providers`](Node::start_get_providers),
///   [`start_bootstrap`](Node::start_bootstrap), each answered later by an
///   [`Event::QueryFinished`] with the same [`QueryId`]; and
///   [`stop_publishing`](Node::stop_publishing).
/// - **Introspection**, read-only: [`id`](Node::id),
///   [`identity`](Node::identity), [`config`](Node::config),
///   [`routing_table`](Node::routing_table), [`store`](Node::store),
///   [`stats`](Node::stats), [`active_queries`](Node::active_queries),
///   [`pending_requests`](Node::pending_requests).
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
    /// The wire protocol: every datagram in and out goes through it.
    codec: Codec,
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
    queries: QueryPool,
    /// Ids with a key-proof ping in flight.
    proving: HashSet<NodeId>,
    /// Bucket heads with a ping-before-evict in flight.
    evicting: HashSet<NodeId>,
    published: HashMap<Key, (Published, Instant)>,
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
            queries: QueryPool::default(),
            proving: HashSet::new(),
            evicting: HashSet::new(),
            published: HashMap::new(),
            next_maintenance: now + config.maintenance_interval,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: NodeStats::default(),
            config,
            identity,
            proofs: ProofScheme::Ed25519,
            codec: Codec::Native,
            id,
            rng,
        }
    }

    /// Switches how this engine makes and checks key proofs (the simulator
    /// only; see [`ProofScheme`]).
    pub(crate) fn set_proof_scheme(&mut self, scheme: ProofScheme) {
        self.proofs = scheme;
    }

    // ----- introspection -------------------------------------------------

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
        if let Some(d) = self.queries.next_deadline() {
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
        let msg = match self.codec.decode(bytes) {
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
        while let Some(qid) = self.queries.pop_timed_out(now) {
            self.drive_query(now, qid);
        }
        self.store.expire(now);
        if now >= self.next_maintenance {
            self.next_maintenance = now + self.config.maintenance_interval;
            self.maintenance(now);
        }
        self.trim_request_maps();
    }
}

#[cfg(test)]
mod tests;

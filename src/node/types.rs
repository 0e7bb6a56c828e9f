//! The engine's public vocabulary: query ids, outgoing datagrams, events,
//! query outcomes and counters.
//!
//! This module owns plain data only: it must never hold behaviour or
//! engine state, so that drivers can depend on it alone.

use std::net::SocketAddr;
use std::time::Duration;

use crate::id::{Key, NodeId};
use crate::record::{Record, Refusal};
use crate::wire::Contact;

/// Identifies a query started by a `start_*` command; its
/// [`Event::QueryFinished`] carries the same id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QueryId(pub u64);

/// A datagram for the driver to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Where to.
    pub dest: SocketAddr,
    /// The encoded message, at most one datagram of the wire protocol
    /// ([`crate::wire::MAX_DATAGRAM_SIZE`] bytes for the native one).
    pub payload: Vec<u8>,
}

/// Something the engine tells its driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A query started with a `start_*` command ended.
    QueryFinished {
        /// The query.
        id: QueryId,
        /// What it found or did.
        outcome: QueryOutcome,
        /// What it cost.
        stats: QueryStats,
    },
}

/// What one query cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueryStats {
    /// Depth of the answer that completed the lookup (see `docs/PROTOCOL.md`).
    pub hops: u32,
    /// Requests sent by the query (lookup plus store phase).
    pub messages: u32,
    /// Time from start to finish.
    pub duration: Duration,
    /// Whether the query hit `Config::lookup_timeout`.
    pub timed_out: bool,
}

/// The result of a finished query, by kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryOutcome {
    /// `start_find_node`: the closest contacts that answered, closest first.
    FindNode {
        /// At most k contacts.
        closest: Vec<Contact>,
    },
    /// `start_get_*`: the record found, if any (for mutable records, the
    /// highest valid sequence seen among the k closest).
    Get {
        /// The record.
        record: Option<Record>,
        /// Holders that had an older version and were sent the newer one.
        repaired: usize,
    },
    /// `start_put` / `start_add_provider`: how the store phase went.
    Put {
        /// The key written.
        key: Key,
        /// Nodes (including this one, if it is among the closest) that
        /// accepted the record.
        stored: usize,
        /// Nodes that refused it, with their reason.
        refused: Vec<Refusal>,
        /// Nodes that did not answer the STORE.
        failed: usize,
    },
    /// `start_get_providers`: providers found, most recently announced
    /// first, deduplicated by node id.
    Providers {
        /// The providers.
        providers: Vec<Contact>,
    },
    /// `start_bootstrap`: how joining went.
    Bootstrap {
        /// Bootstrap addresses that answered and proved their key.
        reached: usize,
        /// Routing-table size after the self lookup and refreshes.
        table_size: usize,
    },
}

/// Counters of everything the engine did, for `stats()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NodeStats {
    /// Datagrams handed to `handle_datagram`.
    pub datagrams_received: u64,
    /// Bytes handed to `handle_datagram`.
    pub bytes_received: u64,
    /// Datagrams produced by `poll_transmit`.
    pub datagrams_sent: u64,
    /// Bytes produced by `poll_transmit`.
    pub bytes_sent: u64,
    /// Datagrams that failed to decode (garbage).
    pub decode_errors: u64,
    /// Requests answered.
    pub requests_served: u64,
    /// Requests dropped by the per-source rate limit.
    pub requests_rate_limited: u64,
    /// Responses not sent because the destination never completed a round
    /// trip and its byte budget was spent (anti-amplification).
    pub responses_throttled: u64,
    /// Responses or errors matching no outstanding request (wrong
    /// transaction id, address or sender), dropped.
    pub responses_unsolicited: u64,
    /// Outstanding requests that got no answer in time.
    pub requests_timed_out: u64,
    /// Records and provider entries accepted from others.
    pub stores_accepted: u64,
    /// Records and provider entries refused (bad token or a `Refusal`).
    pub stores_refused: u64,
    /// Contacts that proved their key (and were offered to the table).
    pub key_proofs_verified: u64,
    /// Key proofs that failed to verify.
    pub key_proofs_failed: u64,
    /// Queries started (including internal refresh and republish ones).
    pub queries_started: u64,
}

/// A query to start, for [`crate::node::Node::start`] (and the runtime's
/// `Dht::query`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryRequest {
    /// Look up the k nodes closest to an id.
    FindNode(NodeId),
    /// Get the immutable record under a key.
    GetImmutable(Key),
    /// Get the highest-sequence signed record under a key.
    GetMutable(Key),
    /// Store (and keep republishing) a record.
    Put(Record),
    /// Announce this node as a provider of a key.
    AddProvider(Key),
    /// Find the providers of a key.
    GetProviders(Key),
    /// Join through these addresses.
    Bootstrap(Vec<SocketAddr>),
}

/// Per-query choices that override [`crate::Config`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueryOptions {
    /// Number of disjoint lookup paths (S/Kademlia); `None` uses
    /// `Config::disjoint_paths`. More paths resist adversarial nodes at the
    /// cost of more messages.
    pub disjoint_paths: Option<usize>,
}

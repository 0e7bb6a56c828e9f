//! # meshara-dht
//!
//! A Kademlia distributed hash table for [Meshara] peer discovery: 160-bit
//! node ids (SHA-1 of an ed25519 key), the XOR metric, k-buckets, iterative
//! alpha-parallel lookups over UDP, and a TTL'd store of immutable, signed
//! mutable and provider records.
//!
//! The protocol is *sans-IO*: the engine takes datagrams and timestamps in and
//! hands datagrams and deadlines out, so the same code runs on tokio UDP
//! sockets and in a deterministic simulator.
//!
//! # Layout
//!
//! | module | concept |
//! |---|---|
//! | [`id`] | `NodeId` / `Key` (160 bits), XOR `Distance`, bucket index |
//! | [`identity`] | the node's ed25519 keypair, key proofs, the key file |
//! | [`config`] | every tunable, with its default |
//! | [`error`] | one error enum per concern |
//! | [`wire`] | message types, postcard codec, datagram limits |
//! | [`record`] | immutable and signed mutable records, refusal reasons |
//! | [`store`] | `RecordStore`: TTL'd records and providers, caps, per-IP quotas, expiry index |
//! | [`routing`] | k-buckets, replacement caches, subnet caps, closest contacts |
//! | [`node`] | the sans-IO protocol engine: serving RPCs, running queries, timeouts and lookup retransmission, key proofs, abuse limits |
//! | [`runtime`] | the tokio UDP driver, the `Dht` handle and a loopback `Testnet` (feature `runtime`) |
//! | [`meshara`] | the Meshara adapter: signed contacts under Meshara ids, verified lookups, `route_with_dht` with a key proof before sending, maintenance, a reference TCP transport (feature `meshara`) |
//! | [`lookup`] | iterative lookups: the closest-peers iterator (`ClosestIter`), alpha in flight, final fan-out, hop accounting |
//! | `src/bin/meshara-dht/` | the `meshara-dht` binary (feature `cli`): `testnet`, `node`, `put`, `get`, `find-node`, `find-peer`, `sim` |
//! | [`sim`] | deterministic network simulator: many real engines on virtual time, link model, churn, lookup measurements |
//!
//! [Meshara]: https://github.com/sebyx07/meshara
#![warn(missing_docs, unreachable_pub)]
#![deny(unsafe_code)]

pub mod config;
pub mod error;
pub mod id;
pub mod identity;
pub mod lookup;
#[cfg(feature = "meshara")]
pub mod meshara;
pub mod node;
pub mod record;
pub mod routing;
#[cfg(feature = "runtime")]
pub mod runtime;
pub mod sim;
pub mod store;
pub mod wire;

pub use config::Config;
pub use id::{Distance, Key, NodeId};
pub use identity::Identity;

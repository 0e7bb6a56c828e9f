//! [`DhtError`]: what an operation on a running [`Dht`](super::Dht) can
//! fail with.
//!
//! This file owns the error type only; `crate::error` re-exports it.

use crate::config::ConfigError;
use crate::record::Refusal;

/// An operation on a running [`Dht`](super::Dht) failed.
#[derive(Debug, thiserror::Error)]
pub enum DhtError {
    /// The UDP socket could not be bound.
    #[error("cannot bind UDP socket on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A bootstrap host name could not be resolved.
    #[error("cannot resolve bootstrap address {host:?}: {source}")]
    Resolve {
        /// The name as given.
        host: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// No bootstrap address answered and proved its key.
    #[error("no bootstrap node answered ({tried} addresses tried)")]
    BootstrapFailed {
        /// Addresses tried.
        tried: usize,
    },
    /// The configuration is inconsistent.
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    /// The record is invalid (too large, bad signature...).
    #[error("invalid record: {0}")]
    InvalidRecord(#[from] Refusal),
    /// No node accepted the record.
    #[error("no node stored the record ({} refused, {failed} did not answer)", refused.len())]
    NotStored {
        /// Refusals received, with their reasons.
        refused: Vec<Refusal>,
        /// Nodes that did not answer.
        failed: usize,
    },
    /// The node has shut down.
    #[error("the DHT node has shut down")]
    Shutdown,
}

//! Every error type of the crate, one `thiserror` enum per concern.
//!
//! Errors are values the caller can match on; none carries a bare `String`
//! as its only content. Logging is the caller's business (`tracing`).

use std::path::PathBuf;

/// A hex node id could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdParseError {
    /// The string is not 40 characters long.
    #[error("a node id is 40 hex digits, found {found} characters")]
    Length {
        /// Characters found.
        found: usize,
    },
    /// A character is not a hex digit.
    #[error("character {position} of the node id is not a hex digit")]
    NotHex {
        /// Zero-based index of the offending byte.
        position: usize,
    },
}

/// Loading or saving an identity key file failed.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The file could not be read or written.
    #[error("key file {path}: {source}")]
    Io {
        /// The key file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file does not have the size of a key file.
    #[error("key file {path} has {found} bytes, a key file has exactly {expected}")]
    WrongSize {
        /// The key file.
        path: PathBuf,
        /// Bytes found.
        found: usize,
        /// Bytes expected.
        expected: usize,
    },
    /// The file has the right size but not the key file's header or checksum.
    #[error("key file {path} is corrupt: {reason}")]
    Corrupt {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// A message could not be encoded into one datagram.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The encoded message would exceed the datagram limit.
    #[error("encoded message is {size} bytes, over the {max}-byte datagram limit")]
    TooLarge {
        /// Encoded size in bytes, version byte included.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// A value is longer than the value limit.
    #[error("value is {len} bytes, over the {max}-byte value limit")]
    ValueTooLarge {
        /// Value length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A list holds more items than the protocol allows.
    #[error("list of {len} items, over the limit of {max}")]
    TooManyItems {
        /// Items in the list.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A salt is longer than the salt limit.
    #[error("salt is {len} bytes, over the {max}-byte salt limit")]
    SaltTooLarge {
        /// Salt length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The serializer failed. Messages built from this crate's types never
    /// cause it; the variant exists so no failure is hidden.
    #[error("serializer failed: {0}")]
    Serializer(postcard::Error),
}

/// A datagram could not be decoded. Decoding never panics and never
/// allocates more than the datagram's own size allows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The datagram is empty.
    #[error("empty datagram")]
    Empty,
    /// The datagram is longer than any valid message.
    #[error("datagram is {size} bytes, over the {max}-byte limit")]
    DatagramTooLarge {
        /// Datagram size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The version byte names a protocol version this build does not speak.
    #[error("unsupported protocol version {found} (this node speaks {supported})")]
    UnsupportedVersion {
        /// Version found.
        found: u8,
        /// Version supported.
        supported: u8,
    },
    /// The datagram ended in the middle of a message.
    #[error("datagram is truncated")]
    Truncated,
    /// Bytes remain after a complete message.
    #[error("{count} trailing bytes after the message")]
    TrailingBytes {
        /// How many.
        count: usize,
    },
    /// A list is longer than the protocol allows.
    #[error("list of {len} items, over the limit of {max}")]
    TooManyItems {
        /// Items announced.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A value is longer than the value limit.
    #[error("value is {len} bytes, over the {max}-byte value limit")]
    ValueTooLarge {
        /// Value length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A salt is longer than the salt limit.
    #[error("salt is {len} bytes, over the {max}-byte salt limit")]
    SaltTooLarge {
        /// Salt length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The bytes do not form a message (bad tag, bad varint, bad UTF-8...).
    #[error("malformed message: {0}")]
    Malformed(postcard::Error),
}

/// An operation on a running [`crate::runtime::Dht`] failed.
#[cfg(feature = "runtime")]
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
    Config(#[from] crate::config::ConfigError),
    /// The record is invalid (too large, bad signature...).
    #[error("invalid record: {0}")]
    InvalidRecord(#[from] crate::record::Refusal),
    /// No node accepted the record.
    #[error("no node stored the record ({} refused, {failed} did not answer)", refused.len())]
    NotStored {
        /// Refusals received, with their reasons.
        refused: Vec<crate::record::Refusal>,
        /// Nodes that did not answer.
        failed: usize,
    },
    /// The node has shut down.
    #[error("the DHT node has shut down")]
    Shutdown,
}

/// A simulation could not be set up.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SimError {
    /// The engines' configuration is inconsistent.
    #[error("invalid node configuration: {0}")]
    Config(#[from] crate::config::ConfigError),
    /// A network needs at least one node.
    #[error("a simulation needs at least one node")]
    NoNodes,
    /// More nodes than the simulator can give addresses to.
    #[error("a simulation holds at most {max} nodes")]
    TooManyNodes {
        /// The limit.
        max: usize,
    },
    /// A field that must be positive is zero.
    #[error("simulation field `{field}` must be greater than zero")]
    Zero {
        /// The field.
        field: &'static str,
    },
    /// A probability outside 0..=1.
    #[error("simulation field `{field}` is a probability, found {value}")]
    NotAProbability {
        /// The field.
        field: &'static str,
        /// The value found.
        value: f64,
    },
    /// A rate or shape parameter that is negative or not finite.
    #[error("simulation field `{field}` must be finite and not negative, found {value}")]
    NegativeRate {
        /// The field.
        field: &'static str,
        /// The value found.
        value: f64,
    },
    /// A uniform latency range whose minimum exceeds its maximum.
    #[error("latency range minimum exceeds its maximum")]
    LatencyOrder,
}

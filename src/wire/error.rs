//! [`EncodeError`] and [`DecodeError`]: why a message did not become a
//! datagram, or a datagram did not become a message.
//!
//! This file owns the error types only; `crate::error` re-exports them.

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

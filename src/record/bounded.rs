//! Bounded deserialization of the protocol's length-prefixed fields: a
//! record's value and salt here, the contact lists of `wire` on top of the
//! same helpers, and the per-thread slot that carries a limit
//! [`Violation`] out of the deserializer.
//!
//! This module owns the rule "a length is checked against its limit the
//! moment it is read, before anything is allocated or copied". It must never
//! allocate from an announced length that has not passed that check, and
//! never keep state beyond one call to `wire::decode`.
//!
//! # How a typed error gets out of postcard
//!
//! postcard's custom errors carry no payload (`serde::de::Error::custom`
//! becomes `postcard::Error::SerdeDeCustom`). A bounded visitor that finds a
//! length over its limit therefore records the exact [`Violation`] in a
//! thread-local slot and then fails with a custom error, which stops
//! postcard at once. `wire::decode` clears the slot before it starts
//! ([`clear`]) and, when postcard fails, prefers the recorded violation
//! (turned into its `DecodeError`) over postcard's own error ([`take`]).
//! The slot is only written by code running inside `decode` on the same
//! thread, so it can never be stale.
//!
//! # Why lists and byte strings are read as tuples
//!
//! On the wire a list is `varint(len)` then its items, and a byte string is
//! `varint(len)` then its bytes, exactly as postcard writes a `Vec` or
//! `serialize_bytes`. Through postcard's `deserialize_seq` a visitor cannot
//! see the announced length when it exceeds the bytes left (the size hint is
//! then `None`), and `deserialize_bytes` checks the bytes are present before
//! the visitor runs. To check every announced length first, these fields are
//! read with `deserialize_tuple` (postcard reads no prefix for a tuple): the
//! first element is the `varint(len)` itself, checked against the limit,
//! then exactly `len` elements follow. The bytes on the wire are identical
//! to the plain serde encoding, so encoding needs no helper. Human-readable
//! formats (JSON, for debugging) use the plain serde path plus the check.

use std::cell::Cell;
use std::fmt;

use bytes::Bytes;
use serde::de::{self, DeserializeSeed, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::{MAX_SALT_SIZE, MAX_VALUE_SIZE};

/// A length found over its limit while deserializing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Violation {
    /// A list announced more items than allowed.
    TooManyItems {
        /// Items announced.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A value is longer than [`MAX_VALUE_SIZE`].
    ValueTooLarge {
        /// Value length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A salt is longer than [`MAX_SALT_SIZE`].
    SaltTooLarge {
        /// Salt length.
        len: usize,
        /// The limit.
        max: usize,
    },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Violation::TooManyItems { len, max } => {
                write!(f, "list of {len} items, over the limit of {max}")
            }
            Violation::ValueTooLarge { len, max } => {
                write!(f, "value is {len} bytes, over the {max}-byte value limit")
            }
            Violation::SaltTooLarge { len, max } => {
                write!(f, "salt is {len} bytes, over the {max}-byte salt limit")
            }
        }
    }
}

thread_local! {
    /// The limit violation found by the running `decode` on this thread.
    static VIOLATION: Cell<Option<Violation>> = const { Cell::new(None) };
}

/// Forgets any recorded violation; `decode` calls it before decoding.
pub(crate) fn clear() {
    VIOLATION.with(|slot| slot.set(None));
}

/// Takes the violation recorded since the last [`clear`], if any.
pub(crate) fn take() -> Option<Violation> {
    VIOLATION.with(Cell::take)
}

/// Records `violation` and returns the (payload-less) error that makes the
/// deserializer stop.
fn report<E: de::Error>(violation: Violation) -> E {
    let err = E::custom(violation);
    VIOLATION.with(|slot| slot.set(Some(violation)));
    err
}

/// Which limit a field obeys, and the typed violation for breaking it.
#[derive(Clone, Copy)]
pub(crate) enum Limit {
    /// A list of at most this many items.
    Items(usize),
    /// A record value.
    Value,
    /// A record salt.
    Salt,
}

impl Limit {
    /// The largest length allowed.
    pub(crate) fn max(self) -> usize {
        match self {
            Limit::Items(max) => max,
            Limit::Value => MAX_VALUE_SIZE,
            Limit::Salt => MAX_SALT_SIZE,
        }
    }

    /// Fails with the typed violation when `len` is over the limit.
    pub(crate) fn check<E: de::Error>(self, len: usize) -> Result<(), E> {
        let max = self.max();
        if len <= max {
            return Ok(());
        }
        Err(report(match self {
            Limit::Items(_) => Violation::TooManyItems { len, max },
            Limit::Value => Violation::ValueTooLarge { len, max },
            Limit::Salt => Violation::SaltTooLarge { len, max },
        }))
    }

    /// The tuple length handed to postcard: the length prefix plus at most
    /// `max` elements. postcard only uses it to stop a visitor that reads
    /// too far, which these visitors never do.
    pub(crate) fn tuple_len(self) -> usize {
        self.max() + 1
    }

    /// Reads the `varint(len)` prefix as the first tuple element and
    /// checks it.
    pub(crate) fn read_len<'de, A: SeqAccess<'de>>(self, seq: &mut A) -> Result<usize, A::Error> {
        let len: u64 = seq
            .next_element()?
            .ok_or_else(|| de::Error::invalid_length(0, &"a length prefix"))?;
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        self.check(len)?;
        Ok(len)
    }
}

/// `deserialize_with` for a record value of at most [`MAX_VALUE_SIZE`] bytes.
pub(crate) fn value<'de, D: Deserializer<'de>>(d: D) -> Result<Bytes, D::Error> {
    byte_string(d, Limit::Value)
}

/// `deserialize_with` for a salt of at most [`MAX_SALT_SIZE`] bytes.
pub(crate) fn salt<'de, D: Deserializer<'de>>(d: D) -> Result<Bytes, D::Error> {
    byte_string(d, Limit::Salt)
}

fn byte_string<'de, D: Deserializer<'de>>(d: D, limit: Limit) -> Result<Bytes, D::Error> {
    if d.is_human_readable() {
        let bytes = Bytes::deserialize(d)?;
        limit.check(bytes.len())?;
        return Ok(bytes);
    }
    d.deserialize_tuple(2, ByteStringVisitor { limit })
}

struct ByteStringVisitor {
    limit: Limit,
}

impl<'de> Visitor<'de> for ByteStringVisitor {
    type Value = Bytes;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a byte string of at most {} bytes", self.limit.max())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Bytes, A::Error> {
        let len = self.limit.read_len(&mut seq)?;
        seq.next_element_seed(RawBytes { len })?
            .ok_or_else(|| de::Error::invalid_length(1, &self))
    }
}

/// Exactly `len` raw bytes, no prefix (the prefix was already read).
struct RawBytes {
    len: usize,
}

impl<'de> DeserializeSeed<'de> for RawBytes {
    type Value = Bytes;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Bytes, D::Error> {
        d.deserialize_tuple(self.len, self)
    }
}

impl<'de> Visitor<'de> for RawBytes {
    type Value = Bytes;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} bytes", self.len)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Bytes, A::Error> {
        // `len` passed the limit check; the capacity is bounded by it.
        let mut out = Vec::with_capacity(self.len);
        for i in 0..self.len {
            let byte: u8 = seq
                .next_element()?
                .ok_or_else(|| de::Error::invalid_length(i, &self))?;
            out.push(byte);
        }
        Ok(Bytes::from(out))
    }
}

#[cfg(test)]
mod tests {
    use serde::de::value::{BytesDeserializer, Error as ValueError};

    use super::{clear, salt, take, value, Violation};

    #[test]
    fn human_readable_value_and_salt_are_checked_too() {
        clear();
        let big = [0u8; 1001];
        assert!(value(BytesDeserializer::<ValueError>::new(&big)).is_err());
        assert_eq!(
            take(),
            Some(Violation::ValueTooLarge {
                len: 1001,
                max: 1000
            })
        );
        assert!(salt(BytesDeserializer::<ValueError>::new(&big[..33])).is_err());
        assert_eq!(take(), Some(Violation::SaltTooLarge { len: 33, max: 32 }));
        let ok = salt(BytesDeserializer::<ValueError>::new(&big[..32]));
        assert_eq!(ok.map(|b| b.len()), Ok(32));
        assert_eq!(take(), None);
    }
}

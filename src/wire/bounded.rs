//! Bounded deserialization of the protocol's variable-length fields (contact
//! lists, values, salts) and the per-thread slot that carries a limit
//! violation out of postcard as a typed [`DecodeError`].
//!
//! This module owns the rule "a length is checked against its limit the
//! moment it is read, before anything is allocated or copied". It must never
//! allocate from an announced length that has not passed that check, and
//! never keep state beyond one call to [`crate::wire::decode`].
//!
//! # How a typed error gets out of postcard
//!
//! postcard's custom errors carry no payload (`serde::de::Error::custom`
//! becomes `postcard::Error::SerdeDeCustom`). A bounded visitor that finds a
//! length over its limit therefore records the exact [`DecodeError`] in a
//! thread-local slot ([`report`]) and then fails with a custom error, which
//! stops postcard at once. `decode` clears the slot before it starts
//! ([`clear`]) and, when postcard fails, prefers the recorded violation over
//! postcard's own error ([`take`]). The slot is only written by code running
//! inside `decode` on the same thread, so it can never be stale.
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
//!
//! The contacts of a list are read the same way, flat (`ContactSeed`): the
//! bytes of the derived encoding, without serde's nested `SocketAddr` enum
//! and tuple visitors. That makes decoding a 20-contact response about a
//! third faster; the derived `Deserialize` of [`Contact`] is unchanged.

use std::cell::Cell;
use std::fmt;
use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;
use serde::de::{self, DeserializeSeed, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::DecodeError;
use super::{Contact, MAX_CONTACTS, MAX_PROVIDERS, MAX_SALT_SIZE, MAX_VALUE_SIZE};
use crate::id::{NodeId, ID_LEN};

thread_local! {
    /// The limit violation found by the running `decode` on this thread.
    static VIOLATION: Cell<Option<DecodeError>> = const { Cell::new(None) };
}

/// Forgets any recorded violation; `decode` calls it before decoding.
pub(crate) fn clear() {
    VIOLATION.with(|slot| slot.set(None));
}

/// Takes the violation recorded since the last [`clear`], if any.
pub(crate) fn take() -> Option<DecodeError> {
    VIOLATION.with(Cell::take)
}

/// Records `violation` and returns the (payload-less) error that makes the
/// deserializer stop.
fn report<E: de::Error>(violation: DecodeError) -> E {
    let err = E::custom(&violation);
    VIOLATION.with(|slot| slot.set(Some(violation)));
    err
}

/// Which limit a field obeys, and the typed error for breaking it.
#[derive(Clone, Copy)]
enum Limit {
    Items(usize),
    Value,
    Salt,
}

impl Limit {
    fn max(self) -> usize {
        match self {
            Limit::Items(max) => max,
            Limit::Value => MAX_VALUE_SIZE,
            Limit::Salt => MAX_SALT_SIZE,
        }
    }

    /// Fails with the typed violation when `len` is over the limit.
    fn check<E: de::Error>(self, len: usize) -> Result<(), E> {
        let max = self.max();
        if len <= max {
            return Ok(());
        }
        Err(report(match self {
            Limit::Items(_) => DecodeError::TooManyItems { len, max },
            Limit::Value => DecodeError::ValueTooLarge { len, max },
            Limit::Salt => DecodeError::SaltTooLarge { len, max },
        }))
    }
}

/// `deserialize_with` for a list of at most [`MAX_CONTACTS`] contacts.
pub(crate) fn contacts<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Contact>, D::Error> {
    list(d, Limit::Items(MAX_CONTACTS))
}

/// `deserialize_with` for a list of at most [`MAX_PROVIDERS`] providers.
pub(crate) fn providers<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Contact>, D::Error> {
    list(d, Limit::Items(MAX_PROVIDERS))
}

/// `deserialize_with` for a record value of at most [`MAX_VALUE_SIZE`] bytes.
pub(crate) fn value<'de, D: Deserializer<'de>>(d: D) -> Result<Bytes, D::Error> {
    byte_string(d, Limit::Value)
}

/// `deserialize_with` for a salt of at most [`MAX_SALT_SIZE`] bytes.
pub(crate) fn salt<'de, D: Deserializer<'de>>(d: D) -> Result<Bytes, D::Error> {
    byte_string(d, Limit::Salt)
}

/// The tuple length handed to postcard: the length prefix plus at most
/// `max` elements. postcard only uses it to stop a visitor that reads too
/// far, which these visitors never do.
fn tuple_len(limit: Limit) -> usize {
    limit.max() + 1
}

/// Reads the `varint(len)` prefix as the first tuple element and checks it.
fn read_len<'de, A: SeqAccess<'de>>(seq: &mut A, limit: Limit) -> Result<usize, A::Error> {
    let len: u64 = seq
        .next_element()?
        .ok_or_else(|| de::Error::invalid_length(0, &"a length prefix"))?;
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    limit.check(len)?;
    Ok(len)
}

fn list<'de, D: Deserializer<'de>>(d: D, limit: Limit) -> Result<Vec<Contact>, D::Error> {
    if d.is_human_readable() {
        let items = Vec::<Contact>::deserialize(d)?;
        limit.check(items.len())?;
        return Ok(items);
    }
    d.deserialize_tuple(tuple_len(limit), ListVisitor { limit })
}

struct ListVisitor {
    limit: Limit,
}

impl<'de> Visitor<'de> for ListVisitor {
    type Value = Vec<Contact>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a list of at most {} contacts", self.limit.max())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Contact>, A::Error> {
        let len = read_len(&mut seq, self.limit)?;
        // `len` passed the check, so this allocation is bounded by the limit.
        let mut items = Vec::with_capacity(len);
        for i in 0..len {
            let item = seq
                .next_element_seed(ContactSeed)?
                .ok_or_else(|| de::Error::invalid_length(i, &self))?;
            items.push(item);
        }
        Ok(items)
    }
}

/// Reads one [`Contact`] in a single pass, as a tuple of its wire fields:
/// 20 id bytes, the address tag (the varint postcard writes for the
/// `SocketAddr` variant), 4 or 16 address bytes, the port varint. The
/// bytes are exactly those of the derived encoding; reading them flat
/// skips serde's nested enum and tuple visitors on the hot path.
struct ContactSeed;

/// Elements of the flattened contact tuple, at most: id, tag, IPv6, port.
const CONTACT_FIELDS: usize = 20 + 1 + 16 + 1;

impl<'de> DeserializeSeed<'de> for ContactSeed {
    type Value = Contact;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Contact, D::Error> {
        d.deserialize_tuple(CONTACT_FIELDS, self)
    }
}

impl<'de> Visitor<'de> for ContactSeed {
    type Value = Contact;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a contact")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Contact, A::Error> {
        let mut read = 0;
        let mut id = [0u8; ID_LEN];
        fill(&mut seq, &mut id, &mut read)?;
        let tag: u32 = element(&mut seq, &mut read)?;
        let ip = match tag {
            0 => {
                let mut octets = [0u8; 4];
                fill(&mut seq, &mut octets, &mut read)?;
                IpAddr::from(octets)
            }
            1 => {
                let mut octets = [0u8; 16];
                fill(&mut seq, &mut octets, &mut read)?;
                IpAddr::from(octets)
            }
            other => {
                return Err(de::Error::invalid_value(
                    de::Unexpected::Unsigned(u64::from(other)),
                    &"address tag 0 (IPv4) or 1 (IPv6)",
                ))
            }
        };
        let port: u16 = element(&mut seq, &mut read)?;
        Ok(Contact {
            id: NodeId::from_bytes(id),
            addr: SocketAddr::new(ip, port),
        })
    }
}

/// The next element of a flattened tuple; `read` counts elements taken.
fn element<'de, A: SeqAccess<'de>, T: Deserialize<'de>>(
    seq: &mut A,
    read: &mut usize,
) -> Result<T, A::Error> {
    let value = seq
        .next_element()?
        .ok_or_else(|| de::Error::invalid_length(*read, &"a contact"))?;
    *read += 1;
    Ok(value)
}

fn fill<'de, A: SeqAccess<'de>>(
    seq: &mut A,
    out: &mut [u8],
    read: &mut usize,
) -> Result<(), A::Error> {
    for byte in out {
        *byte = element(seq, read)?;
    }
    Ok(())
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
        let len = read_len(&mut seq, self.limit)?;
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

    use super::{clear, salt, take, value};
    use crate::wire::DecodeError;

    #[test]
    fn human_readable_value_and_salt_are_checked_too() {
        clear();
        let big = [0u8; 1001];
        assert!(value(BytesDeserializer::<ValueError>::new(&big)).is_err());
        assert_eq!(
            take(),
            Some(DecodeError::ValueTooLarge {
                len: 1001,
                max: 1000
            })
        );
        assert!(salt(BytesDeserializer::<ValueError>::new(&big[..33])).is_err());
        assert_eq!(take(), Some(DecodeError::SaltTooLarge { len: 33, max: 32 }));
        let ok = salt(BytesDeserializer::<ValueError>::new(&big[..32]));
        assert_eq!(ok.map(|b| b.len()), Ok(32));
        assert_eq!(take(), None);
    }
}

//! Bounded deserialization of the protocol's contact lists, and the
//! bridge from a recorded limit violation to a typed [`DecodeError`].
//!
//! This module owns the rule "a list's length is checked against its limit
//! the moment it is read, before anything is allocated". The mechanism (a
//! list read as a tuple whose first element is its `varint(len)`, and the
//! per-thread slot that carries the violation out of postcard) is shared
//! with a record's value and salt and lives beside them in
//! `crate::record::bounded`; see its docs. It never keeps state beyond one
//! call to [`crate::wire::decode`].
//!
//! The contacts of a list are read flat (`ContactSeed`): the bytes of the
//! derived encoding, without serde's nested `SocketAddr` enum and tuple
//! visitors, which keeps the hot decoding path short; the derived
//! `Deserialize` of [`Contact`] is unchanged.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use serde::de::{self, DeserializeSeed, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::{Contact, DecodeError, MAX_CONTACTS, MAX_PROVIDERS};
use crate::id::{NodeId, ID_LEN};
use crate::record::bounded::{self as limits, Limit, Violation};

/// Forgets any recorded violation; `decode` calls it before decoding.
pub(crate) fn clear() {
    limits::clear();
}

/// The violation recorded since the last [`clear`], if any, as the
/// [`DecodeError`] `decode` returns for it.
pub(crate) fn take() -> Option<DecodeError> {
    limits::take().map(|violation| match violation {
        Violation::TooManyItems { len, max } => DecodeError::TooManyItems { len, max },
        Violation::ValueTooLarge { len, max } => DecodeError::ValueTooLarge { len, max },
        Violation::SaltTooLarge { len, max } => DecodeError::SaltTooLarge { len, max },
    })
}

/// `deserialize_with` for a list of at most [`MAX_CONTACTS`] contacts.
pub(crate) fn contacts<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Contact>, D::Error> {
    list(d, Limit::Items(MAX_CONTACTS))
}

/// `deserialize_with` for a list of at most [`MAX_PROVIDERS`] providers.
pub(crate) fn providers<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Contact>, D::Error> {
    list(d, Limit::Items(MAX_PROVIDERS))
}

fn list<'de, D: Deserializer<'de>>(d: D, limit: Limit) -> Result<Vec<Contact>, D::Error> {
    if d.is_human_readable() {
        let items = Vec::<Contact>::deserialize(d)?;
        limit.check(items.len())?;
        return Ok(items);
    }
    d.deserialize_tuple(limit.tuple_len(), ListVisitor { limit })
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
        let len = self.limit.read_len(&mut seq)?;
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

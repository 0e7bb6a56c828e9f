//! Encoding and decoding of [`Message`]s: one version byte, then the
//! postcard encoding of the message, never more than
//! [`MAX_DATAGRAM_SIZE`] bytes in all.
//!
//! This module owns the datagram boundary. It never panics on any input,
//! never allocates from a length an input announces before that length
//! passed its limit, and never touches a socket.
//!
//! # Encoding
//!
//! [`encode_into`] first validates the limits a peer would enforce (list
//! lengths, value and salt sizes) and reports a broken one with its typed
//! [`EncodeError`]; then computes the exact size with
//! [`encoded_len`](super::encoded_len) and refuses a message over
//! [`MAX_DATAGRAM_SIZE`] with [`EncodeError::TooLarge`] carrying the real
//! size; only then serializes, into the caller's buffer: FIND_NODE and
//! `Nodes`, most of the traffic, by the hand-written `fast.rs`, any other
//! message by postcard (the same bytes either way).
//!
//! # Decoding
//!
//! [`decode`] checks, in order: empty datagram, datagram size, version byte;
//! then tries the hand-written reader of `fast.rs`, which takes only a
//! well-formed, canonical FIND_NODE or `Nodes` (most of the traffic) and
//! passes on anything else; then runs postcard over the rest. The
//! variable-length fields go through bounded visitors (contact lists in
//! `bounded.rs`, a record's value and salt in `crate::record::bounded`),
//! which check each announced length against its limit before reading or
//! allocating anything, and leave the violation in a thread-local slot,
//! because postcard's custom errors carry no payload. `decode` clears the
//! slot before and reads it after postcard, preferring its typed
//! [`DecodeError`] (`TooManyItems`, `ValueTooLarge`, `SaltTooLarge`) over
//! postcard's error. Then it refuses trailing bytes. Memory use is bounded
//! by the limits ([`MAX_PROVIDERS`] + [`MAX_CONTACTS`] contacts, one value
//! of [`MAX_VALUE_SIZE`] bytes, one salt of [`MAX_SALT_SIZE`]), whatever
//! the datagram announces.

use postcard::ser_flavors::Flavor;

use super::{
    bounded, encoded_len, fast, Body, Contact, DecodeError, EncodeError, Message, Request,
    Response, MAX_CONTACTS, MAX_DATAGRAM_SIZE, MAX_PROVIDERS, MAX_SALT_SIZE, MAX_VALUE_SIZE,
    PROTOCOL_VERSION,
};
use crate::record::Record;

/// Encodes `msg` into a new datagram.
pub fn encode(msg: &Message) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::new();
    encode_into(msg, &mut out)?;
    Ok(out)
}

/// Encodes `msg`, replacing the contents of `out` (lets a driver reuse one
/// buffer). On error `out` is left empty.
pub fn encode_into(msg: &Message, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    out.clear();
    validate(msg)?;
    let size = encoded_len(msg);
    if size > MAX_DATAGRAM_SIZE {
        return Err(EncodeError::TooLarge {
            size,
            max: MAX_DATAGRAM_SIZE,
        });
    }
    out.reserve(size);
    out.push(PROTOCOL_VERSION);
    if !fast::encode_common(msg, out) {
        if let Err(err) = postcard::serialize_with_flavor(msg, Extend(out)) {
            out.clear();
            return Err(EncodeError::Serializer(err));
        }
    }
    debug_assert_eq!(out.len(), size, "encoded_len disagrees with postcard");
    Ok(())
}

/// Decodes one datagram.
pub fn decode(datagram: &[u8]) -> Result<Message, DecodeError> {
    let (&version, rest) = datagram.split_first().ok_or(DecodeError::Empty)?;
    if datagram.len() > MAX_DATAGRAM_SIZE {
        return Err(DecodeError::DatagramTooLarge {
            size: datagram.len(),
            max: MAX_DATAGRAM_SIZE,
        });
    }
    if version != PROTOCOL_VERSION {
        return Err(DecodeError::UnsupportedVersion {
            found: version,
            supported: PROTOCOL_VERSION,
        });
    }
    if let Some(msg) = fast::decode_common(rest) {
        return Ok(msg);
    }
    bounded::clear();
    let decoded = postcard::take_from_bytes::<Message>(rest);
    let violation = bounded::take();
    let (msg, trailing) = decoded.map_err(|err| {
        violation.unwrap_or(match err {
            postcard::Error::DeserializeUnexpectedEnd => DecodeError::Truncated,
            other => DecodeError::Malformed(other),
        })
    })?;
    if !trailing.is_empty() {
        return Err(DecodeError::TrailingBytes {
            count: trailing.len(),
        });
    }
    Ok(msg)
}

/// Checks the limits a receiver enforces, so a message it would refuse is
/// never sent.
fn validate(msg: &Message) -> Result<(), EncodeError> {
    match &msg.body {
        Body::Request { request, .. } => match request {
            Request::Store { record, .. } => validate_record(record),
            Request::Ping { .. }
            | Request::FindNode { .. }
            | Request::FindValue { .. }
            | Request::AddProvider { .. }
            | Request::GetProviders { .. } => Ok(()),
        },
        Body::Response(response) => match response {
            Response::Nodes { nodes, .. } => validate_list(nodes, MAX_CONTACTS),
            Response::Value { record, .. } => validate_record(record),
            Response::Providers {
                providers, nodes, ..
            } => {
                validate_list(providers, MAX_PROVIDERS)?;
                validate_list(nodes, MAX_CONTACTS)
            }
            Response::Pong { .. } | Response::Stored => Ok(()),
        },
        Body::Error(_) => Ok(()),
    }
}

fn validate_list(list: &[Contact], max: usize) -> Result<(), EncodeError> {
    if list.len() > max {
        return Err(EncodeError::TooManyItems {
            len: list.len(),
            max,
        });
    }
    Ok(())
}

fn validate_record(record: &Record) -> Result<(), EncodeError> {
    if let Record::Mutable(r) = record {
        if r.salt.len() > MAX_SALT_SIZE {
            return Err(EncodeError::SaltTooLarge {
                len: r.salt.len(),
                max: MAX_SALT_SIZE,
            });
        }
    }
    let value = record.value();
    if value.len() > MAX_VALUE_SIZE {
        return Err(EncodeError::ValueTooLarge {
            len: value.len(),
            max: MAX_VALUE_SIZE,
        });
    }
    Ok(())
}

/// A postcard output that appends to a borrowed `Vec`, so the caller's
/// buffer (and its capacity) survives an error.
struct Extend<'a>(&'a mut Vec<u8>);

impl Flavor for Extend<'_> {
    type Output = ();

    fn try_push(&mut self, byte: u8) -> postcard::Result<()> {
        self.0.push(byte);
        Ok(())
    }

    fn try_extend(&mut self, bytes: &[u8]) -> postcard::Result<()> {
        // Postcard hands over most fields a few bytes at a time (varints,
        // ports, enum tags); copying those byte by byte skips a `memcpy`
        // call per field.
        if bytes.len() <= 8 {
            for &b in bytes {
                self.0.push(b);
            }
        } else {
            self.0.extend_from_slice(bytes);
        }
        Ok(())
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

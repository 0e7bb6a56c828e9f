//! A hand-written encoder and decoder for the two messages that make up
//! most of the traffic: FIND_NODE and its `Nodes` answer. They write and
//! read exactly the bytes postcard does (the layout of
//! `docs/PROTOCOL.md`) without going through serde one byte at a time,
//! which is costly for messages made of fixed-size ids and addresses (the
//! measurements are in `docs/BENCHMARKS.md`).
//!
//! This module owns only that shortcut. Every other message, and every
//! check and error (limits, sizes, malformed input), stays with
//! `codec.rs` and postcard. The decoder is stricter than postcard: it
//! takes only well-formed, canonical input of those two shapes and
//! answers `None` to anything else, which `codec.rs` then hands to
//! postcard, so an error is always postcard's error. The tests compare
//! both directions with postcard on arbitrary messages and on arbitrary
//! and mutated bytes, so the two cannot drift apart unnoticed.

use std::net::SocketAddr;

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};

use super::{Body, Contact, KeyProof, Message, Nonce, Request, Response, Signature, MAX_CONTACTS};
use crate::id::{NodeId, ID_LEN};

/// Tags of the enums written here: their variant index in `message.rs`.
const BODY_REQUEST: u8 = 0;
const BODY_RESPONSE: u8 = 1;
const REQUEST_FIND_NODE: u8 = 1;
const RESPONSE_NODES: u8 = 1;
const ADDR_V4: u8 = 0;
const ADDR_V6: u8 = 1;

/// Appends `msg` to `out` (after the version byte) and returns `true` if
/// it is a FIND_NODE request or a `Nodes` response; otherwise writes
/// nothing and returns `false`.
pub(super) fn encode_common(msg: &Message, out: &mut Vec<u8>) -> bool {
    match &msg.body {
        Body::Request {
            read_only,
            request: Request::FindNode { target, challenge },
        } => {
            header(msg, out);
            out.extend_from_slice(&[BODY_REQUEST, u8::from(*read_only), REQUEST_FIND_NODE]);
            out.extend_from_slice(target.as_bytes());
            nonce(challenge.as_ref(), out);
            true
        }
        Body::Response(Response::Nodes {
            token,
            nodes,
            proof,
        }) => {
            header(msg, out);
            out.extend_from_slice(&[BODY_RESPONSE, RESPONSE_NODES]);
            out.extend_from_slice(token);
            varint(nodes.len() as u64, out);
            for c in nodes {
                contact(c, out);
            }
            key_proof(proof.as_ref(), out);
            true
        }
        _ => false,
    }
}

/// Transaction id (varint) and sender id.
fn header(msg: &Message, out: &mut Vec<u8>) {
    varint(msg.txid, out);
    out.extend_from_slice(msg.sender.as_bytes());
}

/// An id, then the address: tag, ip bytes, port as a varint.
fn contact(c: &Contact, out: &mut Vec<u8>) {
    out.extend_from_slice(c.id.as_bytes());
    match c.addr {
        SocketAddr::V4(a) => {
            out.push(ADDR_V4);
            out.extend_from_slice(&a.ip().octets());
        }
        SocketAddr::V6(a) => {
            out.push(ADDR_V6);
            out.extend_from_slice(&a.ip().octets());
        }
    }
    varint(u64::from(c.addr.port()), out);
}

/// An `Option<Nonce>`: presence flag, then the 32 bytes.
fn nonce(n: Option<&Nonce>, out: &mut Vec<u8>) {
    match n {
        None => out.push(0),
        Some(n) => {
            out.push(1);
            out.extend_from_slice(n);
        }
    }
}

/// An `Option<KeyProof>`: presence flag, then key and signature.
fn key_proof(p: Option<&KeyProof>, out: &mut Vec<u8>) {
    match p {
        None => out.push(0),
        Some(p) => {
            out.push(1);
            out.extend_from_slice(&p.public_key);
            out.extend_from_slice(&p.signature.0);
        }
    }
}

/// Unsigned LEB128, as postcard writes every integer wider than a byte.
fn varint(mut n: u64, out: &mut Vec<u8>) {
    while n >= 0x80 {
        // Truncation intended: the low 7 bits, with the continuation bit.
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Reads a FIND_NODE request or a `Nodes` response from `bytes` (the
/// datagram after its version byte). `None` for anything else, for any
/// malformed or non-canonical input and for trailing bytes: the caller
/// then decodes with postcard, which gives the precise error.
pub(super) fn decode_common(bytes: &[u8]) -> Option<Message> {
    let mut r = Reader { bytes };
    let txid = r.varint(10)?;
    let sender = NodeId::from_bytes(r.array::<ID_LEN>()?);
    let body = match r.byte()? {
        BODY_REQUEST => {
            let read_only = r.flag()?;
            if r.byte()? != REQUEST_FIND_NODE {
                return None;
            }
            let target = NodeId::from_bytes(r.array::<ID_LEN>()?);
            let challenge = if r.flag()? { Some(r.array()?) } else { None };
            Body::Request {
                read_only,
                request: Request::FindNode { target, challenge },
            }
        }
        BODY_RESPONSE => {
            if r.byte()? != RESPONSE_NODES {
                return None;
            }
            let token = r.array()?;
            let len = usize::from(r.byte()?);
            if len > MAX_CONTACTS {
                return None;
            }
            let mut nodes = Vec::with_capacity(len);
            for _ in 0..len {
                nodes.push(r.contact()?);
            }
            let proof = if r.flag()? {
                Some(KeyProof {
                    public_key: r.array()?,
                    signature: Signature(r.array()?),
                })
            } else {
                None
            };
            Body::Response(Response::Nodes {
                token,
                nodes,
                proof,
            })
        }
        _ => return None,
    };
    r.bytes.is_empty().then_some(Message { txid, sender, body })
}

/// The unread rest of a datagram.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl Reader<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.bytes.split_first()?;
        self.bytes = rest;
        Some(b)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.bytes.split_first_chunk::<N>()?;
        self.bytes = rest;
        Some(*head)
    }

    /// A bool or an `Option`'s presence flag: 0 or 1, as postcard wants.
    fn flag(&mut self) -> Option<bool> {
        match self.byte()? {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }

    /// A canonical LEB128 varint of at most `max_len` bytes: no
    /// superfluous trailing zero group, no bits past 64.
    fn varint(&mut self, max_len: usize) -> Option<u64> {
        let mut n = 0u64;
        for i in 0..max_len {
            let b = self.byte()?;
            let shift = 7 * i as u32;
            let group = u64::from(b & 0x7f);
            if shift >= 64 || (shift > 0 && group >> (64 - shift) != 0) {
                return None;
            }
            n |= group << shift;
            if b & 0x80 == 0 {
                // A zero last group after the first is an overlong form.
                return (i == 0 || b != 0).then_some(n);
            }
        }
        None
    }

    fn contact(&mut self) -> Option<Contact> {
        let id = NodeId::from_bytes(self.array::<ID_LEN>()?);
        let addr = match self.byte()? {
            ADDR_V4 => {
                let ip = Ipv4Addr::from(self.array::<4>()?);
                SocketAddr::V4(SocketAddrV4::new(ip, self.port()?))
            }
            ADDR_V6 => {
                let ip = Ipv6Addr::from(self.array::<16>()?);
                SocketAddr::V6(SocketAddrV6::new(ip, self.port()?, 0, 0))
            }
            _ => return None,
        };
        Some(Contact { id, addr })
    }

    fn port(&mut self) -> Option<u16> {
        u16::try_from(self.varint(3)?).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{message, message_with};
    use super::super::PROTOCOL_VERSION;
    use super::*;
    use proptest::prelude::*;

    /// What postcard alone writes for `msg`, version byte first.
    fn by_postcard(msg: &Message) -> Vec<u8> {
        let mut out = vec![PROTOCOL_VERSION];
        match postcard::to_allocvec(msg) {
            Ok(bytes) => out.extend_from_slice(&bytes),
            Err(e) => panic!("postcard cannot encode {msg:?}: {e}"),
        }
        out
    }

    /// FIND_NODE requests and `Nodes` responses of every shape (IPv4 and
    /// IPv6 contacts, any port and txid, with and without nonce or proof).
    fn common() -> impl Strategy<Value = Message> {
        use super::super::tests::{contacts, key_proof, node_id};
        let find_node = (
            any::<bool>(),
            node_id(),
            proptest::option::of(any::<Nonce>()),
        )
            .prop_map(|(read_only, target, challenge)| Body::Request {
                read_only,
                request: Request::FindNode { target, challenge },
            });
        let nodes = (
            any::<[u8; 8]>(),
            contacts(super::super::MAX_CONTACTS),
            proptest::option::of(key_proof()),
        )
            .prop_map(|(token, nodes, proof)| {
                Body::Response(Response::Nodes {
                    token,
                    nodes,
                    proof,
                })
            });
        message_with(prop_oneof![find_node, nodes])
    }

    /// What postcard alone reads from `bytes` (after the version byte),
    /// trailing bytes refused as `decode` refuses them.
    fn read_by_postcard(bytes: &[u8]) -> Option<Message> {
        match postcard::take_from_bytes::<Message>(bytes) {
            Ok((msg, [])) => Some(msg),
            _ => None,
        }
    }

    /// Valid encodings with a few bytes changed, cut or extended.
    fn mutated() -> impl Strategy<Value = Vec<u8>> {
        let edits = proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4);
        (
            common(),
            edits,
            0usize..3,
            proptest::collection::vec(any::<u8>(), 0..3),
        )
            .prop_map(|(msg, edits, cut, extra)| {
                let mut bytes = by_postcard(&msg).split_off(1);
                for (at, b) in edits {
                    let i = at.index(bytes.len());
                    if let Some(x) = bytes.get_mut(i) {
                        *x = b;
                    }
                }
                bytes.truncate(bytes.len().saturating_sub(cut));
                bytes.extend(extra);
                bytes
            })
    }

    #[test]
    fn varints_must_be_canonical() {
        let read = |b: &[u8]| Reader { bytes: b }.varint(10);
        assert_eq!(read(&[0]), Some(0));
        assert_eq!(read(&[0x80, 0x01]), Some(128));
        assert_eq!(read(&[0x80, 0x00]), None, "overlong zero");
        assert_eq!(
            read(&[0xff; 9].iter().chain(&[0x01]).copied().collect::<Vec<_>>()),
            Some(u64::MAX)
        );
        assert_eq!(
            read(&[0xff; 9].iter().chain(&[0x02]).copied().collect::<Vec<_>>()),
            None,
            "past 64 bits"
        );
        assert_eq!(read(&[0x80; 10]), None, "no last group");
        assert_eq!(
            Reader {
                bytes: &[0xff, 0xff, 0x03]
            }
            .port(),
            Some(u16::MAX)
        );
        assert_eq!(
            Reader {
                bytes: &[0x80, 0x80, 0x04]
            }
            .port(),
            None,
            "over u16"
        );
    }

    proptest! {
        #[test]
        fn reads_what_it_writes(msg in common()) {
            let mut out = Vec::new();
            prop_assert!(encode_common(&msg, &mut out));
            prop_assert_eq!(decode_common(&out), Some(msg));
        }

        /// Whatever the fast decoder accepts, postcard reads the same way.
        #[test]
        fn never_accepts_what_postcard_reads_otherwise(bytes in prop_oneof![
            mutated(),
            proptest::collection::vec(any::<u8>(), 0..700),
        ]) {
            if let Some(msg) = decode_common(&bytes) {
                prop_assert_eq!(Some(msg), read_by_postcard(&bytes));
            }
        }

        #[test]
        fn writes_what_postcard_writes(msg in common()) {
            let mut out = vec![PROTOCOL_VERSION];
            prop_assert!(encode_common(&msg, &mut out));
            prop_assert_eq!(out, by_postcard(&msg));
        }

        #[test]
        fn leaves_every_other_message_to_postcard(msg in message()) {
            let mut out = vec![PROTOCOL_VERSION];
            if encode_common(&msg, &mut out) {
                prop_assert_eq!(out, by_postcard(&msg));
            } else {
                prop_assert_eq!(out, vec![PROTOCOL_VERSION]);
            }
        }
    }
}

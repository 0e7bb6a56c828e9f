//! Encoded sizes computed from the message alone, without serializing:
//! [`encoded_len`] and the [`fit_providers`] helper that trims a
//! `Providers` response to one datagram.
//!
//! This module restates the byte layout of `docs/PROTOCOL.md` as arithmetic
//! (the tests check it against the real encoder for arbitrary messages). It
//! must never allocate or encode; the engine calls it on hot paths.

use std::net::SocketAddr;

use super::{
    Body, Contact, ErrorCode, KeyProof, Message, Request, Response, Token, TxId, MAX_CONTACTS,
    MAX_DATAGRAM_SIZE, MAX_PROVIDERS,
};
use crate::id::{NodeId, ID_LEN};
use crate::identity::Signature;
use crate::record::{Record, Refusal};

/// Bytes of the version byte.
const VERSION_LEN: usize = 1;
/// Bytes of an enum tag: a varint, one byte for every tag this protocol has.
const TAG_LEN: usize = 1;
/// Bytes of a bool or of an `Option`'s presence flag.
const FLAG_LEN: usize = 1;
/// Bytes of a STORE token.
const TOKEN_LEN: usize = 8;

/// Bytes of the unsigned LEB128 varint postcard writes for `n`.
const fn varint_len(n: u64) -> usize {
    let bits = 64 - n.leading_zeros() as usize;
    if bits == 0 {
        1
    } else {
        bits.div_ceil(7)
    }
}

/// Bytes `msg` occupies on the wire, version byte included: exactly
/// `encode(msg)?.len()` whenever `encode` succeeds.
///
/// Cheap (no allocation, no serialization), so the engine can size a
/// response before building it. It does not check the limits; `encode`
/// does.
pub fn encoded_len(msg: &Message) -> usize {
    VERSION_LEN + varint_len(msg.txid) + ID_LEN + body_len(&msg.body)
}

/// Bytes one [`Contact`] occupies inside a list: 20-byte id, address tag,
/// 4 or 16 address bytes, and the port as a varint (1 to 3 bytes).
pub fn contact_encoded_len(contact: &Contact) -> usize {
    ID_LEN + addr_len(&contact.addr)
}

/// Bytes of a socket address: tag (0 = IPv4, 1 = IPv6), the address bytes,
/// the port as a varint. IPv6 flow info and scope id are not carried.
fn addr_len(addr: &SocketAddr) -> usize {
    let ip_len = if addr.is_ipv4() { 4 } else { 16 };
    TAG_LEN + ip_len + varint_len(u64::from(addr.port()))
}

/// Builds the `Providers` response (to a GET_PROVIDERS with transaction id
/// `txid`, sent by `sender`) that carries the most contacts one datagram
/// holds.
///
/// Providers come first, since they are the answer: up to
/// [`MAX_PROVIDERS`] of `providers`, in order. Then up to [`MAX_CONTACTS`]
/// of `nodes`, in order (closest first), each added only if the message
/// still fits in [`MAX_DATAGRAM_SIZE`]; a contact that does not fit is
/// skipped and smaller ones after it may still be taken, so the relative
/// order of the included contacts is kept. The result always encodes:
/// [`MAX_PROVIDERS`] providers of the largest kind (IPv6) fit in one
/// datagram with room to spare.
pub fn fit_providers(
    txid: TxId,
    sender: NodeId,
    token: Token,
    providers: &[Contact],
    nodes: &[Contact],
) -> Message {
    let mut msg = Message {
        txid,
        sender,
        body: Body::Response(Response::Providers {
            token,
            providers: Vec::new(),
            nodes: Vec::new(),
        }),
    };
    // The list length prefixes stay one byte (at most 20 items each).
    let mut size = encoded_len(&msg);
    let mut taken_providers = Vec::with_capacity(providers.len().min(MAX_PROVIDERS));
    fill(&mut taken_providers, providers, MAX_PROVIDERS, &mut size);
    let mut taken_nodes = Vec::with_capacity(nodes.len().min(MAX_CONTACTS));
    fill(&mut taken_nodes, nodes, MAX_CONTACTS, &mut size);
    if let Body::Response(Response::Providers {
        providers, nodes, ..
    }) = &mut msg.body
    {
        *providers = taken_providers;
        *nodes = taken_nodes;
    }
    msg
}

/// Appends contacts from `from` to `into` while `into` holds fewer than
/// `max` and the datagram has room, first-fit in order.
fn fill(into: &mut Vec<Contact>, from: &[Contact], max: usize, size: &mut usize) {
    for contact in from {
        if into.len() == max {
            break;
        }
        let len = contact_encoded_len(contact);
        if *size + len <= MAX_DATAGRAM_SIZE {
            *size += len;
            into.push(*contact);
        }
    }
}

fn body_len(body: &Body) -> usize {
    TAG_LEN
        + match body {
            Body::Request { request, .. } => FLAG_LEN + request_len(request),
            Body::Response(response) => response_len(response),
            Body::Error(code) => error_len(code),
        }
}

fn request_len(request: &Request) -> usize {
    TAG_LEN
        + match request {
            Request::Ping { challenge } => FLAG_LEN + challenge.map_or(0, |n| n.len()),
            Request::FindNode { challenge, .. } => {
                ID_LEN + FLAG_LEN + challenge.map_or(0, |n| n.len())
            }
            Request::FindValue { .. } | Request::GetProviders { .. } => ID_LEN,
            Request::Store { record, .. } => TOKEN_LEN + record_len(record),
            Request::AddProvider { .. } => TOKEN_LEN + ID_LEN,
        }
}

fn response_len(response: &Response) -> usize {
    TAG_LEN
        + match response {
            Response::Pong { your_addr, proof } => addr_len(your_addr) + proof_len(proof),
            Response::Nodes { nodes, proof, .. } => TOKEN_LEN + list_len(nodes) + proof_len(proof),
            Response::Value { record, .. } => TOKEN_LEN + record_len(record),
            Response::Stored => 0,
            Response::Providers {
                providers, nodes, ..
            } => TOKEN_LEN + list_len(providers) + list_len(nodes),
        }
}

/// Bytes of an optional key proof: the presence flag, then the public key
/// and the signature.
fn proof_len(proof: &Option<KeyProof>) -> usize {
    FLAG_LEN + proof.map_or(0, |p| p.public_key.len() + Signature::LEN)
}

fn error_len(code: &ErrorCode) -> usize {
    TAG_LEN
        + match code {
            ErrorCode::Refused(refusal) => {
                TAG_LEN
                    + match refusal {
                        Refusal::SequenceNotNewer { stored } => varint_len(*stored),
                        Refusal::BadSignature
                        | Refusal::InvalidPublicKey
                        | Refusal::TooLarge
                        | Refusal::StoreFull
                        | Refusal::QuotaExceeded => 0,
                    }
            }
            ErrorCode::InvalidToken | ErrorCode::RateLimited | ErrorCode::Unsupported => 0,
        }
}

fn list_len(contacts: &[Contact]) -> usize {
    varint_len(contacts.len() as u64) + contacts.iter().map(contact_encoded_len).sum::<usize>()
}

fn byte_string_len(bytes: &[u8]) -> usize {
    varint_len(bytes.len() as u64) + bytes.len()
}

fn record_len(record: &Record) -> usize {
    TAG_LEN
        + match record {
            Record::Immutable(r) => byte_string_len(&r.value),
            Record::Mutable(r) => {
                TAG_LEN
                    + r.public_key.as_bytes().len()
                    + byte_string_len(&r.salt)
                    + varint_len(r.seq)
                    + byte_string_len(&r.value)
                    + Signature::LEN
            }
        }
}

#[cfg(test)]
mod tests {
    use super::varint_len;

    #[test]
    fn varint_len_matches_leb128_boundaries() {
        let cases = [
            (0, 1),
            (127, 1),
            (128, 2),
            (16_383, 2),
            (16_384, 3),
            (u64::from(u16::MAX), 3),
            (u64::from(u32::MAX), 5),
            ((1 << 63) - 1, 9),
            (1 << 63, 10),
            (u64::MAX, 10),
        ];
        for (n, len) in cases {
            assert_eq!(varint_len(n), len, "varint_len({n})");
        }
    }
}

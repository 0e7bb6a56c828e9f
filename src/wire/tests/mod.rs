//! Tests of the wire format: round trips of every message variant
//! (`round_trip.rs`), refusal of malformed datagrams (`malformed.rs`), the
//! sizes documented in `docs/PROTOCOL.md` (`sizes.rs`), and the fuzz seeds.
//! This file holds the proptest strategies and sample messages they share.

mod malformed;
mod round_trip;
mod sizes;

use std::net::{Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use bytes::Bytes;
use ed25519_dalek::SigningKey;
use proptest::collection::vec;
use proptest::prelude::*;

use super::{
    Body, Contact, ErrorCode, KeyProof, Message, Request, Response, Signature, MAX_CONTACTS,
    MAX_PROVIDERS, MAX_SALT_SIZE, MAX_VALUE_SIZE,
};
use crate::id::NodeId;
use crate::record::{
    ImmutableRecord, MesharaPublicKey, Record, RecordPublicKey, Refusal, SignedRecord,
};

pub(super) fn node_id() -> impl Strategy<Value = NodeId> {
    any::<[u8; 20]>().prop_map(NodeId::from_bytes)
}

pub(super) fn ipv4_addr() -> impl Strategy<Value = SocketAddr> {
    (any::<[u8; 4]>(), any::<u16>())
        .prop_map(|(ip, port)| SocketAddrV4::new(ip.into(), port).into())
}

/// IPv6 flow info and scope id are not carried on the wire, so they are 0.
pub(super) fn ipv6_addr() -> impl Strategy<Value = SocketAddr> {
    (any::<[u8; 16]>(), any::<u16>())
        .prop_map(|(ip, port)| SocketAddrV6::new(ip.into(), port, 0, 0).into())
}

pub(super) fn socket_addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![ipv4_addr(), ipv6_addr()]
}

pub(super) fn contact_with(
    addr: impl Strategy<Value = SocketAddr>,
) -> impl Strategy<Value = Contact> {
    (node_id(), addr).prop_map(|(id, addr)| Contact { id, addr })
}

pub(super) fn contact() -> impl Strategy<Value = Contact> {
    contact_with(socket_addr())
}

fn byte_string(max: usize) -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..=max).prop_map(Bytes::from)
}

fn signature() -> impl Strategy<Value = Signature> {
    prop::array::uniform::<_, 64>(any::<u8>()).prop_map(Signature)
}

pub(super) fn ed25519_key() -> impl Strategy<Value = RecordPublicKey> {
    any::<[u8; 32]>().prop_map(RecordPublicKey::Ed25519)
}

pub(super) fn meshara_key() -> impl Strategy<Value = RecordPublicKey> {
    prop::array::uniform::<_, 64>(any::<u8>())
        .prop_map(|k| RecordPublicKey::Meshara(MesharaPublicKey(k)))
}

pub(super) fn immutable_record() -> impl Strategy<Value = Record> {
    byte_string(MAX_VALUE_SIZE).prop_map(|value| Record::Immutable(ImmutableRecord { value }))
}

/// Signatures are arbitrary bytes: the codec carries them, it does not
/// verify them.
pub(super) fn mutable_record(
    key: impl Strategy<Value = RecordPublicKey>,
) -> impl Strategy<Value = Record> {
    (
        key,
        byte_string(MAX_SALT_SIZE),
        any::<u64>(),
        byte_string(MAX_VALUE_SIZE),
        signature(),
    )
        .prop_map(|(public_key, salt, seq, value, signature)| {
            Record::Mutable(SignedRecord {
                public_key,
                salt,
                seq,
                value,
                signature,
            })
        })
}

pub(super) fn record() -> impl Strategy<Value = Record> {
    prop_oneof![
        immutable_record(),
        mutable_record(ed25519_key()),
        mutable_record(meshara_key()),
    ]
}

pub(super) fn refusal() -> impl Strategy<Value = Refusal> {
    prop_oneof![
        Just(Refusal::BadSignature),
        Just(Refusal::InvalidPublicKey),
        any::<u64>().prop_map(|stored| Refusal::SequenceNotNewer { stored }),
        Just(Refusal::TooLarge),
        Just(Refusal::StoreFull),
        Just(Refusal::QuotaExceeded),
    ]
}

pub(super) fn error_code() -> impl Strategy<Value = ErrorCode> {
    prop_oneof![
        Just(ErrorCode::InvalidToken),
        refusal().prop_map(ErrorCode::Refused),
        Just(ErrorCode::RateLimited),
        Just(ErrorCode::Unsupported),
    ]
}

pub(super) fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        any::<Option<[u8; 32]>>().prop_map(|challenge| Request::Ping { challenge }),
        (node_id(), any::<Option<[u8; 32]>>())
            .prop_map(|(target, challenge)| Request::FindNode { target, challenge }),
        node_id().prop_map(|key| Request::FindValue { key }),
        (any::<[u8; 8]>(), record()).prop_map(|(token, record)| Request::Store { token, record }),
        (any::<[u8; 8]>(), node_id()).prop_map(|(token, key)| Request::AddProvider { token, key }),
        node_id().prop_map(|key| Request::GetProviders { key }),
    ]
}

pub(super) fn key_proof() -> impl Strategy<Value = KeyProof> {
    (any::<[u8; 32]>(), signature()).prop_map(|(public_key, signature)| KeyProof {
        public_key,
        signature,
    })
}

pub(super) fn contacts(max: usize) -> impl Strategy<Value = Vec<Contact>> {
    vec(contact(), 0..=max)
}

pub(super) fn response() -> impl Strategy<Value = Response> {
    prop_oneof![
        (socket_addr(), proptest::option::of(key_proof()))
            .prop_map(|(your_addr, proof)| Response::Pong { your_addr, proof }),
        (
            any::<[u8; 8]>(),
            contacts(MAX_CONTACTS),
            proptest::option::of(key_proof())
        )
            .prop_map(|(token, nodes, proof)| Response::Nodes {
                token,
                nodes,
                proof
            }),
        (any::<[u8; 8]>(), record()).prop_map(|(token, record)| Response::Value { token, record }),
        Just(Response::Stored),
        (
            any::<[u8; 8]>(),
            contacts(MAX_PROVIDERS),
            contacts(MAX_CONTACTS)
        )
            .prop_map(|(token, providers, nodes)| Response::Providers {
                token,
                providers,
                nodes
            }),
    ]
}

pub(super) fn body() -> impl Strategy<Value = Body> {
    prop_oneof![
        (any::<bool>(), request())
            .prop_map(|(read_only, request)| Body::Request { read_only, request }),
        response().prop_map(Body::Response),
        error_code().prop_map(Body::Error),
    ]
}

pub(super) fn message_with(body: impl Strategy<Value = Body>) -> impl Strategy<Value = Message> {
    (any::<u64>(), node_id(), body).prop_map(|(txid, sender, body)| Message { txid, sender, body })
}

pub(super) fn message() -> impl Strategy<Value = Message> {
    message_with(body())
}

/// A message with a small transaction id, so the body starts at a known
/// offset (1 version + 1 txid + 20 sender = byte 22).
pub(super) fn msg(body: Body) -> Message {
    Message {
        txid: 7,
        sender: NodeId::from_bytes([0xAB; 20]),
        body,
    }
}

pub(super) fn request_body(request: Request) -> Body {
    Body::Request {
        read_only: false,
        request,
    }
}

pub(super) fn v4(last: u8, port: u16) -> Contact {
    Contact {
        id: NodeId::from_bytes([last; 20]),
        addr: SocketAddrV4::new([192, 0, 2, last].into(), port).into(),
    }
}

pub(super) fn v6(last: u8, port: u16) -> Contact {
    let ip = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, u16::from(last));
    Contact {
        id: NodeId::from_bytes([last; 20]),
        addr: SocketAddrV6::new(ip, port, 0, 0).into(),
    }
}

/// A really signed mutable record (seeded key), as a node would send it.
pub(super) fn signed_record(salt: &'static [u8], value: Vec<u8>) -> Record {
    let key = SigningKey::from_bytes(&[7; 32]);
    match SignedRecord::sign_ed25519(&key, Bytes::from_static(salt), 3, value) {
        Ok(r) => Record::Mutable(r),
        Err(refusal) => panic!("sample record refused: {refusal}"),
    }
}

/// One valid message of every kind, named; the fuzz seeds are their
/// encodings.
pub(super) fn samples() -> Vec<(&'static str, Message)> {
    let token = [0x5A; 8];
    let key = NodeId::from_bytes([0x11; 20]);
    let mixed: Vec<Contact> = (0..20u8)
        .map(|i| if i % 2 == 0 { v4(i, 6881) } else { v6(i, 6881) })
        .collect();
    vec![
        ("ping", msg(request_body(Request::Ping { challenge: None }))),
        (
            "ping_challenge",
            msg(request_body(Request::Ping {
                challenge: Some([0x33; 32]),
            })),
        ),
        (
            "find_node",
            msg(request_body(Request::FindNode {
                target: key,
                challenge: None,
            })),
        ),
        (
            "find_node_challenge",
            msg(request_body(Request::FindNode {
                target: key,
                challenge: Some([0x33; 32]),
            })),
        ),
        ("find_value", msg(request_body(Request::FindValue { key }))),
        (
            "store_immutable",
            msg(request_body(Request::Store {
                token,
                record: Record::Immutable(ImmutableRecord {
                    value: Bytes::from_static(b"hello"),
                }),
            })),
        ),
        (
            "store_mutable",
            msg(request_body(Request::Store {
                token,
                record: signed_record(b"salt", b"contact info".to_vec()),
            })),
        ),
        (
            "add_provider",
            msg(request_body(Request::AddProvider { token, key })),
        ),
        (
            "get_providers",
            msg(request_body(Request::GetProviders { key })),
        ),
        (
            "pong_v6_proof",
            msg(Body::Response(Response::Pong {
                your_addr: v6(1, 6881).addr,
                proof: Some(KeyProof {
                    public_key: [0x44; 32],
                    signature: Signature([0x55; 64]),
                }),
            })),
        ),
        (
            "nodes_mixed_20",
            msg(Body::Response(Response::Nodes {
                token,
                nodes: mixed.clone(),
                proof: None,
            })),
        ),
        (
            "nodes_proof",
            msg(Body::Response(Response::Nodes {
                token,
                nodes: mixed[..3].to_vec(),
                proof: Some(KeyProof {
                    public_key: [0x44; 32],
                    signature: Signature([0x55; 64]),
                }),
            })),
        ),
        (
            "value_mutable",
            msg(Body::Response(Response::Value {
                token,
                record: signed_record(b"", vec![0x66; 1000]),
            })),
        ),
        ("stored", msg(Body::Response(Response::Stored))),
        (
            "providers",
            msg(Body::Response(Response::Providers {
                token,
                providers: mixed[..3].to_vec(),
                nodes: mixed[3..10].to_vec(),
            })),
        ),
        (
            "error_rate_limited",
            msg(Body::Error(ErrorCode::RateLimited)),
        ),
        (
            "error_sequence_not_newer",
            msg(Body::Error(ErrorCode::Refused(Refusal::SequenceNotNewer {
                stored: 300,
            }))),
        ),
    ]
}

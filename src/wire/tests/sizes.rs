//! The sizes and byte layouts written in `docs/PROTOCOL.md`, checked
//! against the real encoder, and the fuzz seeds kept in step with the
//! sample messages.

use std::path::PathBuf;

use bytes::Bytes;

use super::*;
use crate::wire::EncodeError;
use crate::wire::{contact_encoded_len, decode, encode, MAX_DATAGRAM_SIZE};

/// A header of minimal (txid 0) or maximal (txid u64::MAX) size.
fn with_header(largest: bool, body: Body) -> Message {
    Message {
        txid: if largest { u64::MAX } else { 0 },
        sender: NodeId::from_bytes([1; 20]),
        body,
    }
}

fn len(msg: &Message) -> usize {
    match encode(msg) {
        Ok(bytes) => bytes.len(),
        Err(e) => panic!("{msg:?} does not encode: {e}"),
    }
}

fn smallest_record() -> Record {
    Record::Immutable(ImmutableRecord {
        value: Bytes::new(),
    })
}

/// Meshara key, 32-byte salt, seq u64::MAX, 1000-byte value.
fn largest_record() -> Record {
    Record::Mutable(SignedRecord {
        public_key: RecordPublicKey::Meshara(MesharaPublicKey([2; 64])),
        salt: Bytes::from(vec![3; MAX_SALT_SIZE]),
        seq: u64::MAX,
        value: Bytes::from(vec![4; MAX_VALUE_SIZE]),
        signature: Signature([5; 64]),
    })
}

/// Each row: name, the body at its smallest and at its largest, and the
/// sizes the protocol document states (whole datagram, version included).
fn table() -> Vec<(&'static str, Body, Body, usize, usize)> {
    let key = NodeId::from_bytes([9; 20]);
    let t = [0; 8];
    let req = request_body;
    let resp = Body::Response;
    let small_v4 = v4(1, 1).addr;
    let big_v6 = v6(1, u16::MAX).addr;
    let ipv6_max = |n: u8| -> Vec<Contact> { (0..n).map(|i| v6(i, u16::MAX)).collect() };
    let proof = KeyProof {
        public_key: [6; 32],
        signature: Signature([7; 64]),
    };
    let refused = |r| Body::Error(ErrorCode::Refused(r));
    vec![
        (
            "Ping",
            req(Request::Ping { challenge: None }),
            req(Request::Ping {
                challenge: Some([8; 32]),
            }),
            26,
            67,
        ),
        (
            "FindNode",
            req(Request::FindNode {
                target: key,
                challenge: None,
            }),
            req(Request::FindNode {
                target: key,
                challenge: Some([8; 32]),
            }),
            46,
            87,
        ),
        (
            "FindValue",
            req(Request::FindValue { key }),
            req(Request::FindValue { key }),
            45,
            54,
        ),
        (
            "Store",
            req(Request::Store {
                token: t,
                record: smallest_record(),
            }),
            req(Request::Store {
                token: t,
                record: largest_record(),
            }),
            35,
            1217,
        ),
        (
            "AddProvider",
            req(Request::AddProvider { token: t, key }),
            req(Request::AddProvider { token: t, key }),
            53,
            62,
        ),
        (
            "GetProviders",
            req(Request::GetProviders { key }),
            req(Request::GetProviders { key }),
            45,
            54,
        ),
        (
            "Pong",
            resp(Response::Pong {
                your_addr: small_v4,
                proof: None,
            }),
            resp(Response::Pong {
                your_addr: big_v6,
                proof: Some(proof),
            }),
            31,
            150,
        ),
        (
            "Nodes",
            resp(Response::Nodes {
                token: t,
                nodes: vec![],
                proof: None,
            }),
            resp(Response::Nodes {
                token: t,
                nodes: ipv6_max(20),
                proof: Some(proof),
            }),
            34,
            939,
        ),
        (
            "Value",
            resp(Response::Value {
                token: t,
                record: smallest_record(),
            }),
            resp(Response::Value {
                token: t,
                record: largest_record(),
            }),
            34,
            1216,
        ),
        (
            "Stored",
            resp(Response::Stored),
            resp(Response::Stored),
            24,
            33,
        ),
        (
            "Providers (29 IPv6 contacts)",
            resp(Response::Providers {
                token: t,
                providers: vec![],
                nodes: vec![],
            }),
            resp(Response::Providers {
                token: t,
                providers: ipv6_max(20),
                nodes: ipv6_max(9),
            }),
            34,
            1203,
        ),
        (
            "Error(InvalidToken)",
            Body::Error(ErrorCode::InvalidToken),
            Body::Error(ErrorCode::InvalidToken),
            24,
            33,
        ),
        (
            "Error(RateLimited)",
            Body::Error(ErrorCode::RateLimited),
            Body::Error(ErrorCode::RateLimited),
            24,
            33,
        ),
        (
            "Error(Unsupported)",
            Body::Error(ErrorCode::Unsupported),
            Body::Error(ErrorCode::Unsupported),
            24,
            33,
        ),
        (
            "Error(Refused(StoreFull))",
            refused(Refusal::StoreFull),
            refused(Refusal::StoreFull),
            25,
            34,
        ),
        (
            "Error(Refused(SequenceNotNewer))",
            refused(Refusal::SequenceNotNewer { stored: 0 }),
            refused(Refusal::SequenceNotNewer { stored: u64::MAX }),
            26,
            44,
        ),
    ]
}

#[test]
fn documented_message_sizes_match_real_encodings() {
    for (name, smallest, largest, min, max) in table() {
        assert_eq!(len(&with_header(false, smallest)), min, "{name} min");
        assert_eq!(len(&with_header(true, largest)), max, "{name} max");
    }
}

#[test]
fn documented_contact_sizes_match_real_encodings() {
    assert_eq!(contact_encoded_len(&v4(1, 127)), 26);
    assert_eq!(contact_encoded_len(&v4(1, u16::MAX)), 28);
    assert_eq!(contact_encoded_len(&v6(1, 127)), 38);
    assert_eq!(contact_encoded_len(&v6(1, u16::MAX)), 40);
    // One contact in a list costs exactly its size.
    let one = with_header(
        false,
        Body::Response(Response::Nodes {
            token: [0; 8],
            nodes: vec![v6(1, u16::MAX)],
            proof: None,
        }),
    );
    assert_eq!(len(&one), 34 + 40);
}

#[test]
fn the_largest_messages_of_each_kind_fit_except_full_providers() {
    // 20 IPv6 contacts in Nodes, the largest record in Store and Value.
    let sizes: Vec<usize> = table().into_iter().map(|(.., max)| max).collect();
    assert!(sizes.iter().all(|&s| s <= MAX_DATAGRAM_SIZE));
    // 20 + 20 IPv6 contacts in Providers do not: 31 + 12 + 40 x 40 bytes.
    let full = with_header(
        true,
        Body::Response(Response::Providers {
            token: [0; 8],
            providers: (0..20).map(|i| v6(i, u16::MAX)).collect(),
            nodes: (20..40).map(|i| v6(i, u16::MAX)).collect(),
        }),
    );
    assert_eq!(
        encode(&full),
        Err(EncodeError::TooLarge {
            size: 1643,
            max: 1232
        })
    );
    // 20 + 20 IPv4 contacts do: 31 + 12 + 40 x 28 bytes.
    let ipv4 = with_header(
        true,
        Body::Response(Response::Providers {
            token: [0; 8],
            providers: (0..20).map(|i| v4(i, u16::MAX)).collect(),
            nodes: (20..40).map(|i| v4(i, u16::MAX)).collect(),
        }),
    );
    assert_eq!(len(&ipv4), 1163);
}

fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits
        .chunks(2)
        .map(|pair| {
            let text = std::str::from_utf8(pair).unwrap_or("");
            u8::from_str_radix(text, 16).unwrap_or_else(|e| panic!("bad hex {text}: {e}"))
        })
        .collect()
}

/// The example datagrams printed in `docs/PROTOCOL.md`.
#[test]
fn documented_example_datagrams_are_exact() {
    let sender = "abababababababababababababababababababab";
    let ping = Message {
        txid: 0x0102,
        sender: NodeId::from_bytes([0xAB; 20]),
        body: request_body(Request::Ping { challenge: None }),
    };
    let ping_hex = format!("01 8202 {sender} 00 00 00 00");
    let nodes = msg(Body::Response(Response::Nodes {
        token: [0x5A; 8],
        nodes: vec![v4(1, 6881)],
        proof: None,
    }));
    let nodes_hex = format!(
        "01 07 {sender} 01 01 5a5a5a5a5a5a5a5a 01 {} 00 c0000201 e135 00",
        "01".repeat(20)
    );
    let refused = msg(Body::Error(ErrorCode::Refused(Refusal::SequenceNotNewer {
        stored: 300,
    })));
    let refused_hex = format!("01 07 {sender} 02 01 02 ac02");
    for (m, h) in [(ping, ping_hex), (nodes, nodes_hex), (refused, refused_hex)] {
        let bytes = hex(&h);
        assert_eq!(encode(&m), Ok(bytes.clone()), "{h}");
        assert_eq!(decode(&bytes), Ok(m));
    }
}

fn seed_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/decode_message")
}

/// The committed fuzz seeds are exactly the encodings of `samples()`.
#[test]
fn fuzz_seeds_are_the_sample_encodings() {
    let mut on_disk: Vec<String> = std::fs::read_dir(seed_dir())
        .unwrap_or_else(|e| panic!("seed dir: {e}"))
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .collect();
    on_disk.sort();
    let mut expected: Vec<String> = samples().iter().map(|(n, _)| n.to_string()).collect();
    expected.sort();
    assert_eq!(
        on_disk, expected,
        "run: cargo test regenerate_fuzz_seeds -- --ignored"
    );
    for (name, m) in samples() {
        let seed = std::fs::read(seed_dir().join(name)).unwrap_or_default();
        assert_eq!(Ok(seed), encode(&m), "{name}");
    }
}

/// Writes the fuzz seeds; run by hand after changing `samples()`.
#[test]
#[ignore = "writes fuzz/seeds; run explicitly"]
fn regenerate_fuzz_seeds() {
    let dir = seed_dir();
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    for (name, m) in samples() {
        let bytes = encode(&m).unwrap_or_else(|e| panic!("{name}: {e}"));
        std::fs::write(dir.join(name), bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

//! Hand-made malformed datagrams are refused with the exact `DecodeError`,
//! and `decode` survives arbitrary bytes.

use bytes::Bytes;
use proptest::prelude::*;

use super::*;
use crate::wire::DecodeError;
use crate::wire::{decode, encode, MAX_DATAGRAM_SIZE, PROTOCOL_VERSION};

/// The datagram of `msg` as a careless or hostile peer would write it: the
/// version byte and raw postcard, with none of `encode`'s limit checks.
fn raw(msg: &Message) -> Vec<u8> {
    let mut out = vec![PROTOCOL_VERSION];
    match postcard::to_allocvec(msg) {
        Ok(bytes) => out.extend(bytes),
        Err(e) => panic!("postcard: {e}"),
    }
    out
}

fn varint(mut n: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (n & 0x7F) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

fn encoded(msg: &Message) -> Vec<u8> {
    encode(msg).unwrap_or_else(|e| panic!("encode: {e}"))
}

fn nodes(n: u8) -> Message {
    msg(Body::Response(Response::Nodes {
        token: [0; 8],
        nodes: (0..n).map(|i| v4(i, 6881)).collect(),
        proof: None,
    }))
}

/// Offset of the contact list's length prefix in `nodes(_)` and of the
/// providers list in a `Providers` response: 22 body tag, 23 response tag,
/// 24..32 token.
const LIST_AT: usize = 32;

fn malformed(err: postcard::Error) -> Result<Message, DecodeError> {
    Err(DecodeError::Malformed(err))
}

#[test]
fn empty_datagram_is_refused() {
    assert_eq!(decode(&[]), Err(DecodeError::Empty));
}

#[test]
fn datagram_over_the_limit_is_refused() {
    let mut bytes = encoded(&nodes(1));
    bytes.resize(MAX_DATAGRAM_SIZE + 1, 0);
    assert_eq!(
        decode(&bytes),
        Err(DecodeError::DatagramTooLarge {
            size: 1233,
            max: 1232
        })
    );
}

#[test]
fn unknown_versions_are_refused() {
    for (name, m) in samples() {
        let mut bytes = encoded(&m);
        for found in [0, 2, 255] {
            bytes[0] = found;
            assert_eq!(
                decode(&bytes),
                Err(DecodeError::UnsupportedVersion {
                    found,
                    supported: 1
                }),
                "{name}"
            );
        }
    }
}

#[test]
fn every_truncation_of_a_valid_message_is_truncated() {
    for (name, m) in samples() {
        let bytes = encoded(&m);
        for len in 1..bytes.len() {
            assert_eq!(
                decode(&bytes[..len]),
                Err(DecodeError::Truncated),
                "{name} cut at {len}"
            );
        }
    }
}

#[test]
fn trailing_bytes_are_refused() {
    for (name, m) in samples() {
        for count in [1, 5] {
            let mut bytes = encoded(&m);
            bytes.extend(std::iter::repeat_n(0, count));
            assert_eq!(
                decode(&bytes),
                Err(DecodeError::TrailingBytes { count }),
                "{name}"
            );
        }
    }
}

#[test]
fn list_of_21_contacts_is_too_many() {
    let too_many = Err(DecodeError::TooManyItems { len: 21, max: 20 });
    // A complete 21-contact list...
    assert_eq!(decode(&raw(&nodes(21))), too_many);
    // ...and a 20-contact list whose prefix claims 21.
    let mut bytes = encoded(&nodes(20));
    assert_eq!(bytes[LIST_AT], 20);
    bytes[LIST_AT] = 21;
    assert_eq!(decode(&bytes), too_many);
}

#[test]
fn list_announcing_2_pow_32_contacts_is_refused_before_allocating() {
    for len in [1u64 << 32, u64::MAX] {
        let mut bytes = encoded(&nodes(0));
        bytes.truncate(LIST_AT);
        bytes.extend(varint(len));
        assert_eq!(
            decode(&bytes),
            Err(DecodeError::TooManyItems {
                len: usize::try_from(len).unwrap_or(usize::MAX),
                max: MAX_CONTACTS
            })
        );
    }
}

#[test]
fn providers_lists_over_their_limits_are_refused() {
    let many: Vec<Contact> = (0..21).map(|i| v4(i, 1)).collect();
    let providers = msg(Body::Response(Response::Providers {
        token: [0; 8],
        providers: many.clone(),
        nodes: Vec::new(),
    }));
    assert_eq!(
        decode(&raw(&providers)),
        Err(DecodeError::TooManyItems {
            len: 21,
            max: MAX_PROVIDERS
        })
    );
    let closer = msg(Body::Response(Response::Providers {
        token: [0; 8],
        providers: Vec::new(),
        nodes: many,
    }));
    assert_eq!(
        decode(&raw(&closer)),
        Err(DecodeError::TooManyItems {
            len: 21,
            max: MAX_CONTACTS
        })
    );
}

fn value_response(record: Record) -> Message {
    msg(Body::Response(Response::Value {
        token: [0; 8],
        record,
    }))
}

#[test]
fn value_of_1001_bytes_is_refused() {
    let too_large = Err(DecodeError::ValueTooLarge {
        len: 1001,
        max: 1000,
    });
    let immutable = Record::Immutable(ImmutableRecord {
        value: Bytes::from(vec![0; 1001]),
    });
    assert_eq!(decode(&raw(&value_response(immutable))), too_large);

    let Record::Mutable(signed) = signed_record(b"", vec![0; 3]) else {
        panic!("signed_record is mutable");
    };
    let mutable = Record::Mutable(SignedRecord {
        value: Bytes::from(vec![0; 1001]),
        ..signed
    });
    let store = msg(request_body(Request::Store {
        token: [0; 8],
        record: mutable,
    }));
    assert_eq!(decode(&raw(&store)), too_large);
}

#[test]
fn value_announcing_2_pow_32_bytes_is_too_large_not_truncated() {
    // 22 body tag, 23 response tag, 24..32 token, 32 record tag, 33 length.
    let mut bytes = encoded(&value_response(Record::Immutable(ImmutableRecord {
        value: Bytes::from_static(b"abc"),
    })));
    bytes.truncate(33);
    bytes.extend(varint(1 << 32));
    bytes.extend(b"abc");
    assert_eq!(
        decode(&bytes),
        Err(DecodeError::ValueTooLarge {
            len: 1 << 32,
            max: MAX_VALUE_SIZE
        })
    );
}

#[test]
fn salt_of_33_bytes_is_refused() {
    let Record::Mutable(signed) = signed_record(b"", vec![0; 3]) else {
        panic!("signed_record is mutable");
    };
    let salty = Record::Mutable(SignedRecord {
        salt: Bytes::from(vec![0; 33]),
        ..signed
    });
    assert_eq!(
        decode(&raw(&value_response(salty))),
        Err(DecodeError::SaltTooLarge { len: 33, max: 32 })
    );
}

#[test]
fn unknown_enum_tags_are_malformed() {
    let ping = encoded(&msg(request_body(Request::Ping { challenge: None })));
    let store = encoded(&msg(request_body(Request::Store {
        token: [0; 8],
        record: signed_record(b"", vec![1]),
    })));
    let pong = encoded(&msg(Body::Response(Response::Pong {
        your_addr: v4(1, 1).addr,
        proof: None,
    })));
    let refused = encoded(&msg(Body::Error(ErrorCode::Refused(Refusal::TooLarge))));
    let cases: [(&str, &[u8], usize, u8); 9] = [
        ("body", &ping, 22, 3),
        ("request", &ping, 24, 6),
        ("response", &pong, 23, 5),
        ("error code", &refused, 23, 4),
        ("refusal", &refused, 24, 6),
        // 24 request tag, 25..33 token, 33 record tag, 34 key tag.
        ("record", &store, 33, 2),
        ("record key", &store, 34, 2),
        ("socket address", &pong, 24, 2),
        ("contact address", &encoded(&nodes(1)), LIST_AT + 21, 2),
    ];
    for (what, bytes, at, tag) in cases {
        let mut bytes = bytes.to_vec();
        bytes[at] = tag;
        assert_eq!(
            decode(&bytes),
            malformed(postcard::Error::SerdeDeCustom),
            "{what}"
        );
    }
}

#[test]
fn bad_bool_option_and_varint_are_malformed() {
    let ping = encoded(&msg(request_body(Request::Ping { challenge: None })));
    let mut bad_bool = ping.clone();
    bad_bool[23] = 2;
    assert_eq!(
        decode(&bad_bool),
        malformed(postcard::Error::DeserializeBadBool)
    );
    let mut bad_option = ping.clone();
    bad_option[25] = 2;
    assert_eq!(
        decode(&bad_option),
        malformed(postcard::Error::DeserializeBadOption)
    );
    let mut bad_varint = vec![PROTOCOL_VERSION];
    bad_varint.extend([0xFF; 10]);
    bad_varint.extend(&ping[2..]);
    assert_eq!(
        decode(&bad_varint),
        malformed(postcard::Error::DeserializeBadVarint)
    );
}

#[test]
fn a_limit_violation_does_not_leak_into_the_next_decode() {
    assert_eq!(
        decode(&raw(&nodes(21))),
        Err(DecodeError::TooManyItems { len: 21, max: 20 })
    );
    let mut bad_bool = encoded(&msg(request_body(Request::Ping { challenge: None })));
    bad_bool[23] = 2;
    assert_eq!(
        decode(&bad_bool),
        malformed(postcard::Error::DeserializeBadBool)
    );
    assert_eq!(decode(&encoded(&nodes(3))), Ok(nodes(3)));
}

/// When arbitrary bytes decode, the message re-encodes and decodes again
/// to itself (the fuzz target's property).
fn assert_stable(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(m) = decode(bytes) {
        let again = encode(&m).map_err(|e| TestCaseError::fail(format!("re-encode: {e}")))?;
        prop_assert_eq!(decode(&again), Ok(m));
    }
    Ok(())
}

proptest! {
    #[test]
    fn decode_never_panics_on_arbitrary_bytes(
        bytes in proptest::collection::vec(any::<u8>(), 0..1400),
        force_version in any::<bool>(),
    ) {
        let mut bytes = bytes;
        if force_version {
            if let Some(first) = bytes.first_mut() {
                *first = PROTOCOL_VERSION;
            }
        }
        assert_stable(&bytes)?;
    }

    #[test]
    fn decode_never_panics_on_mutated_valid_messages(
        sample in any::<prop::sample::Index>(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let all = samples();
        let (_, m) = &all[sample.index(all.len())];
        let mut bytes = encoded(m);
        for (at, byte) in edits {
            let at = at.index(bytes.len());
            bytes[at] = byte;
        }
        assert_stable(&bytes)?;
    }
}

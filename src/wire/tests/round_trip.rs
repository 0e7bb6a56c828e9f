//! Every message that fits a datagram decodes back to itself, for every
//! variant; `encoded_len` is the encoder's exact output length; encoding
//! refuses what a receiver would refuse.

use bytes::Bytes;
use proptest::prelude::*;

use super::*;
use crate::wire::EncodeError;
use crate::wire::{
    contact_encoded_len, decode, encode, encode_into, encoded_len, fit_providers, TxId,
    MAX_DATAGRAM_SIZE,
};

/// Encodes, checks the size against `encoded_len`, decodes, compares.
fn assert_round_trips(msg: &Message) -> Result<(), TestCaseError> {
    let bytes = encode(msg).map_err(|e| TestCaseError::fail(format!("encode: {e}")))?;
    prop_assert_eq!(bytes.len(), encoded_len(msg));
    prop_assert!(bytes.len() <= MAX_DATAGRAM_SIZE);
    prop_assert_eq!(bytes[0], crate::wire::PROTOCOL_VERSION);
    prop_assert_eq!(decode(&bytes), Ok(msg.clone()));
    Ok(())
}

fn req(request: impl Strategy<Value = Request>) -> impl Strategy<Value = Message> {
    message_with(
        (any::<bool>(), request)
            .prop_map(|(read_only, request)| Body::Request { read_only, request }),
    )
}

fn resp(response: impl Strategy<Value = Response>) -> impl Strategy<Value = Message> {
    message_with(response.prop_map(Body::Response))
}

fn err(code: impl Strategy<Value = ErrorCode>) -> impl Strategy<Value = Message> {
    message_with(code.prop_map(Body::Error))
}

fn token() -> impl Strategy<Value = [u8; 8]> {
    any::<[u8; 8]>()
}

/// One proptest per variant, so each is exercised whatever the mix of the
/// general strategy.
macro_rules! round_trip_each {
    ($($name:ident: $strategy:expr;)*) => {
        proptest! {
            $(
                #[test]
                fn $name(msg in $strategy) {
                    assert_round_trips(&msg)?;
                }
            )*
        }
    };
}

round_trip_each! {
    ping_round_trips: req(any::<Option<[u8; 32]>>().prop_map(|challenge| Request::Ping { challenge }));
    find_node_round_trips: req((node_id(), any::<Option<[u8; 32]>>())
        .prop_map(|(target, challenge)| Request::FindNode { target, challenge }));
    find_value_round_trips: req(node_id().prop_map(|key| Request::FindValue { key }));
    store_immutable_round_trips: req((token(), immutable_record())
        .prop_map(|(token, record)| Request::Store { token, record }));
    store_mutable_ed25519_round_trips: req((token(), mutable_record(ed25519_key()))
        .prop_map(|(token, record)| Request::Store { token, record }));
    store_mutable_meshara_round_trips: req((token(), mutable_record(meshara_key()))
        .prop_map(|(token, record)| Request::Store { token, record }));
    add_provider_round_trips: req((token(), node_id())
        .prop_map(|(token, key)| Request::AddProvider { token, key }));
    get_providers_round_trips: req(node_id().prop_map(|key| Request::GetProviders { key }));
    pong_ipv4_round_trips: resp((ipv4_addr(), proptest::option::of(key_proof()))
        .prop_map(|(your_addr, proof)| Response::Pong { your_addr, proof }));
    pong_ipv6_round_trips: resp((ipv6_addr(), proptest::option::of(key_proof()))
        .prop_map(|(your_addr, proof)| Response::Pong { your_addr, proof }));
    nodes_ipv4_round_trips: resp((token(), proptest::collection::vec(contact_with(ipv4_addr()), 0..=MAX_CONTACTS))
        .prop_map(|(token, nodes)| Response::Nodes { token, nodes, proof: None }));
    nodes_ipv6_round_trips: resp((token(), proptest::collection::vec(contact_with(ipv6_addr()), 0..=MAX_CONTACTS))
        .prop_map(|(token, nodes)| Response::Nodes { token, nodes, proof: None }));
    nodes_mixed_round_trips: resp((token(), contacts(MAX_CONTACTS), proptest::option::of(key_proof()))
        .prop_map(|(token, nodes, proof)| Response::Nodes { token, nodes, proof }));
    value_immutable_round_trips: resp((token(), immutable_record())
        .prop_map(|(token, record)| Response::Value { token, record }));
    value_mutable_ed25519_round_trips: resp((token(), mutable_record(ed25519_key()))
        .prop_map(|(token, record)| Response::Value { token, record }));
    value_mutable_meshara_round_trips: resp((token(), mutable_record(meshara_key()))
        .prop_map(|(token, record)| Response::Value { token, record }));
    stored_round_trips: resp(Just(Response::Stored));
    providers_that_fit_round_trip: (any::<TxId>(), node_id(), token(), contacts(MAX_PROVIDERS), contacts(MAX_CONTACTS))
        .prop_map(|(txid, sender, token, providers, nodes)| fit_providers(txid, sender, token, &providers, &nodes));
    error_invalid_token_round_trips: err(Just(ErrorCode::InvalidToken));
    error_rate_limited_round_trips: err(Just(ErrorCode::RateLimited));
    error_unsupported_round_trips: err(Just(ErrorCode::Unsupported));
    refused_bad_signature_round_trips: err(Just(ErrorCode::Refused(Refusal::BadSignature)));
    refused_invalid_public_key_round_trips: err(Just(ErrorCode::Refused(Refusal::InvalidPublicKey)));
    refused_sequence_not_newer_round_trips: err(any::<u64>()
        .prop_map(|stored| ErrorCode::Refused(Refusal::SequenceNotNewer { stored })));
    refused_too_large_round_trips: err(Just(ErrorCode::Refused(Refusal::TooLarge)));
    refused_store_full_round_trips: err(Just(ErrorCode::Refused(Refusal::StoreFull)));
    refused_quota_exceeded_round_trips: err(Just(ErrorCode::Refused(Refusal::QuotaExceeded)));
}

proptest! {
    /// Any message: if it fits it round-trips exactly, else encoding says
    /// `TooLarge` with the real size (only `Providers` can be too large).
    #[test]
    fn arbitrary_message_round_trips_or_is_too_large(msg in message()) {
        let size = encoded_len(&msg);
        if size <= MAX_DATAGRAM_SIZE {
            assert_round_trips(&msg)?;
        } else {
            prop_assert!(
                matches!(msg.body, Body::Response(Response::Providers { .. })),
                "only Providers can exceed the datagram"
            );
            prop_assert_eq!(
                encode(&msg),
                Err(EncodeError::TooLarge { size, max: MAX_DATAGRAM_SIZE })
            );
        }
    }

    /// `fit_providers` keeps order, respects the caps, always encodes, and
    /// skips a node only when it would not fit.
    #[test]
    fn fit_providers_fills_the_datagram(
        providers in proptest::collection::vec(contact(), 0..30),
        nodes in proptest::collection::vec(contact(), 0..40),
        txid in any::<TxId>(),
    ) {
        let msg = fit_providers(txid, NodeId::ZERO, [1; 8], &providers, &nodes);
        let size = encode(&msg).map(|b| b.len());
        prop_assert_eq!(size, Ok(encoded_len(&msg)));
        let Body::Response(Response::Providers { providers: got_p, nodes: got_n, .. }) = &msg.body
        else {
            return Err(TestCaseError::fail("not a Providers response"));
        };
        let want_p = providers.len().min(MAX_PROVIDERS);
        prop_assert_eq!(&got_p[..], &providers[..want_p]);
        prop_assert!(got_n.len() <= MAX_CONTACTS);
        // In-order subsequence of `nodes`; every skipped node did not fit.
        let size = encoded_len(&msg);
        let mut kept = got_n.iter().peekable();
        for node in &nodes {
            if kept.peek() == Some(&node) {
                kept.next();
            } else if got_n.len() < MAX_CONTACTS {
                prop_assert!(size + contact_encoded_len(node) > MAX_DATAGRAM_SIZE);
            }
        }
        prop_assert_eq!(kept.next(), None, "kept nodes out of order");
    }
}

#[test]
fn every_sample_round_trips() {
    for (name, msg) in samples() {
        let bytes = encode(&msg).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(decode(&bytes), Ok(msg), "{name}");
    }
}

#[test]
fn ipv6_flow_info_and_scope_are_not_carried() {
    let mut contact = v6(1, 6881);
    contact.addr =
        std::net::SocketAddrV6::new(std::net::Ipv6Addr::LOCALHOST, 6881, 0xABCDE, 3).into();
    let bytes = encode(&msg(Body::Response(Response::Nodes {
        token: [0; 8],
        nodes: vec![contact],
        proof: None,
    })));
    let decoded = bytes.as_deref().map(decode);
    let expected = Contact {
        addr: std::net::SocketAddrV6::new(std::net::Ipv6Addr::LOCALHOST, 6881, 0, 0).into(),
        ..contact
    };
    assert_eq!(
        decoded,
        Ok(Ok(msg(Body::Response(Response::Nodes {
            token: [0; 8],
            nodes: vec![expected],
            proof: None,
        }))))
    );
}

#[test]
fn encode_refuses_lists_over_the_limits() {
    let many: Vec<Contact> = (0..21).map(|i| v4(i, 1)).collect();
    let nodes = msg(Body::Response(Response::Nodes {
        token: [0; 8],
        nodes: many.clone(),
        proof: None,
    }));
    assert_eq!(
        encode(&nodes),
        Err(EncodeError::TooManyItems { len: 21, max: 20 })
    );
    let providers = msg(Body::Response(Response::Providers {
        token: [0; 8],
        providers: many.clone(),
        nodes: Vec::new(),
    }));
    assert_eq!(
        encode(&providers),
        Err(EncodeError::TooManyItems {
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
        encode(&closer),
        Err(EncodeError::TooManyItems {
            len: 21,
            max: MAX_CONTACTS
        })
    );
}

#[test]
fn encode_refuses_value_and_salt_over_the_limits() {
    let big = Bytes::from(vec![0; 1001]);
    let immutable = Record::Immutable(ImmutableRecord { value: big.clone() });
    let store = msg(request_body(Request::Store {
        token: [0; 8],
        record: immutable.clone(),
    }));
    let value_err = Err(EncodeError::ValueTooLarge {
        len: 1001,
        max: 1000,
    });
    assert_eq!(encode(&store), value_err);
    let value = msg(Body::Response(Response::Value {
        token: [0; 8],
        record: immutable,
    }));
    assert_eq!(encode(&value), value_err);

    let Record::Mutable(signed) = signed_record(b"s", vec![1; 10]) else {
        panic!("signed_record is mutable");
    };
    let big_value = Record::Mutable(SignedRecord {
        value: big,
        ..signed.clone()
    });
    let big_salt = Record::Mutable(SignedRecord {
        salt: Bytes::from(vec![0; 33]),
        ..signed
    });
    assert_eq!(
        encode(&msg(request_body(Request::Store {
            token: [0; 8],
            record: big_value
        }))),
        value_err
    );
    assert_eq!(
        encode(&msg(Body::Response(Response::Value {
            token: [0; 8],
            record: big_salt
        }))),
        Err(EncodeError::SaltTooLarge { len: 33, max: 32 })
    );
}

#[test]
fn encode_reports_the_real_size_of_an_oversize_providers_response() {
    // 20 + 20 IPv6 contacts with 3-byte ports: 40 bytes each.
    let providers: Vec<Contact> = (0..20).map(|i| v6(i, 50_000)).collect();
    let nodes: Vec<Contact> = (20..40).map(|i| v6(i, 50_000)).collect();
    let m = msg(Body::Response(Response::Providers {
        token: [0; 8],
        providers,
        nodes,
    }));
    // version 1 + txid 1 + sender 20 + tags 2 + token 8 + 2 x (1 + 800)
    assert_eq!(
        encode(&m),
        Err(EncodeError::TooLarge {
            size: 1634,
            max: 1232
        })
    );
}

#[test]
fn encode_into_reuses_the_buffer_and_empties_it_on_error() {
    let mut buf = vec![9; 50];
    let ping = msg(request_body(Request::Ping { challenge: None }));
    assert_eq!(encode_into(&ping, &mut buf), Ok(()));
    assert_eq!(Ok(buf.clone()), encode(&ping));
    let too_many = msg(Body::Response(Response::Nodes {
        token: [0; 8],
        nodes: (0..21).map(|i| v4(i, 1)).collect(),
        proof: None,
    }));
    assert_eq!(
        encode_into(&too_many, &mut buf),
        Err(EncodeError::TooManyItems { len: 21, max: 20 })
    );
    assert!(buf.is_empty());
}

#[test]
fn fit_providers_trims_ipv6_nodes_and_takes_a_later_ipv4_that_fits() {
    let providers: Vec<Contact> = (0..25).map(|i| v6(i, 50_000)).collect();
    let mut nodes: Vec<Contact> = (100..110).map(|i| v6(i, 50_000)).collect();
    nodes.push(v4(200, 50_000));
    let m = fit_providers(7, NodeId::ZERO, [0; 8], &providers, &nodes);
    let Body::Response(Response::Providers {
        providers: got_p,
        nodes: got_n,
        ..
    }) = &m.body
    else {
        panic!("not a Providers response");
    };
    // 34 bytes of header + 20 x 40 providers = 834; 9 IPv6 nodes make
    // 1194, a 10th would make 1234 > 1232, the 28-byte IPv4 node fits.
    assert_eq!(got_p, &providers[..20]);
    let mut want_n = nodes[..9].to_vec();
    want_n.push(v4(200, 50_000));
    assert_eq!(got_n, &want_n);
    assert_eq!(encode(&m).map(|b| b.len()), Ok(1222));
}

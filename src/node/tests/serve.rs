//! Tests of what a node does with the datagrams it receives: serving
//! requests (tokens, store refusals, rate limits, the anti-amplification
//! budget), dropping garbage, and matching answers to its own requests.

use super::*;

#[test]
fn store_without_valid_token_is_refused() {
    let mut net = Net::new(1, Config::local());
    let record = Record::Immutable(ImmutableRecord::new(&b"v"[..]).unwrap());
    let sender = NodeId::sha1(b"outsider");
    let answers = net.raw(
        outsider(),
        0,
        &request(
            sender,
            1,
            Request::Store {
                token: [0; 8],
                record: record.clone(),
            },
        ),
    );
    assert_eq!(answers.len(), 1);
    assert_eq!(answers[0].body, Body::Error(ErrorCode::InvalidToken));
    // A token obtained by the same address works.
    let answers = net.raw(
        outsider(),
        0,
        &request(
            sender,
            2,
            Request::FindNode {
                target: sender,
                challenge: None,
            },
        ),
    );
    let Body::Response(Response::Nodes { token, .. }) = answers[0].body else {
        panic!("expected nodes");
    };
    let answers = net.raw(
        outsider(),
        0,
        &request(sender, 3, Request::Store { token, record }),
    );
    assert_eq!(answers[0].body, Body::Response(Response::Stored));
    // The same token from another IP is refused.
    let other = SocketAddr::from(([127, 0, 0, 3], 9999));
    let rec = Record::Immutable(ImmutableRecord::new(&b"w"[..]).unwrap());
    let answers = net.raw(
        other,
        0,
        &request(sender, 4, Request::Store { token, record: rec }),
    );
    assert_eq!(answers[0].body, Body::Error(ErrorCode::InvalidToken));
}

#[test]
fn stale_token_is_refused_after_two_rotations() {
    let mut net = Net::new(1, Config::local());
    let sender = NodeId::sha1(b"outsider");
    let answers = net.raw(
        outsider(),
        0,
        &request(
            sender,
            1,
            Request::FindNode {
                target: sender,
                challenge: None,
            },
        ),
    );
    let Body::Response(Response::Nodes { token, .. }) = answers[0].body else {
        panic!("expected nodes");
    };
    net.now += Config::local().token_rotation * 2;
    let record = Record::Immutable(ImmutableRecord::new(&b"v"[..]).unwrap());
    let answers = net.raw(
        outsider(),
        0,
        &request(sender, 2, Request::Store { token, record }),
    );
    assert_eq!(answers[0].body, Body::Error(ErrorCode::InvalidToken));
}

#[test]
fn garbage_is_counted_and_the_node_keeps_serving() {
    let mut net = Net::new(1, Config::local());
    for junk in [
        &b""[..],
        &b"\x01"[..],
        &b"\x07garbage"[..],
        &[0xff; 1500][..],
    ] {
        assert!(net.raw(outsider(), 0, junk).is_empty());
    }
    assert_eq!(net.nodes[0].stats().decode_errors, 4);
    let answers = net.raw(
        outsider(),
        0,
        &request(NodeId::sha1(b"x"), 9, Request::Ping { challenge: None }),
    );
    assert!(matches!(
        answers[0].body,
        Body::Response(Response::Pong { your_addr, proof: None }) if your_addr == outsider()
    ));
}

#[test]
fn unsolicited_response_is_dropped() {
    let mut net = Net::new(1, Config::local());
    let bytes = wire::encode(&Message {
        txid: 12345,
        sender: NodeId::sha1(b"x"),
        body: Body::Response(Response::Stored),
    })
    .unwrap();
    assert!(net.raw(outsider(), 0, &bytes).is_empty());
    assert_eq!(net.nodes[0].stats().responses_unsolicited, 1);
}

#[test]
fn response_from_wrong_address_is_dropped() {
    let mut net = Net::new(2, Config::local());
    let boot = net.addrs[0];
    let _q = net.nodes[1].start_bootstrap(net.now, vec![boot]);
    let t = net.nodes[1].poll_transmit().unwrap();
    let msg = wire::decode(&t.payload).unwrap();
    // Answer from another address with the right transaction id.
    let forged = wire::encode(&Message {
        txid: msg.txid,
        sender: net.nodes[0].id(),
        body: Body::Response(Response::Pong {
            your_addr: net.addrs[1],
            proof: None,
        }),
    })
    .unwrap();
    net.nodes[1].handle_datagram(net.now, outsider(), &forged);
    assert_eq!(net.nodes[1].stats().responses_unsolicited, 1);
    assert_eq!(net.nodes[1].pending_requests(), 1);
}

#[test]
fn requests_over_the_rate_limit_are_dropped() {
    let config = Config {
        rate_limit_burst: 10,
        rate_limit_requests_per_sec: 1,
        ..Config::local()
    };
    let mut net = Net::new(1, config);
    let mut answered = 0;
    for txid in 0..50 {
        answered += net
            .raw(
                outsider(),
                0,
                &request(NodeId::sha1(b"x"), txid, Request::Ping { challenge: None }),
            )
            .len();
    }
    assert_eq!(answered, 10);
    assert_eq!(net.nodes[0].stats().requests_rate_limited, 40);
}

#[test]
fn unverified_address_gets_bounded_bytes() {
    let config = Config {
        unverified_bytes_per_sec: 1,
        ..Config::local()
    };
    let mut net = Net::bootstrapped(2, Config::local());
    net.nodes[0] = Node::new(Identity::from_seed(1), config, 0, net.now);
    let req = request(
        NodeId::sha1(b"x"),
        1,
        Request::FindNode {
            target: NodeId::ZERO,
            challenge: None,
        },
    );
    let mut sent = 0usize;
    for _ in 0..100 {
        for m in net.raw(outsider(), 0, &req) {
            sent += wire::encode(&m).unwrap().len();
        }
    }
    // One datagram's worth of burst, then nothing.
    assert!(sent <= wire::MAX_DATAGRAM_SIZE, "sent {sent} bytes");
    let throttled = net.nodes[0].stats().responses_throttled;
    assert!(throttled >= 50, "throttled {throttled}");
    assert_eq!(net.nodes[0].stats().requests_served, 100);
}

/// A token for `from`, obtained the way a writer would: from a lookup answer.
fn token_for(net: &mut Net, from: SocketAddr, to: usize) -> wire::Token {
    let sender = NodeId::sha1(b"writer");
    let answers = net.raw(
        from,
        to,
        &request(
            sender,
            77,
            Request::FindNode {
                target: sender,
                challenge: None,
            },
        ),
    );
    match answers[0].body {
        Body::Response(Response::Nodes { token, .. }) => token,
        ref other => panic!("expected nodes, got {other:?}"),
    }
}

#[test]
fn store_of_forged_record_is_refused_with_reason() {
    let mut net = Net::new(1, Config::local());
    let token = token_for(&mut net, outsider(), 0);
    let writer = Identity::from_seed(11);
    let mut forged = SignedRecord::sign_ed25519(writer.signing_key(), "", 5, "real").unwrap();
    forged.value = bytes::Bytes::from_static(b"forged");
    let answers = net.raw(
        outsider(),
        0,
        &request(
            NodeId::sha1(b"writer"),
            1,
            Request::Store {
                token,
                record: Record::Mutable(forged),
            },
        ),
    );
    assert_eq!(
        answers[0].body,
        Body::Error(ErrorCode::Refused(Refusal::BadSignature))
    );
    assert_eq!(net.nodes[0].store().len(), 0);
}

#[test]
fn store_over_the_per_ip_quota_is_refused_with_reason() {
    let config = Config {
        max_records_per_ip: 2,
        ..Config::local()
    };
    let mut net = Net::new(1, config);
    let token = token_for(&mut net, outsider(), 0);
    let mut bodies = Vec::new();
    for i in 0..3u8 {
        let record = Record::Immutable(ImmutableRecord::new(vec![i; 10]).unwrap());
        let answers = net.raw(
            outsider(),
            0,
            &request(
                NodeId::sha1(b"writer"),
                u64::from(i),
                Request::Store { token, record },
            ),
        );
        bodies.push(answers[0].body.clone());
    }
    assert_eq!(bodies[0], Body::Response(Response::Stored));
    assert_eq!(bodies[1], Body::Response(Response::Stored));
    assert_eq!(
        bodies[2],
        Body::Error(ErrorCode::Refused(Refusal::QuotaExceeded))
    );
    // Another address still has room.
    let other = SocketAddr::from(([127, 0, 0, 9], 1));
    let token = token_for(&mut net, other, 0);
    let record = Record::Immutable(ImmutableRecord::new(&b"other"[..]).unwrap());
    let answers = net.raw(
        other,
        0,
        &request(NodeId::sha1(b"writer"), 9, Request::Store { token, record }),
    );
    assert_eq!(answers[0].body, Body::Response(Response::Stored));
}

#[test]
fn store_when_full_refuses_instead_of_evicting() {
    let config = Config {
        max_records: 2,
        ..Config::local()
    };
    let mut net = Net::new(1, config);
    let mut bodies = Vec::new();
    for i in 0..3u8 {
        let from = SocketAddr::from(([127, 0, 1, i], 1));
        let token = token_for(&mut net, from, 0);
        let record = Record::Immutable(ImmutableRecord::new(vec![i; 10]).unwrap());
        let answers = net.raw(
            from,
            0,
            &request(
                NodeId::sha1(b"writer"),
                u64::from(i),
                Request::Store { token, record },
            ),
        );
        bodies.push(answers[0].body.clone());
    }
    assert_eq!(
        bodies[2],
        Body::Error(ErrorCode::Refused(Refusal::StoreFull))
    );
    assert_eq!(net.nodes[0].store().len(), 2);
}

#[test]
fn oversize_value_never_reaches_the_store() {
    // The codec refuses the datagram before the engine sees a record.
    let mut net = Net::new(1, Config::local());
    assert_eq!(
        ImmutableRecord::new(vec![0u8; 1001]),
        Err(Refusal::TooLarge)
    );
    let record = Record::Immutable(ImmutableRecord {
        value: bytes::Bytes::from(vec![0u8; 1001]),
    });
    let msg = Message {
        txid: 1,
        sender: NodeId::sha1(b"writer"),
        body: Body::Request {
            read_only: true,
            request: Request::Store {
                token: [0; 8],
                record,
            },
        },
    };
    assert!(wire::encode(&msg).is_err());
    // Hand-encoded anyway: the node counts it as garbage and stores nothing.
    let mut bytes = vec![wire::PROTOCOL_VERSION];
    bytes.extend(postcard::to_allocvec(&msg).unwrap());
    assert!(net.raw(outsider(), 0, &bytes).is_empty());
    assert_eq!(net.nodes[0].stats().decode_errors, 1);
    assert_eq!(net.nodes[0].store().len(), 0);
}

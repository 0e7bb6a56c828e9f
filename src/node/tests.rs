//! Engine tests: several engines wired together by hand through the sans-IO
//! interface (no sockets), on virtual time, with a step limit so a hung
//! protocol fails instead of hanging.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::*;
use crate::record::{ImmutableRecord, Refusal, SignedRecord};
use crate::wire::ErrorCode;

/// A zero-latency network of engines; time advances only when no datagram
/// is in flight, to the earliest timer.
struct Net {
    nodes: Vec<Node>,
    addrs: Vec<SocketAddr>,
    online: Vec<bool>,
    now: Instant,
    queue: VecDeque<(SocketAddr, SocketAddr, Vec<u8>)>,
    events: Vec<(usize, Event)>,
    steps: usize,
}

const STEP_LIMIT: usize = 200_000;

impl Net {
    fn new(n: usize, config: Config) -> Self {
        let now = Instant::now();
        let nodes = (0..n)
            .map(|i| {
                Node::new(
                    Identity::from_seed(i as u64 + 1),
                    config.clone(),
                    i as u64,
                    now,
                )
            })
            .collect();
        let addrs = (0..n)
            .map(|i| SocketAddr::from(([127, 0, 0, 1], 10_000 + i as u16)))
            .collect();
        Net {
            nodes,
            addrs,
            online: vec![true; n],
            now,
            queue: VecDeque::new(),
            events: Vec::new(),
            steps: 0,
        }
    }

    /// A network where nodes 1.. bootstrapped from node 0.
    fn bootstrapped(n: usize) -> Self {
        let mut net = Net::new(n, Config::local());
        for i in 1..n {
            let boot = net.addrs[0];
            let now = net.now;
            let q = net.nodes[i].start_bootstrap(now, vec![boot]);
            net.wait(i, q);
        }
        net
    }

    fn index_of(&self, addr: &SocketAddr) -> Option<usize> {
        self.addrs.iter().position(|a| a == addr)
    }

    fn collect(&mut self, i: usize) {
        while let Some(t) = self.nodes[i].poll_transmit() {
            self.queue.push_back((self.addrs[i], t.dest, t.payload));
        }
        while let Some(e) = self.nodes[i].poll_event() {
            self.events.push((i, e));
        }
    }

    /// One step: deliver a datagram, or advance time to the next timer.
    fn step(&mut self) {
        self.steps += 1;
        assert!(self.steps < STEP_LIMIT, "step limit reached: protocol hung");
        for i in 0..self.nodes.len() {
            self.collect(i);
        }
        if let Some((from, to, bytes)) = self.queue.pop_front() {
            if let Some(j) = self.index_of(&to) {
                if self.online[j] {
                    self.nodes[j].handle_datagram(self.now, from, &bytes);
                    self.collect(j);
                }
            }
            return;
        }
        let next = (0..self.nodes.len())
            .filter(|&i| self.online[i])
            .filter_map(|i| self.nodes[i].poll_timeout())
            .min()
            .expect("some node has a timer");
        self.now = self.now.max(next);
        for i in 0..self.nodes.len() {
            if self.online[i] && self.nodes[i].poll_timeout().is_some_and(|t| t <= self.now) {
                self.nodes[i].handle_timeout(self.now);
                self.collect(i);
            }
        }
    }

    /// Runs until node `i` reports query `q` finished.
    fn wait(&mut self, i: usize, q: QueryId) -> (QueryOutcome, QueryStats) {
        loop {
            if let Some(pos) = self
                .events
                .iter()
                .position(|(n, Event::QueryFinished { id, .. })| *n == i && *id == q)
            {
                let (_, Event::QueryFinished { outcome, stats, .. }) = self.events.remove(pos);
                return (outcome, stats);
            }
            self.step();
        }
    }

    /// Runs until nothing is in flight (timers aside).
    fn settle(&mut self) {
        for i in 0..self.nodes.len() {
            self.collect(i);
        }
        while !self.queue.is_empty() {
            self.step();
        }
    }

    /// Sends a raw datagram to node `to` from `from` and returns the
    /// decoded answers sent back to `from`.
    fn raw(&mut self, from: SocketAddr, to: usize, bytes: &[u8]) -> Vec<Message> {
        self.nodes[to].handle_datagram(self.now, from, bytes);
        let mut out = Vec::new();
        while let Some(t) = self.nodes[to].poll_transmit() {
            if t.dest == from {
                out.push(wire::decode(&t.payload).expect("engine sends valid datagrams"));
            } else {
                self.queue.push_back((self.addrs[to], t.dest, t.payload));
            }
        }
        out
    }
}

fn request(sender: NodeId, txid: u64, request: Request) -> Vec<u8> {
    wire::encode(&Message {
        txid,
        sender,
        body: Body::Request {
            read_only: true,
            request,
        },
    })
    .unwrap()
}

fn outsider() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 2], 9999))
}

#[test]
fn bootstrap_populates_both_tables() {
    let mut net = Net::new(2, Config::local());
    let boot = net.addrs[0];
    let q = net.nodes[1].start_bootstrap(net.now, vec![boot]);
    let (outcome, _) = net.wait(1, q);
    assert_eq!(
        outcome,
        QueryOutcome::Bootstrap {
            reached: 1,
            table_size: 1
        }
    );
    net.settle();
    // The bootstrap node learned of the newcomer through a key proof.
    assert!(net.nodes[0].routing_table().contains(&net.nodes[1].id()));
    assert!(net.nodes[1].routing_table().contains(&net.nodes[0].id()));
    assert!(net.nodes[0].stats().key_proofs_verified >= 1);
}

#[test]
fn bootstrap_fills_tables_across_twenty_nodes() {
    let mut net = Net::bootstrapped(20);
    net.settle();
    for (i, node) in net.nodes.iter().enumerate() {
        assert!(
            node.routing_table().len() >= 10,
            "node {i} knows only {} contacts",
            node.routing_table().len()
        );
    }
}

#[test]
fn bootstrap_with_unreachable_address_reports_zero_reached() {
    let mut net = Net::new(2, Config::local());
    net.online[0] = false;
    let boot = net.addrs[0];
    let q = net.nodes[1].start_bootstrap(net.now, vec![boot]);
    let (outcome, _) = net.wait(1, q);
    assert_eq!(
        outcome,
        QueryOutcome::Bootstrap {
            reached: 0,
            table_size: 0
        }
    );
}

#[test]
fn find_node_returns_the_exact_closest_nodes() {
    let mut net = Net::bootstrapped(30);
    net.settle();
    let target = NodeId::sha1(b"somewhere");
    let q = net.nodes[7].start_find_node(net.now, target);
    let (outcome, stats) = net.wait(7, q);
    let QueryOutcome::FindNode { closest } = outcome else {
        panic!("wrong outcome");
    };
    let mut all: Vec<NodeId> = net
        .nodes
        .iter()
        .map(|n| n.id())
        .filter(|id| *id != net.nodes[7].id())
        .collect();
    all.sort_by_key(|id| id.distance(&target));
    let found: Vec<NodeId> = closest.iter().map(|c| c.id).collect();
    assert_eq!(found, all[..20].to_vec());
    assert!(stats.hops >= 1 && stats.hops <= 4, "hops {}", stats.hops);
}

#[test]
fn immutable_put_then_get_from_another_node() {
    let mut net = Net::bootstrapped(12);
    net.settle();
    let record = Record::Immutable(ImmutableRecord::new(&b"hello dht"[..]).unwrap());
    let key = record.key();
    let q = net.nodes[3].start_put(net.now, record.clone()).unwrap();
    let (outcome, _) = net.wait(3, q);
    let QueryOutcome::Put {
        stored, refused, ..
    } = outcome
    else {
        panic!("wrong outcome");
    };
    assert!(stored >= 11, "stored on {stored}");
    assert!(refused.is_empty());
    let q = net.nodes[9].start_get_immutable(net.now, key);
    let (outcome, _) = net.wait(9, q);
    assert_eq!(
        outcome,
        QueryOutcome::Get {
            record: Some(record),
            repaired: 0
        }
    );
}

#[test]
fn mutable_get_returns_highest_sequence_and_repairs_stale_holder() {
    let mut net = Net::bootstrapped(10);
    net.settle();
    let writer = Identity::from_seed(1000);
    let v1 =
        Record::Mutable(SignedRecord::sign_ed25519(writer.signing_key(), "", 1, "v1").unwrap());
    let v2 =
        Record::Mutable(SignedRecord::sign_ed25519(writer.signing_key(), "", 2, "v2").unwrap());
    let key = v1.key();
    let q = net.nodes[1].start_put(net.now, v1).unwrap();
    net.wait(1, q);
    // Node 5 misses the second version.
    net.online[5] = false;
    let q = net.nodes[2].start_put(net.now, v2.clone()).unwrap();
    net.wait(2, q);
    net.online[5] = true;
    assert_eq!(
        net.nodes[5].store().get(net.now, &key).map(Record::seq),
        Some(1)
    );
    let q = net.nodes[8].start_get_mutable(net.now, key);
    let (outcome, _) = net.wait(8, q);
    assert_eq!(
        outcome,
        QueryOutcome::Get {
            record: Some(v2),
            repaired: 1
        }
    );
    net.settle();
    assert_eq!(
        net.nodes[5].store().get(net.now, &key).map(Record::seq),
        Some(2)
    );
}

#[test]
fn store_refuses_lower_sequence_with_reason() {
    let mut net = Net::bootstrapped(6);
    net.settle();
    let writer = Identity::from_seed(77);
    let v2 =
        Record::Mutable(SignedRecord::sign_ed25519(writer.signing_key(), "", 2, "new").unwrap());
    let v1 =
        Record::Mutable(SignedRecord::sign_ed25519(writer.signing_key(), "", 1, "old").unwrap());
    let q = net.nodes[1].start_put(net.now, v2).unwrap();
    net.wait(1, q);
    let q = net.nodes[2].start_put(net.now, v1).unwrap();
    let (outcome, _) = net.wait(2, q);
    let QueryOutcome::Put {
        stored, refused, ..
    } = outcome
    else {
        panic!("wrong outcome");
    };
    assert_eq!(stored, 0);
    assert!(!refused.is_empty());
    assert!(refused
        .iter()
        .all(|r| *r == Refusal::SequenceNotNewer { stored: 2 }));
}

#[test]
fn start_put_refuses_forged_record() {
    let mut net = Net::new(1, Config::local());
    let writer = Identity::from_seed(5);
    let SignedRecord { .. } = SignedRecord::sign_ed25519(writer.signing_key(), "", 1, "x").unwrap();
    let mut forged = SignedRecord::sign_ed25519(writer.signing_key(), "", 1, "x").unwrap();
    forged.value = bytes::Bytes::from_static(b"y");
    assert_eq!(
        net.nodes[0].start_put(net.now, Record::Mutable(forged)),
        Err(Refusal::BadSignature)
    );
}

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
    let mut net = Net::bootstrapped(2);
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

#[test]
fn record_expires_after_ttl_once_publisher_stops() {
    let mut net = Net::bootstrapped(5);
    net.settle();
    let record = Record::Immutable(ImmutableRecord::new(&b"short-lived"[..]).unwrap());
    let key = record.key();
    let q = net.nodes[1].start_put(net.now, record).unwrap();
    net.wait(1, q);
    assert!(net.nodes[1].stop_publishing(&key));
    let ttl = Config::local().record_ttl;
    let end = net.now + ttl + Duration::from_secs(120);
    while net.now < end {
        net.step();
    }
    for node in &net.nodes {
        assert!(node.store().get(net.now, &key).is_none());
        assert_eq!(node.store().len(), 0);
    }
}

#[test]
fn publisher_republishes_before_ttl() {
    let mut net = Net::bootstrapped(5);
    net.settle();
    let record = Record::Immutable(ImmutableRecord::new(&b"kept alive"[..]).unwrap());
    let key = record.key();
    let q = net.nodes[1].start_put(net.now, record).unwrap();
    net.wait(1, q);
    let end = net.now + Config::local().record_ttl * 2;
    while net.now < end {
        net.step();
    }
    let holders = net
        .nodes
        .iter()
        .filter(|n| n.store().get(net.now, &key).is_some())
        .count();
    assert_eq!(holders, 5);
}

#[test]
fn lookup_survives_offline_nodes() {
    let mut net = Net::bootstrapped(25);
    net.settle();
    for i in [3, 5, 11, 17] {
        net.online[i] = false;
    }
    let target = NodeId::sha1(b"t");
    let q = net.nodes[0].start_find_node(net.now, target);
    let (outcome, _) = net.wait(0, q);
    let QueryOutcome::FindNode { closest } = outcome else {
        panic!("wrong outcome");
    };
    let mut all: Vec<usize> = (1..25).collect();
    all.sort_by_key(|i| net.nodes[*i].id().distance(&target));
    let live: Vec<NodeId> = all
        .iter()
        .filter(|i| net.online[**i])
        .map(|i| net.nodes[*i].id())
        .collect();
    let live_in_true_k = all[..20].iter().filter(|i| net.online[**i]).count();
    let found: Vec<NodeId> = closest.iter().map(|c| c.id).collect();
    // Every live node among the true k closest is found, in order, and no
    // offline node is reported.
    assert!(found.len() >= live_in_true_k);
    assert_eq!(found, live[..found.len()].to_vec());
}

#[test]
fn providers_are_announced_and_found() {
    let mut net = Net::bootstrapped(10);
    net.settle();
    let key = NodeId::sha1(b"some content");
    let q = net.nodes[4].start_add_provider(net.now, key);
    let (outcome, _) = net.wait(4, q);
    assert!(matches!(outcome, QueryOutcome::Put { stored, .. } if stored >= 9));
    let q = net.nodes[6].start_get_providers(net.now, key);
    let (outcome, _) = net.wait(6, q);
    assert_eq!(
        outcome,
        QueryOutcome::Providers {
            providers: vec![Contact {
                id: net.nodes[4].id(),
                addr: net.addrs[4]
            }]
        }
    );
}

#[test]
fn client_mode_node_never_enters_tables() {
    let mut net = Net::new(3, Config::local());
    net.nodes[2] = Node::new(
        Identity::from_seed(3),
        Config {
            client_mode: true,
            ..Config::local()
        },
        2,
        net.now,
    );
    let boot = net.addrs[0];
    let q = net.nodes[1].start_bootstrap(net.now, vec![boot]);
    net.wait(1, q);
    let q = net.nodes[2].start_bootstrap(net.now, vec![boot]);
    let (outcome, _) = net.wait(2, q);
    assert!(matches!(
        outcome,
        QueryOutcome::Bootstrap { reached: 1, .. }
    ));
    net.settle();
    let client = net.nodes[2].id();
    assert!(!net.nodes[0].routing_table().contains(&client));
    assert!(!net.nodes[1].routing_table().contains(&client));
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
fn disjoint_paths_are_chosen_per_query_and_still_find_the_record() {
    let mut net = Net::bootstrapped(40);
    net.settle();
    let writer = Identity::from_seed(4242);
    let record =
        Record::Mutable(SignedRecord::sign_ed25519(writer.signing_key(), "", 1, "v").unwrap());
    let key = record.key();
    let q = net.nodes[3].start_put(net.now, record.clone()).unwrap();
    net.wait(3, q);
    let q = net.nodes[20].start_get_mutable(net.now, key);
    let (single, _) = net.wait(20, q);
    let options = QueryOptions {
        disjoint_paths: Some(3),
    };
    let q = net.nodes[20]
        .start(net.now, QueryRequest::GetMutable(key), options)
        .unwrap();
    let (disjoint, _) = net.wait(20, q);
    assert_eq!(single, disjoint);
    assert!(matches!(disjoint, QueryOutcome::Get { record: Some(ref r), .. } if *r == record));
    // On a lookup that learns contacts, three paths ask more peers than one
    // and still find the same closest nodes.
    let target = NodeId::sha1(b"disjoint target");
    let q = net.nodes[20].start_find_node(net.now, target);
    let (single, single_stats) = net.wait(20, q);
    let q = net.nodes[20]
        .start(net.now, QueryRequest::FindNode(target), options)
        .unwrap();
    let (disjoint, disjoint_stats) = net.wait(20, q);
    assert_eq!(single, disjoint);
    assert!(
        disjoint_stats.messages > single_stats.messages,
        "{single_stats:?} {disjoint_stats:?}"
    );
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

/// Sends a (not read-only) FIND_NODE from `who` at `from` to `node` and
/// answers every key-proof challenge it sends back; returns how many
/// challenges it sent.
fn request_and_prove(node: &mut Node, now: Instant, from: SocketAddr, who: &Identity) -> usize {
    let req = wire::encode(&Message {
        txid: 7,
        sender: who.node_id(),
        body: Body::Request {
            read_only: false,
            request: Request::FindNode {
                target: NodeId::ZERO,
                challenge: None,
            },
        },
    })
    .unwrap();
    node.handle_datagram(now, from, &req);
    let mut challenges = 0;
    let sent: Vec<Transmit> = std::iter::from_fn(|| node.poll_transmit()).collect();
    for t in sent.into_iter().filter(|t| t.dest == from) {
        let m = wire::decode(&t.payload).unwrap();
        if let Body::Request {
            request: Request::Ping {
                challenge: Some(nonce),
            },
            ..
        } = m.body
        {
            challenges += 1;
            let pong = Message {
                txid: m.txid,
                sender: who.node_id(),
                body: Body::Response(Response::Pong {
                    your_addr: from,
                    proof: Some(who.key_proof(&nonce)),
                }),
            };
            node.handle_datagram(now, from, &wire::encode(&pong).unwrap());
        }
    }
    challenges
}

#[test]
fn cached_contact_is_not_asked_to_prove_its_key_again() {
    let now = Instant::now();
    let config = Config {
        k: 1,
        ..Config::local()
    };
    let mut node = Node::new(Identity::from_seed(1), config, 0, now);
    // Two identities that fall in the same bucket of the node.
    let mut by_bucket: HashMap<usize, Identity> = HashMap::new();
    let (first, second, index) = (2..200u64)
        .find_map(|seed| {
            let id = Identity::from_seed(seed);
            let index = node.id().bucket_index(&id.node_id())?;
            match by_bucket.remove(&index) {
                Some(other) => Some((other, id, index)),
                None => {
                    by_bucket.insert(index, id);
                    None
                }
            }
        })
        .expect("two ids share a bucket");
    let first_addr = SocketAddr::from(([127, 0, 0, 1], 20_001));
    let second_addr = SocketAddr::from(([127, 0, 0, 1], 20_002));

    // The first fills the bucket (k = 1) after proving its key.
    assert_eq!(request_and_prove(&mut node, now, first_addr, &first), 1);
    assert!(node.routing_table().contains(&first.node_id()));
    // The second proves its key and is parked in the replacement cache.
    assert_eq!(request_and_prove(&mut node, now, second_addr, &second), 1);
    let cached = |node: &Node, addr: SocketAddr| {
        node.routing_table().bucket(index).is_some_and(|b| {
            b.replacements().any(|e| {
                e.contact
                    == Contact {
                        id: second.node_id(),
                        addr,
                    }
            })
        })
    };
    assert!(cached(&node, second_addr));
    assert_eq!(node.stats().key_proofs_verified, 2);

    // Its next requests are served without a new challenge.
    for _ in 0..3 {
        assert_eq!(request_and_prove(&mut node, now, second_addr, &second), 0);
    }
    assert_eq!(node.stats().key_proofs_verified, 2);
    assert!(cached(&node, second_addr));

    // The same id from another address is still challenged.
    let moved = SocketAddr::from(([127, 0, 0, 1], 20_003));
    assert_eq!(request_and_prove(&mut node, now, moved, &second), 1);
    assert_eq!(node.stats().key_proofs_verified, 3);
}

#[path = "tests_proofs.rs"]
mod proofs;

#[path = "tests_bootstrap.rs"]
mod bootstrap;

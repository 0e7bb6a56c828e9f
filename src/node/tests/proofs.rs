//! Tests of routing-table admission: key proofs are asked only when they
//! can change the table, a cached spare is not asked again, a client never
//! enters a table, ping-before-evict waits out the late window before it
//! evicts a contact, answers skip contacts that stopped answering, and a
//! lookup step to a stranger carries the key challenge itself.

use std::collections::BTreeMap;

use super::*;

/// A config whose buckets hold one contact and one spare, so a handful of
/// nodes fill a bucket.
fn tiny_buckets() -> Config {
    Config {
        k: 1,
        alpha: 1,
        replacement_cache_size: 1,
        ..Config::local()
    }
}

/// The nodes (other than 0) in node 0's most populated bucket, and that
/// bucket's index.
fn crowded_bucket(net: &Net) -> (usize, Vec<usize>) {
    let local = net.nodes[0].id();
    let mut buckets: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, node) in net.nodes.iter().enumerate().skip(1) {
        if let Some(b) = local.bucket_index(&node.id()) {
            buckets.entry(b).or_default().push(i);
        }
    }
    buckets
        .into_iter()
        .max_by_key(|(_, v)| v.len())
        .expect("some bucket")
}

fn spares(net: &Net, bucket: usize) -> Vec<NodeId> {
    net.nodes[0]
        .routing_table()
        .bucket(bucket)
        .expect("bucket")
        .replacements()
        .map(|e| e.contact.id)
        .collect()
}

#[test]
fn spares_and_strangers_of_a_settled_bucket_are_not_asked_to_prove_again() {
    let mut net = Net::new(8, tiny_buckets());
    let (bucket, peers) = crowded_bucket(&net);
    assert!(peers.len() >= 3, "seeds give {peers:?}");
    let (b, c, d) = (peers[0], peers[1], peers[2]);
    let boot = net.addrs[0];
    // B joins through A (node 0) and fills A's one-contact bucket.
    let q = net.nodes[b].start_bootstrap(net.now, vec![boot]);
    net.wait(b, q);
    net.settle();
    // C joins: A has it prove its key, finds the bucket full, pings B
    // (alive) and keeps C as the bucket's spare.
    let q = net.nodes[c].start_bootstrap(net.now, vec![boot]);
    net.wait(c, q);
    net.settle();
    let id_b = net.nodes[b].id();
    let id_c = net.nodes[c].id();
    assert!(net.nodes[0].routing_table().contains(&id_b));
    assert_eq!(spares(&net, bucket), vec![id_c]);
    let proofs = net.nodes[0].stats().key_proofs_verified;
    // C talks to A again: it proved its key when it was parked.
    let q = net.nodes[c].start_find_node(net.now, NodeId::sha1(b"anything"));
    net.wait(c, q);
    net.settle();
    assert_eq!(net.nodes[0].stats().key_proofs_verified, proofs);
    // D, a stranger whose bucket is full and whose spare is fresh, could
    // only displace that spare: no proof either.
    let q = net.nodes[d].start_bootstrap(net.now, vec![boot]);
    net.wait(d, q);
    net.settle();
    assert_eq!(net.nodes[0].stats().key_proofs_verified, proofs);
    assert_eq!(spares(&net, bucket), vec![id_c]);
    assert!(net.nodes[0].routing_table().contains(&id_b));
}

#[test]
fn eviction_ping_answered_after_its_soft_deadline_keeps_the_contact() {
    let mut net = Net::new(8, tiny_buckets());
    let (bucket, peers) = crowded_bucket(&net);
    let (b, c) = (peers[0], peers[1]);
    let (boot, addr_b) = (net.addrs[0], net.addrs[b]);
    let q = net.nodes[b].start_bootstrap(net.now, vec![boot]);
    net.wait(b, q);
    net.settle();
    // C joins; hold A's ping-before-evict to B when it is sent.
    let _q = net.nodes[c].start_bootstrap(net.now, vec![boot]);
    let held = loop {
        net.collect();
        let eviction_ping = net.queue.iter().position(|d| {
            d.from == 0
                && d.to == addr_b
                && matches!(
                    wire::decode(&d.bytes).map(|m| m.body),
                    Ok(Body::Request {
                        request: Request::Ping { challenge: None },
                        ..
                    })
                )
        });
        if let Some(pos) = eviction_ping {
            break net.queue.remove(pos).expect("queued").bytes;
        }
        net.step();
    };
    net.settle();
    // The answer comes a second late: past the adaptive timeout (B's
    // round trips so far took no time), within the late window.
    net.now += Duration::from_secs(1);
    net.nodes[0].handle_timeout(net.now);
    net.collect();
    net.nodes[b].handle_datagram(net.now, boot, &held);
    net.settle();
    let id_b = net.nodes[b].id();
    assert!(net.nodes[0].routing_table().contains(&id_b));
    assert_eq!(spares(&net, bucket), vec![net.nodes[c].id()]);
    assert_eq!(net.nodes[0].stats().requests_timed_out, 0);
}

#[test]
fn answers_leave_out_contacts_that_stopped_answering() {
    let mut net = Net::bootstrapped(10, Config::local());
    net.settle();
    for i in [3, 5] {
        net.online[i] = false;
    }
    // Two lookups from node 0 each time out on nodes 3 and 5.
    for seed in [b"a", b"b"] {
        let q = net.nodes[0].start_find_node(net.now, NodeId::sha1(seed));
        net.wait(0, q);
        // Past every hard deadline, where a failure is counted.
        net.now += Duration::from_secs(10);
        net.nodes[0].handle_timeout(net.now);
    }
    let max = Config::local().max_failures;
    for i in [3, 5] {
        let entry = net.nodes[0].routing_table().get(&net.nodes[i].id());
        assert!(entry.is_some_and(|e| e.failures >= max), "{entry:?}");
    }
    let asker = Identity::from_seed(99).node_id();
    let target = NodeId::sha1(b"c");
    let answers = net.raw(
        outsider(),
        0,
        &request(
            asker,
            7,
            Request::FindNode {
                target,
                challenge: None,
            },
        ),
    );
    let [Message {
        body: Body::Response(Response::Nodes { nodes, .. }),
        ..
    }] = answers.as_slice()
    else {
        panic!("one Nodes answer expected: {answers:?}");
    };
    let mut listed: Vec<NodeId> = nodes.iter().map(|c| c.id).collect();
    listed.sort();
    let mut live: Vec<NodeId> = (1..10)
        .filter(|i| ![3, 5].contains(i))
        .map(|i| net.nodes[i].id())
        .collect();
    live.sort();
    assert_eq!(listed, live);
}

/// Runs `net` until node `i` finishes query `q` and the network is quiet,
/// and returns every datagram delivered meanwhile as `(from, to, message)`.
fn run_logged(net: &mut Net, i: usize, q: QueryId) -> Vec<(usize, usize, Message)> {
    let mut log = Vec::new();
    let mut finished = false;
    loop {
        finished |= net
            .events
            .iter()
            .any(|(n, Event::QueryFinished { id, .. })| *n == i && *id == q);
        net.collect();
        if finished && net.queue.is_empty() {
            return log;
        }
        if let Some(d) = net.queue.front() {
            if let (Some(t), Ok(m)) = (net.index_of(&d.to), wire::decode(&d.bytes)) {
                log.push((d.from, t, m));
            }
        }
        net.step();
    }
}

/// A lookup step to a contact the table does not hold yet carries the key
/// challenge, the answer carries the proof, and the contact enters the
/// table with no PING: one round trip instead of two.
#[test]
fn a_lookup_step_to_a_stranger_proves_its_key_without_a_ping() {
    let mut net = Net::new(3, Config::local());
    let boot = net.addrs[0];
    let q = net.nodes[1].start_bootstrap(net.now, vec![boot]);
    net.wait(1, q);
    net.settle();
    // Node 2 joins through node 0 and learns node 1 from its answers.
    let q = net.nodes[2].start_bootstrap(net.now, vec![boot]);
    let log = run_logged(&mut net, 2, q);
    let one = net.nodes[1].id();
    assert!(net.nodes[2].routing_table().contains(&one));

    let challenged: Vec<_> = log
        .iter()
        .filter_map(|(f, t, m)| match &m.body {
            Body::Request {
                request:
                    Request::FindNode {
                        challenge: Some(n), ..
                    },
                ..
            } if (*f, *t) == (2, 1) => Some((m.txid, *n)),
            _ => None,
        })
        .collect();
    assert_eq!(challenged.len(), 1, "one challenging FIND_NODE to node 1");
    let (txid, nonce) = challenged[0];
    let proved = log.iter().any(|(f, t, m)| {
        (*f, *t, m.txid) == (1, 2, txid)
            && matches!(&m.body, Body::Response(Response::Nodes { proof: Some(p), .. })
                if crate::identity::verify_key_proof(&one, &nonce, p))
    });
    assert!(proved, "node 1's answer carries a valid proof");
    let pings_to_one = log
        .iter()
        .filter(|(f, t, m)| {
            (*f, *t) == (2, 1)
                && matches!(
                    m.body,
                    Body::Request {
                        request: Request::Ping { .. },
                        ..
                    }
                )
        })
        .count();
    assert_eq!(pings_to_one, 0);
    // A later lookup asks the now known contact without a challenge.
    let target = net.nodes[1].id();
    let q = net.nodes[2].start_find_node(net.now, target);
    let log = run_logged(&mut net, 2, q);
    let to_one: Vec<_> = log
        .iter()
        .filter_map(|(f, t, m)| match &m.body {
            Body::Request {
                request: Request::FindNode { challenge, .. },
                ..
            } if (*f, *t) == (2, 1) => Some(*challenge),
            _ => None,
        })
        .collect();
    assert_eq!(to_one, vec![None]);
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

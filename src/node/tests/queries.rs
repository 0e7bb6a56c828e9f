//! Tests of the queries a user starts: lookups of the closest nodes, puts,
//! gets with read repair, providers, republishing and expiry, disjoint
//! paths, and lookups around offline nodes.

use super::*;

#[test]
fn find_node_returns_the_exact_closest_nodes() {
    let mut net = Net::bootstrapped(30, Config::local());
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
    let mut net = Net::bootstrapped(12, Config::local());
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
    let mut net = Net::bootstrapped(10, Config::local());
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
    let mut net = Net::bootstrapped(6, Config::local());
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
fn record_expires_after_ttl_once_publisher_stops() {
    let mut net = Net::bootstrapped(5, Config::local());
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
    let mut net = Net::bootstrapped(5, Config::local());
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
    let mut net = Net::bootstrapped(25, Config::local());
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
    let mut net = Net::bootstrapped(10, Config::local());
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
fn disjoint_paths_are_chosen_per_query_and_still_find_the_record() {
    let mut net = Net::bootstrapped(40, Config::local());
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

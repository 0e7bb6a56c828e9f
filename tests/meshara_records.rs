//! The Meshara adapter's records on a real loopback network: pollution and
//! replays refused by storing nodes, shared lookups and the miss cache,
//! authorities, content providers, staleness and expiry.
#![cfg(feature = "meshara")]

mod common;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::{bounded, loopback, RawClient, Router};
use meshara_dht::error::DhtError;
use meshara_dht::meshara::{
    contact_key, content_key, ContactInfo, KeySigner, MaintenanceConfig, MesharaConfig, MesharaDht,
    Signer, WallClock, CONTACT_SALT,
};
use meshara_dht::record::{MesharaPublicKey, Record, RecordPublicKey, Refusal, SignedRecord};
use meshara_dht::runtime::Testnet;
use meshara_dht::wire::Signature;
use meshara_dht::Config;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[tokio::test]
async fn forged_contact_records_are_refused_by_every_storing_node() {
    bounded(async {
        let net = Testnet::new(10).await.unwrap();
        let a = Router::new(&net.nodes[3], 100).await;
        a.meshara.advertise_self(&[a.addr()]).await.unwrap();
        let key = contact_key(&a.id());
        let genuine = net.nodes[5].get_mutable(key).await.unwrap().unwrap();

        // 1. Mallory's contact claiming A's id and key, signed by Mallory.
        let mallory = KeySigner::from_seed(666);
        let seq = genuine.seq + 60_000;
        let value = ContactInfo::new(vec![addr("127.0.0.1:9")], a.signer.public_key(), seq)
            .unwrap()
            .encode()
            .unwrap();
        let forged = SignedRecord {
            public_key: RecordPublicKey::Meshara(MesharaPublicKey(a.signer.public_key())),
            salt: Bytes::from_static(CONTACT_SALT),
            seq,
            signature: Signature(mallory.sign(&SignedRecord::signing_message(&key, seq, &value))),
            value: value.into(),
        };
        // 2. A's genuine record with the value swapped and the sequence
        //    raised (the old signature no longer covers it).
        let mut tampered = genuine.clone();
        tampered.seq = seq;
        tampered.value = forged.value.clone();

        // A well-behaved engine will not even send them.
        for record in [&forged, &tampered] {
            assert!(matches!(
                net.nodes[7].put_mutable(record.clone()).await,
                Err(DhtError::InvalidRecord(Refusal::BadSignature))
            ));
        }
        // Sent raw, straight to every storing node: refused with the reason.
        let mut raw = RawClient::new().await;
        for record in [forged, tampered] {
            let mut refusals = Vec::new();
            for node in &net.nodes {
                refusals.push(
                    raw.store(node.local_addr(), key, Record::Mutable(record.clone()))
                        .await,
                );
            }
            assert_eq!(refusals, vec![Some(Refusal::BadSignature); 10]);
        }
        // Every node still serves the genuine record, and a reader finds A.
        let c = MesharaDht::new(net.nodes[8].clone(), Arc::new(KeySigner::from_seed(300)));
        let found = c.lookup_peer(&a.id()).await.unwrap().unwrap();
        assert_eq!(found.addresses, vec![a.addr()]);
        assert_eq!(found.advertised_at, genuine.seq);
        assert_eq!(c.stats().records_rejected, 0);
        net.shutdown().await;
    })
    .await
}

#[tokio::test]
async fn a_replayed_older_contact_is_refused_and_the_newest_is_found() {
    bounded(async {
        let net = Testnet::new(10).await.unwrap();
        let a = Router::new(&net.nodes[3], 100).await;
        let key = contact_key(&a.id());
        a.meshara
            .advertise_self(&[addr("127.0.0.1:1111")])
            .await
            .unwrap();
        let old = net.nodes[5].get_mutable(key).await.unwrap().unwrap();
        a.meshara.advertise_self(&[a.addr()]).await.unwrap();
        let newest = net.nodes[5].get_mutable(key).await.unwrap().unwrap();
        assert!(newest.seq > old.seq);

        // Anyone (node 7 here) can replay A's old, validly signed record.
        match net.nodes[7].put_mutable(old.clone()).await {
            Err(DhtError::NotStored { refused, failed }) => {
                assert_eq!(failed, 0);
                assert_eq!(
                    refused,
                    vec![Refusal::SequenceNotNewer { stored: newest.seq }; 10]
                );
            }
            other => panic!("the replay was not refused: {other:?}"),
        }
        // And straight to a storing node, bypassing any engine.
        let mut raw = RawClient::new().await;
        let refusal = raw
            .store(net.nodes[0].local_addr(), key, Record::Mutable(old))
            .await;
        assert_eq!(
            refusal,
            Some(Refusal::SequenceNotNewer { stored: newest.seq })
        );
        let c = MesharaDht::new(net.nodes[9].clone(), Arc::new(KeySigner::from_seed(300)));
        let found = c.find_peer(&a.id()).await.unwrap().unwrap();
        assert_eq!(found.addresses, vec![a.addr()]);
        assert_eq!(found.advertised_at, newest.seq);
        net.shutdown().await;
    })
    .await
}

#[tokio::test]
async fn concurrent_lookups_of_one_destination_share_one_dht_query() {
    bounded(async {
        let net = Testnet::new(6).await.unwrap();
        let a = Router::new(&net.nodes[1], 100).await;
        a.meshara.advertise_self(&[a.addr()]).await.unwrap();
        let b = MesharaDht::new(net.nodes[4].clone(), Arc::new(KeySigner::from_seed(200)));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let b = b.clone();
            let id = a.id();
            tasks.spawn(async move { b.find_peer(&id).await });
        }
        while let Some(found) = tasks.join_next().await {
            let found = found.unwrap().unwrap().unwrap();
            assert_eq!(found.addresses, vec![a.addr()]);
        }
        let stats = b.stats();
        assert_eq!(stats.lookups, 1);
        assert_eq!(stats.cache_misses, 8);
        assert_eq!(stats.lookups_shared, 7);
        assert!(b.find_peer(&a.id()).await.unwrap().is_some());
        assert_eq!(b.stats().cache_hits, 1);
        net.shutdown().await;
    })
    .await
}

#[tokio::test]
async fn a_miss_is_cached_for_the_configured_time_only() {
    bounded(async {
        let net = Testnet::new(4).await.unwrap();
        let now = Arc::new(AtomicU64::new(1_764_000_000_000));
        let clock = {
            let now = now.clone();
            WallClock::from_fn(move || now.load(Ordering::Relaxed))
        };
        let b = MesharaDht::with_config(
            net.nodes[2].clone(),
            Arc::new(KeySigner::from_seed(200)),
            MesharaConfig {
                negative_cache_ttl: Duration::from_secs(30),
                clock,
                ..MesharaConfig::default()
            },
        );
        let nobody = KeySigner::from_seed(999).meshara_id();
        assert_eq!(b.find_peer(&nobody).await.unwrap(), None);
        now.fetch_add(29_999, Ordering::Relaxed);
        assert_eq!(b.find_peer(&nobody).await.unwrap(), None);
        assert_eq!(b.stats().lookups, 1);
        now.fetch_add(1, Ordering::Relaxed);
        assert_eq!(b.find_peer(&nobody).await.unwrap(), None);
        assert_eq!(b.stats().lookups, 2);
        net.shutdown().await;
    })
    .await
}

#[tokio::test]
async fn a_stale_contact_is_not_believed() {
    bounded(async {
        let net = Testnet::new(4).await.unwrap();
        let a = Router::new(&net.nodes[1], 100).await;
        a.meshara.advertise_self(&[a.addr()]).await.unwrap();
        // A reader whose clock says it is 2 h 1 min later.
        let later = WallClock::from_fn(|| WallClock::system().now_ms() + 121 * 60 * 1000);
        let late = MesharaDht::with_config(
            net.nodes[3].clone(),
            Arc::new(KeySigner::from_seed(300)),
            MesharaConfig {
                clock: later,
                ..MesharaConfig::default()
            },
        );
        assert_eq!(late.lookup_peer(&a.id()).await.unwrap(), None);
        assert_eq!(late.stats().records_rejected, 1);
        let now = MesharaDht::new(net.nodes[3].clone(), Arc::new(KeySigner::from_seed(301)));
        assert!(now.lookup_peer(&a.id()).await.unwrap().is_some());
        net.shutdown().await;
    })
    .await
}

#[tokio::test]
async fn an_authority_is_found_under_its_own_salt() {
    bounded(async {
        let net = Testnet::new(6).await.unwrap();
        let auth = Router::new(&net.nodes[1], 100).await;
        auth.meshara
            .advertise_authority(&[auth.addr()])
            .await
            .unwrap();
        let b = MesharaDht::new(net.nodes[4].clone(), Arc::new(KeySigner::from_seed(200)));
        let found = b.find_authority(&auth.id()).await.unwrap().unwrap();
        assert_eq!(found.addresses, vec![auth.addr()]);
        assert_eq!(found.public_key, auth.signer.public_key());
        // The contact record is a different one, not advertised.
        assert_eq!(b.find_peer(&auth.id()).await.unwrap(), None);
        net.shutdown().await;
    })
    .await
}

#[tokio::test]
async fn content_providers_resolve_to_verified_meshara_contacts_only() {
    bounded(async {
        let net = Testnet::new(10).await.unwrap();
        let hash = *blake3::hash(b"some content").as_bytes();
        let a = Router::new(&net.nodes[1], 100).await;
        let c = Router::new(&net.nodes[2], 300).await;
        let d = Router::new(&net.nodes[3], 400).await;
        for r in [&a, &c] {
            r.meshara.advertise_self(&[r.addr()]).await.unwrap();
            r.meshara.announce_content(&hash).await.unwrap();
        }
        // D announces but never advertises a contact: nothing to return.
        d.meshara.announce_content(&hash).await.unwrap();
        // A DHT node with no binding at all.
        net.nodes[4].add_provider(content_key(&hash)).await.unwrap();
        // A DHT node copying A's binding under its own key.
        let a_binding = net.nodes[6]
            .get_mutable(net.nodes[1].node_id())
            .await
            .unwrap()
            .unwrap();
        let copied = net.nodes[5]
            .sign(Bytes::new(), 1, a_binding.value.clone())
            .unwrap();
        net.nodes[5].put_mutable(copied).await.unwrap();
        net.nodes[5].add_provider(content_key(&hash)).await.unwrap();

        let b = MesharaDht::new(net.nodes[8].clone(), Arc::new(KeySigner::from_seed(200)));
        let found = b.find_providers(&hash).await.unwrap();
        let ids: HashSet<[u8; 32]> = found.iter().map(ContactInfo::meshara_id).collect();
        assert_eq!(ids, HashSet::from([a.id(), c.id()]));
        assert_eq!(found.len(), 2);
        for info in &found {
            let expected = if info.meshara_id() == a.id() { &a } else { &c };
            assert_eq!(info.addresses, vec![expected.addr()]);
        }
        // Node 5's copied binding was seen and refused.
        assert_eq!(b.stats().records_rejected, 1);
        assert!(b.find_providers(&[0; 32]).await.unwrap().is_empty());
        net.shutdown().await;
    })
    .await
}

/// Real time, short TTLs: maintenance keeps a node findable and follows an
/// address change; a node that stops advertising is gone once its records
/// expire.
#[tokio::test]
async fn maintained_node_stays_findable_and_a_silent_one_expires() {
    bounded(async {
        let config = Config {
            record_ttl: Duration::from_millis(2500),
            ..Config::local()
        };
        let net = Testnet::with(6, loopback(), config, 11).await.unwrap();
        let a = Router::new(&net.nodes[1], 100).await;
        let c = Router::new(&net.nodes[2], 300).await;
        let b = MesharaDht::new(net.nodes[4].clone(), Arc::new(KeySigner::from_seed(200)));

        let (tx, rx) = tokio::sync::watch::channel(vec![a.addr()]);
        let handle = a.meshara.spawn_maintenance(
            rx,
            MaintenanceConfig {
                advertise_interval: Duration::from_millis(500),
                bootstrap_interval: Duration::from_millis(400),
                seed: Some(1),
                ..MaintenanceConfig::default()
            },
        );
        c.meshara.advertise_self(&[c.addr()]).await.unwrap();
        c.meshara.stop_advertising().await.unwrap();
        assert!(b.lookup_peer(&c.id()).await.unwrap().is_some());

        tokio::time::sleep(Duration::from_millis(3500)).await;
        assert_eq!(b.lookup_peer(&c.id()).await.unwrap(), None);
        let found = b.lookup_peer(&a.id()).await.unwrap().unwrap();
        assert_eq!(found.addresses, vec![a.addr()]);
        let stats = a.meshara.stats();
        assert!(stats.advertisements_ok >= 4, "{stats:?}");
        assert!(stats.bootstraps_ok >= 4, "{stats:?}");
        assert_eq!(
            (stats.advertisements_failed, stats.bootstraps_failed),
            (0, 0)
        );

        // The address changes: the new one is advertised at once.
        let moved = addr("127.0.0.1:4242");
        tx.send_replace(vec![moved]);
        let mut seen = Vec::new();
        for _ in 0..40 {
            seen = b.lookup_peer(&a.id()).await.unwrap().unwrap().addresses;
            if seen == [moved] {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        assert_eq!(seen, [moved]);

        // A stops: its records expire from the DHT.
        handle.cancel();
        a.meshara.stop_advertising().await.unwrap();
        tokio::time::sleep(Duration::from_millis(3500)).await;
        assert_eq!(b.lookup_peer(&a.id()).await.unwrap(), None);
        net.shutdown().await;
    })
    .await
}

//! `route_with_dht` on loopback: real UDP DHT nodes (`Testnet`), real TCP
//! connections with the mutual key proof, every test bounded in time.
#![cfg(feature = "meshara")]

mod common;

use std::time::Duration;

use common::{bounded, Router};
use meshara_dht::meshara::{
    route_with_dht, Connector, Delivery, Inbound, KeySigner, RouteError, Signer, TcpConfig,
    TcpEndpoint,
};
use meshara_dht::runtime::Testnet;

#[tokio::test]
async fn b_without_a_local_route_reaches_a_through_the_dht_after_the_key_proof() {
    bounded(async {
        let net = Testnet::new(10).await.unwrap();
        let mut a = Router::new(&net.nodes[2], 100).await;
        let b = Router::new(&net.nodes[8], 200).await;
        let report = a.meshara.advertise_self(&[a.addr()]).await.unwrap();
        assert!(report.stored >= 9, "stored on {}", report.stored);
        assert!(b.routes.is_empty());

        let delivery = route_with_dht(
            &b.routes,
            &b.connector,
            Some(&b.meshara),
            &a.id(),
            b"hello A".to_vec(),
        )
        .await
        .unwrap();
        assert_eq!(delivery, Delivery::Dht { addr: a.addr() });
        let got = a.endpoint.recv().await.unwrap();
        assert_eq!(
            got,
            Inbound {
                from: b.id(),
                public_key: b.signer.public_key(),
                payload: b"hello A".to_vec(),
            }
        );
        let stats = b.meshara.stats();
        assert_eq!(stats.lookups, 1);
        assert_eq!(stats.cache_misses, 1);
        assert_eq!(stats.routed_dht, 1);
        assert_eq!(stats.key_mismatches, 0);

        // The second message: cached contact, pooled connection, no lookup.
        let delivery = b
            .meshara
            .route(&b.routes, &b.connector, &a.id(), b"again".to_vec())
            .await
            .unwrap();
        assert_eq!(delivery, Delivery::Dht { addr: a.addr() });
        assert_eq!(a.endpoint.recv().await.unwrap().payload, b"again");
        let stats = b.meshara.stats();
        assert_eq!(
            (stats.lookups, stats.cache_hits, stats.routed_dht),
            (1, 1, 2)
        );
        net.shutdown().await;
    })
    .await
}

#[tokio::test]
async fn impostor_at_the_advertised_address_cannot_prove_the_key_and_gets_nothing() {
    bounded(async {
        let net = Testnet::new(10).await.unwrap();
        let a = Router::new(&net.nodes[1], 100).await;
        let b = Router::new(&net.nodes[6], 200).await;
        let x = a.addr();
        a.meshara.advertise_self(&[x]).await.unwrap();
        let a_id = a.id();
        // A goes away; an impostor takes its address.
        drop(a);
        let impostor_key = std::sync::Arc::new(KeySigner::from_seed(666));
        let mut impostor = None;
        for _ in 0..100 {
            match TcpEndpoint::bind(x, impostor_key.clone(), TcpConfig::default()).await {
                Ok(e) => {
                    impostor = Some(e);
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
        let mut impostor = impostor.expect("the impostor could not bind A's address");

        let err = route_with_dht(
            &b.routes,
            &b.connector,
            Some(&b.meshara),
            &a_id,
            b"for A only".to_vec(),
        )
        .await
        .unwrap_err();
        match err {
            RouteError::PeerKeyMismatch {
                destination,
                addr,
                proven,
            } => {
                assert_eq!(destination, a_id);
                assert_eq!(addr, x);
                assert_eq!(proven, Some(impostor_key.meshara_id()));
            }
            other => panic!("expected PeerKeyMismatch, got {other}"),
        }
        // The hint is dropped, no connection kept, nothing delivered.
        assert_eq!(b.meshara.cached_contact(&a_id), None);
        assert!(b.connector.direct(&a_id).is_none());
        let stats = b.meshara.stats();
        assert_eq!((stats.key_mismatches, stats.routed_dht), (1, 0));
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(impostor.try_recv(), None);

        // Trying again looks the contact up again (no stale hint), and
        // fails the same way.
        let err = b
            .meshara
            .route(&b.routes, &b.connector, &a_id, b"again".to_vec())
            .await
            .unwrap_err();
        assert!(matches!(err, RouteError::PeerKeyMismatch { .. }), "{err}");
        assert_eq!(b.meshara.stats().lookups, 2);
        assert_eq!(impostor.try_recv(), None);
        net.shutdown().await;
    })
    .await
}

#[tokio::test]
async fn a_local_route_is_used_without_any_dht_query() {
    bounded(async {
        let net = Testnet::new(4).await.unwrap();
        let mut a = Router::new(&net.nodes[1], 100).await;
        let b = Router::new(&net.nodes[2], 200).await;
        let c_id = KeySigner::from_seed(300).meshara_id();
        a.meshara.advertise_self(&[a.addr()]).await.unwrap();
        // B and A are neighbours: B holds a proven connection to A, and its
        // table routes A directly and C through A.
        b.connector
            .get_or_connect(&a.id(), a.addr(), &a.signer.public_key())
            .await
            .unwrap();
        b.routes.add_direct(a.id());
        b.routes.add_route(c_id, a.id());
        let queries_before = b.meshara.dht().stats().await.unwrap().node.queries_started;

        let to_a = b
            .meshara
            .route(&b.routes, &b.connector, &a.id(), b"direct".to_vec())
            .await
            .unwrap();
        assert_eq!(to_a, Delivery::Local { next_hop: a.id() });
        let to_c = b
            .meshara
            .route(&b.routes, &b.connector, &c_id, b"via A".to_vec())
            .await
            .unwrap();
        assert_eq!(to_c, Delivery::Local { next_hop: a.id() });
        assert_eq!(a.endpoint.recv().await.unwrap().payload, b"direct");
        assert_eq!(a.endpoint.recv().await.unwrap().payload, b"via A");

        let stats = b.meshara.stats();
        assert_eq!(
            (stats.lookups, stats.cache_misses, stats.cache_hits),
            (0, 0, 0)
        );
        assert_eq!(stats.routed_local, 2);
        let queries_after = b.meshara.dht().stats().await.unwrap().node.queries_started;
        assert_eq!(queries_after, queries_before);
        net.shutdown().await;
    })
    .await
}

#[tokio::test]
async fn no_local_route_and_nothing_in_the_dht_is_no_route() {
    bounded(async {
        let net = Testnet::new(4).await.unwrap();
        let b = Router::new(&net.nodes[2], 200).await;
        let nobody = KeySigner::from_seed(999).meshara_id();
        // Without a DHT at all.
        let err = route_with_dht(&b.routes, &b.connector, None, &nobody, b"x".to_vec())
            .await
            .unwrap_err();
        assert!(
            matches!(err, RouteError::NoRouteToDestination { destination } if destination == nobody)
        );
        // With the DHT: one lookup, then the miss is remembered.
        for _ in 0..3 {
            let err = b
                .meshara
                .route(&b.routes, &b.connector, &nobody, b"x".to_vec())
                .await
                .unwrap_err();
            assert!(matches!(err, RouteError::NoRouteToDestination { .. }));
        }
        let stats = b.meshara.stats();
        assert_eq!(
            (stats.lookups, stats.cache_misses, stats.cache_hits),
            (1, 1, 2)
        );
        net.shutdown().await;
    })
    .await
}

#[tokio::test]
async fn a_moved_node_is_found_again_after_its_cached_hint_fails() {
    bounded(async {
        let net = Testnet::new(6).await.unwrap();
        let a = Router::new(&net.nodes[1], 100).await;
        let b = Router::new(&net.nodes[4], 200).await;
        a.meshara.advertise_self(&[a.addr()]).await.unwrap();
        b.meshara
            .route(&b.routes, &b.connector, &a.id(), b"first".to_vec())
            .await
            .unwrap();
        // A moves to a new endpoint and re-advertises; the old one closes.
        let mut moved =
            TcpEndpoint::bind(common::loopback(), a.signer.clone(), TcpConfig::default())
                .await
                .unwrap();
        let old = a.addr();
        a.meshara
            .advertise_self(&[moved.local_addr()])
            .await
            .unwrap();
        let Router {
            meshara: a_meshara,
            endpoint,
            ..
        } = a;
        drop(endpoint);
        // Wait until B's pooled connection has seen the close.
        for _ in 0..200 {
            if b.connector.direct(&a_meshara.meshara_id()).is_none() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(
            b.meshara
                .cached_contact(&a_meshara.meshara_id())
                .map(|c| c.addresses),
            Some(vec![old])
        );
        let delivery = b
            .meshara
            .route(
                &b.routes,
                &b.connector,
                &a_meshara.meshara_id(),
                b"second".to_vec(),
            )
            .await
            .unwrap();
        assert_eq!(
            delivery,
            Delivery::Dht {
                addr: moved.local_addr()
            }
        );
        assert_eq!(moved.recv().await.unwrap().payload, b"second");
        assert_eq!(b.meshara.stats().lookups, 2);
        net.shutdown().await;
    })
    .await
}

#[tokio::test]
async fn a_contact_offered_by_local_discovery_is_used_after_the_key_proof() {
    bounded(async {
        let net = Testnet::new(3).await.unwrap();
        let mut a = Router::new(&net.nodes[1], 100).await;
        let b = Router::new(&net.nodes[2], 200).await;
        // A never advertised in the DHT; B heard of it on the LAN.
        assert!(!b
            .meshara
            .offer_contact(&[7; 32], &a.signer.public_key(), a.addr()));
        assert!(b
            .meshara
            .offer_contact(&a.id(), &a.signer.public_key(), a.addr()));
        let queries_before = b.meshara.dht().stats().await.unwrap().node.queries_started;
        let delivery = b
            .meshara
            .route(&b.routes, &b.connector, &a.id(), b"lan".to_vec())
            .await
            .unwrap();
        assert_eq!(delivery, Delivery::Dht { addr: a.addr() });
        assert_eq!(a.endpoint.recv().await.unwrap().payload, b"lan");
        assert_eq!(b.meshara.stats().lookups, 0);
        assert_eq!(
            b.meshara.dht().stats().await.unwrap().node.queries_started,
            queries_before
        );
        net.shutdown().await;
    })
    .await
}

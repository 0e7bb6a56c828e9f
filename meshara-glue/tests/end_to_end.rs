//! Real Meshara routers and real meshara-dht nodes on loopback: Meshara's
//! TLS connections, its private messages, a UDP `Testnet` of DHT nodes,
//! and the glue between them. Every test is bounded in time.

mod support;

use std::sync::Arc;

use meshara::crypto::NodeId;
use meshara::network::Connection;
use meshara_dht::meshara::{Delivery, MesharaDht, RouteError, Signer};
use meshara_dht::runtime::Testnet;
use meshara_glue::{MesharaRoutes, MesharaSigner};
use support::{bounded, hang_up_after_each_message, next, open, seal, settle, Peer};
use tokio::sync::Mutex;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b_routes_to_a_found_through_the_dht_and_a_decrypts_it() {
    bounded(async {
        let net = Testnet::new(8).await.unwrap();
        let mut a = Peer::new(&net.nodes[1], 1).await;
        let b = Peer::new(&net.nodes[6], 2).await;
        a.meshara.advertise_self(&[a.addr]).await.unwrap();

        for text in [&b"hello A"[..], b"again"] {
            let message = seal(&b.identity, &a.public_key(), text);
            let delivery = b
                .meshara
                .route(
                    &MesharaRoutes(b.router.clone()),
                    &b.connector,
                    &a.id(),
                    message,
                )
                .await
                .unwrap();
            assert_eq!(delivery, Delivery::Dht { addr: a.addr });
            assert_eq!(a.next_content().await, text);
        }
        let stats = b.meshara.stats();
        assert_eq!((stats.lookups, stats.routed_dht), (1, 2));
        assert_eq!(
            b.connector.pooled(),
            1,
            "the second message reused the connection"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn impostor_at_as_advertised_address_is_refused_and_receives_nothing() {
    bounded(async {
        let net = Testnet::new(8).await.unwrap();
        let a = Peer::new(&net.nodes[1], 1).await;
        let b = Peer::new(&net.nodes[6], 2).await;
        let mut impostor = Peer::new(&net.nodes[3], 3).await;
        // A's contact names the address the impostor now holds.
        a.meshara.advertise_self(&[impostor.addr]).await.unwrap();

        let message = seal(&b.identity, &a.public_key(), b"for A only");
        let err = b
            .meshara
            .route(
                &MesharaRoutes(b.router.clone()),
                &b.connector,
                &a.id(),
                message,
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, RouteError::PeerKeyMismatch { addr, proven: Some(p), .. }
                if addr == impostor.addr && p == impostor.id()),
            "{err:?}"
        );
        settle().await;
        assert!(
            impostor.inbox.try_recv().is_err(),
            "the impostor got a message"
        );
        assert_eq!(b.meshara.stats().key_mismatches, 1);
        assert_eq!(b.connector.pooled(), 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_route_sends_without_a_lookup() {
    bounded(async {
        let net = Testnet::new(4).await.unwrap();
        let mut a = Peer::new(&net.nodes[1], 1).await;
        let b = Peer::new(&net.nodes[2], 2).await;
        // B's router has A as a direct neighbour; A advertised nothing.
        let conn = Connection::connect(a.addr, b.tls.client_config())
            .await
            .unwrap();
        b.router
            .routing_table()
            .read()
            .add_direct_route(NodeId::from_bytes(a.id()), Arc::new(Mutex::new(conn)));
        let queries = b.meshara.dht().stats().await.unwrap().node.queries_started;

        let message = seal(&b.identity, &a.public_key(), b"over the table");
        let delivery = b
            .meshara
            .route(
                &MesharaRoutes(b.router.clone()),
                &b.connector,
                &a.id(),
                message,
            )
            .await
            .unwrap();
        assert_eq!(delivery, Delivery::Local { next_hop: a.id() });
        assert_eq!(a.next_content().await, b"over the table");
        let stats = b.meshara.stats();
        assert_eq!((stats.lookups, stats.routed_local), (0, 1));
        assert_eq!(
            b.meshara.dht().stats().await.unwrap().node.queries_started,
            queries
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_that_hangs_up_after_each_message_still_gets_the_next_one() {
    bounded(async {
        let net = Testnet::new(8).await.unwrap();
        let b = Peer::new(&net.nodes[6], 2).await;
        let h = Arc::new(MesharaSigner(meshara::Identity::from_seed(&[4; 32])));
        let h_dht = MesharaDht::new(net.nodes[1].clone(), h.clone());
        let (addr, mut inbox, _server) = hang_up_after_each_message(h.clone()).await;
        h_dht.advertise_self(&[addr]).await.unwrap();

        for text in [&b"one"[..], b"two", b"three"] {
            let message = seal(&b.identity, &h.0.public_key(), text);
            let delivery = b
                .meshara
                .route(
                    &MesharaRoutes(b.router.clone()),
                    &b.connector,
                    &h.meshara_id(),
                    message,
                )
                .await
                .unwrap();
            assert_eq!(delivery, Delivery::Dht { addr });
            assert_eq!(open(&h.0, &next(&mut inbox).await), text);
            // The hang-up must have reached B before the next message: a
            // message sent while the peer's FIN is in flight is lost.
            settle().await;
        }
        assert_eq!(b.meshara.stats().lookups, 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moves_to_a_new_address_and_b_follows() {
    bounded(async {
        let net = Testnet::new(8).await.unwrap();
        let mut a = Peer::new(&net.nodes[1], 1).await;
        let b = Peer::new(&net.nodes[6], 2).await;
        let routes = MesharaRoutes(b.router.clone());
        a.meshara.advertise_self(&[a.addr]).await.unwrap();
        let message = seal(&b.identity, &a.public_key(), b"at the old address");
        b.meshara
            .route(&routes, &b.connector, &a.id(), message)
            .await
            .unwrap();
        assert_eq!(a.next_content().await, b"at the old address");

        let old = a.addr;
        a.move_away().await;
        assert_ne!(a.addr, old);
        a.meshara.advertise_self(&[a.addr]).await.unwrap();
        settle().await;

        let message = seal(&b.identity, &a.public_key(), b"at the new address");
        let delivery = b
            .meshara
            .route(&routes, &b.connector, &a.id(), message)
            .await
            .unwrap();
        assert_eq!(delivery, Delivery::Dht { addr: a.addr });
        assert_eq!(a.next_content().await, b"at the new address");
        assert_eq!(
            b.meshara.stats().lookups,
            2,
            "the cached contact failed; one fresh lookup"
        );
    })
    .await;
}

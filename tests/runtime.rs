//! The tokio runtime on loopback: real UDP sockets, deterministic seeds,
//! every test bounded in time.

use std::net::SocketAddr;
use std::time::Duration;

use meshara_dht::identity::Identity;
use meshara_dht::runtime::{Dht, Testnet};
use meshara_dht::Config;
use serde::{Deserialize, Serialize};

/// Every test ends within this, whatever happens.
const LIMIT: Duration = Duration::from_secs(120);

async fn bounded<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(LIMIT, f)
        .await
        .expect("test exceeded its time bound")
}

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// What a node advertises about itself, as Meshara's seed plan has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct ContactInfo {
    address: SocketAddr,
    public_key: [u8; 32],
    advertised_at: i64,
}

#[tokio::test]
async fn put_get_round_trip() {
    bounded(async {
        let net = Testnet::new(5).await.unwrap();
        let report = net.nodes[1]
            .put_immutable(&b"round trip"[..])
            .await
            .unwrap();
        assert!(report.stored >= 4);
        let got = net.nodes[4].get_immutable(report.key).await.unwrap();
        assert_eq!(got.as_deref(), Some(&b"round trip"[..]));
        // A key nobody stored is not found.
        let missing = meshara_dht::NodeId::sha1(b"nothing here");
        assert_eq!(net.nodes[2].get_immutable(missing).await.unwrap(), None);
        net.shutdown().await;
    })
    .await
}

#[tokio::test]
async fn contact_info_record_round_trips() {
    let identity = Identity::from_seed(9);
    let info = ContactInfo {
        address: "203.0.113.7:4000".parse().unwrap(),
        public_key: identity.public_key(),
        advertised_at: 1_764_000_000_000,
    };
    let bytes = postcard::to_allocvec(&info).unwrap();
    let record =
        meshara_dht::record::SignedRecord::sign_ed25519(identity.signing_key(), "", 1, bytes)
            .unwrap();
    assert_eq!(record.key(), identity.node_id());
    let wire = postcard::to_allocvec(&record).unwrap();
    let back: meshara_dht::record::SignedRecord = postcard::from_bytes(&wire).unwrap();
    assert_eq!(back, record);
    assert_eq!(back.verify(), Ok(()));
    let decoded: ContactInfo = postcard::from_bytes(&back.value).unwrap();
    assert_eq!(decoded, info);
}

#[tokio::test]
async fn node_b_finds_node_a_signed_contact_by_id() {
    bounded(async {
        let a = Dht::builder()
            .bind(loopback())
            .config(Config::local())
            .identity(Identity::from_seed(1))
            .spawn()
            .await
            .unwrap();
        let b = Dht::builder()
            .bind(loopback())
            .config(Config::local())
            .identity(Identity::from_seed(2))
            .bootstrap([a.local_addr()])
            .spawn()
            .await
            .unwrap();
        b.bootstrap().await.unwrap();
        let info = ContactInfo {
            address: a.local_addr(),
            public_key: a.identity().public_key(),
            advertised_at: 1,
        };
        let record = a
            .sign("", 1, postcard::to_allocvec(&info).unwrap())
            .unwrap();
        a.put_mutable(record).await.unwrap();
        let found = b
            .get_mutable(a.node_id())
            .await
            .unwrap()
            .expect("record found");
        let got: ContactInfo = postcard::from_bytes(&found.value).unwrap();
        assert_eq!(got.address, a.local_addr());
        assert_eq!(got, info);
    })
    .await
}

#[tokio::test]
async fn fresh_node_bootstraps_and_fills_its_table() {
    bounded(async {
        let net = Testnet::new(10).await.unwrap();
        let fresh = Dht::builder()
            .bind(loopback())
            .config(Config::local())
            .bootstrap([net.bootstrap_addr().unwrap().to_string()])
            .spawn()
            .await
            .unwrap();
        assert!(fresh.routing_table().await.unwrap().is_empty());
        let report = fresh.bootstrap().await.unwrap();
        assert_eq!(report.reached, 1);
        let table = fresh.routing_table().await.unwrap();
        assert_eq!(table.len(), 10, "table: {table:?}");
        net.shutdown().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_nodes_each_find_every_other_signed_record() {
    bounded(async {
        let net = Testnet::new(64).await.unwrap();
        let mut keys = Vec::new();
        for node in &net.nodes {
            let value = format!("contact of {}", node.local_addr());
            let record = node.sign("", 1, value).unwrap();
            keys.push(record.key());
            node.put_mutable(record).await.unwrap();
        }
        let mut tasks = tokio::task::JoinSet::new();
        for (i, node) in net.nodes.iter().enumerate() {
            let node = node.clone();
            let keys = keys.clone();
            let addrs: Vec<SocketAddr> = net.nodes.iter().map(|n| n.local_addr()).collect();
            tasks.spawn(async move {
                let mut ok = 0;
                for (j, key) in keys.iter().enumerate() {
                    if i == j {
                        continue;
                    }
                    let record = node.get_mutable(*key).await.unwrap();
                    let expected = format!("contact of {}", addrs[j]);
                    if record.is_some_and(|r| r.value == expected.as_bytes()) {
                        ok += 1;
                    }
                }
                ok
            });
        }
        let mut total = 0;
        while let Some(ok) = tasks.join_next().await {
            total += ok.unwrap();
        }
        assert_eq!(total, 64 * 63);
        net.shutdown().await;
    })
    .await
}

#[tokio::test]
async fn ipv6_loopback_network_works() {
    bounded(async {
        let net = Testnet::with(6, "[::1]:0".parse().unwrap(), Config::local(), 3)
            .await
            .unwrap();
        assert!(net.nodes[0].local_addr().is_ipv6());
        let report = net.nodes[2].put_immutable(&b"over ipv6"[..]).await.unwrap();
        assert_eq!(
            net.nodes[5]
                .get_immutable(report.key)
                .await
                .unwrap()
                .as_deref(),
            Some(&b"over ipv6"[..])
        );
        net.shutdown().await;
    })
    .await
}

#[tokio::test]
async fn garbage_datagrams_are_counted_and_the_node_keeps_serving() {
    bounded(async {
        let net = Testnet::new(3).await.unwrap();
        let target = net.nodes[0].local_addr();
        let socket = tokio::net::UdpSocket::bind(loopback()).await.unwrap();
        for junk in [
            &b""[..],
            &b"\x01\x02"[..],
            &b"\x09hello"[..],
            &[0xAB; 1400][..],
        ] {
            socket.send_to(junk, target).await.unwrap();
        }
        // The node still answers lookups.
        let found = net.nodes[1]
            .find_node(net.nodes[2].node_id())
            .await
            .unwrap();
        assert!(found.iter().any(|c| c.id == net.nodes[2].node_id()));
        let mut errors = 0;
        for _ in 0..50 {
            errors = net.nodes[0].stats().await.unwrap().node.decode_errors;
            if errors == 4 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(errors, 4);
        net.shutdown().await;
    })
    .await
}

#[tokio::test]
async fn bootstrap_with_no_answer_is_a_typed_error() {
    bounded(async {
        // A bound socket that never answers.
        let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let node = Dht::builder()
            .bind(loopback())
            .config(Config {
                rpc_timeout_initial: Duration::from_millis(200),
                rpc_timeout_min: Duration::from_millis(100),
                ..Config::local()
            })
            .bootstrap([silent.local_addr().unwrap()])
            .spawn()
            .await
            .unwrap();
        let err = node.bootstrap().await.unwrap_err();
        assert!(
            matches!(
                err,
                meshara_dht::error::DhtError::BootstrapFailed { tried: 1 }
            ),
            "{err}"
        );
    })
    .await
}

#[tokio::test]
async fn host_names_are_resolved() {
    bounded(async {
        let a = Dht::builder()
            .bind(loopback())
            .config(Config::local())
            .spawn()
            .await
            .unwrap();
        let b = Dht::builder()
            .bind(loopback())
            .config(Config::local())
            .bootstrap([format!("localhost:{}", a.local_addr().port())])
            .spawn()
            .await
            .unwrap();
        // localhost may resolve to ::1 first where a is not listening; the
        // IPv4 answer is enough.
        let report = b.bootstrap().await.unwrap();
        assert_eq!(report.reached, 1);
    })
    .await
}

#[tokio::test]
async fn dropping_the_last_handle_stops_the_node() {
    bounded(async {
        let node = Dht::builder()
            .bind(loopback())
            .config(Config::local())
            .spawn()
            .await
            .unwrap();
        let addr = node.local_addr();
        let clone = node.clone();
        drop(node);
        // Still running: a clone is alive.
        assert!(clone.stats().await.is_ok());
        drop(clone);
        // The task ends and releases the port.
        let mut rebound = false;
        for _ in 0..100 {
            if std::net::UdpSocket::bind(addr).is_ok() {
                rebound = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(rebound, "port still held after the last handle was dropped");
    })
    .await
}

#[tokio::test]
async fn shutdown_makes_every_handle_fail_cleanly() {
    bounded(async {
        let node = Dht::builder()
            .bind(loopback())
            .config(Config::local())
            .spawn()
            .await
            .unwrap();
        let other = node.clone();
        node.shutdown().await;
        assert!(matches!(
            other.stats().await,
            Err(meshara_dht::error::DhtError::Shutdown)
        ));
    })
    .await
}

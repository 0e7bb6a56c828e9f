//! Hostile load on loopback: a flood from one address must not starve a
//! well-behaved client, and an address that never completes a round trip
//! (a spoofed victim) must not be used as an amplification target, and a
//! flood of STOREs under unique keys must leave the store within its caps.
//! Every loop is bounded in count and time.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use meshara_dht::record::{ImmutableRecord, Record};
use meshara_dht::runtime::Testnet;
use meshara_dht::wire::{self, Body, Message, Request, Response};
use meshara_dht::{Config, NodeId};
use std::net::Ipv4Addr;

const LIMIT: Duration = Duration::from_secs(120);

/// The defaults of a public node (per-IP limits on), with the subnet caps
/// off so loopback nodes can know each other.
fn guarded() -> Config {
    Config {
        subnet_caps_on_local: false,
        ..Config::default()
    }
}

async fn testnet(n: usize) -> Testnet {
    let bind = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    Testnet::with(n, bind, guarded(), 7).await.unwrap()
}

fn find_node(txid: u64, target: NodeId) -> Vec<u8> {
    wire::encode(&Message {
        txid,
        sender: NodeId::sha1(b"flooder"),
        body: Body::Request {
            read_only: false,
            request: Request::FindNode {
                target,
                challenge: None,
            },
        },
    })
    .unwrap()
}

/// Sends FIND_NODE requests from `from` to `to` as fast as the socket takes
/// them, for at most `duration` or `max` datagrams; counts bytes both ways.
async fn flood(from: SocketAddr, to: SocketAddr, duration: Duration, max: u64) -> (u64, u64, u64) {
    let socket = tokio::net::UdpSocket::bind(from).await.unwrap();
    let (mut sent, mut bytes_out, mut bytes_in) = (0u64, 0u64, 0u64);
    let mut buf = [0u8; 2048];
    let end = Instant::now() + duration;
    while Instant::now() < end && sent < max {
        let req = find_node(sent, NodeId::sha1(&sent.to_be_bytes()));
        if socket.send_to(&req, to).await.is_ok() {
            sent += 1;
            bytes_out += req.len() as u64;
        }
        while let Ok((n, _)) = socket.try_recv_from(&mut buf) {
            bytes_in += n as u64;
        }
        if sent % 256 == 0 {
            tokio::task::yield_now().await;
        }
    }
    // Collect what is still in flight.
    let drain_end = Instant::now() + Duration::from_millis(300);
    while Instant::now() < drain_end {
        let wait = tokio::time::timeout(Duration::from_millis(50), socket.recv_from(&mut buf));
        if let Ok(Ok((n, _))) = wait.await {
            bytes_in += n as u64;
        }
    }
    (sent, bytes_out, bytes_in)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flooded_node_keeps_serving_a_well_behaved_client() {
    tokio::time::timeout(LIMIT, async {
        let net = testnet(12).await;
        let victim = net.nodes[0].local_addr();
        let client = net.nodes[5].clone();
        // Baseline latency of the client's lookups.
        let mut baseline = Vec::new();
        for i in 0..20u32 {
            let t = Instant::now();
            client.find_node(NodeId::sha1(&i.to_be_bytes())).await.unwrap();
            baseline.push(t.elapsed());
        }
        // The flood comes from another loopback address (127.0.0.2), as an
        // attacker's would.
        let attacker: SocketAddr = "127.0.0.2:0".parse().unwrap();
        let flood = tokio::spawn(flood(attacker, victim, Duration::from_secs(3), 2_000_000));
        let mut during = Vec::new();
        let mut ok = 0;
        let flooded_id = net.nodes[0].node_id();
        let mut flooded_answered = 0;
        let started = Instant::now();
        while started.elapsed() < Duration::from_millis(2500) && during.len() < 200 {
            let i = during.len() as u32 + 100;
            let t = Instant::now();
            let found = client.find_node(NodeId::sha1(&i.to_be_bytes())).await.unwrap();
            during.push(t.elapsed());
            // Every other node answers; the flooded one may lose a datagram
            // in its full socket buffer now and then.
            if found.len() >= 10 {
                ok += 1;
            }
            if found.iter().any(|c| c.id == flooded_id) {
                flooded_answered += 1;
            }
        }
        let (sent, _, _) = flood.await.unwrap();
        let stats = net.nodes[0].stats().await.unwrap();
        baseline.sort();
        during.sort();
        let p50 = |v: &[Duration]| v[v.len() / 2];
        eprintln!(
            "flood: {sent} requests sent; victim rate-limited {}; client lookups during flood: {} ok of {}, flooded node answered {}, p50 {:?} (baseline p50 {:?})",
            stats.node.requests_rate_limited,
            ok,
            during.len(),
            flooded_answered,
            p50(&during),
            p50(&baseline)
        );
        assert!(sent > 1000, "the flood did not run");
        assert!(stats.node.requests_rate_limited > 0, "the flood was not limited");
        assert_eq!(ok, during.len(), "a client lookup failed during the flood");
        assert!(
            flooded_answered * 10 >= during.len() * 9,
            "the flooded node answered only {flooded_answered} of {} lookups",
            during.len()
        );
        // Normal latency: loopback lookups stay well under the initial
        // request timeout (1 s) at the median even under flood.
        assert!(p50(&during) < Duration::from_millis(500), "p50 {:?}", p50(&during));
        net.shutdown().await;
    })
    .await
    .expect("test exceeded its time bound")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spoofed_source_gets_less_than_three_times_its_bytes() {
    tokio::time::timeout(LIMIT, async {
        let net = testnet(25).await;
        let target = net.nodes[0].local_addr();
        let budget = guarded().unverified_bytes_per_sec as u64;
        // 127.0.0.3 never answers the node's key-proof pings, like a victim
        // whose address an attacker spoofs.
        let victim: SocketAddr = "127.0.0.3:0".parse().unwrap();
        let duration = Duration::from_secs(2);
        let (sent, bytes_out, bytes_in) = flood(victim, target, duration, 20_000).await;
        eprintln!("victim sent {sent} requests = {bytes_out} B, received {bytes_in} B");
        assert!(sent > 100);
        assert!(
            bytes_in < 3 * bytes_out,
            "amplification: {bytes_in} B back for {bytes_out} B"
        );
        // And within the per-address budget (one second of burst plus the
        // rate over the flood and drain time).
        let seconds = duration.as_secs() + 2;
        assert!(
            bytes_in <= budget * (seconds + 1),
            "{bytes_in} B over the budget"
        );
        net.shutdown().await;
    })
    .await
    .expect("test exceeded its time bound")
}

/// Asks `to` for a STORE token from `socket`'s address.
async fn token(socket: &tokio::net::UdpSocket, to: SocketAddr) -> wire::Token {
    let mut buf = [0u8; 2048];
    for attempt in 0..10u64 {
        socket
            .send_to(&find_node(attempt, NodeId::sha1(b"t")), to)
            .await
            .unwrap();
        let wait = tokio::time::timeout(Duration::from_millis(500), socket.recv_from(&mut buf));
        if let Ok(Ok((n, _))) = wait.await {
            if let Ok(Message {
                body: Body::Response(Response::Nodes { token, .. }),
                ..
            }) = wire::decode(&buf[..n])
            {
                return token;
            }
        }
    }
    panic!("no token from {to}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_unique_keys_leaves_the_store_within_its_caps() {
    tokio::time::timeout(LIMIT, async {
        const VALUE: usize = 200;
        const BYTE_CAP: usize = 40_000;
        let config = Config {
            max_records: 300,
            max_record_bytes: BYTE_CAP,
            ..guarded()
        };
        let bind = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        let net = Testnet::with(2, bind, config, 9).await.unwrap();
        let target = net.nodes[0].local_addr();
        let mut sent = 0u64;
        // Four source addresses, each with its own token and per-IP quota,
        // send STOREs of distinct 200-byte values (distinct keys) for up to
        // 2 s each: more than the byte cap and the record cap could hold.
        for source in 11..15u8 {
            let socket = tokio::net::UdpSocket::bind((Ipv4Addr::new(127, 0, 0, source), 0))
                .await
                .unwrap();
            let token = token(&socket, target).await;
            let end = Instant::now() + Duration::from_secs(2);
            let mut i = 0u64;
            while Instant::now() < end && i < 2_000 {
                let mut value = vec![source; VALUE];
                value[..8].copy_from_slice(&i.to_be_bytes());
                let record = Record::Immutable(ImmutableRecord::new(value).unwrap());
                let msg = wire::encode(&Message {
                    txid: i,
                    sender: NodeId::sha1(&[source]),
                    body: Body::Request {
                        read_only: true,
                        request: Request::Store { token, record },
                    },
                })
                .unwrap();
                if socket.send_to(&msg, target).await.is_ok() {
                    sent += 1;
                }
                i += 1;
                if i % 64 == 0 {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let stats = net.nodes[0].stats().await.unwrap();
        eprintln!(
            "sent {sent} STOREs of unique keys: {} accepted, {} refused, {} rate-limited, {} stored",
            stats.node.stores_accepted,
            stats.node.stores_refused,
            stats.node.requests_rate_limited,
            stats.records_stored
        );
        // The flood reached the store and filled it up to the byte cap
        // (every value is 200 bytes), and no further.
        assert!(sent >= 1_000, "{sent}");
        assert!(stats.node.stores_refused > 0, "{stats:?}");
        assert!(stats.records_stored * VALUE <= BYTE_CAP, "{stats:?}");
        assert!(stats.records_stored * VALUE > BYTE_CAP / 2, "{stats:?}");
        // The flooded node still answers lookups.
        let found = net.nodes[1].find_node(NodeId::sha1(b"after")).await.unwrap();
        assert!(found.iter().any(|c| c.addr == target), "{found:?}");
        net.shutdown().await;
    })
    .await
    .expect("test exceeded its time bound")
}

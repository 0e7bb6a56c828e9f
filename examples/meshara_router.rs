//! A Meshara-style router using the DHT for peer discovery, on loopback:
//! ten DHT nodes over UDP and four routers with TCP endpoints that prove
//! their keys.
//!
//! ```text
//! cargo run --example meshara_router
//! ```
//!
//! Alice keeps herself advertised with the maintenance task. Bob, who has
//! no route to her, finds her through the DHT, connects and delivers once
//! she proves her key. Carol announces content and Bob finds her as a
//! provider. Dave's old address is taken over by Mallory, who cannot prove
//! Dave's key, so nothing is sent.

#[cfg(not(feature = "meshara"))]
fn main() {
    eprintln!("this example needs the `meshara` feature");
}

#[cfg(feature = "meshara")]
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    demo::run().await
}

#[cfg(feature = "meshara")]
mod demo {
    use std::net::SocketAddr;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use meshara_dht::meshara::{
        route_with_dht, KeySigner, MaintenanceConfig, MapRoutes, MesharaDht, RouteError, Signer,
        TcpConfig, TcpConnector, TcpEndpoint,
    };
    use meshara_dht::runtime::{Dht, Testnet};

    struct Router {
        name: &'static str,
        meshara: MesharaDht,
        endpoint: TcpEndpoint,
        connector: TcpConnector,
        routes: MapRoutes,
    }

    impl Router {
        async fn new(name: &'static str, dht: &Dht, seed: u64) -> std::io::Result<Router> {
            let signer: Arc<dyn Signer> = Arc::new(KeySigner::from_seed(seed));
            let endpoint =
                TcpEndpoint::bind(loopback(), signer.clone(), TcpConfig::default()).await?;
            Ok(Router {
                name,
                meshara: MesharaDht::new(dht.clone(), signer),
                connector: endpoint.connector(),
                endpoint,
                routes: MapRoutes::new(),
            })
        }

        fn id(&self) -> [u8; 32] {
            self.meshara.meshara_id()
        }
    }

    fn loopback() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 0))
    }

    fn short(id: &[u8; 32]) -> String {
        id.iter().take(6).map(|b| format!("{b:02x}")).collect()
    }

    pub(crate) async fn run() -> Result<(), Box<dyn std::error::Error>> {
        let started = Instant::now();
        let net = Testnet::new(10).await?;
        println!("10 DHT nodes up on loopback in {:?}", started.elapsed());

        let mut alice = Router::new("alice", &net.nodes[1], 1).await?;
        let bob = Router::new("bob", &net.nodes[7], 2).await?;
        let carol = Router::new("carol", &net.nodes[4], 3).await?;
        let dave = Router::new("dave", &net.nodes[5], 4).await?;
        for r in [&alice, &bob, &carol, &dave] {
            println!(
                "{:>5}: meshara id {}.. at tcp {}",
                r.name,
                short(&r.id()),
                r.endpoint.local_addr()
            );
        }

        // Alice: advertise now, re-advertise hourly, bootstrap every 5 min.
        let (_addresses, watched) = tokio::sync::watch::channel(vec![alice.endpoint.local_addr()]);
        let maintenance = alice
            .meshara
            .spawn_maintenance(watched, MaintenanceConfig::default());
        while alice.meshara.stats().advertisements_ok == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        println!("alice advertised her contact");

        // Bob: no local route to Alice, so the DHT finds her.
        let t = Instant::now();
        let delivery = route_with_dht(
            &bob.routes,
            &bob.connector,
            Some(&bob.meshara),
            &alice.id(),
            b"hello alice".to_vec(),
        )
        .await?;
        let got = alice
            .endpoint
            .recv()
            .await
            .ok_or("alice's endpoint stopped")?;
        println!(
            "bob -> alice: {delivery:?} in {:?}; alice got {:?} from {}..",
            t.elapsed(),
            String::from_utf8_lossy(&got.payload),
            short(&got.from)
        );
        let t = Instant::now();
        bob.meshara
            .route(&bob.routes, &bob.connector, &alice.id(), b"again".to_vec())
            .await?;
        println!(
            "second message (cached contact, pooled connection) in {:?}",
            t.elapsed()
        );

        // Carol has some content; Bob asks who has it.
        let hash = *blake3::hash(b"the meshara white paper").as_bytes();
        carol
            .meshara
            .advertise_self(&[carol.endpoint.local_addr()])
            .await?;
        carol.meshara.announce_content(&hash).await?;
        let providers = bob.meshara.find_providers(&hash).await?;
        for p in &providers {
            println!(
                "provider of {}..: {}.. at {:?}",
                short(&hash),
                short(&p.meshara_id()),
                p.addresses
            );
        }

        // Dave advertises and leaves; Mallory takes his address.
        let dave_addr = dave.endpoint.local_addr();
        dave.meshara.advertise_self(&[dave_addr]).await?;
        let dave_id = dave.id();
        drop(dave);
        let mallory_key = Arc::new(KeySigner::from_seed(666));
        let mut mallory = None;
        for _ in 0..100 {
            if let Ok(e) =
                TcpEndpoint::bind(dave_addr, mallory_key.clone(), TcpConfig::default()).await
            {
                mallory = Some(e);
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut mallory = mallory.ok_or("could not take over dave's address")?;
        match bob
            .meshara
            .route(&bob.routes, &bob.connector, &dave_id, b"for dave".to_vec())
            .await
        {
            Err(RouteError::PeerKeyMismatch { addr, proven, .. }) => {
                println!(
                "bob -> dave: refused, the peer at {addr} proved {} instead; mallory received {}",
                proven.map_or("nothing".to_string(), |p| format!("{}..", short(&p))),
                if mallory.try_recv().is_some() { "a message (bug!)" } else { "nothing" }
            )
            }
            other => println!("bob -> dave: unexpected {other:?}"),
        }

        println!("bob's adapter: {:#?}", bob.meshara.stats());
        println!("alice's adapter: {:#?}", alice.meshara.stats());
        maintenance.cancel();
        net.shutdown().await;
        Ok(())
    }
}

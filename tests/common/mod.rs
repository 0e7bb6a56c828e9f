//! Helpers shared by the Meshara adapter's integration tests: bounded
//! time, a minimal "router" (adapter + TCP endpoint + local routes), and a
//! raw UDP client that talks to storing nodes directly, as an attacker
//! would.

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use meshara_dht::meshara::{
    KeySigner, MapRoutes, MesharaConfig, MesharaDht, Signer, TcpConfig, TcpConnector, TcpEndpoint,
};
use meshara_dht::record::{Record, Refusal};
use meshara_dht::runtime::Dht;
use meshara_dht::wire::{self, Body, ErrorCode, Message, Request, Response};
use meshara_dht::{Key, NodeId};

/// Every test ends within this, whatever happens.
pub const LIMIT: Duration = Duration::from_secs(120);

pub async fn bounded<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(LIMIT, f)
        .await
        .expect("test exceeded its time bound")
}

pub fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A Meshara-like router: an identity, a DHT adapter, a TCP endpoint (its
/// connector shares the identity) and an empty local routing table.
pub struct Router {
    pub signer: Arc<dyn Signer>,
    pub meshara: MesharaDht,
    pub endpoint: TcpEndpoint,
    pub connector: TcpConnector,
    pub routes: MapRoutes,
}

impl Router {
    pub async fn new(dht: &Dht, seed: u64) -> Router {
        Self::with_config(dht, seed, MesharaConfig::default()).await
    }

    pub async fn with_config(dht: &Dht, seed: u64, config: MesharaConfig) -> Router {
        let signer: Arc<dyn Signer> = Arc::new(KeySigner::from_seed(seed));
        let endpoint = TcpEndpoint::bind(loopback(), signer.clone(), TcpConfig::default())
            .await
            .unwrap();
        Router {
            meshara: MesharaDht::with_config(dht.clone(), signer.clone(), config),
            connector: endpoint.connector(),
            endpoint,
            routes: MapRoutes::new(),
            signer,
        }
    }

    pub fn id(&self) -> [u8; 32] {
        self.signer.meshara_id()
    }

    pub fn addr(&self) -> SocketAddr {
        self.endpoint.local_addr()
    }
}

/// Talks the DHT protocol over a bare UDP socket: no engine, no local
/// checks, so it can send what a well-behaved node never would.
pub struct RawClient {
    socket: tokio::net::UdpSocket,
    id: NodeId,
    next_txid: u64,
}

impl RawClient {
    pub async fn new() -> RawClient {
        RawClient {
            socket: tokio::net::UdpSocket::bind(loopback()).await.unwrap(),
            id: NodeId::sha1(b"raw attacker"),
            next_txid: 1,
        }
    }

    /// Sends `request` to `to` and returns the answer's body.
    pub async fn ask(&mut self, to: SocketAddr, request: Request) -> Body {
        let txid = self.next_txid;
        self.next_txid += 1;
        let msg = Message {
            txid,
            sender: self.id,
            body: Body::Request {
                read_only: true,
                request,
            },
        };
        self.socket
            .send_to(&wire::encode(&msg).unwrap(), to)
            .await
            .unwrap();
        let mut buf = vec![0u8; 2048];
        loop {
            let (n, from) =
                tokio::time::timeout(Duration::from_secs(5), self.socket.recv_from(&mut buf))
                    .await
                    .expect("no answer from the storing node")
                    .unwrap();
            let answer = wire::decode(&buf[..n]).unwrap();
            if from == to && answer.txid == txid {
                return answer.body;
            }
        }
    }

    /// Gets a STORE token from `to` (with a FIND_VALUE for `key`), then
    /// stores `record` there; returns the refusal, or `None` if stored.
    pub async fn store(&mut self, to: SocketAddr, key: Key, record: Record) -> Option<Refusal> {
        let token = match self.ask(to, Request::FindValue { key }).await {
            Body::Response(Response::Value { token, .. } | Response::Nodes { token, .. }) => token,
            other => panic!("unexpected answer to FIND_VALUE: {other:?}"),
        };
        match self.ask(to, Request::Store { token, record }).await {
            Body::Response(Response::Stored) => None,
            Body::Error(ErrorCode::Refused(refusal)) => Some(refusal),
            other => panic!("unexpected answer to STORE: {other:?}"),
        }
    }
}

// The glue against Meshara with patches/*.patch applied: glue.rs without
// its workarounds (feature `patched-meshara`).
// glue:begin
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use meshara::api::events::EventHandlers;
use meshara::crypto::{sign_message, NodeId};
use meshara::network::{Connection, TlsListener};
use meshara::protocol::BaseMessage;
use meshara::{Identity, MesharaError, Node, Router};
use meshara_dht::meshara::{Channel, Dialer, LocalRoutes, MesharaId, MesharaKey, Signer};
use tokio::sync::Mutex;

/// Meshara's identity signs; its secret never leaves it.
pub struct MesharaSigner(pub Identity);

impl Signer for MesharaSigner {
    fn public_key(&self) -> MesharaKey {
        let key = self.0.public_key().to_bytes();
        key.try_into().expect("Meshara keys are 64 bytes")
    }
    fn sign(&self, message: &[u8]) -> [u8; 64] {
        sign_message(&self.0, message).to_bytes()
    }
}

/// The router's own table, asked before the DHT.
pub struct MesharaRoutes(pub Arc<Router>);

impl LocalRoutes for MesharaRoutes {
    fn next_hop(&self, destination: &MesharaId) -> Option<MesharaId> {
        let table = self.0.routing_table();
        let route = table.read().find_route(&NodeId::from_bytes(*destination))?;
        Some(*route.next_hop.as_bytes())
    }
}

/// A pooled connection, or the router's own to a neighbour (its table
/// holds `Arc<Mutex<Connection>>`, its pool `Arc<Connection>`).
pub enum MesharaConn {
    Pooled(Arc<Connection>),
    Neighbour(Arc<Mutex<Connection>>),
}

impl Channel for MesharaConn {
    type Msg = BaseMessage;
    type Error = MesharaError;

    async fn send(&self, message: &BaseMessage) -> Result<(), MesharaError> {
        match self {
            Self::Pooled(conn) => conn.send_message(message).await,
            Self::Neighbour(conn) => conn.lock().await.send_message(message).await,
        }
    }

    async fn request_key_proof(&self, nonce: &[u8; 32]) -> Result<Vec<u8>, MesharaError> {
        match self {
            Self::Pooled(conn) => conn.prove_key(nonce).await,
            Self::Neighbour(conn) => conn.lock().await.prove_key(nonce).await,
        }
    }

    fn is_closed(&self) -> bool {
        match self {
            Self::Pooled(conn) => conn.is_closed(),
            Self::Neighbour(conn) => conn.try_lock().is_ok_and(|c| c.is_closed()),
        }
    }

    fn session_binding(&self) -> Option<[u8; 32]> {
        match self {
            Self::Pooled(conn) => Some(conn.session_binding()),
            Self::Neighbour(conn) => conn.try_lock().ok().map(|c| c.session_binding()),
        }
    }
}

/// Dials through the router's own pool and TLS config.
pub struct MesharaDialer(pub Arc<Router>);

impl Dialer for MesharaDialer {
    type Channel = MesharaConn;

    async fn dial(&self, peer: &MesharaId, addr: SocketAddr) -> Result<MesharaConn, MesharaError> {
        let (pool, tls) = (self.0.connection_pool(), self.0.tls_config());
        let conn = pool
            .get_or_connect(&NodeId::from_bytes(*peer), addr, tls)
            .await?;
        Ok(MesharaConn::Pooled(conn))
    }

    fn neighbour(&self, peer: &MesharaId) -> Option<MesharaConn> {
        let table = self.0.routing_table();
        let conn = table
            .read()
            .get_direct_connection(&NodeId::from_bytes(*peer))?;
        Some(MesharaConn::Neighbour(conn))
    }
}

/// A router's own listener, served as Meshara's Node serves its own (a
/// Node needs none of this). Dropping it closes its connections.
pub async fn serve(listener: TlsListener, signer: Arc<MesharaSigner>, events: EventHandlers) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let Ok((stream, addr)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let conn = Connection::accept(stream, addr);
        connections.spawn(Node::serve_connection(
            conn,
            signer.0.clone(),
            events.clone(),
        ));
        while connections.try_join_next().is_some() {}
    }
}
// glue:end

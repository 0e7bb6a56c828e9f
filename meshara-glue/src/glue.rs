// The glue against Meshara as it is (snapshot e37f4ed). docs/MESHARA.md
// shows the lines between the markers; a test checks that they match.
// glue:begin
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use meshara::crypto::{sign_message, NodeId};
use meshara::network::{Connection, TlsListener};
use meshara::protocol::{BaseMessage, MessageType};
use meshara::{Identity, MesharaError, Router};
use meshara_dht::meshara::{
    answer_key_challenge, Channel, Dialer, LocalRoutes, MesharaId, MesharaKey, Signer,
};
use rustls::ClientConfig;
use tokio::sync::{mpsc, Mutex};

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

/// A connection we dialled, or the router's own to a neighbour (its table
/// holds `Arc<Mutex<Connection>>`, its pool `Arc<Connection>`).
pub enum MesharaConn {
    Dialed(Arc<Connection>),
    Neighbour(Arc<Mutex<Connection>>),
}

impl Channel for MesharaConn {
    type Msg = BaseMessage;
    type Error = MesharaError;

    async fn send(&self, message: &BaseMessage) -> Result<(), MesharaError> {
        match self {
            Self::Dialed(conn) => conn.send_message(message).await,
            Self::Neighbour(conn) => conn.lock().await.send_message(message).await,
        }
    }

    // Workaround: Connection has no prove_key; the challenge travels as a
    // Query, the answer as a Response, unbound to the TLS session.
    async fn request_key_proof(&self, nonce: &[u8; 32]) -> Result<Vec<u8>, MesharaError> {
        let Self::Dialed(conn) = self else {
            return Err(meshara::NetworkError::SendFailed {
                reason: "neighbour".into(),
            }
            .into());
        };
        conn.send_message(&control(MessageType::Query, nonce.to_vec()))
            .await?;
        Ok(conn.receive_message().await?.payload)
    }

    // Workaround: a Connection stays Connected after the peer hangs up;
    // the peer sends nothing unasked, so a read that completes at once is
    // its hang-up.
    fn is_closed(&self) -> bool {
        matches!(self, Self::Dialed(c) if c.receive_message().now_or_never().is_some())
    }
}

/// A Meshara message carrying only a payload.
fn control(kind: MessageType, payload: Vec<u8>) -> BaseMessage {
    BaseMessage {
        version: 1,
        message_id: vec![0; 32],
        message_type: kind as i32,
        timestamp: 0,
        sender_public_key: Vec::new(),
        payload,
        signature: Vec::new(),
        routing_info: None,
    }
}

/// Dials outside the router's pool (workaround: the pool keeps hung-up
/// connections, and get_or_connect on a closed one hangs), with the TLS
/// config given to Router::new (workaround: the router keeps it private).
pub struct MesharaDialer {
    pub router: Arc<Router>,
    pub tls: Arc<ClientConfig>,
}

impl Dialer for MesharaDialer {
    type Channel = MesharaConn;

    async fn dial(&self, _peer: &MesharaId, addr: SocketAddr) -> Result<MesharaConn, MesharaError> {
        let conn = Connection::connect(addr, self.tls.clone()).await?;
        Ok(MesharaConn::Dialed(Arc::new(conn)))
    }

    fn neighbour(&self, peer: &MesharaId) -> Option<MesharaConn> {
        let table = self.router.routing_table();
        let conn = table
            .read()
            .get_direct_connection(&NodeId::from_bytes(*peer))?;
        Some(MesharaConn::Neighbour(conn))
    }
}

/// Workaround: Node reads one frame per connection and answers no key
/// proof. This loop reads every frame, answers key challenges, and hands
/// the other messages to `deliver`. Dropping it closes its connections.
pub async fn serve(
    listener: TlsListener,
    signer: Arc<MesharaSigner>,
    deliver: mpsc::Sender<BaseMessage>,
) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let Ok((stream, addr)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let (signer, deliver) = (signer.clone(), deliver.clone());
        connections.spawn(async move {
            let conn = Connection::accept(stream, addr);
            while let Ok(message) = conn.receive_message().await {
                if message.message_type != MessageType::Query as i32 {
                    let _ = deliver.send(message).await;
                } else if let Some(answer) = answer_key_challenge(&*signer, &message.payload, None)
                {
                    let _ = conn
                        .send_message(&control(MessageType::Response, answer))
                        .await;
                }
            }
        });
        while connections.try_join_next().is_some() {}
    }
}
// glue:end

//! Real Meshara routers on loopback for the end-to-end tests: a Meshara
//! identity, its `Router`, a TLS listener on 127.0.0.1 served by the glue,
//! and a meshara-dht adapter on one node of a UDP `Testnet`.
//!
//! Messages are Meshara private messages, sealed and opened as Meshara's
//! `Node` does (`Node::send_private_message`, `process_received_message`).

#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use meshara::crypto::{
    decrypt_message, encrypt_for_recipient, hash_message, sign_message, verify_signature,
    EncryptedMessage, Signature,
};
use meshara::network::{Connection, ConnectionPool, TlsConfig, TlsListener};
use meshara::protocol::{BaseMessage, MessageType, PrivateMessagePayload};
use meshara::{Identity, PublicKey, Router};
use meshara_dht::meshara::{answer_key_challenge, MesharaDht, MesharaId, ProvenConnector, Signer};
use meshara_dht::runtime::Dht;
use meshara_glue::{MesharaDialer, MesharaSigner};
use prost::Message;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Every test's bound: a hung test fails instead of hanging CI.
pub const LIMIT: Duration = Duration::from_secs(60);

/// Runs `f`, failing the test if it takes longer than [`LIMIT`].
pub async fn bounded<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(LIMIT, f)
        .await
        .expect("test exceeded its time bound")
}

/// Waits at most 10 s for the next message.
pub async fn next<T>(rx: &mut mpsc::Receiver<T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("no message within 10 s")
        .expect("the sender is gone")
}

/// Long enough for a peer's hang-up to reach us on loopback.
pub async fn settle() {
    tokio::time::sleep(Duration::from_millis(200)).await;
}

/// One Meshara node: identity, router, listener, DHT adapter.
pub struct Peer {
    pub identity: Identity,
    pub signer: Arc<MesharaSigner>,
    pub router: Arc<Router>,
    pub tls: TlsConfig,
    pub meshara: MesharaDht,
    pub connector: ProvenConnector<MesharaDialer>,
    pub addr: SocketAddr,
    pub inbox: mpsc::Receiver<Inbound>,
    server: JoinHandle<()>,
}

/// What the glue's `serve` hands over: the message (stock Meshara), or the
/// event Meshara's own receive path dispatched after decrypting it.
#[cfg(not(feature = "patched-meshara"))]
pub type Inbound = BaseMessage;
#[cfg(feature = "patched-meshara")]
pub type Inbound = meshara::Event;

impl Peer {
    /// A node with the identity of `seed`, listening on 127.0.0.1, its
    /// adapter on `dht`.
    pub async fn new(dht: &Dht, seed: u8) -> Peer {
        let identity = Identity::from_seed(&[seed; 32]);
        let signer = Arc::new(MesharaSigner(identity.clone()));
        let tls = TlsConfig::from_identity(&identity).unwrap();
        let pool = Arc::new(ConnectionPool::new(64));
        let router = Arc::new(Router::new(identity.clone(), pool, tls.client_config()));
        let connector = ProvenConnector::new(dialer(&router, &tls));
        let meshara = MesharaDht::new(dht.clone(), signer.clone());
        let (addr, inbox, server) = listen(&signer, &tls).await;
        Peer {
            identity,
            signer,
            router,
            tls,
            meshara,
            connector,
            addr,
            inbox,
            server,
        }
    }

    pub fn id(&self) -> MesharaId {
        self.signer.meshara_id()
    }

    pub fn public_key(&self) -> PublicKey {
        self.identity.public_key()
    }

    /// Closes the listener and every connection, and listens again on a
    /// new port (the node moved).
    pub async fn move_away(&mut self) {
        self.server.abort();
        let (addr, inbox, server) = listen(&self.signer, &self.tls).await;
        (self.addr, self.inbox, self.server) = (addr, inbox, server);
    }

    /// The next private message, opened.
    pub async fn next_content(&mut self) -> Vec<u8> {
        let inbound = next(&mut self.inbox).await;
        #[cfg(not(feature = "patched-meshara"))]
        return open(&self.identity, &inbound);
        #[cfg(feature = "patched-meshara")]
        match inbound {
            meshara::Event::MessageReceived { content, .. } => content,
            other => panic!("not a private message: {other:?}"),
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

#[cfg(not(feature = "patched-meshara"))]
fn dialer(router: &Arc<Router>, tls: &TlsConfig) -> MesharaDialer {
    MesharaDialer {
        router: router.clone(),
        tls: tls.client_config(),
    }
}

#[cfg(feature = "patched-meshara")]
fn dialer(router: &Arc<Router>, _tls: &TlsConfig) -> MesharaDialer {
    MesharaDialer(router.clone())
}

async fn listen(
    signer: &Arc<MesharaSigner>,
    tls: &TlsConfig,
) -> (SocketAddr, mpsc::Receiver<Inbound>, JoinHandle<()>) {
    let listener = TlsListener::bind(loopback(), tls.server_config())
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel(64);
    #[cfg(feature = "patched-meshara")]
    let tx = {
        let events = meshara::api::events::EventHandlers::new();
        events.subscribe(move |event| {
            let _ = tx.try_send(event);
        });
        events
    };
    let server = tokio::spawn(meshara_glue::serve(listener, signer.clone(), tx));
    (addr, rx, server)
}

pub fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// A private message from `from` to `to`, as `Node::send_private_message`
/// builds it.
pub fn seal(from: &Identity, to: &PublicKey, content: &[u8]) -> BaseMessage {
    let encrypted = encrypt_for_recipient(from, to, content).unwrap();
    let payload = PrivateMessagePayload {
        content: encrypted.ciphertext,
        return_path: vec![],
        ephemeral_public_key: encrypted.ephemeral_public_key.to_vec(),
        nonce: encrypted.nonce.to_vec(),
    }
    .encode_to_vec();
    BaseMessage {
        version: 1,
        message_id: hash_message(content).as_bytes().to_vec(),
        message_type: MessageType::PrivateMessage as i32,
        timestamp: 0,
        sender_public_key: from.public_key().to_bytes().to_vec(),
        signature: sign_message(from, &payload).to_bytes().to_vec(),
        payload,
        routing_info: None,
    }
}

/// Checks and decrypts a private message for `to`, as Meshara's `Node`
/// does on receipt.
pub fn open(to: &Identity, message: &BaseMessage) -> Vec<u8> {
    assert_eq!(message.message_type, MessageType::PrivateMessage as i32);
    let sender = PublicKey::from_bytes(&message.sender_public_key).unwrap();
    let signature: [u8; 64] = message.signature.as_slice().try_into().unwrap();
    let signature = Signature::from_bytes(&signature).unwrap();
    assert!(verify_signature(&sender, &message.payload, &signature));
    let payload = PrivateMessagePayload::decode(&message.payload[..]).unwrap();
    let encrypted = EncryptedMessage {
        ephemeral_public_key: payload.ephemeral_public_key.try_into().unwrap(),
        nonce: payload.nonce.try_into().unwrap(),
        ciphertext: payload.content,
    };
    decrypt_message(to, &encrypted).unwrap()
}

/// A listener that answers the key proof, takes one message per
/// connection and hangs up, as Meshara's `Node` reads one frame per
/// connection.
pub async fn hang_up_after_each_message(
    signer: Arc<MesharaSigner>,
) -> (SocketAddr, mpsc::Receiver<BaseMessage>, JoinHandle<()>) {
    let identity = &signer.0;
    let tls = TlsConfig::from_identity(identity).unwrap();
    let listener = TlsListener::bind(loopback(), tls.server_config())
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel(64);
    let server = tokio::spawn(async move {
        while let Ok((stream, from)) = listener.accept().await {
            let conn = Connection::accept(stream, from);
            while let Ok(message) = conn.receive_message().await {
                if message.message_type == MessageType::Query as i32 {
                    let answer =
                        answer_key_challenge(&*signer, &message.payload, binding(&conn).as_ref())
                            .unwrap();
                    let mut reply = message.clone();
                    reply.message_type = MessageType::Response as i32;
                    reply.payload = answer;
                    conn.send_message(&reply).await.unwrap();
                } else {
                    tx.send(message).await.unwrap();
                    break;
                }
            }
            drop(conn);
        }
    });
    (addr, rx, server)
}

#[cfg(not(feature = "patched-meshara"))]
fn binding(_conn: &Connection) -> Option<[u8; 32]> {
    None
}

#[cfg(feature = "patched-meshara")]
fn binding(conn: &Connection) -> Option<[u8; 32]> {
    Some(conn.session_binding())
}

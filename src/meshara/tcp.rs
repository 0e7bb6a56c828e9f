//! A reference transport: TCP with a mutual key proof, implementing
//! [`Connector`] and [`PeerConn`] for tests, the example and as a model of
//! what a Meshara connector must guarantee.
//!
//! # Framing
//!
//! Every frame is a 4-byte big-endian length followed by that many bytes
//! (Meshara's own framing). A frame longer than
//! [`TcpConfig::max_frame_size`] is refused before anything is allocated.
//!
//! # Handshake
//!
//! Both sides, at once, within [`TcpConfig::handshake_timeout`]:
//!
//! 1. send `Hello = MAGIC (8 bytes) || public_key (64) || nonce (32)`, the
//!    nonce fresh from the OS RNG;
//! 2. send `Proof =` the ed25519 signature, by the first half of its own
//!    key, over `HANDSHAKE_DOMAIN || role || peer_nonce || own_nonce ||
//!    own_key || peer_key` (`role` is `b'C'` for the connecting side, `b'S'`
//!    for the accepting side);
//! 3. verify the peer's proof against the key in its Hello.
//!
//! The peer's nonce makes the proof fresh (no replay), the role byte stops
//! a reflected proof, and naming both keys stops a proof made for one peer
//! from being shown to another. The connecting side then compares the
//! proven key with the expected one: another key, or a proof that does not
//! verify, is [`ConnectError::KeyMismatch`] and no frame is sent.
//!
//! The transport authenticates the two ends; it does not encrypt. A relay
//! in the middle can read (not forge or redirect) frames. Meshara's TLS
//! would carry the same proof bound to its channel.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};

pub use handshake::HANDSHAKE_DOMAIN;
use handshake::{handshake, read_frame, write_frame, HandshakeError, Role};

use super::hex::Hex;
use super::lock;
use super::traits::{
    meshara_id_of, ConnectError, Connector, MesharaId, MesharaKey, PeerConn, Signer,
};

/// The transport's tunables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpConfig {
    /// Largest frame sent or accepted. Default 1 MiB.
    pub max_frame_size: usize,
    /// Time allowed for the whole handshake. Default 5 s.
    pub handshake_timeout: Duration,
    /// Time allowed to establish the TCP connection. Default 5 s.
    pub connect_timeout: Duration,
    /// Inbound messages queued before readers wait. Default 1024.
    pub inbox_capacity: usize,
    /// Most connections open at once, per endpoint and per connector pool.
    /// Default 256.
    pub max_connections: usize,
}

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig {
            max_frame_size: 1 << 20,
            handshake_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            inbox_capacity: 1024,
            max_connections: 256,
        }
    }
}

/// Transport failures.
#[derive(Debug, thiserror::Error)]
pub enum TcpError {
    /// A socket operation failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// A step did not finish in time.
    #[error("{stage} timed out")]
    Timeout {
        /// `"connect"` or `"handshake"`.
        stage: &'static str,
    },
    /// A frame is over the size limit.
    #[error("frame of {size} bytes, over the {max}-byte limit")]
    FrameTooLarge {
        /// Its announced size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The peer does not speak this handshake.
    #[error("the peer's hello is malformed")]
    BadHello,
    /// The connection is closed.
    #[error("the connection is closed")]
    Closed,
    /// The connector's pool is full of live connections.
    #[error("the connection pool is full ({0} connections)")]
    PoolFull(usize),
}

/// A message received by a [`TcpEndpoint`], from a peer that proved its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbound {
    /// The sender's Meshara id.
    pub from: MesharaId,
    /// The key it proved.
    pub public_key: MesharaKey,
    /// The frame.
    pub payload: Vec<u8>,
}

// ----- outbound ----------------------------------------------------------

/// An outbound connection on which the peer proved its key.
pub struct TcpConn {
    peer: MesharaId,
    public_key: MesharaKey,
    addr: SocketAddr,
    writer: tokio::sync::Mutex<OwnedWriteHalf>,
    closed: Arc<AtomicBool>,
    max_frame: usize,
    watcher: JoinHandle<()>,
}

impl TcpConn {
    /// The peer's Meshara id.
    pub fn peer(&self) -> MesharaId {
        self.peer
    }

    /// The key the peer proved.
    pub fn public_key(&self) -> MesharaKey {
        self.public_key
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Whether the connection is known to be closed.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }
}

impl fmt::Debug for TcpConn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpConn")
            .field("peer", &Hex(&self.peer))
            .field("addr", &self.addr)
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

impl Drop for TcpConn {
    fn drop(&mut self) {
        self.watcher.abort();
    }
}

impl PeerConn for TcpConn {
    type Msg = Vec<u8>;
    type Error = TcpError;

    async fn send(&self, message: &Vec<u8>) -> Result<(), TcpError> {
        if self.is_closed() {
            return Err(TcpError::Closed);
        }
        let mut w = self.writer.lock().await;
        let sent = write_frame(&mut *w, message, self.max_frame).await;
        if matches!(sent, Err(TcpError::Io(_))) {
            self.closed.store(true, Ordering::Relaxed);
        }
        sent
    }
}

/// Opens key-proven connections and pools them by Meshara id.
#[derive(Clone)]
pub struct TcpConnector {
    inner: Arc<ConnectorInner>,
}

struct ConnectorInner {
    signer: Arc<dyn Signer>,
    config: TcpConfig,
    pool: Mutex<HashMap<MesharaId, Arc<TcpConn>>>,
}

impl fmt::Debug for TcpConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpConnector")
            .field("meshara_id", &Hex(&self.inner.signer.meshara_id()))
            .field("pooled", &self.pooled())
            .finish()
    }
}

impl TcpConnector {
    /// A connector that proves `signer`'s key to the peers it connects to.
    pub fn new(signer: Arc<dyn Signer>, config: TcpConfig) -> Self {
        TcpConnector {
            inner: Arc::new(ConnectorInner {
                signer,
                config,
                pool: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Connects to `addr` and runs the handshake, outside the pool. The
    /// peer must prove `expected_key`.
    pub async fn connect(
        &self,
        addr: SocketAddr,
        expected_key: &MesharaKey,
    ) -> Result<TcpConn, ConnectError<TcpError>> {
        let config = &self.inner.config;
        let expected = meshara_id_of(expected_key);
        let mut stream = tokio::time::timeout(config.connect_timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| ConnectError::Transport(TcpError::Timeout { stage: "connect" }))?
            .map_err(|e| ConnectError::Transport(e.into()))?;
        stream
            .set_nodelay(true)
            .map_err(|e| ConnectError::Transport(e.into()))?;
        let proven = tokio::time::timeout(
            config.handshake_timeout,
            handshake(&mut stream, &*self.inner.signer, Role::Client),
        )
        .await
        .map_err(|_| ConnectError::Transport(TcpError::Timeout { stage: "handshake" }))?;
        let public_key = match proven {
            Ok(pk) if pk == *expected_key => pk,
            Ok(pk) => {
                return Err(ConnectError::KeyMismatch {
                    addr,
                    expected,
                    proven: Some(meshara_id_of(&pk)),
                })
            }
            Err(HandshakeError::BadProof) => {
                return Err(ConnectError::KeyMismatch {
                    addr,
                    expected,
                    proven: None,
                })
            }
            Err(HandshakeError::Transport(e)) => return Err(ConnectError::Transport(e)),
        };
        let (mut reader, writer) = stream.into_split();
        let closed = Arc::new(AtomicBool::new(false));
        let flag = closed.clone();
        // The peer sends nothing after the handshake: watch for the end of
        // the stream so a dead connection leaves the pool.
        let watcher = tokio::spawn(async move {
            let mut buf = [0u8; 256];
            while matches!(reader.read(&mut buf).await, Ok(n) if n > 0) {}
            flag.store(true, Ordering::Relaxed);
        });
        Ok(TcpConn {
            peer: expected,
            public_key,
            addr,
            writer: tokio::sync::Mutex::new(writer),
            closed,
            max_frame: config.max_frame_size,
            watcher,
        })
    }

    /// Live connections in the pool.
    pub fn pooled(&self) -> usize {
        lock(&self.inner.pool)
            .values()
            .filter(|c| !c.is_closed())
            .count()
    }

    /// Drops the pooled connection to `peer`.
    pub fn disconnect(&self, peer: &MesharaId) -> bool {
        lock(&self.inner.pool).remove(peer).is_some()
    }

    async fn pooled_or_connect(
        &self,
        destination: MesharaId,
        addr: SocketAddr,
        expected_key: MesharaKey,
    ) -> Result<Arc<TcpConn>, ConnectError<TcpError>> {
        if meshara_id_of(&expected_key) != destination {
            // The caller's key is not the destination's: nothing can prove it.
            return Err(ConnectError::KeyMismatch {
                addr,
                expected: destination,
                proven: None,
            });
        }
        {
            let mut pool = lock(&self.inner.pool);
            match pool.get(&destination) {
                Some(c) if !c.is_closed() && c.public_key == expected_key => return Ok(c.clone()),
                Some(_) => {
                    pool.remove(&destination);
                }
                None => {}
            }
        }
        let conn = Arc::new(self.connect(addr, &expected_key).await?);
        let mut pool = lock(&self.inner.pool);
        let max = self.inner.config.max_connections;
        if pool.len() >= max {
            pool.retain(|_, c| !c.is_closed());
        }
        if pool.len() >= max && !pool.contains_key(&destination) {
            return Err(ConnectError::Transport(TcpError::PoolFull(pool.len())));
        }
        pool.insert(destination, conn.clone());
        Ok(conn)
    }
}

impl Connector for TcpConnector {
    type Msg = Vec<u8>;
    type Error = TcpError;
    type Conn = Arc<TcpConn>;

    fn get_or_connect(
        &self,
        destination: &MesharaId,
        addr: SocketAddr,
        expected_key: &MesharaKey,
    ) -> impl std::future::Future<Output = Result<Arc<TcpConn>, ConnectError<TcpError>>> + Send
    {
        self.pooled_or_connect(*destination, addr, *expected_key)
    }

    fn direct(&self, peer: &MesharaId) -> Option<Arc<TcpConn>> {
        lock(&self.inner.pool)
            .get(peer)
            .filter(|c| !c.is_closed())
            .cloned()
    }
}

// ----- inbound -----------------------------------------------------------

/// A listening endpoint: accepts connections, runs the handshake as the
/// accepting side, and queues every frame from a peer that proved its key.
/// Dropping it stops the listener and every inbound connection.
pub struct TcpEndpoint {
    local_addr: SocketAddr,
    inbox: mpsc::Receiver<Inbound>,
    connector: TcpConnector,
    accept: JoinHandle<()>,
}

impl fmt::Debug for TcpEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpEndpoint")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

impl TcpEndpoint {
    /// Listens on `addr` as the holder of `signer`'s key.
    pub async fn bind(
        addr: SocketAddr,
        signer: Arc<dyn Signer>,
        config: TcpConfig,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let local_addr = listener.local_addr()?;
        let (tx, inbox) = mpsc::channel(config.inbox_capacity.max(1));
        let connector = TcpConnector::new(signer.clone(), config.clone());
        let accept = tokio::spawn(accept_loop(listener, signer, config, tx));
        Ok(TcpEndpoint {
            local_addr,
            inbox,
            connector,
            accept,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The next inbound message (`None` once the listener has stopped).
    pub async fn recv(&mut self) -> Option<Inbound> {
        self.inbox.recv().await
    }

    /// An inbound message already queued, if any.
    pub fn try_recv(&mut self) -> Option<Inbound> {
        self.inbox.try_recv().ok()
    }

    /// A connector proving the same key, for outbound connections.
    pub fn connector(&self) -> TcpConnector {
        self.connector.clone()
    }
}

impl Drop for TcpEndpoint {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    signer: Arc<dyn Signer>,
    config: TcpConfig,
    tx: mpsc::Sender<Inbound>,
) {
    // Dropped (with every connection task) when this task is aborted.
    let mut connections = JoinSet::new();
    loop {
        let (stream, from) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::debug!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        while connections.try_join_next().is_some() {}
        if connections.len() >= config.max_connections {
            tracing::debug!(%from, "too many inbound connections; refused");
            continue;
        }
        connections.spawn(serve_connection(
            stream,
            from,
            signer.clone(),
            config.clone(),
            tx.clone(),
        ));
    }
}

async fn serve_connection(
    mut stream: TcpStream,
    from: SocketAddr,
    signer: Arc<dyn Signer>,
    config: TcpConfig,
    tx: mpsc::Sender<Inbound>,
) {
    let proven = tokio::time::timeout(
        config.handshake_timeout,
        handshake(&mut stream, &*signer, Role::Server),
    )
    .await;
    let public_key = match proven {
        Ok(Ok(pk)) => pk,
        Ok(Err(HandshakeError::BadProof)) => {
            tracing::debug!(%from, "inbound peer failed its key proof");
            return;
        }
        Ok(Err(HandshakeError::Transport(e))) => {
            tracing::debug!(%from, error = %e, "inbound handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(%from, "inbound handshake timed out");
            return;
        }
    };
    let peer = meshara_id_of(&public_key);
    loop {
        match read_frame(&mut stream, config.max_frame_size).await {
            Ok(payload) => {
                let inbound = Inbound {
                    from: peer,
                    public_key,
                    payload,
                };
                if tx.send(inbound).await.is_err() {
                    return;
                }
            }
            Err(TcpError::Closed) => return,
            Err(e) => {
                tracing::debug!(%from, error = %e, "inbound connection dropped");
                return;
            }
        }
    }
}

mod handshake;
#[cfg(test)]
mod tests;

//! Key-proven connections over any request/response message channel: the
//! generic half of a router's [`Connector`], so that a router brings only
//! "dial an address", "send a message" and "carry a challenge and its
//! answer" ([`Dialer`], [`Channel`]).
//!
//! This module owns the key proof a router's connections lack, the pool
//! of proven connections by Meshara id, and dead-connection recovery. It
//! never sends a message on a connection whose peer has not proved the
//! destination's key, and never hands out a pooled connection its
//! [`Channel::is_closed`] reports dead.
//!
//! # The key proof
//!
//! The connecting side sends a fresh 32-byte nonce ([`Channel::request_key_proof`]).
//! The peer answers `public_key (64) || signature (64)`
//! ([`answer_key_challenge`]), the signature by the first half of its key
//! over `CHANNEL_KEY_PROOF_DOMAIN || nonce || binding`, where `binding` is
//! [`Channel::session_binding`] (for TLS, an exporter secret of the
//! session; empty when the channel has none). The connecting side checks
//! the signature and that the key is the expected one
//! ([`check_key_answer`]).
//!
//! Without a session binding, a relay at the advertised address can pass
//! our nonce to the real peer and its answer back: it is then trusted as
//! the peer (it still cannot read end-to-end encrypted messages). With a
//! binding, the two sessions of a relay have different secrets and its
//! answer does not verify.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::contact::verify_meshara_signature;
use super::hex::Hex;
use super::lock;
use super::traits::{
    meshara_id_of, ConnectError, Connector, MesharaId, MesharaKey, PeerConn, Signer,
};

/// The domain the key-proof signature starts with.
pub const CHANNEL_KEY_PROOF_DOMAIN: &[u8] = b"meshara/v1/key-proof";

/// Length of an answer: the 64-byte key, then the 64-byte signature.
pub const KEY_ANSWER_LEN: usize = 128;

/// What [`Channel::session_binding`] returns for a channel without one.
const NO_BINDING: &[u8] = &[];

/// The bytes a key-proof signature covers.
fn proof_message(nonce: &[u8; 32], binding: Option<&[u8; 32]>) -> Vec<u8> {
    let binding = binding.map_or(NO_BINDING, |b| &b[..]);
    [CHANNEL_KEY_PROOF_DOMAIN, &nonce[..], binding].concat()
}

/// The answer to a key challenge: our key and its signature over the
/// challenge (see the module docs). `None` if `challenge` is not a 32-byte
/// nonce.
pub fn answer_key_challenge(
    signer: &dyn Signer,
    challenge: &[u8],
    binding: Option<&[u8; 32]>,
) -> Option<Vec<u8>> {
    let nonce: &[u8; 32] = challenge.try_into().ok()?;
    let signature = signer.sign(&proof_message(nonce, binding));
    Some([&signer.public_key()[..], &signature[..]].concat())
}

/// Checks a peer's answer to `nonce`: it must be [`KEY_ANSWER_LEN`] bytes,
/// its signature must verify, and its key must be `expected_key`.
/// Otherwise [`ConnectError::KeyMismatch`], with `proven` set when the
/// signature verified for another key.
pub fn check_key_answer<E>(
    expected_key: &MesharaKey,
    addr: SocketAddr,
    nonce: &[u8; 32],
    binding: Option<&[u8; 32]>,
    answer: &[u8],
) -> Result<(), ConnectError<E>> {
    let expected = meshara_id_of(expected_key);
    let mismatch = |proven| ConnectError::KeyMismatch {
        addr,
        expected,
        proven,
    };
    let Ok(answer) = <&[u8; KEY_ANSWER_LEN]>::try_from(answer) else {
        return Err(mismatch(None));
    };
    let (key, signature) = answer.split_at(64);
    let key: &MesharaKey = key.try_into().map_err(|_| mismatch(None))?;
    let signature: &[u8; 64] = signature.try_into().map_err(|_| mismatch(None))?;
    if !verify_meshara_signature(key, &proof_message(nonce, binding), signature) {
        return Err(mismatch(None));
    }
    if key != expected_key {
        return Err(mismatch(Some(meshara_id_of(key))));
    }
    Ok(())
}

/// One connection of the router's own transport (Meshara: its TLS
/// `Connection`), as [`ProvenConnector`] needs it.
pub trait Channel: Send + Sync + 'static {
    /// What the connection carries (Meshara: `BaseMessage`).
    type Msg: Send + Sync;
    /// Why an operation failed (Meshara: `MesharaError`).
    type Error: std::error::Error + Send + Sync + 'static;

    /// Sends one message.
    fn send(&self, message: &Self::Msg) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Sends `nonce` as a key challenge and returns the peer's answer
    /// bytes (the peer makes them with [`answer_key_challenge`]).
    fn request_key_proof(
        &self,
        nonce: &[u8; 32],
    ) -> impl Future<Output = Result<Vec<u8>, Self::Error>> + Send;

    /// Whether the peer is known to have hung up. Called before a pooled
    /// connection is reused; must not wait.
    fn is_closed(&self) -> bool;

    /// A secret both ends derive from this session (a TLS exporter), signed
    /// into the key proof. Default: none.
    fn session_binding(&self) -> Option<[u8; 32]> {
        None
    }
}

/// Opens connections of the router's transport.
pub trait Dialer: Send + Sync + 'static {
    /// The connections it opens.
    type Channel: Channel;

    /// Opens a connection to `addr`, where `peer` is expected (a pool keyed
    /// by id may use it; the key is proven afterwards, whatever the pool).
    fn dial(
        &self,
        peer: &MesharaId,
        addr: SocketAddr,
    ) -> impl Future<Output = Result<Self::Channel, <Self::Channel as Channel>::Error>> + Send;

    /// The router's own connection to a direct neighbour (the next hop of
    /// one of its routes), if it has one. Default: none.
    fn neighbour(&self, _peer: &MesharaId) -> Option<Self::Channel> {
        None
    }
}

/// [`ProvenConnector`]'s tunables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvenConfig {
    /// Time allowed for [`Dialer::dial`]. Default 5 s.
    pub connect_timeout: Duration,
    /// Time allowed for the key proof. Default 5 s.
    pub proof_timeout: Duration,
    /// Most pooled connections. Default 256.
    pub max_connections: usize,
}

impl Default for ProvenConfig {
    fn default() -> Self {
        ProvenConfig {
            connect_timeout: Duration::from_secs(5),
            proof_timeout: Duration::from_secs(5),
            max_connections: 256,
        }
    }
}

/// Why a [`ProvenConnector`] operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ProvenError<E> {
    /// The router's transport failed.
    #[error("transport: {0}")]
    Transport(#[source] E),
    /// A step did not finish in time.
    #[error("{stage} timed out")]
    Timeout {
        /// `"connect"` or `"key proof"`.
        stage: &'static str,
    },
    /// The pool is full of live connections.
    #[error("the connection pool is full ({0} connections)")]
    PoolFull(usize),
}

/// A [`Connector`] over any [`Dialer`]: connects, proves the peer's key
/// with [`Channel::request_key_proof`], and pools proven connections by
/// Meshara id.
///
/// Recovery: a pooled connection whose [`Channel::is_closed`] says the peer
/// hung up, or whose send failed, leaves the pool, and the next message
/// dials again. A pooled connection to another address than the one asked
/// for (the peer moved) is replaced.
pub struct ProvenConnector<D: Dialer> {
    inner: Arc<Inner<D>>,
}

struct Inner<D: Dialer> {
    dialer: D,
    config: ProvenConfig,
    pool: Mutex<HashMap<MesharaId, Pooled<D::Channel>>>,
}

struct Pooled<C> {
    addr: SocketAddr,
    channel: Arc<C>,
}

impl<D: Dialer> Clone for ProvenConnector<D> {
    fn clone(&self) -> Self {
        ProvenConnector {
            inner: self.inner.clone(),
        }
    }
}

impl<D: Dialer> fmt::Debug for ProvenConnector<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProvenConnector")
            .field("pooled", &self.pooled())
            .finish_non_exhaustive()
    }
}

impl<D: Dialer> ProvenConnector<D> {
    /// A connector over `dialer` with the default [`ProvenConfig`].
    pub fn new(dialer: D) -> Self {
        Self::with_config(dialer, ProvenConfig::default())
    }

    /// A connector over `dialer`.
    pub fn with_config(dialer: D, config: ProvenConfig) -> Self {
        ProvenConnector {
            inner: Arc::new(Inner {
                dialer,
                config,
                pool: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The dialer.
    pub fn dialer(&self) -> &D {
        &self.inner.dialer
    }

    /// Pooled connections not known to be closed.
    pub fn pooled(&self) -> usize {
        lock(&self.inner.pool)
            .values()
            .filter(|p| !p.channel.is_closed())
            .count()
    }

    /// Drops the pooled connection to `peer`.
    pub fn disconnect(&self, peer: &MesharaId) -> bool {
        lock(&self.inner.pool).remove(peer).is_some()
    }

    /// Dials `addr` and checks that the peer proves `expected_key`,
    /// outside the pool.
    pub async fn connect(
        &self,
        destination: &MesharaId,
        addr: SocketAddr,
        expected_key: &MesharaKey,
    ) -> Result<D::Channel, ConnectError<ProvenError<ChannelError<D>>>> {
        let config = &self.inner.config;
        let transport = |e| ConnectError::Transport(ProvenError::Transport(e));
        let timeout = |stage| ConnectError::Transport(ProvenError::Timeout { stage });
        let channel = tokio::time::timeout(
            config.connect_timeout,
            self.inner.dialer.dial(destination, addr),
        )
        .await
        .map_err(|_| timeout("connect"))?
        .map_err(transport)?;
        let nonce: [u8; 32] = rand::random();
        let answer = tokio::time::timeout(config.proof_timeout, channel.request_key_proof(&nonce))
            .await
            .map_err(|_| timeout("key proof"))?
            .map_err(transport)?;
        let binding = channel.session_binding();
        check_key_answer(expected_key, addr, &nonce, binding.as_ref(), &answer)?;
        Ok(channel)
    }

    async fn pooled_or_connect(
        &self,
        destination: MesharaId,
        addr: SocketAddr,
        expected_key: MesharaKey,
    ) -> Result<ProvenConn<D>, ConnectError<ProvenError<ChannelError<D>>>> {
        if meshara_id_of(&expected_key) != destination {
            // The caller's key is not the destination's: nothing can prove it.
            return Err(ConnectError::KeyMismatch {
                addr,
                expected: destination,
                proven: None,
            });
        }
        if let Some(channel) = self.take_live(&destination, Some(addr)) {
            return Ok(self.conn(destination, channel));
        }
        let channel = Arc::new(self.connect(&destination, addr, &expected_key).await?);
        let mut pool = lock(&self.inner.pool);
        let max = self.inner.config.max_connections;
        if pool.len() >= max {
            pool.retain(|_, p| !p.channel.is_closed());
        }
        if pool.len() >= max && !pool.contains_key(&destination) {
            return Err(ConnectError::Transport(ProvenError::PoolFull(pool.len())));
        }
        pool.insert(
            destination,
            Pooled {
                addr,
                channel: channel.clone(),
            },
        );
        drop(pool);
        Ok(self.conn(destination, channel))
    }

    /// The pooled connection to `peer` (at `addr`, if given) if it is
    /// live; a dead or moved one leaves the pool.
    fn take_live(&self, peer: &MesharaId, addr: Option<SocketAddr>) -> Option<Arc<D::Channel>> {
        let mut pool = lock(&self.inner.pool);
        let pooled = pool.get(peer)?;
        if addr.is_none_or(|a| a == pooled.addr) && !pooled.channel.is_closed() {
            return Some(pooled.channel.clone());
        }
        tracing::debug!(peer = %Hex(peer), addr = %pooled.addr, "pooled connection dead or moved; dropped");
        pool.remove(peer);
        None
    }

    fn conn(&self, peer: MesharaId, channel: Arc<D::Channel>) -> ProvenConn<D> {
        ProvenConn {
            peer,
            channel,
            pool: Some(self.inner.clone()),
        }
    }
}

/// The error type of a [`Dialer`]'s channels.
pub type ChannelError<D> = <<D as Dialer>::Channel as Channel>::Error;

impl<D: Dialer> Connector for ProvenConnector<D> {
    type Msg = <D::Channel as Channel>::Msg;
    type Error = ProvenError<ChannelError<D>>;
    type Conn = ProvenConn<D>;

    fn get_or_connect(
        &self,
        destination: &MesharaId,
        addr: SocketAddr,
        expected_key: &MesharaKey,
    ) -> impl Future<Output = Result<ProvenConn<D>, ConnectError<Self::Error>>> + Send {
        self.pooled_or_connect(*destination, addr, *expected_key)
    }

    fn direct(&self, peer: &MesharaId) -> Option<ProvenConn<D>> {
        if let Some(channel) = self.take_live(peer, None) {
            return Some(self.conn(*peer, channel));
        }
        let channel = self.inner.dialer.neighbour(peer)?;
        Some(ProvenConn {
            peer: *peer,
            channel: Arc::new(channel),
            pool: None,
        })
    }
}

/// A connection from a [`ProvenConnector`]: key-proven, or the router's own
/// connection to a neighbour. A failed send drops it from the pool.
pub struct ProvenConn<D: Dialer> {
    peer: MesharaId,
    channel: Arc<D::Channel>,
    pool: Option<Arc<Inner<D>>>,
}

impl<D: Dialer> ProvenConn<D> {
    /// The peer's Meshara id.
    pub fn peer(&self) -> MesharaId {
        self.peer
    }

    /// The underlying connection.
    pub fn channel(&self) -> &D::Channel {
        &self.channel
    }
}

impl<D: Dialer> fmt::Debug for ProvenConn<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProvenConn")
            .field("peer", &Hex(&self.peer))
            .field("pooled", &self.pool.is_some())
            .finish_non_exhaustive()
    }
}

impl<D: Dialer> PeerConn for ProvenConn<D> {
    type Msg = <D::Channel as Channel>::Msg;
    type Error = ProvenError<ChannelError<D>>;

    async fn send(&self, message: &Self::Msg) -> Result<(), Self::Error> {
        let sent = self.channel.send(message).await;
        if sent.is_err() {
            if let Some(inner) = &self.pool {
                let mut pool = lock(&inner.pool);
                if pool
                    .get(&self.peer)
                    .is_some_and(|p| Arc::ptr_eq(&p.channel, &self.channel))
                {
                    pool.remove(&self.peer);
                }
            }
        }
        sent.map_err(ProvenError::Transport)
    }
}

#[cfg(test)]
mod tests;

//! The traits Meshara (or any router) implements so the adapter can drive
//! it: [`Signer`], [`LocalRoutes`], [`Connector`] and [`PeerConn`].
//!
//! Everything crosses this boundary as bytes (a 32-byte Meshara id, a
//! 64-byte Meshara public key, a 64-byte signature) or as associated types,
//! so this crate never depends on Meshara. Async methods are written as
//! `fn ... -> impl Future + Send` (no boxing, no `async-trait`).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use super::hex::Hex;

// The Meshara key and id are defined once, by the record scheme that signs
// with them.
pub use crate::record::{meshara_id_of, MesharaId, MesharaKey};

/// Holds the node's Meshara identity and signs with its ed25519 half.
///
/// The secret never leaves the implementation: Meshara's `Identity` keeps
/// its keys crate-private and signs through `meshara::crypto::sign_message`,
/// which is exactly [`Signer::sign`].
pub trait Signer: Send + Sync {
    /// The 64-byte public key (ed25519 || x25519).
    fn public_key(&self) -> MesharaKey;

    /// A plain ed25519 signature of `message` by the first half of the key.
    fn sign(&self, message: &[u8]) -> [u8; 64];

    /// The Meshara id: BLAKE3 of [`Signer::public_key`].
    fn meshara_id(&self) -> MesharaId {
        meshara_id_of(&self.public_key())
    }
}

impl<T: Signer + ?Sized> Signer for Arc<T> {
    fn public_key(&self) -> MesharaKey {
        (**self).public_key()
    }

    fn sign(&self, message: &[u8]) -> [u8; 64] {
        (**self).sign(message)
    }
}

/// The router's own routing table, asked first: the next hop towards a
/// destination, if the router knows one.
pub trait LocalRoutes: Send + Sync {
    /// The next hop to `destination` (the destination itself for a direct
    /// neighbour), or `None` when the table has no route.
    fn next_hop(&self, destination: &MesharaId) -> Option<MesharaId>;
}

impl<T: LocalRoutes + ?Sized> LocalRoutes for Arc<T> {
    fn next_hop(&self, destination: &MesharaId) -> Option<MesharaId> {
        (**self).next_hop(destination)
    }
}

/// An open connection to one peer that can carry the router's messages.
pub trait PeerConn: Send + Sync {
    /// What the connection carries (Meshara: `BaseMessage`).
    type Msg;
    /// Why a send failed.
    type Error;

    /// Sends one message.
    fn send(&self, message: &Self::Msg) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

impl<T: PeerConn + ?Sized> PeerConn for Arc<T> {
    type Msg = T::Msg;
    type Error = T::Error;

    fn send(&self, message: &Self::Msg) -> impl Future<Output = Result<(), Self::Error>> + Send {
        (**self).send(message)
    }
}

/// Opens (or reuses) connections to peers, and proves who is at the other
/// end.
///
/// The contract the adapter relies on: a connection returned by
/// [`Connector::get_or_connect`] is one on which the peer has **proved**
/// that it holds `expected_key` (for instance by signing a fresh nonce of
/// ours with its ed25519 half). A peer that proves another key, or cannot
/// prove any, is reported as [`ConnectError::KeyMismatch`], never as a
/// connection.
pub trait Connector: Send + Sync {
    /// What connections carry (Meshara: `BaseMessage`).
    type Msg: Send + Sync;
    /// Transport failures (Meshara: `MesharaError`).
    type Error: std::error::Error + Send + Sync + 'static;
    /// An open, key-proven connection (Meshara: `Arc<Connection>`).
    type Conn: PeerConn<Msg = Self::Msg, Error = Self::Error>;

    /// A connection to `destination` at `addr` on which the peer proved
    /// `expected_key` (whose BLAKE3 hash is `destination`).
    fn get_or_connect(
        &self,
        destination: &MesharaId,
        addr: SocketAddr,
        expected_key: &MesharaKey,
    ) -> impl Future<Output = Result<Self::Conn, ConnectError<Self::Error>>> + Send;

    /// The live connection to a direct neighbour, if there is one (used for
    /// the next hop of a local route).
    fn direct(&self, peer: &MesharaId) -> Option<Self::Conn>;
}

/// Why [`Connector::get_or_connect`] gave no connection.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError<E> {
    /// Whoever answered at `addr` did not prove the expected key: it proved
    /// another one (`proven` is that key's Meshara id) or none at all.
    #[error(
        "the peer at {addr} did not prove the key of {} (proved: {})",
        Hex(.expected),
        .proven.as_ref().map_or_else(|| "nothing".to_string(), |p| Hex(p).to_string())
    )]
    KeyMismatch {
        /// The address connected to.
        addr: SocketAddr,
        /// The Meshara id whose key was expected.
        expected: MesharaId,
        /// The Meshara id of the key the peer did prove, if any.
        proven: Option<MesharaId>,
    },
    /// Connecting or the handshake failed below the key check (refused,
    /// timed out, malformed).
    #[error("transport: {0}")]
    Transport(#[source] E),
}

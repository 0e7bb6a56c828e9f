//! Reference implementations of the router-side traits, for tests, the
//! example and as a template: [`KeySigner`] (a Meshara-shaped identity)
//! and [`MapRoutes`] (a local routing table in a map).
//!
//! Nothing here talks to the network.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;

use ed25519_dalek::{Signer as _, SigningKey};
use rand::{CryptoRng, RngCore};

use super::hex::Hex;
use super::lock;
use super::traits::{meshara_id_of, LocalRoutes, MesharaId, MesharaKey, Signer};

/// A Meshara-shaped identity: an ed25519 signing key plus 32 bytes in the
/// place of Meshara's x25519 public key, so the 64-byte key and the id
/// (`BLAKE3(key)`) have Meshara's shape. The second half is derived bytes,
/// not a usable x25519 key: nothing in this crate does Diffie-Hellman.
pub struct KeySigner {
    signing_key: SigningKey,
    public_key: MesharaKey,
}

impl KeySigner {
    /// From a 32-byte secret; the second half of the key is
    /// `blake3::derive_key("meshara-dht KeySigner x25519 stand-in", secret)`.
    /// Like Meshara's `Identity::from_seed`, one secret feeds both halves.
    pub fn from_secret(secret: [u8; 32]) -> Self {
        let signing_key = SigningKey::from_bytes(&secret);
        let x25519 = blake3::derive_key("meshara-dht KeySigner x25519 stand-in", &secret);
        let mut public_key = [0u8; 64];
        public_key[..32].copy_from_slice(&signing_key.verifying_key().to_bytes());
        public_key[32..].copy_from_slice(&x25519);
        KeySigner {
            signing_key,
            public_key,
        }
    }

    /// A deterministic signer for tests and examples: the secret is
    /// `blake3::derive_key("meshara-dht KeySigner from u64 seed", seed)`, so
    /// anyone who knows the seed has the key.
    pub fn from_seed(seed: u64) -> Self {
        Self::from_secret(blake3::derive_key(
            "meshara-dht KeySigner from u64 seed",
            &seed.to_le_bytes(),
        ))
    }

    /// A fresh signer from `rng`.
    pub fn generate<R: RngCore + CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut secret = [0u8; 32];
        rng.fill_bytes(&mut secret);
        Self::from_secret(secret)
    }
}

impl Signer for KeySigner {
    fn public_key(&self) -> MesharaKey {
        self.public_key
    }

    fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.signing_key.sign(message).to_bytes()
    }
}

impl fmt::Debug for KeySigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySigner")
            .field("meshara_id", &Hex(&meshara_id_of(&self.public_key)))
            .finish_non_exhaustive()
    }
}

/// A local routing table: destination -> next hop, behind a mutex.
#[derive(Debug, Default)]
pub struct MapRoutes {
    routes: Mutex<HashMap<MesharaId, MesharaId>>,
}

impl MapRoutes {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Routes `destination` through `next_hop`.
    pub fn add_route(&self, destination: MesharaId, next_hop: MesharaId) {
        lock(&self.routes).insert(destination, next_hop);
    }

    /// A direct neighbour: its own next hop.
    pub fn add_direct(&self, peer: MesharaId) {
        self.add_route(peer, peer);
    }

    /// Removes the route to `destination`; returns whether there was one.
    pub fn remove_route(&self, destination: &MesharaId) -> bool {
        lock(&self.routes).remove(destination).is_some()
    }

    /// Routes in the table.
    pub fn len(&self) -> usize {
        lock(&self.routes).len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl LocalRoutes for MapRoutes {
    fn next_hop(&self, destination: &MesharaId) -> Option<MesharaId> {
        lock(&self.routes).get(destination).copied()
    }
}

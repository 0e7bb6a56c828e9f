//! [`Identity`]: an ed25519 keypair and the node id it determines, and the
//! signatures it makes.
//!
//! This file owns the secret key in memory. It never prints the secret and
//! never draws from the OS RNG; the key file and key proofs are built on it
//! in `key_file.rs` and `proof.rs`.

use std::fmt;

use ed25519_dalek::{Signer, SigningKey};
use rand::{CryptoRng, RngCore};

use super::signature::Signature;
use crate::id::NodeId;

/// Context string for [`Identity::from_seed`]'s BLAKE3 key derivation.
const SEED_CONTEXT: &str = "meshara-dht v1 test identity from u64 seed";

/// An ed25519 keypair and the node id it determines.
///
/// Cloning copies the secret. `Debug` prints the node id and public key,
/// never the secret. The secret is zeroed when the inner
/// [`SigningKey`] is dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct Identity {
    key: SigningKey,
    public_key: [u8; 32],
    node_id: NodeId,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("node_id", &self.node_id)
            .field("public_key", &Hex(&self.public_key))
            .finish_non_exhaustive()
    }
}

/// Lowercase hex for `Debug` output.
struct Hex<'a>(&'a [u8]);

impl fmt::Debug for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl Identity {
    /// A fresh identity with a secret drawn from `rng`.
    pub fn generate<R: RngCore + CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut secret = [0u8; 32];
        rng.fill_bytes(&mut secret);
        Self::from_secret_bytes(secret)
    }

    /// The identity whose ed25519 secret key (seed) is `secret`.
    pub fn from_secret_bytes(secret: [u8; 32]) -> Self {
        let key = SigningKey::from_bytes(&secret);
        let public_key = key.verifying_key().to_bytes();
        Identity {
            key,
            public_key,
            node_id: NodeId::sha1(&public_key),
        }
    }

    /// A deterministic identity for tests and simulations only: the secret
    /// is `BLAKE3-derive-key("meshara-dht v1 test identity from u64 seed",
    /// seed as 8 little-endian bytes)`. Anyone who knows (or guesses) the
    /// seed has the secret key, so never use it for a real node.
    pub fn from_seed(seed: u64) -> Self {
        Self::from_secret_bytes(blake3::derive_key(SEED_CONTEXT, &seed.to_le_bytes()))
    }

    /// `SHA-1(public key)`, computed once at construction.
    pub fn node_id(&self) -> NodeId {
        self.node_id
    }

    /// The 32-byte ed25519 public (verifying) key.
    pub fn public_key(&self) -> [u8; 32] {
        self.public_key
    }

    /// The ed25519 signing key, e.g. for
    /// [`SignedRecord::sign_ed25519`](crate::record::SignedRecord::sign_ed25519).
    pub fn signing_key(&self) -> &SigningKey {
        &self.key
    }

    /// An ed25519 signature over `msg`. Callers prefix `msg` with a domain
    /// string of their own (as [`KEY_PROOF_DOMAIN`](super::KEY_PROOF_DOMAIN)
    /// and [`RECORD_SIGN_DOMAIN`](crate::record::RECORD_SIGN_DOMAIN) do), so
    /// a signature made for one purpose is never valid for another.
    pub fn sign(&self, msg: &[u8]) -> Signature {
        Signature(self.key.sign(msg).to_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_omits_the_secret() {
        let id = Identity::from_seed(5);
        let secret: String = id
            .signing_key()
            .to_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let shown = format!("{id:?} {id:#?}");
        assert!(!shown.contains(&secret));
        assert!(!shown.contains(&format!("{:?}", id.signing_key().to_bytes())));
        assert!(shown.contains(&id.node_id().to_string()));
    }

    #[test]
    fn node_id_is_sha1_of_the_public_key() {
        let id = Identity::from_seed(6);
        assert_eq!(id.node_id(), NodeId::sha1(&id.public_key()));
        assert_eq!(id.public_key(), id.signing_key().verifying_key().to_bytes());
    }

    #[test]
    fn from_seed_is_deterministic_and_distinct_per_seed() {
        assert_eq!(Identity::from_seed(42), Identity::from_seed(42));
        let ids: std::collections::HashSet<NodeId> =
            (0..100).map(|s| Identity::from_seed(s).node_id()).collect();
        assert_eq!(ids.len(), 100);
        // Pinned so the derivation cannot change silently.
        let expected = blake3::derive_key(SEED_CONTEXT, &42u64.to_le_bytes());
        assert_eq!(Identity::from_seed(42).signing_key().to_bytes(), expected);
    }
}

//! Key proofs: a contact proves that it holds the key behind its node id by
//! signing `KEY_PROOF_DOMAIN || nonce` for a [`Nonce`] the verifier chose.
//!
//! This file owns the proof's message and its check, and the one
//! definition of [`KEY_PROOF_DOMAIN`]. It never decides when to ask for a
//! proof: that is the engine's admission policy.

use serde::{Deserialize, Serialize};

use super::keypair::Identity;
use super::signature::{verify, Signature};
use crate::id::NodeId;

/// Domain separation for key proofs: a [`KeyProof`] answering a
/// challenge `nonce` carries an ed25519 signature over
/// `KEY_PROOF_DOMAIN || nonce` by the key whose SHA-1 is the prover's node
/// id.
pub const KEY_PROOF_DOMAIN: &[u8] = b"meshara-dht/v1/key-proof";

/// A random challenge the requester asks a contact to sign, proving that it
/// holds the ed25519 key its node id is the hash of.
pub type Nonce = [u8; 32];

/// A signature proving possession of the key whose SHA-1 is the sender id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyProof {
    /// The ed25519 public key (32 bytes).
    pub public_key: [u8; 32],
    /// Signature over `KEY_PROOF_DOMAIN || nonce`.
    pub signature: Signature,
}

impl Identity {
    /// Proof that this node holds the key behind its node id: a signature
    /// over `KEY_PROOF_DOMAIN || nonce`, with the public key attached.
    pub fn key_proof(&self, nonce: &Nonce) -> KeyProof {
        KeyProof {
            public_key: self.public_key(),
            signature: self.sign(&key_proof_message(nonce)),
        }
    }
}

/// Checks a key proof: `SHA-1(proof.public_key)` is `expected`, and the
/// signature over `KEY_PROOF_DOMAIN || nonce` verifies.
pub fn verify_key_proof(expected: &NodeId, nonce: &Nonce, proof: &KeyProof) -> bool {
    NodeId::sha1(&proof.public_key) == *expected
        && verify(
            &proof.public_key,
            &key_proof_message(nonce),
            &proof.signature,
        )
}

/// `KEY_PROOF_DOMAIN || nonce`.
fn key_proof_message(nonce: &Nonce) -> Vec<u8> {
    let mut msg = Vec::with_capacity(KEY_PROOF_DOMAIN.len() + nonce.len());
    msg.extend_from_slice(KEY_PROOF_DOMAIN);
    msg.extend_from_slice(nonce);
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_proof_verifies_for_its_id_and_nonce_only() {
        let id = Identity::from_seed(10);
        let nonce = [3u8; 32];
        let proof = id.key_proof(&nonce);
        assert_eq!(proof.public_key, id.public_key());
        assert!(verify_key_proof(&id.node_id(), &nonce, &proof));
        // Wrong id.
        assert!(!verify_key_proof(
            &Identity::from_seed(11).node_id(),
            &nonce,
            &proof
        ));
        // Wrong nonce.
        assert!(!verify_key_proof(&id.node_id(), &[4u8; 32], &proof));
        // Tampered signature.
        let mut tampered = proof;
        tampered.signature.0[63] ^= 0x01;
        assert!(!verify_key_proof(&id.node_id(), &nonce, &tampered));
        // Another key claiming the id.
        let mut swapped = Identity::from_seed(11).key_proof(&nonce);
        swapped.public_key = id.public_key();
        assert!(!verify_key_proof(&id.node_id(), &nonce, &swapped));
        // A plain signature over the nonce is not a key proof.
        let plain = KeyProof {
            public_key: id.public_key(),
            signature: id.sign(&nonce),
        };
        assert!(!verify_key_proof(&id.node_id(), &nonce, &plain));
    }
}

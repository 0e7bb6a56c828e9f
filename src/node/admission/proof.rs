//! How the engine makes and checks key proofs: [`ProofScheme`].
//!
//! This module owns the choice between real ed25519 key proofs (every
//! engine a user can build) and the simulator's *modelled* proofs, which
//! keep the protocol (the challenge, the answer, its size on the wire, the
//! id check) but replace the signature by a hash so that simulations of
//! many thousands of nodes are not dominated by curve operations. The
//! modelled scheme is crate-private: only [`crate::sim`] can select it, and
//! an engine built through the public API always signs and verifies with
//! ed25519. It never weakens what an ed25519 engine accepts: a modelled
//! proof fails ed25519 verification.

use crate::id::NodeId;
use crate::identity::{verify_key_proof, Identity};
use crate::wire::{KeyProof, Nonce, Signature};

/// Domain of the modelled proof's hash (never a valid ed25519 message
/// prefix: the ed25519 scheme signs [`crate::identity::KEY_PROOF_DOMAIN`]).
const MODELLED_DOMAIN: &[u8] = b"meshara-dht/sim/modelled-key-proof";

/// How key proofs are made and checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum ProofScheme {
    /// ed25519 signatures over `KEY_PROOF_DOMAIN || nonce`: the protocol.
    #[default]
    Ed25519,
    /// The simulator's stand-in: the "signature" is
    /// `SHA-1(MODELLED_DOMAIN || public key || nonce)` padded to 64 bytes.
    /// Anyone who knows the public key can make it, so it proves nothing;
    /// it exists so the simulator pays a hash, not a signature and a
    /// verification, per proof. Same sizes on the wire as ed25519.
    Modelled,
}

impl ProofScheme {
    /// `identity`'s answer to the challenge `nonce`.
    pub(crate) fn prove(self, identity: &Identity, nonce: &Nonce) -> KeyProof {
        match self {
            ProofScheme::Ed25519 => identity.key_proof(nonce),
            ProofScheme::Modelled => {
                let public_key = identity.public_key();
                KeyProof {
                    public_key,
                    signature: modelled_tag(&public_key, nonce),
                }
            }
        }
    }

    /// Whether `proof` answers `nonce` for the key behind `expected`.
    pub(crate) fn verify(self, expected: &NodeId, nonce: &Nonce, proof: &KeyProof) -> bool {
        match self {
            ProofScheme::Ed25519 => verify_key_proof(expected, nonce, proof),
            ProofScheme::Modelled => {
                NodeId::sha1(&proof.public_key) == *expected
                    && proof.signature == modelled_tag(&proof.public_key, nonce)
            }
        }
    }
}

/// The modelled proof's 64-byte tag.
fn modelled_tag(public_key: &[u8; 32], nonce: &Nonce) -> Signature {
    let digest = NodeId::sha1_parts(&[MODELLED_DOMAIN, public_key, nonce]);
    let mut tag = [0u8; 64];
    for (t, d) in tag.iter_mut().zip(digest.as_bytes()) {
        *t = *d;
    }
    Signature(tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONCE: Nonce = [7; 32];

    #[test]
    fn each_scheme_verifies_its_own_proofs_for_the_right_id_and_nonce() {
        let me = Identity::from_seed(1);
        let other = Identity::from_seed(2);
        for scheme in [ProofScheme::Ed25519, ProofScheme::Modelled] {
            let proof = scheme.prove(&me, &NONCE);
            assert!(scheme.verify(&me.node_id(), &NONCE, &proof), "{scheme:?}");
            assert!(
                !scheme.verify(&other.node_id(), &NONCE, &proof),
                "{scheme:?}"
            );
            assert!(
                !scheme.verify(&me.node_id(), &[8; 32], &proof),
                "{scheme:?}"
            );
        }
    }

    #[test]
    fn an_ed25519_engine_refuses_modelled_proofs() {
        let me = Identity::from_seed(3);
        let modelled = ProofScheme::Modelled.prove(&me, &NONCE);
        assert!(!ProofScheme::Ed25519.verify(&me.node_id(), &NONCE, &modelled));
        let real = ProofScheme::Ed25519.prove(&me, &NONCE);
        assert!(!ProofScheme::Modelled.verify(&me.node_id(), &NONCE, &real));
    }
}

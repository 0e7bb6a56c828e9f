//! [`Signature`]: a 64-byte ed25519 signature, the strict [`verify`] every
//! signature check goes through, and [`fixed_bytes`], the serde form of
//! fixed-size byte arrays longer than serde's built-in 32 (signatures and
//! 64-byte public keys).
//!
//! This file never holds a secret: signing is `keypair.rs`'s business.

use ed25519_dalek::VerifyingKey;

/// A 64-byte ed25519 signature, encoded as 64 raw bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signature(pub [u8; 64]);

impl Signature {
    /// Bytes of a signature.
    pub const LEN: usize = 64;
}

impl serde::Serialize for Signature {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        fixed_bytes::serialize(&self.0, s)
    }
}

impl<'de> serde::Deserialize<'de> for Signature {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        fixed_bytes::deserialize(d).map(Self)
    }
}

/// Whether `sig` is a valid ed25519 signature by `public_key` over `msg`
/// (strict verification: small-order keys and `R` are refused).
pub fn verify(public_key: &[u8; 32], msg: &[u8], sig: &Signature) -> bool {
    let Ok(vk) = VerifyingKey::from_bytes(public_key) else {
        return false;
    };
    let sig = ed25519_dalek::Signature::from_bytes(&sig.0);
    vk.verify_strict(msg, &sig).is_ok()
}

/// serde for fixed-size byte arrays longer than serde's built-in 32: a tuple
/// of `N` bytes, which postcard writes as `N` raw bytes with no length.
pub(crate) mod fixed_bytes {
    use serde::de::{Error, SeqAccess, Visitor};
    use serde::ser::SerializeTuple;
    use serde::{Deserializer, Serializer};
    use std::fmt;

    pub(crate) fn serialize<S: Serializer, const N: usize>(
        bytes: &[u8; N],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let mut tup = serializer.serialize_tuple(N)?;
        for b in bytes {
            tup.serialize_element(b)?;
        }
        tup.end()
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        deserializer: D,
    ) -> Result<[u8; N], D::Error> {
        struct V<const N: usize>;
        impl<'de, const N: usize> Visitor<'de> for V<N> {
            type Value = [u8; N];
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{N} bytes")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<[u8; N], A::Error> {
                let mut out = [0u8; N];
                for (i, slot) in out.iter_mut().enumerate() {
                    *slot = seq
                        .next_element()?
                        .ok_or_else(|| A::Error::invalid_length(i, &self))?;
                }
                Ok(out)
            }
        }
        deserializer.deserialize_tuple(N, V::<N>)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;
    use proptest::prelude::*;

    #[test]
    fn signature_verifies_only_for_its_message_and_key() {
        let id = Identity::from_seed(8);
        let sig = id.sign(b"hello");
        assert!(verify(&id.public_key(), b"hello", &sig));
        assert!(!verify(&id.public_key(), b"hellp", &sig));
        assert!(!verify(
            &Identity::from_seed(9).public_key(),
            b"hello",
            &sig
        ));
        let mut bad = sig;
        bad.0[10] ^= 0x80;
        assert!(!verify(&id.public_key(), b"hello", &bad));
    }

    #[test]
    fn verify_refuses_a_small_order_key() {
        // The identity point (y = 1) with R = identity and s = 0 satisfies
        // the cofactorless equation for every message; strict
        // verification must refuse it.
        let mut identity_point = [0u8; 32];
        identity_point[0] = 1;
        let mut sig = [0u8; 64];
        sig[0] = 1;
        let lax = VerifyingKey::from_bytes(&identity_point).unwrap();
        let dalek_sig = ed25519_dalek::Signature::from_bytes(&sig);
        use ed25519_dalek::Verifier;
        assert!(lax.verify(b"anything", &dalek_sig).is_ok(), "not a forgery");
        assert!(!verify(&identity_point, b"anything", &Signature(sig)));
    }

    proptest! {
        #[test]
        fn sign_then_verify_holds_for_any_message(
            seed in any::<u64>(),
            msg in proptest::collection::vec(any::<u8>(), 0..2048),
            flip in any::<usize>(),
        ) {
            let id = Identity::from_seed(seed);
            let sig = id.sign(&msg);
            prop_assert!(verify(&id.public_key(), &msg, &sig));
            if !msg.is_empty() {
                let mut other = msg.clone();
                other[flip % msg.len()] ^= 0x01;
                prop_assert!(!verify(&id.public_key(), &other, &sig));
            }
        }
    }
}

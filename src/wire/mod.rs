//! The wire protocol: message types ([`Message`] and friends), the postcard
//! codec with its version byte, and the size limits every datagram obeys.
//!
//! Pure functions only: this module owns the byte format and never touches
//! a socket. The layout of each message is documented in `docs/PROTOCOL.md`.

pub(crate) mod bounded;
mod codec;
mod error;
mod fast;
mod message;
mod size;
#[cfg(test)]
mod tests;

pub use codec::{decode, encode, encode_into};
pub use error::{DecodeError, EncodeError};
pub use message::{
    Body, Contact, ErrorCode, KeyProof, Message, Nonce, Request, Response, Signature, Token, TxId,
};
pub use size::{contact_encoded_len, encoded_len, fit_providers};

/// The protocol version this build speaks: the first byte of every datagram.
pub const PROTOCOL_VERSION: u8 = 1;

/// Largest datagram sent or accepted: 1280 (IPv6 minimum MTU) minus the
/// IPv6 and UDP headers, so no datagram is ever fragmented.
pub const MAX_DATAGRAM_SIZE: usize = 1232;

/// Domain separation for the key proof: a [`KeyProof`] answering a
/// `Ping { challenge: Some(nonce) }` carries an ed25519 signature over
/// `KEY_PROOF_DOMAIN || nonce` (24 + 32 bytes) by the key whose SHA-1 is the
/// responder's node id.
pub const KEY_PROOF_DOMAIN: &[u8] = b"meshara-dht/v1/key-proof";

/// Largest value a record may carry.
pub const MAX_VALUE_SIZE: usize = 1000;

/// Largest salt a mutable record may carry.
pub const MAX_SALT_SIZE: usize = 32;

/// Most contacts in one `Nodes` or `Providers` response.
pub const MAX_CONTACTS: usize = 20;

/// Most providers in one `Providers` response.
pub const MAX_PROVIDERS: usize = 20;

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

macro_rules! fixed_bytes_serde {
    ($ty:ty) => {
        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                fixed_bytes::serialize(&self.0, s)
            }
        }
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                fixed_bytes::deserialize(d).map(Self)
            }
        }
    };
}

fixed_bytes_serde!(Signature);
fixed_bytes_serde!(crate::record::MesharaPublicKey);

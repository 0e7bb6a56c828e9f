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
pub use message::{Body, Contact, ErrorCode, Message, Request, Response, Token, TxId};
// Types the messages carry, defined in the layers below and re-exported so
// a codec user finds the whole vocabulary here.
pub use crate::identity::{KeyProof, Nonce, Signature};
pub use size::{contact_encoded_len, encoded_len, fit_providers};

/// The protocol version this build speaks: the first byte of every datagram.
pub const PROTOCOL_VERSION: u8 = 1;

/// Largest datagram sent or accepted: 1280 (IPv6 minimum MTU) minus the
/// IPv6 and UDP headers, so no datagram is ever fragmented.
pub const MAX_DATAGRAM_SIZE: usize = 1232;

/// Largest value a record may carry.
pub const MAX_VALUE_SIZE: usize = 1000;

/// Largest salt a mutable record may carry.
pub const MAX_SALT_SIZE: usize = 32;

/// Most contacts in one `Nodes` or `Providers` response.
pub const MAX_CONTACTS: usize = 20;

/// Most providers in one `Providers` response.
pub const MAX_PROVIDERS: usize = 20;

use crate::identity::fixed_bytes;

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

fixed_bytes_serde!(crate::record::MesharaPublicKey);

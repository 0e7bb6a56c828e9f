//! The wire protocol: message types ([`Message`] and friends), the postcard
//! codec with its version byte, the size limits every datagram obeys, and
//! the codec's errors ([`EncodeError`], [`DecodeError`]).
//!
//! Pure functions only: this module owns the byte format and never touches
//! a socket. It builds on `identity` (signatures, key proofs) and `record`
//! (records and their limits), and nothing above it. The layout of each
//! message is documented in `docs/PROTOCOL.md`.

pub(crate) mod bounded;
mod codec;
mod contact;
mod error;
mod fast;
mod message;
mod size;
#[cfg(test)]
mod tests;

pub use codec::{decode, encode, encode_into};
pub use contact::Contact;
pub use error::{DecodeError, EncodeError};
pub use message::{Body, ErrorCode, Message, Request, Response, Token, TxId};
// Types the messages carry, defined in the layers below and re-exported so
// a codec user finds the whole vocabulary here.
pub use crate::identity::{KeyProof, Nonce, Signature};
pub use crate::record::{MAX_SALT_SIZE, MAX_VALUE_SIZE};
pub use size::{contact_encoded_len, encoded_len, fit_providers};

/// The protocol version this build speaks: the first byte of every datagram.
pub const PROTOCOL_VERSION: u8 = 1;

/// Largest datagram sent or accepted: 1280 (IPv6 minimum MTU) minus the
/// IPv6 and UDP headers, so no datagram is ever fragmented.
pub const MAX_DATAGRAM_SIZE: usize = 1232;

/// Most contacts in one `Nodes` or `Providers` response.
pub const MAX_CONTACTS: usize = 20;

/// Most providers in one `Providers` response.
pub const MAX_PROVIDERS: usize = 20;

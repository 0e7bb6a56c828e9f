//! What the DHT stores: immutable records (key = SHA-1 of the value), signed
//! mutable records (only the key holder can write; a higher sequence wins),
//! their size limits ([`MAX_VALUE_SIZE`], [`MAX_SALT_SIZE`]) and the
//! [`Refusal`] reasons a storing node gives.
//!
//! This module owns record validity: size limits, key derivation and
//! signature checks. It holds no storage and does no I/O; the store and the
//! engine call it. It builds on `identity` (signatures) and knows nothing of
//! messages: `wire` carries records, not the other way round.
//!
//! | file | owns |
//! |---|---|
//! | `mod.rs` | [`Record`], [`ImmutableRecord`], [`SignedRecord`], [`Refusal`], the limits |
//! | `scheme.rs` | the signing key schemes: [`RecordPublicKey`], the Meshara key [`MesharaPublicKey`], [`meshara_record_key`] |
//! | `bounded.rs` | reading a value or salt no longer than its limit, before allocating it |
//!
//! # Key derivation and signatures
//!
//! - Immutable: `key = SHA-1(value)`.
//! - [`RecordPublicKey::Ed25519`]: `key = SHA-1(public_key || salt)`; with an
//!   empty salt that is the node id of the key holder, so "node id ->
//!   contact info" is a record only that node can write.
//! - [`RecordPublicKey::Meshara`] (a Meshara key: ed25519 || x25519, 64
//!   bytes): `key = SHA-1(MESHARA_KEY_DOMAIN || BLAKE3(public_key) || salt)`,
//!   i.e. a function of the Meshara node id, so a storing node checks from
//!   the record alone that the key belongs to that Meshara id.
//! - A mutable record's signature is ed25519 (with the first 32 bytes of a
//!   Meshara key) over `RECORD_SIGN_DOMAIN || key || seq (8 bytes, big
//!   endian) || value`, checked with ed25519-dalek's `verify_strict`. A
//!   public key that is not a point, or is a small-order point (for which
//!   signatures can be forged without any secret), is
//!   [`Refusal::InvalidPublicKey`].
//!
//! The immutable key space overlaps the others: an immutable record whose
//! value is `public_key || salt` has the key of that key's mutable record.
//! A reader checks the kind of record it receives, and a store must not let
//! an immutable record displace a signed one.

pub(crate) mod bounded;
mod scheme;

use bytes::Bytes;
use ed25519_dalek::{Signer, SigningKey};
use serde::{Deserialize, Serialize};

use crate::id::Key;
use crate::identity::Signature;

pub use scheme::{
    meshara_id_of, meshara_record_key, MesharaId, MesharaKey, MesharaPublicKey, RecordPublicKey,
    MESHARA_KEY_DOMAIN,
};

/// Domain separation for mutable-record signatures.
pub const RECORD_SIGN_DOMAIN: &[u8] = b"meshara-dht/v1/record";

/// Largest value a record may carry.
pub const MAX_VALUE_SIZE: usize = 1000;

/// Largest salt a mutable record may carry.
pub const MAX_SALT_SIZE: usize = 32;

/// A stored record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Record {
    /// Content-addressed: its key is SHA-1 of its value.
    Immutable(ImmutableRecord),
    /// Signed by the holder of the key it is stored under.
    Mutable(SignedRecord),
}

/// A value whose key is its SHA-1 hash; nobody can change it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImmutableRecord {
    /// At most [`MAX_VALUE_SIZE`] bytes.
    #[serde(deserialize_with = "bounded::value")]
    pub value: Bytes,
}

/// A record only the holder of `public_key` can write; among versions, the
/// highest `seq` wins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedRecord {
    /// The signing key.
    pub public_key: RecordPublicKey,
    /// Lets one key own several records; at most [`MAX_SALT_SIZE`] bytes.
    #[serde(deserialize_with = "bounded::salt")]
    pub salt: Bytes,
    /// Version; a store keeps the highest.
    pub seq: u64,
    /// At most [`MAX_VALUE_SIZE`] bytes.
    #[serde(deserialize_with = "bounded::value")]
    pub value: Bytes,
    /// ed25519 signature, see the module docs.
    pub signature: Signature,
}

/// Why a storing node refused a record (carried on the wire in an error
/// response, and returned by the store).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum Refusal {
    /// The signature does not verify.
    #[error("the record's signature does not verify")]
    BadSignature,
    /// The public key is not a valid ed25519 point, or is a small-order
    /// (weak) point nobody holds a secret for.
    #[error("the record's public key is not a valid ed25519 key")]
    InvalidPublicKey,
    /// A record with the same or a higher sequence number is stored.
    #[error("a record with sequence {stored} is stored; a write needs a higher one")]
    SequenceNotNewer {
        /// The stored sequence number.
        stored: u64,
    },
    /// The value (or salt) is over the limit.
    #[error("the value or salt is over the size limit")]
    TooLarge,
    /// The store holds as many records or bytes as it may.
    #[error("the store is full")]
    StoreFull,
    /// The writer's address has as many records stored here as it may.
    #[error("the writer's address has reached its record quota")]
    QuotaExceeded,
}

impl Record {
    /// The key this record is stored under, derived from the record alone.
    pub fn key(&self) -> Key {
        match self {
            Record::Immutable(r) => r.key(),
            Record::Mutable(r) => r.key(),
        }
    }

    /// The value.
    pub fn value(&self) -> &Bytes {
        match self {
            Record::Immutable(r) => &r.value,
            Record::Mutable(r) => &r.value,
        }
    }

    /// The sequence number (0 for an immutable record).
    pub fn seq(&self) -> u64 {
        match self {
            Record::Immutable(_) => 0,
            Record::Mutable(r) => r.seq,
        }
    }

    /// Checks sizes and, for mutable records, the signature.
    pub fn verify(&self) -> Result<(), Refusal> {
        match self {
            Record::Immutable(r) => r.verify(),
            Record::Mutable(r) => r.verify(),
        }
    }

    /// Bytes the record occupies in a store: value and salt, plus for a
    /// mutable record room for the longest public key, the signature and
    /// the sequence number.
    pub fn stored_size(&self) -> usize {
        match self {
            Record::Immutable(r) => r.value.len(),
            Record::Mutable(r) => {
                r.value.len() + r.salt.len() + MesharaPublicKey::LEN + Signature::LEN + 8
            }
        }
    }
}

impl ImmutableRecord {
    /// Wraps a value; refuses one over [`MAX_VALUE_SIZE`].
    pub fn new(value: impl Into<Bytes>) -> Result<Self, Refusal> {
        let r = ImmutableRecord {
            value: value.into(),
        };
        r.verify()?;
        Ok(r)
    }

    /// `SHA-1(value)`.
    pub fn key(&self) -> Key {
        Key::sha1(&self.value)
    }

    fn verify(&self) -> Result<(), Refusal> {
        if self.value.len() > MAX_VALUE_SIZE {
            return Err(Refusal::TooLarge);
        }
        Ok(())
    }
}

impl SignedRecord {
    /// The bytes a mutable record's signature covers.
    pub fn signing_message(key: &Key, seq: u64, value: &[u8]) -> Vec<u8> {
        let mut msg = Vec::with_capacity(RECORD_SIGN_DOMAIN.len() + 20 + 8 + value.len());
        msg.extend_from_slice(RECORD_SIGN_DOMAIN);
        msg.extend_from_slice(key.as_bytes());
        msg.extend_from_slice(&seq.to_be_bytes());
        msg.extend_from_slice(value);
        msg
    }

    /// Builds and signs an ed25519-scheme record with `signing_key`.
    pub fn sign_ed25519(
        signing_key: &SigningKey,
        salt: impl Into<Bytes>,
        seq: u64,
        value: impl Into<Bytes>,
    ) -> Result<Self, Refusal> {
        let public_key = RecordPublicKey::Ed25519(signing_key.verifying_key().to_bytes());
        Self::sign_with(public_key, salt, seq, value, |msg| {
            signing_key.sign(msg).to_bytes()
        })
    }

    /// Builds a record for `public_key` and signs it with `sign`, which
    /// must produce an ed25519 signature by the key's ed25519 half (the
    /// hook for signers that do not hand out their secret key, such as
    /// Meshara's `sign_message`).
    pub fn sign_with(
        public_key: RecordPublicKey,
        salt: impl Into<Bytes>,
        seq: u64,
        value: impl Into<Bytes>,
        sign: impl FnOnce(&[u8]) -> [u8; 64],
    ) -> Result<Self, Refusal> {
        let salt = salt.into();
        let value = value.into();
        if salt.len() > MAX_SALT_SIZE || value.len() > MAX_VALUE_SIZE {
            return Err(Refusal::TooLarge);
        }
        let key = public_key.record_key(&salt);
        let signature = Signature(sign(&Self::signing_message(&key, seq, &value)));
        let record = SignedRecord {
            public_key,
            salt,
            seq,
            value,
            signature,
        };
        record.verify()?;
        Ok(record)
    }

    /// The key derived from the public key and salt.
    pub fn key(&self) -> Key {
        self.public_key.record_key(&self.salt)
    }

    /// Checks sizes and the signature.
    pub fn verify(&self) -> Result<(), Refusal> {
        if self.salt.len() > MAX_SALT_SIZE || self.value.len() > MAX_VALUE_SIZE {
            return Err(Refusal::TooLarge);
        }
        let vk = self.public_key.verifying_key()?;
        let msg = Self::signing_message(&self.key(), self.seq, &self.value);
        let sig = ed25519_dalek::Signature::from_bytes(&self.signature.0);
        vk.verify_strict(&msg, &sig)
            .map_err(|_| Refusal::BadSignature)
    }
}

//! The key schemes a mutable record can be signed under: which public key
//! signs it ([`RecordPublicKey`]) and which key it is stored under as a
//! result. A plain ed25519 key (this crate's node identities), or a Meshara
//! key ([`MesharaPublicKey`]: ed25519 || x25519, 64 bytes) whose record key
//! is a function of the Meshara node id.
//!
//! This file owns the Meshara key's bytes and what they mean (its id is
//! their BLAKE3 hash, its first half signs), their serde form, and their
//! encoded size. The Meshara adapter (`crate::meshara`) uses these
//! definitions; it keeps no copy of its own.

use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};

use super::Refusal;
use crate::id::Key;
use crate::identity::fixed_bytes;

/// Domain separation for keys derived from a Meshara node id.
pub const MESHARA_KEY_DOMAIN: &[u8] = b"meshara-dht/v1/meshara-id";

/// A 32-byte Meshara node id: BLAKE3 of the 64-byte public key.
pub type MesharaId = [u8; 32];

/// The bytes of a Meshara public key: ed25519 verifying key (32 bytes)
/// followed by the x25519 key (32 bytes). [`MesharaPublicKey`] wraps them
/// inside a record.
pub type MesharaKey = [u8; 64];

/// The Meshara id of a 64-byte key: `BLAKE3(key)`.
pub fn meshara_id_of(public_key: &MesharaKey) -> MesharaId {
    *blake3::hash(public_key).as_bytes()
}

/// The public key that signs a mutable record; it also determines the key
/// the record lives under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RecordPublicKey {
    /// A plain ed25519 key (this crate's node identities).
    Ed25519([u8; 32]),
    /// A Meshara public key: ed25519 (32 bytes) followed by x25519 (32).
    Meshara(MesharaPublicKey),
}

/// A Meshara public key: 64 bytes, ed25519 verifying key then x25519 key.
/// Its BLAKE3 hash is the Meshara node id. Encoded as 64 raw bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MesharaPublicKey(pub MesharaKey);

impl MesharaPublicKey {
    /// Bytes of a Meshara key, the longest key a record can carry.
    pub const LEN: usize = 64;

    /// The Meshara node id: BLAKE3 of the 64 bytes.
    pub fn meshara_id(&self) -> MesharaId {
        meshara_id_of(&self.0)
    }

    /// The ed25519 half that signs.
    pub fn ed25519(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(&self.0[..32]);
        out
    }
}

impl Serialize for MesharaPublicKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        fixed_bytes::serialize(&self.0, s)
    }
}

impl<'de> Deserialize<'de> for MesharaPublicKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        fixed_bytes::deserialize(d).map(Self)
    }
}

impl RecordPublicKey {
    /// The key a record signed by this key with `salt` lives under.
    pub fn record_key(&self, salt: &[u8]) -> Key {
        match self {
            RecordPublicKey::Ed25519(pk) => Key::sha1_parts(&[pk, salt]),
            RecordPublicKey::Meshara(pk) => meshara_record_key(&pk.meshara_id(), salt),
        }
    }

    /// The key's raw bytes (32 for ed25519, 64 for Meshara): what follows
    /// the scheme's tag on the wire.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            RecordPublicKey::Ed25519(pk) => pk,
            RecordPublicKey::Meshara(pk) => &pk.0,
        }
    }

    /// The ed25519 key that verifies the record's signature; a key that is
    /// not a point or is a small-order point is refused.
    pub(super) fn verifying_key(&self) -> Result<VerifyingKey, Refusal> {
        let bytes = match self {
            RecordPublicKey::Ed25519(pk) => *pk,
            RecordPublicKey::Meshara(pk) => pk.ed25519(),
        };
        match VerifyingKey::from_bytes(&bytes) {
            // A small-order key admits signatures that verify for any
            // message, so nobody holds it: refuse it outright.
            Ok(vk) if !vk.is_weak() => Ok(vk),
            _ => Err(Refusal::InvalidPublicKey),
        }
    }
}

/// The key of the record a Meshara node with id `meshara_id` (BLAKE3 of its
/// 64-byte key) publishes under `salt`. A reader who knows only the Meshara
/// id computes it to look the record up.
pub fn meshara_record_key(meshara_id: &MesharaId, salt: &[u8]) -> Key {
    Key::sha1_parts(&[MESHARA_KEY_DOMAIN, meshara_id, salt])
}

//! Contact records: what a Meshara node publishes about itself, how the
//! record's key is derived, and every check a reader makes before it
//! believes one.
//!
//! This module owns the record formats ([`ContactInfo`], [`MesharaBinding`])
//! and their verification. It does no I/O and reads no clock: the current
//! time is an argument.
//!
//! # Key derivation
//!
//! A contact is the value of a Meshara-scheme [`SignedRecord`]
//! (`RecordPublicKey::Meshara`) with salt [`CONTACT_SALT`]:
//!
//! ```text
//! key = SHA-1(MESHARA_KEY_DOMAIN || BLAKE3(public_key_64) || b"contact")
//!     = meshara_record_key(&meshara_id, b"contact")
//! ```
//!
//! so a reader who knows only the Meshara id computes the key, and a storing
//! node checks from the record alone that the signer owns that id. The
//! sequence number is `advertised_at` (milliseconds since the Unix epoch):
//! a newer advertisement wins and a replayed older one is refused. An
//! authority advertises the same [`ContactInfo`] under [`AUTHORITY_SALT`].

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::traits::{meshara_id_of, MesharaId, MesharaKey, Signer};
use crate::id::{Key, NodeId};
use crate::record::{meshara_record_key, MesharaPublicKey, RecordPublicKey, Refusal, SignedRecord};

/// Salt of a node's contact record.
pub const CONTACT_SALT: &[u8] = b"contact";

/// Salt of an authority's contact record.
pub const AUTHORITY_SALT: &[u8] = b"authority";

/// Domain separation of provider keys for content hashes.
pub const CONTENT_KEY_DOMAIN: &[u8] = b"meshara-dht/v1/content";

/// Domain separation of the Meshara signature in a [`MesharaBinding`].
pub const BINDING_DOMAIN: &[u8] = b"meshara-dht/v1/binding";

/// Most addresses one contact may list (keeps the record well under the
/// 1000-byte value limit even with IPv6 addresses).
pub const MAX_ADDRESSES: usize = 8;

/// How a node can be reached: the value of its contact record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactInfo {
    /// Where the node accepts connections, most preferred first; between 1
    /// and [`MAX_ADDRESSES`].
    pub addresses: Vec<SocketAddr>,
    /// The node's 64-byte Meshara key (ed25519 || x25519).
    #[serde(with = "crate::identity::fixed_bytes")]
    pub public_key: MesharaKey,
    /// When it was advertised, in milliseconds since the Unix epoch; also
    /// the record's sequence number.
    pub advertised_at: u64,
}

/// How old (or how far in the future) a contact may be and still be
/// believed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Freshness {
    /// A contact advertised longer ago than this is stale. Default 2 h
    /// (nodes re-advertise hourly; the DHT keeps records 2 h).
    pub max_age: Duration,
    /// A contact dated further in the future than this is refused (clock
    /// skew between nodes). Default 10 min.
    pub max_clock_skew: Duration,
}

impl Default for Freshness {
    fn default() -> Self {
        Freshness {
            max_age: Duration::from_secs(2 * 3600),
            max_clock_skew: Duration::from_secs(10 * 60),
        }
    }
}

/// Why a contact record (or a binding) was not believed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContactError {
    /// The record is not stored under the key that was looked up.
    #[error("the record is not stored under the key looked up")]
    WrongKey,
    /// The record is signed by a key of the wrong scheme.
    #[error("the record is not signed by a key of the expected scheme")]
    WrongScheme,
    /// BLAKE3 of the record's public key is not the Meshara id asked for.
    #[error("the record's key does not hash to the Meshara id asked for")]
    IdMismatch,
    /// The record itself is invalid (signature, key, size).
    #[error("invalid record: {0}")]
    Record(#[from] Refusal),
    /// The value does not decode.
    #[error("the value does not decode: {0}")]
    Malformed(postcard::Error),
    /// The value has bytes after the encoded contact.
    #[error("{0} trailing bytes after the contact")]
    TrailingBytes(usize),
    /// The contact names a key other than the one that signed it.
    #[error("the contact's public key is not the key that signed it")]
    KeyMismatch,
    /// The sequence number is not `advertised_at`.
    #[error("sequence {seq} differs from advertised_at {advertised_at}")]
    SequenceMismatch {
        /// The record's sequence.
        seq: u64,
        /// The contact's timestamp.
        advertised_at: u64,
    },
    /// The contact is older than the allowed age.
    #[error("the contact advertised at {advertised_at} ms is stale at {now} ms")]
    Stale {
        /// When it was advertised (ms).
        advertised_at: u64,
        /// Now (ms).
        now: u64,
    },
    /// The contact is dated too far in the future.
    #[error("the contact advertised at {advertised_at} ms is in the future at {now} ms")]
    FromTheFuture {
        /// When it claims to be advertised (ms).
        advertised_at: u64,
        /// Now (ms).
        now: u64,
    },
    /// The contact lists no address.
    #[error("the contact lists no address")]
    NoAddress,
    /// The contact lists too many addresses.
    #[error("the contact lists {0} addresses, over the limit of {MAX_ADDRESSES}")]
    TooManyAddresses(usize),
    /// The Meshara signature of a binding does not verify.
    #[error("the binding's Meshara signature does not verify")]
    BadBinding,
}

impl ContactInfo {
    /// A contact, checking the address count.
    pub fn new(
        addresses: Vec<SocketAddr>,
        public_key: MesharaKey,
        advertised_at: u64,
    ) -> Result<Self, ContactError> {
        let info = ContactInfo {
            addresses,
            public_key,
            advertised_at,
        };
        info.check_addresses()?;
        Ok(info)
    }

    /// The Meshara id of the contact's key.
    pub fn meshara_id(&self) -> MesharaId {
        meshara_id_of(&self.public_key)
    }

    /// The postcard encoding (the record's value).
    pub fn encode(&self) -> Result<Vec<u8>, ContactError> {
        postcard::to_allocvec(self).map_err(ContactError::Malformed)
    }

    /// Decodes a record value; refuses trailing bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, ContactError> {
        let (info, rest) =
            postcard::take_from_bytes::<ContactInfo>(bytes).map_err(ContactError::Malformed)?;
        if !rest.is_empty() {
            return Err(ContactError::TrailingBytes(rest.len()));
        }
        Ok(info)
    }

    /// Whether the contact is too old at `now_ms`.
    pub fn is_stale(&self, now_ms: u64, max_age: Duration) -> bool {
        now_ms.saturating_sub(self.advertised_at) > millis(max_age)
    }

    /// When (ms since the epoch) the contact becomes stale.
    pub fn expires_at(&self, max_age: Duration) -> u64 {
        self.advertised_at.saturating_add(millis(max_age))
    }

    fn check_addresses(&self) -> Result<(), ContactError> {
        match self.addresses.len() {
            0 => Err(ContactError::NoAddress),
            n if n > MAX_ADDRESSES => Err(ContactError::TooManyAddresses(n)),
            _ => Ok(()),
        }
    }
}

/// Duration in whole milliseconds, saturating.
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The key of the contact record of the node with Meshara id `id`.
pub fn contact_key(id: &MesharaId) -> Key {
    meshara_record_key(id, CONTACT_SALT)
}

/// The key of the authority record of the authority with Meshara id `id`.
pub fn authority_key(id: &MesharaId) -> Key {
    meshara_record_key(id, AUTHORITY_SALT)
}

/// The provider key of a content hash:
/// `SHA-1(CONTENT_KEY_DOMAIN || hash)`.
pub fn content_key(hash: &[u8; 32]) -> Key {
    Key::sha1_parts(&[CONTENT_KEY_DOMAIN, hash])
}

/// Signs `info` as the Meshara-scheme record under `salt`, with sequence
/// `info.advertised_at`. The signer must own `info.public_key`.
pub fn sign_contact(
    signer: &dyn Signer,
    salt: &[u8],
    info: &ContactInfo,
) -> Result<SignedRecord, ContactError> {
    info.check_addresses()?;
    if info.public_key != signer.public_key() {
        return Err(ContactError::KeyMismatch);
    }
    let public_key = RecordPublicKey::Meshara(MesharaPublicKey(info.public_key));
    let value = info.encode()?;
    Ok(SignedRecord::sign_with(
        public_key,
        salt.to_vec(),
        info.advertised_at,
        value,
        |msg| signer.sign(msg),
    )?)
}

/// Every check a reader makes on a contact record found under the key of
/// (`expected`, `salt`) before believing it:
///
/// 1. the record's key is `meshara_record_key(expected, salt)` (and its
///    salt is `salt`);
/// 2. it is signed by a Meshara key whose BLAKE3 hash is `expected`;
/// 3. the signature verifies (strictly; small-order keys are refused);
/// 4. the value decodes to a [`ContactInfo`] with no trailing bytes, 1 to
///    [`MAX_ADDRESSES`] addresses, and the signing key as `public_key`;
/// 5. the sequence number is `advertised_at`, which is neither older than
///    `freshness.max_age` nor further than `freshness.max_clock_skew` in
///    the future of `now_ms`.
pub fn verify_contact(
    record: &SignedRecord,
    expected: &MesharaId,
    salt: &[u8],
    now_ms: u64,
    freshness: &Freshness,
) -> Result<ContactInfo, ContactError> {
    if record.salt.as_ref() != salt || record.key() != meshara_record_key(expected, salt) {
        return Err(ContactError::WrongKey);
    }
    let RecordPublicKey::Meshara(pk) = record.public_key else {
        return Err(ContactError::WrongScheme);
    };
    if pk.meshara_id() != *expected {
        return Err(ContactError::IdMismatch);
    }
    record.verify()?;
    let info = ContactInfo::decode(&record.value)?;
    if info.public_key != pk.0 {
        return Err(ContactError::KeyMismatch);
    }
    info.check_addresses()?;
    if record.seq != info.advertised_at {
        return Err(ContactError::SequenceMismatch {
            seq: record.seq,
            advertised_at: info.advertised_at,
        });
    }
    if info.is_stale(now_ms, freshness.max_age) {
        return Err(ContactError::Stale {
            advertised_at: info.advertised_at,
            now: now_ms,
        });
    }
    if info.advertised_at > now_ms.saturating_add(millis(freshness.max_clock_skew)) {
        return Err(ContactError::FromTheFuture {
            advertised_at: info.advertised_at,
            now: now_ms,
        });
    }
    Ok(info)
}

/// A Meshara node's consent to be found through one DHT node: the value of
/// that DHT node's own empty-salt record (key = its DHT node id).
///
/// Provider records name DHT nodes (160-bit id + UDP address), not Meshara
/// nodes. A provider found for a content hash is turned into a Meshara
/// contact through this binding, which carries two signatures:
///
/// - the outer record is signed by the DHT node's ed25519 key, and its key
///   is `SHA-1(that key)` = the DHT node id, so only that DHT node can
///   write it (storing nodes check this);
/// - `signature` is the Meshara key's ed25519 signature over
///   `BINDING_DOMAIN || dht_node_id`, so the Meshara node agreed to be
///   named by exactly this DHT node; copying it under another DHT node id
///   does not verify.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MesharaBinding {
    /// The Meshara key of the node the DHT node speaks for.
    #[serde(with = "crate::identity::fixed_bytes")]
    pub public_key: MesharaKey,
    /// ed25519 signature by `public_key`'s first half over
    /// `BINDING_DOMAIN || dht_node_id`.
    #[serde(with = "crate::identity::fixed_bytes")]
    pub signature: [u8; 64],
}

impl MesharaBinding {
    /// The binding of `signer`'s Meshara key to DHT node `dht_node`.
    pub fn sign(signer: &dyn Signer, dht_node: &NodeId) -> Self {
        MesharaBinding {
            public_key: signer.public_key(),
            signature: signer.sign(&Self::message(dht_node)),
        }
    }

    /// The bytes the Meshara signature covers.
    pub fn message(dht_node: &NodeId) -> Vec<u8> {
        let mut msg = Vec::with_capacity(BINDING_DOMAIN.len() + 20);
        msg.extend_from_slice(BINDING_DOMAIN);
        msg.extend_from_slice(dht_node.as_bytes());
        msg
    }

    /// Checks the Meshara signature for `dht_node`; returns the Meshara id.
    pub fn verify(&self, dht_node: &NodeId) -> Result<MesharaId, ContactError> {
        if !verify_meshara_signature(&self.public_key, &Self::message(dht_node), &self.signature) {
            return Err(ContactError::BadBinding);
        }
        Ok(meshara_id_of(&self.public_key))
    }

    /// Checks a binding record found under the key `dht_node`: an
    /// ed25519-scheme record with an empty salt stored under that key,
    /// whose signature verifies and whose value is a binding that verifies
    /// for `dht_node`. Returns the binding.
    pub fn from_record(record: &SignedRecord, dht_node: &NodeId) -> Result<Self, ContactError> {
        if !record.salt.is_empty() || record.key() != *dht_node {
            return Err(ContactError::WrongKey);
        }
        if !matches!(record.public_key, RecordPublicKey::Ed25519(_)) {
            return Err(ContactError::WrongScheme);
        }
        record.verify()?;
        let (binding, rest) = postcard::take_from_bytes::<MesharaBinding>(&record.value)
            .map_err(ContactError::Malformed)?;
        if !rest.is_empty() {
            return Err(ContactError::TrailingBytes(rest.len()));
        }
        binding.verify(dht_node)?;
        Ok(binding)
    }

    /// The postcard encoding.
    pub fn encode(&self) -> Result<Vec<u8>, ContactError> {
        postcard::to_allocvec(self).map_err(ContactError::Malformed)
    }
}

/// Strict ed25519 verification with the first half of a Meshara key;
/// small-order keys never verify.
pub fn verify_meshara_signature(public_key: &MesharaKey, message: &[u8], sig: &[u8; 64]) -> bool {
    let pk = MesharaPublicKey(*public_key).ed25519();
    match ed25519_dalek::VerifyingKey::from_bytes(&pk) {
        Ok(vk) if !vk.is_weak() => vk
            .verify_strict(message, &ed25519_dalek::Signature::from_bytes(sig))
            .is_ok(),
        _ => false,
    }
}

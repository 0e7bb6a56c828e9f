//! The node's ed25519 identity: the [`Identity`] keypair, the node id derived
//! from it (`SHA-1(public key)`), [`Signature`]s, key proofs ([`Nonce`],
//! [`KeyProof`]), and the key file.
//!
//! This module owns the secret key and the only code that touches it. It
//! never prints the secret (`Debug` shows the node id and public key only),
//! never draws from the OS RNG (randomness is passed in), and does file I/O
//! only in [`Identity::save`], [`Identity::load`] and
//! [`Identity::load_or_generate`], which the protocol engine never calls.
//! It knows nothing of records or messages: `record` and `wire` build on it.
//!
//! | file | owns |
//! |---|---|
//! | `keypair.rs` | [`Identity`]: the keypair, its node id, signing |
//! | `signature.rs` | [`Signature`], [`verify`], serde for fixed-size byte arrays |
//! | `proof.rs` | key proofs: [`Nonce`], [`KeyProof`], [`KEY_PROOF_DOMAIN`], [`verify_key_proof`] |
//! | `key_file.rs` | the key file format, atomic save, load, [`IdentityError`] |
//!
//! # Key file
//!
//! A key file is exactly [`KEY_FILE_LEN`] = 44 bytes:
//!
//! | offset | size | content |
//! |---|---|---|
//! | 0 | 8 | magic [`KEY_FILE_MAGIC`], ASCII `MDHTKEY1` |
//! | 8 | 32 | the ed25519 secret key (seed) |
//! | 40 | 4 | checksum: the first 4 bytes of SHA-1 of bytes 0..40 |
//!
//! A file of another size is [`IdentityError::WrongSize`]; a bad magic or
//! checksum is [`IdentityError::Corrupt`]. The checksum catches accidental
//! damage, not tampering: whoever can write the file can replace the key.
//!
//! [`Identity::save`] writes a temporary file in the target's directory,
//! created with mode `0600` on unix (never readable by others, not even
//! for an instant), fsyncs it, renames it over the target and fsyncs the
//! directory, so a crash leaves either the old key or the new one.
//!
//! # Key proofs
//!
//! A contact proves that it holds the key behind its node id by signing
//! `KEY_PROOF_DOMAIN || nonce` for a nonce the verifier chose
//! ([`Identity::key_proof`], [`verify_key_proof`]). Signatures are checked
//! with ed25519-dalek's `verify_strict`, which refuses small-order keys
//! and small-order `R`, so nobody can forge a proof for a weak key.

mod key_file;
mod keypair;
mod proof;
mod signature;

pub use key_file::{IdentityError, KEY_FILE_LEN, KEY_FILE_MAGIC};
pub use keypair::Identity;
pub use proof::{verify_key_proof, KeyProof, Nonce, KEY_PROOF_DOMAIN};
pub(crate) use signature::fixed_bytes;
pub use signature::{verify, Signature};

//! The node's ed25519 identity: the [`Identity`] keypair, the node id derived
//! from it (`SHA-1(public key)`), signatures, key proofs, and the key file.
//!
//! This module owns the secret key and the only code that touches it. It
//! never prints the secret (`Debug` shows the node id and public key only),
//! never draws from the OS RNG (randomness is passed in), and does file I/O
//! only in [`Identity::save`], [`Identity::load`] and
//! [`Identity::load_or_generate`], which the protocol engine never calls.
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

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use rand::{CryptoRng, RngCore};

use crate::id::NodeId;
use crate::wire::{KeyProof, Nonce, Signature};

/// Domain separation for key proofs: a key proof is a signature over
/// `KEY_PROOF_DOMAIN || nonce`.
pub const KEY_PROOF_DOMAIN: &[u8] = b"meshara-dht/v1/key-proof";

/// The first 8 bytes of a key file.
pub const KEY_FILE_MAGIC: &[u8; 8] = b"MDHTKEY1";

/// The size of a key file: magic (8) + secret (32) + checksum (4).
pub const KEY_FILE_LEN: usize = 8 + 32 + 4;

/// Context string for [`Identity::from_seed`]'s BLAKE3 key derivation.
const SEED_CONTEXT: &str = "meshara-dht v1 test identity from u64 seed";

/// How many temporary names [`Identity::save`] tries before giving up.
const TEMP_NAME_ATTEMPTS: u32 = 16;

/// Distinguishes temporary files of concurrent saves in one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Loading or saving an identity key file failed.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The file could not be read or written.
    #[error("key file {path}: {source}")]
    Io {
        /// The key file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file does not have the size of a key file.
    #[error("key file {path} has {found} bytes, a key file has exactly {expected}")]
    WrongSize {
        /// The key file.
        path: PathBuf,
        /// Bytes found.
        found: usize,
        /// Bytes expected.
        expected: usize,
    },
    /// The file has the right size but not the key file's header or checksum.
    #[error("key file {path} is corrupt: {reason}")]
    Corrupt {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// An ed25519 keypair and the node id it determines.
///
/// Cloning copies the secret. `Debug` prints the node id and public key,
/// never the secret. The secret is zeroed when the inner
/// [`SigningKey`] is dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct Identity {
    key: SigningKey,
    public_key: [u8; 32],
    node_id: NodeId,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("node_id", &self.node_id)
            .field("public_key", &Hex(&self.public_key))
            .finish_non_exhaustive()
    }
}

/// Lowercase hex for `Debug` output.
struct Hex<'a>(&'a [u8]);

impl fmt::Debug for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl Identity {
    /// A fresh identity with a secret drawn from `rng`.
    pub fn generate<R: RngCore + CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut secret = [0u8; 32];
        rng.fill_bytes(&mut secret);
        Self::from_secret_bytes(secret)
    }

    /// The identity whose ed25519 secret key (seed) is `secret`.
    pub fn from_secret_bytes(secret: [u8; 32]) -> Self {
        let key = SigningKey::from_bytes(&secret);
        let public_key = key.verifying_key().to_bytes();
        Identity {
            key,
            public_key,
            node_id: NodeId::sha1(&public_key),
        }
    }

    /// A deterministic identity for tests and simulations only: the secret
    /// is `BLAKE3-derive-key("meshara-dht v1 test identity from u64 seed",
    /// seed as 8 little-endian bytes)`. Anyone who knows (or guesses) the
    /// seed has the secret key, so never use it for a real node.
    pub fn from_seed(seed: u64) -> Self {
        Self::from_secret_bytes(blake3::derive_key(SEED_CONTEXT, &seed.to_le_bytes()))
    }

    /// `SHA-1(public key)`, computed once at construction.
    pub fn node_id(&self) -> NodeId {
        self.node_id
    }

    /// The 32-byte ed25519 public (verifying) key.
    pub fn public_key(&self) -> [u8; 32] {
        self.public_key
    }

    /// The ed25519 signing key, e.g. for
    /// [`SignedRecord::sign_ed25519`](crate::record::SignedRecord::sign_ed25519).
    pub fn signing_key(&self) -> &SigningKey {
        &self.key
    }

    /// An ed25519 signature over `msg`. Callers prefix `msg` with a domain
    /// string of their own (as [`KEY_PROOF_DOMAIN`] and
    /// [`RECORD_SIGN_DOMAIN`](crate::record::RECORD_SIGN_DOMAIN) do), so a
    /// signature made for one purpose is never valid for another.
    pub fn sign(&self, msg: &[u8]) -> Signature {
        Signature(self.key.sign(msg).to_bytes())
    }

    /// Proof that this node holds the key behind its node id: a signature
    /// over `KEY_PROOF_DOMAIN || nonce`, with the public key attached.
    pub fn key_proof(&self, nonce: &Nonce) -> KeyProof {
        KeyProof {
            public_key: self.public_key,
            signature: self.sign(&key_proof_message(nonce)),
        }
    }

    /// Writes the key file atomically (temporary file, fsync, rename) with
    /// mode `0600` on unix; see the module docs for the format.
    pub fn save(&self, path: &Path) -> Result<(), IdentityError> {
        let tmp = self.write_temp(path)?;
        if let Err(source) = fs::rename(&tmp, path) {
            let _ = fs::remove_file(&tmp);
            return Err(io_err(path, source));
        }
        sync_dir(path)
    }

    /// Reads a key file written by [`Identity::save`].
    pub fn load(path: &Path) -> Result<Self, IdentityError> {
        let file = File::open(path).map_err(|source| io_err(path, source))?;
        let len = file
            .metadata()
            .map_err(|source| io_err(path, source))?
            .len();
        if len != KEY_FILE_LEN as u64 {
            return Err(wrong_size(path, usize::try_from(len).unwrap_or(usize::MAX)));
        }
        #[cfg(unix)]
        warn_if_readable_by_others(path, &file);
        // Bounded read: the file may have grown since `metadata`.
        let mut buf = Vec::with_capacity(KEY_FILE_LEN + 1);
        file.take(KEY_FILE_LEN as u64 + 1)
            .read_to_end(&mut buf)
            .map_err(|source| io_err(path, source))?;
        let bytes: [u8; KEY_FILE_LEN] = buf
            .as_slice()
            .try_into()
            .map_err(|_| wrong_size(path, buf.len()))?;
        let secret = decode_key_file(&bytes).map_err(|reason| IdentityError::Corrupt {
            path: path.to_path_buf(),
            reason,
        })?;
        Ok(Self::from_secret_bytes(secret))
    }

    /// Loads the key file at `path`, or, if there is none, generates an
    /// identity from `rng` and saves it there. Returns the identity and
    /// whether it was created. If another process creates the file at the
    /// same moment, the file that landed first wins and is returned.
    pub fn load_or_generate<R: RngCore + CryptoRng + ?Sized>(
        path: &Path,
        rng: &mut R,
    ) -> Result<(Self, bool), IdentityError> {
        match Self::load(path) {
            Err(IdentityError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {}
            other => return other.map(|identity| (identity, false)),
        }
        let identity = Self::generate(rng);
        let tmp = identity.write_temp(path)?;
        // `hard_link` never replaces an existing file: a no-clobber rename.
        let linked = fs::hard_link(&tmp, path);
        let _ = fs::remove_file(&tmp);
        match linked {
            Ok(()) => {
                sync_dir(path)?;
                Ok((identity, true))
            }
            // Another process saved its key first: use that one.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                Self::load(path).map(|identity| (identity, false))
            }
            // Hard links unsupported here (some file systems): plain save.
            Err(_) => {
                identity.save(path)?;
                Ok((identity, true))
            }
        }
    }

    /// Writes the key file's bytes to a fresh, fsynced temporary file next
    /// to `path` and returns the temporary file's path.
    fn write_temp(&self, path: &Path) -> Result<PathBuf, IdentityError> {
        let bytes = encode_key_file(&self.key.to_bytes());
        let (tmp, mut file) = create_temp(path)?;
        let written = file
            .write_all(&bytes)
            .and_then(|()| file.sync_all())
            .map_err(|source| io_err(&tmp, source));
        drop(file);
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        Ok(tmp)
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

/// The 4-byte checksum of the first 40 bytes of a key file.
fn checksum(magic_and_secret: &[u8]) -> [u8; 4] {
    let digest = NodeId::sha1(magic_and_secret);
    let mut out = [0u8; 4];
    out.copy_from_slice(&digest.as_bytes()[..4]);
    out
}

/// The bytes of a key file holding `secret`.
fn encode_key_file(secret: &[u8; 32]) -> [u8; KEY_FILE_LEN] {
    let mut out = [0u8; KEY_FILE_LEN];
    out[..8].copy_from_slice(KEY_FILE_MAGIC);
    out[8..40].copy_from_slice(secret);
    let sum = checksum(&out[..40]);
    out[40..].copy_from_slice(&sum);
    out
}

/// The secret in a key file, or why the file is corrupt.
fn decode_key_file(bytes: &[u8; KEY_FILE_LEN]) -> Result<[u8; 32], &'static str> {
    if &bytes[..8] != KEY_FILE_MAGIC {
        return Err("bad magic (not a meshara-dht key file)");
    }
    if bytes[40..] != checksum(&bytes[..40]) {
        return Err("checksum mismatch");
    }
    let mut secret = [0u8; 32];
    secret.copy_from_slice(&bytes[8..40]);
    Ok(secret)
}

/// Creates a new temporary file next to `path`, mode `0600` on unix.
fn create_temp(path: &Path) -> Result<(PathBuf, File), IdentityError> {
    let name = path
        .file_name()
        .map_or_else(|| "identity".into(), |n| n.to_string_lossy());
    let dir = parent_dir(path);
    let mut attempt = 1;
    loop {
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".{name}.tmp.{}.{n}", std::process::id()));
        let mut options = OpenOptions::new();
        // `create_new` never follows a symlink or reuses a file.
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(&tmp) {
            Ok(file) => return Ok((tmp, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < TEMP_NAME_ATTEMPTS => {
                attempt += 1;
            }
            Err(e) => return Err(io_err(&tmp, e)),
        }
    }
}

/// Fsyncs the directory holding `path` (unix; a no-op elsewhere).
fn sync_dir(path: &Path) -> Result<(), IdentityError> {
    #[cfg(unix)]
    {
        let dir = parent_dir(path);
        File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(|source| io_err(&dir, source))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// The directory holding `path` (`.` for a bare file name).
fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path, file: &File) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = file.metadata() {
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(
                path = %path.display(),
                mode = format_args!("{:o}", mode & 0o777),
                "key file is accessible to other users; it should be mode 0600"
            );
        }
    }
}

fn io_err(path: &Path, source: io::Error) -> IdentityError {
    IdentityError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn wrong_size(path: &Path, found: usize) -> IdentityError {
    IdentityError::WrongSize {
        path: path.to_path_buf(),
        found,
        expected: KEY_FILE_LEN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
            let dir = std::env::temp_dir().join(format!(
                "meshara-dht-identity-{name}-{}-{n}",
                std::process::id()
            ));
            fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn save_then_load_returns_the_same_identity() {
        let dir = TempDir::new("roundtrip");
        let path = dir.0.join("node.key");
        let id = Identity::generate(&mut StdRng::seed_from_u64(7));
        id.save(&path).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().len(), KEY_FILE_LEN as u64);
        let loaded = Identity::load(&path).unwrap();
        assert_eq!(loaded, id);
        assert_eq!(loaded.signing_key().to_bytes(), id.signing_key().to_bytes());
        assert_eq!(loaded.node_id(), id.node_id());
        // Only the key file remains: no temporary file left behind.
        assert_eq!(fs::read_dir(&dir.0).unwrap().count(), 1);
    }

    #[test]
    fn save_replaces_an_existing_key_file() {
        let dir = TempDir::new("replace");
        let path = dir.0.join("node.key");
        Identity::from_seed(1).save(&path).unwrap();
        Identity::from_seed(2).save(&path).unwrap();
        assert_eq!(Identity::load(&path).unwrap(), Identity::from_seed(2));
    }

    #[cfg(unix)]
    #[test]
    fn saved_key_file_is_private_to_its_owner() {
        use std::os::unix::fs::PermissionsExt;
        let dir = TempDir::new("mode");
        let path = dir.0.join("node.key");
        // A world-readable file at the target must be replaced, not reused.
        fs::write(&path, b"old").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        Identity::from_seed(3).save(&path).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & 0o077, 0, "mode {mode:o}");
        assert_eq!(mode & 0o600, 0o600, "mode {mode:o}");
    }

    #[test]
    fn load_rejects_a_file_of_the_wrong_size() {
        let dir = TempDir::new("size");
        let path = dir.0.join("node.key");
        fs::write(&path, [0u8; 43]).unwrap();
        assert!(matches!(
            Identity::load(&path),
            Err(IdentityError::WrongSize {
                found: 43,
                expected: KEY_FILE_LEN,
                ..
            })
        ));
        fs::write(&path, []).unwrap();
        assert!(matches!(
            Identity::load(&path),
            Err(IdentityError::WrongSize { found: 0, .. })
        ));
    }

    #[test]
    fn load_rejects_any_flipped_byte_as_corrupt() {
        let dir = TempDir::new("flip");
        let path = dir.0.join("node.key");
        Identity::from_seed(4).save(&path).unwrap();
        let good = fs::read(&path).unwrap();
        for i in 0..KEY_FILE_LEN {
            let mut bad = good.clone();
            bad[i] ^= 0x01;
            fs::write(&path, &bad).unwrap();
            let expected = if i < 8 {
                "bad magic (not a meshara-dht key file)"
            } else {
                "checksum mismatch"
            };
            match Identity::load(&path) {
                Err(IdentityError::Corrupt { reason, .. }) => assert_eq!(reason, expected),
                other => panic!("byte {i}: expected Corrupt, got {other:?}"),
            }
        }
    }

    #[test]
    fn load_of_a_missing_file_is_an_io_error() {
        let dir = TempDir::new("missing");
        let path = dir.0.join("absent.key");
        let Err(IdentityError::Io { path: p, source }) = Identity::load(&path) else {
            panic!("expected Io");
        };
        assert_eq!((p, source.kind()), (path, io::ErrorKind::NotFound));
    }

    #[test]
    fn load_or_generate_creates_once_then_loads() {
        let dir = TempDir::new("load-or-generate");
        let path = dir.0.join("node.key");
        let mut rng = StdRng::seed_from_u64(9);
        let (first, created) = Identity::load_or_generate(&path, &mut rng).unwrap();
        assert!(created);
        let (second, created) = Identity::load_or_generate(&path, &mut rng).unwrap();
        assert!(!created);
        assert_eq!(second, first);
        assert_eq!(fs::read_dir(&dir.0).unwrap().count(), 1);
    }

    #[test]
    fn load_or_generate_does_not_overwrite_a_corrupt_file() {
        let dir = TempDir::new("no-overwrite");
        let path = dir.0.join("node.key");
        fs::write(&path, [7u8; KEY_FILE_LEN]).unwrap();
        let result = Identity::load_or_generate(&path, &mut StdRng::seed_from_u64(1));
        assert!(matches!(result, Err(IdentityError::Corrupt { .. })));
        assert_eq!(fs::read(&path).unwrap(), vec![7u8; KEY_FILE_LEN]);
    }

    #[test]
    fn debug_output_omits_the_secret() {
        let id = Identity::from_seed(5);
        let secret: String = id
            .signing_key()
            .to_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let shown = format!("{id:?} {id:#?}");
        assert!(!shown.contains(&secret));
        assert!(!shown.contains(&format!("{:?}", id.signing_key().to_bytes())));
        assert!(shown.contains(&id.node_id().to_string()));
    }

    #[test]
    fn node_id_is_sha1_of_the_public_key() {
        let id = Identity::from_seed(6);
        assert_eq!(id.node_id(), NodeId::sha1(&id.public_key()));
        assert_eq!(id.public_key(), id.signing_key().verifying_key().to_bytes());
    }

    #[test]
    fn from_seed_is_deterministic_and_distinct_per_seed() {
        assert_eq!(Identity::from_seed(42), Identity::from_seed(42));
        let ids: std::collections::HashSet<NodeId> =
            (0..100).map(|s| Identity::from_seed(s).node_id()).collect();
        assert_eq!(ids.len(), 100);
        // Pinned so the derivation cannot change silently.
        let expected = blake3::derive_key(SEED_CONTEXT, &42u64.to_le_bytes());
        assert_eq!(Identity::from_seed(42).signing_key().to_bytes(), expected);
    }

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

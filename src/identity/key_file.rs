//! The key file: [`Identity::save`], [`Identity::load`],
//! [`Identity::load_or_generate`], and [`IdentityError`], why one failed.
//! The format is in the `identity` module docs.
//!
//! This file owns every byte of file I/O on the secret key. It writes only
//! through a fresh `0600` temporary file renamed into place, so a crash
//! leaves the old key or the new one, and it never overwrites a file it
//! could not read as a key.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rand::{CryptoRng, RngCore};

use super::keypair::Identity;
use crate::id::NodeId;

/// The first 8 bytes of a key file.
pub const KEY_FILE_MAGIC: &[u8; 8] = b"MDHTKEY1";

/// The size of a key file: magic (8) + secret (32) + checksum (4).
pub const KEY_FILE_LEN: usize = 8 + 32 + 4;

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

impl Identity {
    /// Writes the key file atomically (temporary file, fsync, rename) with
    /// mode `0600` on unix; the format is in the [module docs](crate::identity).
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
        let bytes = encode_key_file(&self.signing_key().to_bytes());
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
}

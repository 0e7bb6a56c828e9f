//! The routing-table state file (`routing.bin` in the state directory): the
//! contacts a node knew when it last saved, so a restart can re-ping them
//! instead of needing the bootstrap nodes.
//!
//! Format: the 8-byte magic [`ROUTING_MAGIC`], then the postcard encoding
//! of `Vec<Contact>` (node id and UDP address), then 8 check bytes: the
//! first 8 bytes of BLAKE3 over everything before them. A file with any
//! other shape is corrupt: it is renamed aside to
//! `routing.bin.corrupt-<unix seconds>` and the node starts fresh.
//!
//! Saving writes a temporary file next to the target, fsyncs it, renames it
//! over the target and fsyncs the directory, so a crash leaves the old file
//! or the new one, never half of one. The saved contacts are only hints:
//! the node re-pings each and trusts only those that prove their key.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use meshara_dht::wire::Contact;

use crate::error::CliError;

/// The routing-table file's name in the state directory.
pub(crate) const ROUTING_FILE: &str = "routing.bin";

/// The key file's name in the state directory.
pub(crate) const KEY_FILE: &str = "node.key";

/// The first 8 bytes of a routing-table file.
pub(crate) const ROUTING_MAGIC: &[u8; 8] = b"MDHTRT01";

/// Check bytes at the end of the file.
const CHECK_LEN: usize = 8;

/// Files larger than this are corrupt (160 full buckets of 20 contacts
/// take about 170 KiB).
const MAX_FILE_LEN: u64 = 4 * 1024 * 1024;

/// Distinguishes temporary files of concurrent saves in one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// What [`load`] found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Loaded {
    /// No file: a first start.
    Missing,
    /// The saved contacts.
    Contacts(Vec<Contact>),
    /// The file was corrupt and was renamed to `moved_to`.
    Corrupt {
        /// Why the file was refused.
        reason: &'static str,
        /// Where the file now is.
        moved_to: PathBuf,
    },
}

/// The file's bytes for `contacts`.
pub(crate) fn encode(contacts: &[Contact]) -> Result<Vec<u8>, CliError> {
    let mut out = ROUTING_MAGIC.to_vec();
    out.extend(postcard::to_allocvec(contacts).map_err(CliError::Encode)?);
    let check = check_bytes(&out);
    out.extend_from_slice(&check);
    Ok(out)
}

/// Parses a file's bytes; the error says what is wrong.
pub(crate) fn decode(bytes: &[u8]) -> Result<Vec<Contact>, &'static str> {
    let body_len = bytes
        .len()
        .checked_sub(CHECK_LEN)
        .filter(|n| *n >= ROUTING_MAGIC.len())
        .ok_or("it is too short")?;
    let (body, check) = bytes.split_at(body_len);
    if !body.starts_with(ROUTING_MAGIC) {
        return Err("it does not start with the routing-table magic");
    }
    if check != check_bytes(body) {
        return Err("its checksum does not match");
    }
    let payload = body.get(ROUTING_MAGIC.len()..).unwrap_or_default();
    match postcard::take_from_bytes::<Vec<Contact>>(payload) {
        Ok((contacts, [])) => Ok(contacts),
        Ok(_) => Err("it has trailing bytes"),
        Err(_) => Err("its contact list does not decode"),
    }
}

fn check_bytes(body: &[u8]) -> [u8; CHECK_LEN] {
    let mut out = [0u8; CHECK_LEN];
    out.copy_from_slice(&blake3::hash(body).as_bytes()[..CHECK_LEN]);
    out
}

/// Reads the routing-table file at `path`. A corrupt file is renamed aside
/// (and reported in the result); only I/O errors other than "not found"
/// and a failed rename are errors.
pub(crate) fn load(path: &Path) -> Result<Loaded, CliError> {
    let read_err = |source| CliError::State {
        action: "read",
        path: path.to_path_buf(),
        source,
    };
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Loaded::Missing),
        Err(e) => return Err(read_err(e)),
    };
    let mut bytes = Vec::new();
    file.take(MAX_FILE_LEN + 1)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    let reason = if bytes.len() as u64 > MAX_FILE_LEN {
        "it is larger than any routing table"
    } else {
        match decode(&bytes) {
            Ok(contacts) => return Ok(Loaded::Contacts(contacts)),
            Err(reason) => reason,
        }
    };
    let moved_to = corrupt_name(path);
    fs::rename(path, &moved_to).map_err(|source| CliError::State {
        action: "rename the corrupt file",
        path: path.to_path_buf(),
        source,
    })?;
    Ok(Loaded::Corrupt { reason, moved_to })
}

/// `<path>.corrupt-<unix seconds>`.
fn corrupt_name(path: &Path) -> PathBuf {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut name = path.as_os_str().to_os_string();
    name.push(format!(".corrupt-{secs}"));
    PathBuf::from(name)
}

/// Writes `contacts` to `path` atomically (see the module docs).
pub(crate) fn save(path: &Path, contacts: &[Contact]) -> Result<(), CliError> {
    let bytes = encode(contacts)?;
    let (tmp, mut file) = create_temp(path)?;
    let written = file.write_all(&bytes).and_then(|()| file.sync_all());
    drop(file);
    let renamed = written.and_then(|()| fs::rename(&tmp, path));
    if let Err(source) = renamed {
        let _ = fs::remove_file(&tmp);
        return Err(CliError::State {
            action: "write",
            path: path.to_path_buf(),
            source,
        });
    }
    sync_dir(path);
    Ok(())
}

fn create_temp(path: &Path) -> Result<(PathBuf, File), CliError> {
    let mut last = None;
    for _ in 0..16 {
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let mut name = path.as_os_str().to_os_string();
        name.push(format!(".tmp-{}-{n}", std::process::id()));
        let tmp = PathBuf::from(name);
        match OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => {
                last = Some(e);
                break;
            }
        }
    }
    Err(CliError::State {
        action: "create a temporary file for",
        path: path.to_path_buf(),
        source: last.unwrap_or_else(|| io::Error::other("no temporary name was free")),
    })
}

/// Makes the rename durable; a failure here only weakens crash safety, so
/// it is logged, not returned.
fn sync_dir(path: &Path) {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if let Err(e) = File::open(dir).and_then(|d| d.sync_all()) {
        tracing::debug!(dir = %dir.display(), error = %e, "directory fsync failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use meshara_dht::NodeId;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("mdht-state-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn contacts() -> Vec<Contact> {
        (0..5u8)
            .map(|i| Contact {
                id: NodeId::sha1(&[i]),
                addr: format!("127.0.0.1:{}", 4000 + u16::from(i))
                    .parse()
                    .unwrap(),
            })
            .collect()
    }

    #[test]
    fn saved_contacts_load_back() {
        let dir = temp_dir("roundtrip");
        let path = dir.join(ROUTING_FILE);
        save(&path, &contacts()).unwrap();
        assert_eq!(load(&path).unwrap(), Loaded::Contacts(contacts()));
        // No temporary file is left behind.
        let names: Vec<_> = fs::read_dir(&dir).unwrap().map(|e| e.unwrap()).collect();
        assert_eq!(names.len(), 1);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_file_is_a_first_start() {
        let dir = temp_dir("missing");
        assert_eq!(load(&dir.join(ROUTING_FILE)).unwrap(), Loaded::Missing);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn corrupt_file_is_moved_aside() {
        let dir = temp_dir("corrupt");
        let path = dir.join(ROUTING_FILE);
        fs::write(&path, b"not a routing table at all").unwrap();
        match load(&path).unwrap() {
            Loaded::Corrupt { reason, moved_to } => {
                assert_eq!(reason, "it does not start with the routing-table magic");
                assert!(!path.exists());
                assert_eq!(fs::read(&moved_to).unwrap(), b"not a routing table at all");
                let name = moved_to.file_name().unwrap().to_string_lossy().into_owned();
                assert!(name.starts_with("routing.bin.corrupt-"), "{name}");
            }
            other => panic!("expected a corrupt file, got {other:?}"),
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn decode_detects_every_flipped_byte() {
        let bytes = encode(&contacts()).unwrap();
        for i in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[i] ^= 0x01;
            assert!(decode(&damaged).is_err(), "flip at byte {i} went unnoticed");
        }
        assert_eq!(
            decode(&bytes[..bytes.len() - 1]),
            Err("its checksum does not match")
        );
    }

    #[test]
    fn decode_refuses_short_input() {
        assert_eq!(decode(b""), Err("it is too short"));
        assert_eq!(decode(&[0u8; 15]), Err("it is too short"));
    }
}

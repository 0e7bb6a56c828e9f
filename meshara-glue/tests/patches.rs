//! The Meshara-side changes the glue's workarounds wait for: every patch
//! in `patches/` applies, in order, to a scratch copy of the snapshot, and
//! brings the API `glue_patched.rs` uses. (`scripts/meshara-glue` then
//! builds one such copy and runs every test against it with the
//! `patched-meshara` feature: that is what shows the workarounds can go.)

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The pristine snapshot: `MESHARA_SNAPSHOT` (set by scripts/meshara-glue),
/// else the one this crate builds against, when it is not a patched copy.
fn snapshot() -> PathBuf {
    if let Some(dir) = std::env::var_os("MESHARA_SNAPSHOT") {
        return dir.into();
    }
    if cfg!(feature = "patched-meshara") {
        panic!("set MESHARA_SNAPSHOT to the unpatched snapshot");
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/meshara-e37f4ed")
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Each patch, with a line of the API it adds that the patched glue uses.
const PATCHES: [(&str, &str); 5] = [
    ("01-prove-key-bound-to-tls.patch", "pub async fn prove_key("),
    (
        "02-get-or-connect-hang.patch",
        ".map(|entry| entry.clone());",
    ),
    (
        "03-evict-closed-connections.patch",
        "pub fn is_closed(&self) -> bool",
    ),
    (
        "04-router-pool-and-tls-accessors.patch",
        "pub fn connection_pool(&self)",
    ),
    (
        "05-receive-loop-reads-every-frame.patch",
        "pub async fn serve_connection(",
    ),
];

#[test]
fn every_patch_applies_in_order_to_a_scratch_copy_and_adds_its_api() {
    let patches = Path::new(env!("CARGO_MANIFEST_DIR")).join("patches");
    let mut names: Vec<_> = fs::read_dir(&patches)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        PATCHES.map(|(name, _)| name),
        "patches/ and this list differ"
    );

    let scratch = tempfile::tempdir().unwrap();
    copy_tree(&snapshot().join("src"), &scratch.path().join("src"));
    for (name, added) in PATCHES {
        let before = grep(scratch.path(), added);
        let out = Command::new("patch")
            .args(["-p1", "--batch", "--forward", "-i"])
            .arg(patches.join(name))
            .current_dir(scratch.path())
            .output()
            .expect("the patch tool runs");
        assert!(
            out.status.success(),
            "{name} does not apply: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !before && grep(scratch.path(), added),
            "{name} did not add {added:?}"
        );
    }
}

/// Whether a file under `dir/src` contains `needle`.
fn grep(dir: &Path, needle: &str) -> bool {
    fn walk(dir: &Path, needle: &str) -> bool {
        fs::read_dir(dir).unwrap().any(|e| {
            let path = e.unwrap().path();
            if path.is_dir() {
                walk(&path, needle)
            } else {
                fs::read_to_string(&path).is_ok_and(|s| s.contains(needle))
            }
        })
    }
    walk(&dir.join("src"), needle)
}

//! Where bootstrap addresses come from, and the default state directory.
//!
//! Sources, all merged: the `--bootstrap` flags, the comma-separated
//! `MESHARA_DHT_BOOTSTRAP` environment variable, and `bootstrap.txt` in the
//! state directory (one `host:port` a line, `#` starts a comment). Only when
//! none of them names an address does the library's
//! [`PUBLIC_BOOTSTRAP_NODES`] apply, so a private network never leaks into
//! the public one. This module reads files and the environment; it never
//! talks to the network except through [`meshara_dht::runtime::resolve`].

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use meshara_dht::config::PUBLIC_BOOTSTRAP_NODES;
use meshara_dht::runtime::resolve;

use crate::error::CliError;

/// Environment variable with comma-separated bootstrap addresses.
pub(crate) const BOOTSTRAP_ENV: &str = "MESHARA_DHT_BOOTSTRAP";

/// File in the state directory with one bootstrap address a line.
pub(crate) const BOOTSTRAP_FILE: &str = "bootstrap.txt";

/// Bootstrap addresses as given (host names unresolved), deduplicated, in
/// source order: flags, environment, file; else the public list.
pub(crate) fn gather(flags: &[String], state_dir: &Path) -> Result<Vec<String>, CliError> {
    let mut found: Vec<String> = flags.to_vec();
    if let Ok(env) = std::env::var(BOOTSTRAP_ENV) {
        found.extend(env.split(',').map(str::to_string));
    }
    let file = state_dir.join(BOOTSTRAP_FILE);
    match std::fs::read_to_string(&file) {
        Ok(text) => found.extend(parse_file(&text).map(str::to_string)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(CliError::State {
                action: "read",
                path: file,
                source,
            })
        }
    }
    let mut out = dedup(found);
    if out.is_empty() {
        out = dedup(
            PUBLIC_BOOTSTRAP_NODES
                .iter()
                .map(|s| s.to_string())
                .collect(),
        );
    }
    Ok(out)
}

/// Trimmed, non-empty, first occurrence of each, in order.
fn dedup(addrs: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(addrs.len());
    for a in addrs {
        let a = a.trim();
        if !a.is_empty() && !out.iter().any(|o| o == a) {
            out.push(a.to_string());
        }
    }
    out
}

/// The addresses of a `bootstrap.txt`: one a line, `#` comments, blank
/// lines and surrounding spaces ignored.
fn parse_file(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .map(|line| line.split('#').next().unwrap_or("").trim())
        .filter(|line| !line.is_empty())
}

/// Resolves each address on its own, so one bad host name does not hide
/// the others. Names that do not resolve are logged; if nothing resolves
/// the first error is returned.
pub(crate) async fn resolve_all(addrs: &[String]) -> Result<Vec<SocketAddr>, CliError> {
    let mut out = Vec::new();
    let mut first_error = None;
    for addr in addrs {
        match resolve(std::slice::from_ref(addr)).await {
            Ok(found) => out.extend(found),
            Err(e) => {
                tracing::warn!("{e}");
                first_error.get_or_insert(e);
            }
        }
    }
    out.sort();
    out.dedup();
    match first_error {
        Some(e) if out.is_empty() => Err(e.into()),
        _ => Ok(out),
    }
}

/// The default state directory: `$XDG_STATE_HOME/meshara-dht`, else
/// `$HOME/.local/state/meshara-dht`.
pub(crate) fn default_state_dir() -> Result<PathBuf, CliError> {
    let from = |var: &str| std::env::var_os(var).filter(|v| !v.is_empty());
    if let Some(state) = from("XDG_STATE_HOME") {
        return Ok(PathBuf::from(state).join("meshara-dht"));
    }
    match from("HOME") {
        Some(home) => Ok(PathBuf::from(home).join(".local/state/meshara-dht")),
        None => Err(CliError::NoStateDir),
    }
}

/// The state directory to use: the flag, else the default.
pub(crate) fn state_dir(flag: Option<&Path>) -> Result<PathBuf, CliError> {
    match flag {
        Some(dir) => Ok(dir.to_path_buf()),
        None => default_state_dir(),
    }
}

/// Creates the state directory (mode 0700 on unix: it holds the key).
pub(crate) fn create_state_dir(dir: &Path) -> Result<(), CliError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|source| CliError::State {
        action: "create",
        path: dir.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_file_skips_comments_and_blank_lines() {
        let text = "# public nodes\n\n  127.0.0.1:4000  \nexample.org:5000 # backup\n#x\n";
        let addrs: Vec<&str> = parse_file(text).collect();
        assert_eq!(addrs, ["127.0.0.1:4000", "example.org:5000"]);
    }

    #[test]
    fn gather_merges_flags_and_file_without_duplicates() {
        let dir = std::env::temp_dir().join(format!("mdht-gather-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(BOOTSTRAP_FILE), "10.0.0.2:1\n10.0.0.1:1\n").unwrap();
        let flags = ["10.0.0.1:1".to_string()];
        let got = gather(&flags, &dir).unwrap();
        // The environment variable may be set by whoever runs the tests;
        // only the flag and file entries are checked.
        assert_eq!(got[0], "10.0.0.1:1");
        assert!(got.contains(&"10.0.0.2:1".to_string()));
        assert_eq!(got.iter().filter(|a| *a == "10.0.0.1:1").count(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn resolve_all_keeps_good_addresses_when_one_fails() {
        let addrs = [
            "127.0.0.1:7".to_string(),
            // No port: fails at once, without asking any DNS server.
            "missing-port".to_string(),
        ];
        let got = resolve_all(&addrs).await.unwrap();
        assert_eq!(got, vec!["127.0.0.1:7".parse::<SocketAddr>().unwrap()]);
    }
}

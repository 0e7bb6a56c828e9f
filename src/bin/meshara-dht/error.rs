//! The binary's one error type. Every variant displays as one sentence a
//! user can act on; `main` prints it after `error: ` and exits with 1.
//! Nothing here is ever printed with `{:?}`.

use std::io;
use std::path::PathBuf;

use meshara_dht::error::{DhtError, IdentityError};
use meshara_dht::Key;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    /// A DHT operation failed (bind, bootstrap, put...).
    #[error("{0}")]
    Dht(#[from] DhtError),
    /// The key file could not be read or written.
    #[error("{0}")]
    Identity(#[from] IdentityError),
    /// No bootstrap address from any source.
    #[error(
        "no bootstrap address: pass --bootstrap HOST:PORT, set MESHARA_DHT_BOOTSTRAP, \
         or list addresses in {}", .file.display()
    )]
    NoBootstrap {
        /// The `bootstrap.txt` that was looked for.
        file: PathBuf,
    },
    /// A state directory or one of its files could not be used.
    #[error("cannot {action} {}: {source}", .path.display())]
    State {
        /// What was attempted ("create", "read", "write", "rename"...).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// No state directory was given and none can be derived from the
    /// environment.
    #[error("no state directory: pass --state-dir DIR (neither XDG_STATE_HOME nor HOME is set)")]
    NoStateDir,
    /// The record found under a node id is not a contact advertisement.
    #[error("the record under {key} is not a node advertisement: {reason}")]
    NotAnAdvert {
        /// The key looked up.
        key: Key,
        /// Why it does not decode.
        reason: &'static str,
    },
    /// Every node that answered refused the record.
    #[error("no node stored the record: {reason} ({refused} refused, {failed} did not answer)")]
    Refused {
        /// The first refusal's reason.
        reason: meshara_dht::record::Refusal,
        /// Nodes that refused.
        refused: usize,
        /// Nodes that did not answer.
        failed: usize,
    },
    /// The value to put is larger than a record may be.
    #[error("the value is {len} bytes; a record value is at most {max} bytes")]
    ValueTooLarge {
        /// Value length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The node advertisement could not be encoded.
    #[error("cannot encode the node advertisement: {0}")]
    Encode(postcard::Error),
    /// The async runtime could not start.
    #[error("cannot start the async runtime: {0}")]
    Runtime(io::Error),
    /// The simulation's configuration is invalid.
    #[error("invalid simulation: {0}")]
    Sim(meshara_dht::error::SimError),
    /// A spawned task of the testnet panicked or was cancelled.
    #[error("a testnet task ended abnormally: {0}")]
    Task(#[from] tokio::task::JoinError),
}

//! Every error type of the crate in one place: a facade that re-exports
//! each error from the module whose concern it is.
//!
//! Errors are defined beside the code that returns them (an id's parse
//! error in `id`, the codec's errors in `wire`, [`DhtError`] with the
//! runtime, [`SimError`] with the simulator), so a low layer never reaches
//! up through this module. This module defines nothing; it only re-exports,
//! so `crate::error::X` names every error. Errors are values the caller can
//! match on; none carries a bare `String` as its only content. Logging is
//! the caller's business (`tracing`).

pub use crate::config::ConfigError;
pub use crate::id::IdParseError;
pub use crate::identity::IdentityError;
pub use crate::record::Refusal;
#[cfg(feature = "runtime")]
pub use crate::runtime::DhtError;
pub use crate::sim::SimError;
pub use crate::wire::{DecodeError, EncodeError};

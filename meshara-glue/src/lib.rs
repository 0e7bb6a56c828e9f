//! The glue Meshara writes to route through meshara-dht, compiled against
//! the real Meshara (the snapshot in `shared/meshara-e37f4ed`), and the
//! end-to-end tests that run it.
//!
//! `glue.rs` is the glue against Meshara as it is; `docs/MESHARA.md` shows
//! it (a test checks the copy). With the `patched-meshara` feature, built
//! against a copy with `patches/*.patch` applied, `glue_patched.rs` is
//! the same glue without the workarounds those patches remove.

#[cfg_attr(feature = "patched-meshara", path = "glue_patched.rs")]
mod glue;

pub use glue::*;

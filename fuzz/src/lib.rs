//! The fuzz harnesses of `meshara-dht`, as a library so that the seed
//! corpora can be written from readable scenarios and checked by
//! `cargo test` (see `seeds.rs`). Each module holds one target's input type
//! and its `run` function; `fuzz_targets/*.rs` only hand libFuzzer's bytes
//! to them. Everything here uses the library's public API only.
//!
//! | module | target |
//! |---|---|
//! | [`node_inputs`] | one `Node` fed datagrams, replies, time and commands |
//! | [`verify_record`] | record verification and key derivation |
//! | [`routing_ops`] | routing-table operations against its invariants |
//! | [`seed`] | writing inputs in `arbitrary`'s byte format |

pub mod node_inputs;
pub mod routing_ops;
pub mod seed;
pub mod verify_record;

#[cfg(test)]
mod seeds;

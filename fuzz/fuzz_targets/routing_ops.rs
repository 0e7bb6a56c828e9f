//! See `src/routing_ops.rs` for what this target feeds and checks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meshara_dht_fuzz::routing_ops::{run, Input};

fuzz_target!(|input: Input| run(input));

//! See `src/node_inputs/` for what this target feeds and checks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meshara_dht_fuzz::node_inputs::{run, Input};

fuzz_target!(|input: Input| run(input));

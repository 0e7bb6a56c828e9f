//! See `src/verify_record.rs` for what this target feeds and checks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meshara_dht_fuzz::verify_record::{run, Input};

fuzz_target!(|input: Input| run(input));

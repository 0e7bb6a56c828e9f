//! Decodes arbitrary bytes. `decode` must never panic; when the bytes form a
//! message, that message must re-encode and decode again to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meshara_dht::wire::{decode, encode};

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = decode(data) {
        let bytes = match encode(&msg) {
            Ok(bytes) => bytes,
            Err(e) => panic!("decoded message does not re-encode: {e}: {msg:?}"),
        };
        assert_eq!(decode(&bytes), Ok(msg), "re-encoded message decodes differently");
    }
});

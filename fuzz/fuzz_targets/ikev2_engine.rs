//! Decrypted payload chains sealed with a real SA's keys, handed to the engine in each
//! exchange state: see `ikehub::fuzz::engine`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ikehub::fuzz::engine::run(data));

//! IKEv1 (ISAKMP) datagrams, which the engine counts and drops: see `ikehub::fuzz::isakmp`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ikehub::fuzz::isakmp::run(data));

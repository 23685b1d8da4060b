//! The IKEv2 message and payload-chain codec: see `ikehub::fuzz::ikev2_message`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ikehub::fuzz::ikev2_message::run(data));

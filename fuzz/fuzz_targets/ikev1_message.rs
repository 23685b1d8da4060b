//! The IKEv1 (ISAKMP) message and payload-chain codec: see `ikehub::fuzz::ikev1_message`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ikehub::fuzz::ikev1_message::run(data));

//! Fuzz targets as plain functions (feature `testing`): libFuzzer's binaries in `fuzz/` call
//! them, and `tests/fuzz_corpus.rs` runs every checked-in corpus file through the same
//! function on stable, so a crash once found stays a regression test. Each function panics
//! when the code under test misbehaves; a clean return means the input was handled.
//!
//! - [`ikev2_message`]: the IKEv2 message and payload-chain codec.
//! - [`engine`]: decrypted payload chains sealed with a real SA's keys and handed to the
//!   engine in the states of IKE_AUTH, INFORMATIONAL, CREATE_CHILD_SA and rekeys.
//! - [`isakmp`]: IKEv1 datagrams, which the engine counts and drops.
//! - [`ikev1_message`]: the IKEv1 (ISAKMP) message and payload-chain codec.
//!
//! [`seeds`] records the starting corpora from handshakes between two engines.

pub mod duo;
pub mod engine;
pub mod ikev1_message;
pub mod ikev2_message;
pub mod isakmp;
pub mod seeds;

/// A target: one input in, a panic if the code under test misbehaved.
pub type Target = fn(&[u8]);

/// Every target, by the name of its libFuzzer binary and its corpus directory.
pub const TARGETS: [(&str, Target); 4] = [
    ("ikev2_message", ikev2_message::run),
    ("ikev2_engine", engine::run),
    ("isakmp_datagram", isakmp::run),
    ("ikev1_message", ikev1_message::run),
];

//! Cryptographic suite of the IKE engine: algorithms, PRFs, key derivation, DH, payload
//! protection.
//!
//! Everything here is sans-I/O: there is no clock, and randomness comes in through
//! [`rng::Random`] so tests can run deterministically ([`testing::DeterministicRandom`]).

pub mod alg;
pub mod auth;
pub mod dh;
pub mod error;
pub mod keymat;
mod modp;
pub mod prf;
pub mod protect;
pub mod rng;
pub mod testing;

#[cfg(test)]
mod bench;

pub use dh::{KeyExchange, SharedSecret};
pub use error::CryptoError;
pub use keymat::{ChildKeys, IkeKeys, IkeSuite};
pub use protect::PayloadProtection;
pub use rng::{Random, SystemRandom};

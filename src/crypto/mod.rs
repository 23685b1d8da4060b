//! Cryptographic suite of the IKE engine: PRFs, key derivation, DH, payload protection, for the
//! algorithms named in [`crate::algorithm`].
//!
//! Everything here is sans-I/O: there is no clock, and randomness comes in through
//! [`rng::Random`] so tests can run deterministically (`testing::DeterministicRandom`, built for
//! tests and with the `testing` feature only).
//!
//! - [`prf`]: prf and prf+ (RFC 7296 2.13).
//! - [`keymat`]: SKEYSEED and the IKE SA keys (2.14), rekeyed IKE SAs (2.18), Child SA
//!   KEYMAT (2.17).
//! - [`dh`]: key exchange in MODP groups 2, 5, 14, 15 and 16, ECP groups 19, 20 and 21,
//!   Curve25519, with validation of the peer's value.
//! - [`protect`]: the Encrypted payload (3.14) with AES-GCM, ChaCha20-Poly1305, or
//!   AES-CBC/3DES-CBC plus HMAC.
//! - [`auth`]: pre-shared key AUTH (2.15).
//! - [`pki`]: certificates, private keys and public-key signatures for AUTH (RFC 7427).
//! - [`ikev1`]: IKEv1 (RFC 2409) phase 1 keys, IVs and encryption, the HASH payloads of
//!   Main Mode, Quick Mode and Informational exchanges, and Quick Mode KEYMAT.
//!
//! HMAC and plain hashes go through the internal `mac` module: SHA-1 and SHA-2 from ring,
//! MD5 from RustCrypto (ring has none).

pub mod auth;
pub mod dh;
pub mod error;
pub mod ikev1;
pub mod keymat;
pub(crate) mod mac;
mod modp;
pub mod pki;
pub mod prf;
pub mod protect;
pub mod rng;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

#[cfg(test)]
mod bench;

pub use dh::{KeyExchange, SharedSecret};
pub use error::CryptoError;
pub use keymat::{ChildKeys, IkeKeys, IkeSuite};
pub use protect::PayloadProtection;
pub use rng::{Random, SystemRandom};

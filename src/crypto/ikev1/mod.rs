//! IKEv1 (RFC 2409) key material and message protection for a phase 1 (ISAKMP) SA
//! authenticated with a pre-shared key, and its Quick Mode and Informational exchanges.
//!
//! - [`hash`]: the negotiated hash algorithm, its HMAC as the prf (RFC 2409 section 4).
//! - [`keys`]: SKEYID and its derivatives, the encryption key (RFC 2409 section 5 and
//!   appendix B).
//! - [`iv`]: the CBC IVs of phase 1 and of each later exchange (RFC 2409 appendix B).
//! - [`cipher`]: encryption of the payloads after the ISAKMP header (RFC 2408 3.1 E flag).
//! - [`auth`]: HASH_I and HASH_R of Main Mode (RFC 2409 section 5), HASH(1), HASH(2),
//!   HASH(3) of Quick Mode (5.5) and the HASH of Informational exchanges (5.7).
//! - [`keymat`]: KEYMAT of the IPsec SAs negotiated by Quick Mode (5.5).
//!
//! The hash algorithm is named by [`Integrity`](crate::algorithm::Integrity): IKEv1's
//! phase 1 Hash Algorithm attribute names a hash, not a truncated HMAC, and each of
//! `Integrity`'s variants is an HMAC over exactly one hash (HmacMd5_96 for MD5,
//! HmacSha1_96 for SHA-1, HmacSha256_128 for SHA2-256, HmacSha384_192 for SHA2-384,
//! HmacSha512_256 for SHA2-512: RFC 2409 appendix A values 1, 2, 4, 5, 6). Only the hash
//! is taken from it; IKEv1 uses the full hash and HMAC outputs, never the ICV truncation.

pub mod auth;
pub mod cipher;
pub mod hash;
pub mod iv;
pub mod keymat;
pub mod keys;

#[cfg(test)]
mod tests;

pub use auth::{hash_i, hash_r, informational_hash, quick_hash1, quick_hash2, quick_hash3};
pub use cipher::Phase1Cipher;
pub use hash::{hash, hash_len, prf};
pub use iv::{block_len, exchange_iv, phase1_iv};
pub use keymat::keymat;
pub use keys::{derive_phase1, encryption_key, skeyid_psk, Phase1Keys};

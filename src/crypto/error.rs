//! Errors of the crypto suite. Every failure on peer-supplied data maps to one of these;
//! nothing in this module panics on input from the network.

use thiserror::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// The peer's key exchange data has the wrong length, is not on the curve, or is out of
    /// range (RFC 6989, RFC 8031 2.2).
    #[error("invalid key exchange public value from peer")]
    BadPublicValue,
    /// The ICV of an encrypted payload did not verify (RFC 7296 3.14).
    #[error("integrity check of encrypted payload failed")]
    IcvMismatch,
    /// The Pad Length octet of a decrypted payload points outside the plaintext.
    #[error("invalid padding in encrypted payload")]
    BadPadding,
    /// The encrypted payload body is too short for IV, ciphertext and ICV.
    #[error("encrypted payload too short")]
    Truncated,
    /// The ciphertext is not a whole number of cipher blocks.
    #[error("ciphertext length is not a multiple of the block size")]
    MisalignedCiphertext,
    /// The algorithm or key size is not implemented.
    #[error("unsupported algorithm: {0}")]
    UnsupportedAlgorithm(&'static str),
    /// A key handed to a constructor has the wrong length for its algorithm.
    #[error("key length {got} does not match the expected {expected}")]
    BadKeyLength { expected: usize, got: usize },
    /// prf+ cannot produce more than 255 blocks (RFC 7296 2.13).
    #[error("prf+ asked for {requested} octets, at most {max} possible")]
    KeymatTooLong { requested: usize, max: usize },
    /// The key pair could not be generated.
    #[error("key generation failed")]
    KeyGeneration,
}

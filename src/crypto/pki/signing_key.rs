//! Our private key, and signing with it (ring).

use std::fmt;

use super::error::PkiError;
use super::hash::SignatureHash;
use super::scheme::SignatureScheme;

/// The kind and size of a public or private key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    Rsa { bits: usize },
    EcdsaP256,
    EcdsaP384,
    Ed25519,
}

impl fmt::Display for KeyType {
    /// "RSA-3072", "ECDSA P-256", "Ed25519".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let _ = f;
        unimplemented!()
    }
}

/// A private key loaded from PEM. Its secret octets are held only by ring's key pair; the
/// PEM and DER buffers it was read from are zeroized.
pub struct SigningKey {
    _private: (),
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

impl SigningKey {
    /// From PEM text: PKCS#8 (`PRIVATE KEY`), SEC1 (`EC PRIVATE KEY`) or PKCS#1
    /// (`RSA PRIVATE KEY`); RSA (2048 bits or more), ECDSA P-256 or P-384, or Ed25519.
    pub fn from_pem(pem: &[u8]) -> Result<SigningKey, PkiError> {
        let _ = pem;
        unimplemented!()
    }

    pub fn key_type(&self) -> KeyType {
        unimplemented!()
    }

    /// The public key as a certificate's subjectPublicKey BIT STRING holds it (RSAPublicKey
    /// DER, an uncompressed EC point, or 32 Ed25519 octets): compared with the certificate's.
    pub fn public_key(&self) -> &[u8] {
        unimplemented!()
    }

    /// The scheme to sign with in a Digital Signature (14) AUTH payload, given the hashes the
    /// peer announced in SIGNATURE_HASH_ALGORITHMS: RSA-PSS (RFC 8247 recommends it over
    /// PKCS#1 v1.5) with SHA-256, SHA-384 or SHA-512; ECDSA with its curve's hash; Ed25519
    /// with the identity hash. `None` if the peer announced none of ours.
    pub fn scheme_for(&self, peer_hashes: &[SignatureHash]) -> Option<SignatureScheme> {
        let _ = peer_hashes;
        unimplemented!()
    }

    /// Signs `message` (ECDSA signatures DER-encoded, as RFC 7427 carries them). An error
    /// if the scheme does not fit the key or ring cannot sign it (RSA with SHA-1).
    pub fn sign(&self, scheme: SignatureScheme, message: &[u8]) -> Result<Vec<u8>, PkiError> {
        let _ = (scheme, message);
        unimplemented!()
    }

    /// ECDSA only: the fixed-width `r | s` signature of the ECDSA AUTH methods 9 and 10
    /// (RFC 4754 7), with the curve's own hash.
    pub fn sign_ecdsa_fixed(&self, message: &[u8]) -> Result<Vec<u8>, PkiError> {
        let _ = message;
        unimplemented!()
    }
}

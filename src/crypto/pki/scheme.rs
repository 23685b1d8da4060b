//! Signature algorithms and their AlgorithmIdentifiers in the Digital Signature AUTH method
//! (RFC 7427 3 and Appendix A).

use super::hash::SignatureHash;

/// A signature algorithm we can sign or verify IKE AUTH data with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureScheme {
    /// PKCS#1 v1.5 with SHA-1: IKEv2's RSA Digital Signature method (1); verify only.
    RsaPkcs1Sha1,
    RsaPkcs1Sha256,
    RsaPkcs1Sha384,
    RsaPkcs1Sha512,
    /// RSASSA-PSS, MGF1 with the same hash, salt as long as the hash (RFC 7427 A.4).
    RsaPssSha256,
    RsaPssSha384,
    RsaPssSha512,
    EcdsaP256Sha256,
    EcdsaP384Sha384,
    Ed25519,
}

impl SignatureScheme {
    /// The DER AlgorithmIdentifier carried in a Digital Signature (14) AUTH payload.
    pub fn algorithm_identifier(self) -> &'static [u8] {
        unimplemented!()
    }

    /// The scheme an AlgorithmIdentifier names; `None` for one we do not support (including
    /// PSS parameters other than those of RFC 7427 A.4).
    pub fn from_algorithm_identifier(der: &[u8]) -> Option<SignatureScheme> {
        let _ = der;
        unimplemented!()
    }

    pub fn hash(self) -> SignatureHash {
        unimplemented!()
    }

    /// As strongSwan writes it: "rsa-pss-sha256", "ecdsa-sha384", "ed25519", "rsa-sha1" ...
    pub fn name(self) -> &'static str {
        unimplemented!()
    }
}

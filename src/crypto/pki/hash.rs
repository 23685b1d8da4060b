//! The hash algorithms of SIGNATURE_HASH_ALGORITHMS (RFC 7427 4, IANA "IKEv2 Hash Algorithms").

/// A hash algorithm a peer announces it can verify signatures with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureHash {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
    /// RFC 8420: the signature algorithm hashes itself (Ed25519).
    Identity,
}

impl SignatureHash {
    /// From the 16-bit value in the notify; `None` for values we do not know.
    pub fn from_value(value: u16) -> Option<SignatureHash> {
        match value {
            1 => Some(SignatureHash::Sha1),
            2 => Some(SignatureHash::Sha256),
            3 => Some(SignatureHash::Sha384),
            4 => Some(SignatureHash::Sha512),
            5 => Some(SignatureHash::Identity),
            _ => None,
        }
    }

    /// The IANA value: SHA1 (1), SHA2-256 (2), SHA2-384 (3), SHA2-512 (4) from RFC 7427,
    /// Identity (5) from RFC 8420.
    pub fn value(self) -> u16 {
        match self {
            SignatureHash::Sha1 => 1,
            SignatureHash::Sha256 => 2,
            SignatureHash::Sha384 => 3,
            SignatureHash::Sha512 => 4,
            SignatureHash::Identity => 5,
        }
    }

    /// "sha256", "identity" ...
    pub fn name(self) -> &'static str {
        match self {
            SignatureHash::Sha1 => "sha1",
            SignatureHash::Sha256 => "sha256",
            SignatureHash::Sha384 => "sha384",
            SignatureHash::Sha512 => "sha512",
            SignatureHash::Identity => "identity",
        }
    }

    /// Every hash we can verify with, in the order we announce them.
    ///
    /// SHA-1 is left out although ring verifies PKCS#1 v1.5 with SHA-1: RFC 8247 3.2 says
    /// SHA-1 MUST NOT be used with the Digital Signature method, so announcing it would only
    /// invite it. The RSA Digital Signature method (1), which is SHA-1 by definition, is
    /// negotiated apart from this list and still verified.
    pub fn supported() -> &'static [SignatureHash] {
        &[
            SignatureHash::Sha256,
            SignatureHash::Sha384,
            SignatureHash::Sha512,
            SignatureHash::Identity,
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_those_of_rfc_7427_and_8420() {
        let all = [
            (SignatureHash::Sha1, 1, "sha1"),
            (SignatureHash::Sha256, 2, "sha256"),
            (SignatureHash::Sha384, 3, "sha384"),
            (SignatureHash::Sha512, 4, "sha512"),
            (SignatureHash::Identity, 5, "identity"),
        ];
        for (hash, value, name) in all {
            assert_eq!(hash.value(), value);
            assert_eq!(SignatureHash::from_value(value), Some(hash));
            assert_eq!(hash.name(), name);
        }
        assert_eq!(SignatureHash::from_value(0), None);
        assert_eq!(SignatureHash::from_value(6), None);
    }

    #[test]
    fn sha1_is_not_announced() {
        assert!(!SignatureHash::supported().contains(&SignatureHash::Sha1));
        assert_eq!(SignatureHash::supported()[0], SignatureHash::Sha256);
    }
}

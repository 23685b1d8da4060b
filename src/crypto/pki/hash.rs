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
        let _ = value;
        unimplemented!()
    }

    pub fn value(self) -> u16 {
        unimplemented!()
    }

    /// "sha256", "identity" ...
    pub fn name(self) -> &'static str {
        unimplemented!()
    }

    /// Every hash we can verify with, in the order we announce them.
    pub fn supported() -> &'static [SignatureHash] {
        unimplemented!()
    }
}

//! The hash algorithm of a phase 1 SA and its prf.
//!
//! RFC 2409 section 4: without a negotiated PRF attribute "the HMAC version of the
//! negotiated hash function is used as a pseudo-random function". No PRF attribute is
//! offered or accepted here, as strongSwan does not offer one either.

use zeroize::Zeroizing;

use crate::algorithm::Integrity;
use crate::crypto::mac::{self, HashAlg, MacKey};

/// `prf(key, data[0] | data[1] | ...)`: the HMAC of the phase 1 hash algorithm (RFC 2409
/// section 4), of any key length (RFC 2104 section 3).
pub fn prf(hash: Integrity, key: &[u8], data: &[&[u8]]) -> Zeroizing<Vec<u8>> {
    let key = MacKey::new(HashAlg::of_integrity(hash), key);
    Zeroizing::new(key.sign(data).as_ref().to_vec())
}

/// The plain hash of `data[0] | data[1] | ...` (used for the IVs, RFC 2409 appendix B).
pub fn hash(hash: Integrity, data: &[&[u8]]) -> Vec<u8> {
    mac::hash(HashAlg::of_integrity(hash), data)
}

/// Output length in octets of the hash, and so of the prf and of SKEYID and its
/// derivatives.
pub fn hash_len(hash: Integrity) -> usize {
    HashAlg::of_integrity(hash).output_len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::testing::hex;

    // RFC 2202 test case 2 (HMAC-MD5, HMAC-SHA-1) and RFC 4231 test case 2 (HMAC-SHA-256):
    // key = "Jefe", data = "what do ya want for nothing?".
    #[test]
    fn prf_is_the_hmac_of_the_hash() {
        let cases = [
            (Integrity::HmacMd5_96, "750c783e6ab0b503eaa86e310a5db738"),
            (
                Integrity::HmacSha1_96,
                "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79",
            ),
            (
                Integrity::HmacSha256_128,
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            ),
        ];
        for (alg, expected) in cases {
            let out = prf(alg, b"Jefe", &[b"what do ya want ", b"for nothing?"]);
            assert_eq!(*out, hex(expected), "{alg}");
            assert_eq!(out.len(), hash_len(alg));
        }
    }

    // RFC 1321 A.5 and FIPS 180-2 "abc".
    #[test]
    fn plain_hash() {
        assert_eq!(
            hash(Integrity::HmacMd5_96, &[b"abc"]),
            hex("900150983cd24fb0d6963f7d28e17f72")
        );
        assert_eq!(
            hash(Integrity::HmacSha1_96, &[b"a", b"b", b"c"]),
            hex("a9993e364706816aba3e25717850c26c9cd0d89d")
        );
        let lens: Vec<usize> = [
            Integrity::HmacMd5_96,
            Integrity::HmacSha1_96,
            Integrity::HmacSha256_128,
            Integrity::HmacSha384_192,
            Integrity::HmacSha512_256,
        ]
        .into_iter()
        .map(hash_len)
        .collect();
        assert_eq!(lens, [16, 20, 32, 48, 64]);
    }
}

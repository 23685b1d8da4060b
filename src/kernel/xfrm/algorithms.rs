//! Negotiated ESP transforms as the kernel's crypto API names them, with the ICV and
//! truncation lengths the XFRM algorithm attributes carry.

use crate::algorithm::{Encryption, Integrity};

/// How an encryption transform is handed to the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CipherAttribute {
    /// XFRMA_ALG_AEAD (`struct xfrm_algo_aead`): key includes the 4-octet salt.
    Aead { name: &'static str, icv_bits: u32 },
    /// XFRMA_ALG_CRYPT (`struct xfrm_algo`), paired with an integrity transform.
    Crypt { name: &'static str },
}

pub(super) fn cipher(encryption: Encryption) -> CipherAttribute {
    match encryption {
        // RFC 4106 section 8.1: the key carries a 4-octet salt; ESP ICV of 16 octets.
        Encryption::AesGcm16 { .. } => CipherAttribute::Aead {
            name: "rfc4106(gcm(aes))",
            icv_bits: 128,
        },
        // RFC 7634 section 2: 32-octet key plus 4-octet salt, 16-octet tag.
        Encryption::ChaCha20Poly1305 => CipherAttribute::Aead {
            name: "rfc7539esp(chacha20,poly1305)",
            icv_bits: 128,
        },
        Encryption::AesCbc { .. } => CipherAttribute::Crypt { name: "cbc(aes)" },
        Encryption::TripleDes => CipherAttribute::Crypt {
            name: "cbc(des3_ede)",
        },
    }
}

/// XFRMA_ALG_AUTH_TRUNC (`struct xfrm_algo_auth`): name and truncation length in bits.
pub(super) fn integrity(integrity: Integrity) -> (&'static str, u32) {
    match integrity {
        // RFC 2403: HMAC-MD5-96.
        Integrity::HmacMd5_96 => ("hmac(md5)", 96),
        // RFC 2404: HMAC-SHA-1-96.
        Integrity::HmacSha1_96 => ("hmac(sha1)", 96),
        // RFC 4868 section 2.3: truncation to half the hash output.
        Integrity::HmacSha256_128 => ("hmac(sha256)", 128),
        Integrity::HmacSha384_192 => ("hmac(sha384)", 192),
        Integrity::HmacSha512_256 => ("hmac(sha512)", 256),
    }
}

/// The fixed 64-byte, NUL-padded name field of the XFRM algorithm structures.
pub(super) fn name_field(name: &str) -> [u8; 64] {
    let mut field = [0u8; 64];
    for (slot, byte) in field.iter_mut().take(63).zip(name.bytes()) {
        *slot = byte;
    }
    field
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aead_names_and_icv() {
        assert_eq!(
            cipher(Encryption::AesGcm16 { key_bits: 256 }),
            CipherAttribute::Aead {
                name: "rfc4106(gcm(aes))",
                icv_bits: 128
            }
        );
        assert_eq!(
            cipher(Encryption::ChaCha20Poly1305),
            CipherAttribute::Aead {
                name: "rfc7539esp(chacha20,poly1305)",
                icv_bits: 128
            }
        );
    }

    #[test]
    fn cbc_names() {
        assert_eq!(
            cipher(Encryption::AesCbc { key_bits: 128 }),
            CipherAttribute::Crypt { name: "cbc(aes)" }
        );
        assert_eq!(
            cipher(Encryption::TripleDes),
            CipherAttribute::Crypt {
                name: "cbc(des3_ede)"
            }
        );
    }

    #[test]
    fn integrity_truncation_matches_icv_length() {
        for alg in [
            Integrity::HmacMd5_96,
            Integrity::HmacSha1_96,
            Integrity::HmacSha256_128,
            Integrity::HmacSha384_192,
            Integrity::HmacSha512_256,
        ] {
            let (_, trunc_bits) = integrity(alg);
            assert_eq!(trunc_bits as usize, alg.icv_len() * 8, "{alg}");
        }
        assert_eq!(integrity(Integrity::HmacMd5_96).0, "hmac(md5)");
        assert_eq!(integrity(Integrity::HmacSha1_96).0, "hmac(sha1)");
        assert_eq!(integrity(Integrity::HmacSha256_128).0, "hmac(sha256)");
        assert_eq!(integrity(Integrity::HmacSha384_192).0, "hmac(sha384)");
        assert_eq!(integrity(Integrity::HmacSha512_256).0, "hmac(sha512)");
    }

    #[test]
    fn name_field_is_nul_terminated() {
        let field = name_field("cbc(aes)");
        assert_eq!(&field[..8], b"cbc(aes)");
        assert!(field[8..].iter().all(|&b| b == 0));
        let long = "x".repeat(100);
        assert_eq!(name_field(&long)[63], 0);
    }
}

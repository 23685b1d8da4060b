//! Keyed HMAC and plain hashes over the hash functions of both IKE versions: SHA-1 and SHA-2
//! from ring, MD5 from RustCrypto's `md-5` and `hmac` (ring has no MD5).
//!
//! One key can sign many messages: [`MacKey::context`] starts a computation from the key's
//! precomputed state, so the key is hashed once.

use hmac::{KeyInit, Mac};
use md5::{Digest, Md5};
use ring::{digest, hmac as ring_hmac};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::algorithm::{Integrity, Prf};

/// A hash function under an HMAC or used on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HashAlg {
    Md5,
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl HashAlg {
    /// The hash of a PRF transform.
    pub(crate) fn of_prf(prf: Prf) -> HashAlg {
        match prf {
            Prf::HmacMd5 => HashAlg::Md5,
            Prf::HmacSha1 => HashAlg::Sha1,
            Prf::HmacSha256 => HashAlg::Sha256,
            Prf::HmacSha384 => HashAlg::Sha384,
            Prf::HmacSha512 => HashAlg::Sha512,
        }
    }

    /// The hash of an integrity transform.
    pub(crate) fn of_integrity(integrity: Integrity) -> HashAlg {
        match integrity {
            Integrity::HmacMd5_96 => HashAlg::Md5,
            Integrity::HmacSha1_96 => HashAlg::Sha1,
            Integrity::HmacSha256_128 => HashAlg::Sha256,
            Integrity::HmacSha384_192 => HashAlg::Sha384,
            Integrity::HmacSha512_256 => HashAlg::Sha512,
        }
    }

    /// Output length in octets.
    pub(crate) fn output_len(self) -> usize {
        match self {
            HashAlg::Md5 => 16,
            HashAlg::Sha1 => 20,
            HashAlg::Sha256 => 32,
            HashAlg::Sha384 => 48,
            HashAlg::Sha512 => 64,
        }
    }

    fn ring_hmac(self) -> Option<ring_hmac::Algorithm> {
        Some(match self {
            HashAlg::Md5 => return None,
            HashAlg::Sha1 => ring_hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            HashAlg::Sha256 => ring_hmac::HMAC_SHA256,
            HashAlg::Sha384 => ring_hmac::HMAC_SHA384,
            HashAlg::Sha512 => ring_hmac::HMAC_SHA512,
        })
    }

    fn ring_digest(self) -> Option<&'static digest::Algorithm> {
        Some(match self {
            HashAlg::Md5 => return None,
            HashAlg::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            HashAlg::Sha256 => &digest::SHA256,
            HashAlg::Sha384 => &digest::SHA384,
            HashAlg::Sha512 => &digest::SHA512,
        })
    }
}

/// The hash of `data[0] | data[1] | ...`.
pub(crate) fn hash(alg: HashAlg, data: &[&[u8]]) -> Vec<u8> {
    match alg.ring_digest() {
        Some(algorithm) => {
            let mut ctx = digest::Context::new(algorithm);
            for piece in data {
                ctx.update(piece);
            }
            ctx.finish().as_ref().to_vec()
        }
        None => {
            let mut ctx = Md5::new();
            for piece in data {
                ctx.update(piece);
            }
            ctx.finalize().to_vec()
        }
    }
}

/// An HMAC key, hashed once.
pub(crate) enum MacKey {
    Ring(ring_hmac::Key),
    Md5(hmac::Hmac<Md5>),
}

impl MacKey {
    /// HMAC takes keys of any length (RFC 2104 section 3).
    pub(crate) fn new(alg: HashAlg, key: &[u8]) -> MacKey {
        match alg.ring_hmac() {
            Some(algorithm) => MacKey::Ring(ring_hmac::Key::new(algorithm, key)),
            None => {
                // `new_from_slice` hashes over-long keys and pads short ones; it refuses none.
                let mac = <hmac::Hmac<Md5> as KeyInit>::new_from_slice(key)
                    .unwrap_or_else(|_| <hmac::Hmac<Md5> as KeyInit>::new(&Default::default()));
                MacKey::Md5(mac)
            }
        }
    }

    /// A computation under this key.
    pub(crate) fn context(&self) -> MacContext {
        match self {
            MacKey::Ring(key) => MacContext::Ring(ring_hmac::Context::with_key(key)),
            MacKey::Md5(mac) => MacContext::Md5(mac.clone()),
        }
    }

    /// The HMAC of `data[0] | data[1] | ...`.
    pub(crate) fn sign(&self, data: &[&[u8]]) -> Tag {
        let mut ctx = self.context();
        for piece in data {
            ctx.update(piece);
        }
        ctx.finish()
    }
}

/// An HMAC computation under way.
pub(crate) enum MacContext {
    Ring(ring_hmac::Context),
    Md5(hmac::Hmac<Md5>),
}

impl MacContext {
    pub(crate) fn update(&mut self, data: &[u8]) {
        match self {
            MacContext::Ring(ctx) => ctx.update(data),
            MacContext::Md5(mac) => mac.update(data),
        }
    }

    pub(crate) fn finish(self) -> Tag {
        let mut tag = Tag {
            bytes: [0; MAX_TAG],
            len: 0,
        };
        match self {
            MacContext::Ring(ctx) => {
                let out = ctx.sign();
                let out = out.as_ref();
                tag.len = out.len().min(MAX_TAG);
                tag.bytes[..tag.len].copy_from_slice(&out[..tag.len]);
            }
            MacContext::Md5(mac) => {
                let out = mac.finalize().into_bytes();
                tag.len = out.len().min(MAX_TAG);
                tag.bytes[..tag.len].copy_from_slice(&out[..tag.len]);
            }
        }
        tag
    }
}

/// The longest HMAC output: SHA-512's.
const MAX_TAG: usize = 64;

/// An HMAC output, wiped on drop: as a PRF output it is key material.
#[derive(Zeroize, ZeroizeOnDrop)]
pub(crate) struct Tag {
    bytes: [u8; MAX_TAG],
    len: usize,
}

impl AsRef<[u8]> for Tag {
    fn as_ref(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::testing::hex;

    // RFC 2202 section 2 (HMAC-MD5) test cases 1, 2 and 6 (a key longer than the block).
    #[test]
    fn rfc2202_hmac_md5() {
        let cases: [(&[u8], &[u8], &str); 3] = [
            (&[0x0b; 16], b"Hi There", "9294727a3638bb1c13f48ef8158bfc9d"),
            (
                b"Jefe",
                b"what do ya want for nothing?",
                "750c783e6ab0b503eaa86e310a5db738",
            ),
            (
                &[0xaa; 80],
                b"Test Using Larger Than Block-Size Key - Hash Key First",
                "6b1ab7fe4bd7bf8f0b62e6ce61b9d0cd",
            ),
        ];
        for (key, data, expected) in cases {
            let key = MacKey::new(HashAlg::Md5, key);
            let (a, b) = data.split_at(3);
            assert_eq!(key.sign(&[a, b]).as_ref(), hex(expected));
            // The key is reusable.
            assert_eq!(key.sign(&[data]).as_ref(), hex(expected));
        }
    }

    // RFC 1321 appendix A.5 (MD5), FIPS 180-2 "abc" examples (SHA-1, SHA-256).
    #[test]
    fn plain_hashes() {
        assert_eq!(
            hash(HashAlg::Md5, &[b"message ", b"digest"]),
            hex("f96b697d7cb7938d525a2f31aaf161d0")
        );
        assert_eq!(
            hash(HashAlg::Sha1, &[b"a", b"bc"]),
            hex("a9993e364706816aba3e25717850c26c9cd0d89d")
        );
        assert_eq!(
            hash(HashAlg::Sha256, &[b"abc"]),
            hex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
        for alg in [
            HashAlg::Md5,
            HashAlg::Sha1,
            HashAlg::Sha256,
            HashAlg::Sha384,
            HashAlg::Sha512,
        ] {
            assert_eq!(hash(alg, &[]).len(), alg.output_len());
            assert_eq!(
                MacKey::new(alg, b"k").sign(&[]).as_ref().len(),
                alg.output_len()
            );
        }
    }
}

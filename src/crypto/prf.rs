//! The negotiated pseudo-random function and its expansion prf+ (RFC 7296 2.13).

use zeroize::Zeroizing;

use super::error::CryptoError;
use super::mac::{HashAlg, MacKey, Tag};
use crate::algorithm::Prf;

/// prf+ stops after 255 blocks: the block counter is a single octet (RFC 7296 2.13).
pub const PRF_PLUS_MAX_BLOCKS: usize = 255;

/// `prf(key, data[0] | data[1] | ...)`. The pieces are fed in order, so callers need not
/// concatenate them. All PRFs here are HMACs, which take keys of any length (RFC 2104).
pub fn prf(alg: Prf, key: &[u8], data: &[&[u8]]) -> Zeroizing<Vec<u8>> {
    let key = MacKey::new(HashAlg::of_prf(alg), key);
    Zeroizing::new(key.sign(data).as_ref().to_vec())
}

/// The most octets prf+ can produce with `alg`.
pub fn prf_plus_max_len(alg: Prf) -> usize {
    alg.output_len() * PRF_PLUS_MAX_BLOCKS
}

/// prf+(key, seed) truncated to `len` octets (RFC 7296 2.13):
/// T1 = prf(K, S | 0x01), Tn = prf(K, Tn-1 | S | n), output T1 | T2 | ...
pub fn prf_plus(
    alg: Prf,
    key: &[u8],
    seed: &[&[u8]],
    len: usize,
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let mut out = Zeroizing::new(vec![0u8; len]);
    prf_plus_into(alg, key, seed, &mut out)?;
    Ok(out)
}

/// prf+ written into `out`, filling it completely.
pub(crate) fn prf_plus_into(
    alg: Prf,
    key: &[u8],
    seed: &[&[u8]],
    out: &mut [u8],
) -> Result<(), CryptoError> {
    let max = prf_plus_max_len(alg);
    if out.len() > max {
        return Err(CryptoError::KeymatTooLong {
            requested: out.len(),
            max,
        });
    }
    let key = MacKey::new(HashAlg::of_prf(alg), key);
    let mut previous: Option<Tag> = None;
    // The length check above bounds the chunks to 255, so the counter never wraps.
    for (chunk, counter) in out.chunks_mut(alg.output_len()).zip(1u8..=255) {
        let mut ctx = key.context();
        if let Some(tag) = &previous {
            ctx.update(tag.as_ref());
        }
        for piece in seed {
            ctx.update(piece);
        }
        ctx.update(&[counter]);
        let tag = ctx.finish();
        let block = tag.as_ref();
        let take = chunk.len().min(block.len());
        chunk[..take].copy_from_slice(&block[..take]);
        previous = Some(tag);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::testing::hex;

    // RFC 2202 section 3, test case 1 (HMAC-SHA-1), and RFC 4868 section 2.7.1 PRF test
    // case 1 (= RFC 4231 test case 1) for PRF_HMAC_SHA2_256/384/512:
    // key = 0x0b x 20, data = "Hi There".
    #[test]
    fn rfc4868_and_rfc2202_test_case_1() {
        let key = [0x0b; 20];
        let cases = [
            (Prf::HmacSha1, "b617318655057264e28bc0b6fb378c8ef146be00"),
            (
                Prf::HmacSha256,
                "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
            ),
            (
                Prf::HmacSha384,
                "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59c
                 faea9ea9076ede7f4af152e8b2fa9cb6",
            ),
            (
                Prf::HmacSha512,
                "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde
                 daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854",
            ),
        ];
        for (alg, expected) in cases {
            // Split data to check that the pieces are fed in order.
            assert_eq!(*prf(alg, &key, &[b"Hi ", b"There"]), hex(expected), "{alg}");
        }
    }

    // RFC 2202 section 2, test case 1 (HMAC-MD5): key = 0x0b x 16, data = "Hi There".
    #[test]
    fn rfc2202_hmac_md5() {
        assert_eq!(
            *prf(Prf::HmacMd5, &[0x0b; 16], &[b"Hi ", b"There"]),
            hex("9294727a3638bb1c13f48ef8158bfc9d")
        );
        let out = prf_plus(Prf::HmacMd5, b"k", &[b"s"], 40).unwrap();
        assert_eq!(out.len(), 40);
        assert_eq!(out[..16], *prf(Prf::HmacMd5, b"k", &[b"s", &[1]]));
    }

    // RFC 4868 section 2.7.1 PRF test case 2 (= RFC 4231 test case 2): key = "Jefe",
    // data = "what do ya want for nothing?".
    #[test]
    fn rfc4868_test_case_2() {
        let data: &[u8] = b"what do ya want for nothing?";
        let cases = [
            (
                Prf::HmacSha256,
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            ),
            (
                Prf::HmacSha384,
                "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e
                 8e2240ca5e69e2c78b3239ecfab21649",
            ),
            (
                Prf::HmacSha512,
                "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554
                 9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
            ),
        ];
        for (alg, expected) in cases {
            assert_eq!(*prf(alg, b"Jefe", &[data]), hex(expected), "{alg}");
        }
    }

    // NIST CAVS SP 800-135 IKEv2 KDF vector (SHA-1), as embedded in Cisco's OpenSSL FIPS
    // KDF self-test (test_ikev2_kdf): prf+(SK_d, Ni | Nr) gives DKM(Child SA).
    #[test]
    fn prf_plus_matches_cavs_child_dkm() {
        let sk_d = hex("6f1b12cad3cbe097b35430356d869d54cddb0198");
        let ni_nr = hex("3651fef5c9c35e93c09a8b90a3f04d59");
        let expected = hex(
            "4727dc0ef94eb326ce131cf282fb652faa638ad0ddae3786a11bcc0309876009
             f8c485de011ad962c5b1ca8a41ff8145445749079c5686e26ffebbc342f06981
             f3da745e11ca0976424d1f8caec623d59dc7186deb20a27b411d1dcb70a36544
             0bf7de905088b0692e8addc094e18d1939bdb67e89798ca6b239e2ccb81c2409
             dac0106c",
        );
        let out = prf_plus(Prf::HmacSha1, &sk_d, &[&ni_nr[..8], &ni_nr[8..]], 132).unwrap();
        assert_eq!(*out, expected);
        // A shorter request is a prefix of the longer one.
        let short = prf_plus(Prf::HmacSha1, &sk_d, &[&ni_nr], 33).unwrap();
        assert_eq!(*short, expected[..33]);
    }

    #[test]
    fn prf_plus_length_bound() {
        assert!(prf_plus(Prf::HmacSha1, b"k", &[b"s"], 255 * 20).is_ok());
        assert_eq!(
            prf_plus(Prf::HmacSha1, b"k", &[b"s"], 255 * 20 + 1).unwrap_err(),
            CryptoError::KeymatTooLong {
                requested: 5101,
                max: 5100
            }
        );
        assert!(prf_plus(Prf::HmacSha256, b"k", &[], 0).unwrap().is_empty());
    }
}

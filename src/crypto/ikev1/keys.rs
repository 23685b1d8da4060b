//! SKEYID and the keys derived from it (RFC 2409 section 5), and the encryption key of the
//! ISAKMP SA (RFC 2409 appendix B).

use std::fmt;

use zeroize::Zeroizing;

use super::hash::{hash_len, prf};
use crate::algorithm::{Encryption, Integrity};

/// SKEYID for pre-shared key authentication: prf(pre-shared-key, Ni_b | Nr_b)
/// (RFC 2409 section 5). `ni_b` and `nr_b` are the bodies of the nonce payloads.
pub fn skeyid_psk(hash: Integrity, psk: &[u8], ni_b: &[u8], nr_b: &[u8]) -> Zeroizing<Vec<u8>> {
    prf(hash, psk, &[ni_b, nr_b])
}

/// The keying material of a phase 1 SA. Wiped on drop, never printed.
pub struct Phase1Keys {
    /// Keys HASH_I and HASH_R.
    pub skeyid: Zeroizing<Vec<u8>>,
    /// Derives the KEYMAT of Quick Mode SAs.
    pub skeyid_d: Zeroizing<Vec<u8>>,
    /// Keys the HASH payloads of Quick Mode and Informational exchanges.
    pub skeyid_a: Zeroizing<Vec<u8>>,
    /// Source of the encryption key.
    pub skeyid_e: Zeroizing<Vec<u8>>,
    /// The key of the ISAKMP SA's cipher, exactly as long as the cipher takes.
    pub encryption_key: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for Phase1Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Phase1Keys(..)")
    }
}

/// SKEYID_d, SKEYID_a, SKEYID_e and the encryption key from SKEYID (RFC 2409 section 5):
///
/// - SKEYID_d = prf(SKEYID, g^xy | CKY-I | CKY-R | 0)
/// - SKEYID_a = prf(SKEYID, SKEYID_d | g^xy | CKY-I | CKY-R | 1)
/// - SKEYID_e = prf(SKEYID, SKEYID_a | g^xy | CKY-I | CKY-R | 2)
///
/// `g_xy` is the shared secret as the key exchange gives it (MODP values as long as the
/// prime, leading zeros kept; the x coordinate for ECP groups). The cookies go in network
/// order, the constants as single octets. The encryption key is [`encryption_key`] of
/// SKEYID_e for `cipher`.
pub fn derive_phase1(
    hash: Integrity,
    cipher: Encryption,
    skeyid: Zeroizing<Vec<u8>>,
    g_xy: &[u8],
    cky_i: u64,
    cky_r: u64,
) -> Phase1Keys {
    let cky_i = cky_i.to_be_bytes();
    let cky_r = cky_r.to_be_bytes();
    let skeyid_d = prf(hash, &skeyid, &[g_xy, &cky_i, &cky_r, &[0]]);
    let skeyid_a = prf(hash, &skeyid, &[&skeyid_d, g_xy, &cky_i, &cky_r, &[1]]);
    let skeyid_e = prf(hash, &skeyid, &[&skeyid_a, g_xy, &cky_i, &cky_r, &[2]]);
    let encryption_key = encryption_key(hash, cipher, &skeyid_e);
    Phase1Keys {
        skeyid,
        skeyid_d,
        skeyid_a,
        skeyid_e,
        encryption_key,
    }
}

/// The cipher key from SKEYID_e (RFC 2409 appendix B): its first octets when it is long
/// enough, otherwise the first octets of Ka = K1 | K2 | K3 | ... with K1 = prf(SKEYID_e, 0)
/// (0 being a single octet), K2 = prf(SKEYID_e, K1), K3 = prf(SKEYID_e, K2), ... (3DES
/// takes 24 octets, more than SHA-1's 20; AES-256 takes 32, more than SHA-1's or MD5's).
///
/// The length is `cipher.keymat_len()`: the key of AES-CBC or 3DES-CBC, the only ciphers
/// of an ISAKMP SA here.
pub fn encryption_key(hash: Integrity, cipher: Encryption, skeyid_e: &[u8]) -> Zeroizing<Vec<u8>> {
    let len = cipher.keymat_len();
    if skeyid_e.len() >= len {
        return Zeroizing::new(skeyid_e.get(..len).unwrap_or_default().to_vec());
    }
    let mut ka = Zeroizing::new(Vec::with_capacity(len + hash_len(hash)));
    let mut block = prf(hash, skeyid_e, &[&[0]]);
    loop {
        ka.extend_from_slice(&block);
        if ka.len() >= len {
            break;
        }
        block = prf(hash, skeyid_e, &[&block]);
    }
    ka.truncate(len);
    ka
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::testing::hex;

    // The appendix B extension written out by hand with the prf: 3DES (24 octets) from
    // SHA-1 (20) takes K1 and 4 octets of K2; AES-256 (32) from MD5 (16) takes K1 | K2.
    #[test]
    fn appendix_b_extension() {
        let skeyid_e = hex("0b2d6f27ee65ad5d0d4b753427749d23b5c8e668");
        let k1 = prf(Integrity::HmacSha1_96, &skeyid_e, &[&[0]]);
        let k2 = prf(Integrity::HmacSha1_96, &skeyid_e, &[&k1]);
        let key = encryption_key(Integrity::HmacSha1_96, Encryption::TripleDes, &skeyid_e);
        assert_eq!(key.len(), 24);
        assert_eq!(key[..20], k1[..]);
        assert_eq!(key[20..], k2[..4]);

        let skeyid_e = [0x5a; 16];
        let aes256 = Encryption::AesCbc { key_bits: 256 };
        let k1 = prf(Integrity::HmacMd5_96, &skeyid_e, &[&[0]]);
        let k2 = prf(Integrity::HmacMd5_96, &skeyid_e, &[&k1]);
        let key = encryption_key(Integrity::HmacMd5_96, aes256, &skeyid_e);
        assert_eq!(key[..16], k1[..]);
        assert_eq!(key[16..], k2[..]);
    }

    // Long enough: the first octets of SKEYID_e, no extension.
    #[test]
    fn enough_skeyid_e_is_truncated() {
        let skeyid_e = hex("43570c7733a97897fe3ad68eee13af956a72d63a");
        let aes128 = Encryption::AesCbc { key_bits: 128 };
        let key = encryption_key(Integrity::HmacSha1_96, aes128, &skeyid_e);
        assert_eq!(*key, skeyid_e[..16]);
        let sha256_e = [0x77; 32];
        let aes256 = Encryption::AesCbc { key_bits: 256 };
        assert_eq!(
            *encryption_key(Integrity::HmacSha256_128, aes256, &sha256_e),
            sha256_e
        );
    }

    // The derivation chain written out with the prf: each key feeds the next.
    #[test]
    fn derivation_chain() {
        let skeyid = skeyid_psk(Integrity::HmacSha256_128, b"psk", b"ni", b"nr");
        assert_eq!(*skeyid, *prf(Integrity::HmacSha256_128, b"psk", &[b"ninr"]));
        let g = [0x42; 256];
        let (i, r) = (0x0102030405060708u64, 0x1112131415161718u64);
        let keys = derive_phase1(
            Integrity::HmacSha256_128,
            Encryption::AesCbc { key_bits: 128 },
            skeyid.clone(),
            &g,
            i,
            r,
        );
        let cookies = hex("01020304050607081112131415161718");
        let h = Integrity::HmacSha256_128;
        assert_eq!(*keys.skeyid_d, *prf(h, &skeyid, &[&g, &cookies, &[0]]));
        assert_eq!(
            *keys.skeyid_a,
            *prf(h, &skeyid, &[&keys.skeyid_d, &g, &cookies, &[1]])
        );
        assert_eq!(
            *keys.skeyid_e,
            *prf(h, &skeyid, &[&keys.skeyid_a, &g, &cookies, &[2]])
        );
        assert_eq!(*keys.encryption_key, keys.skeyid_e[..16]);
        assert_eq!(format!("{keys:?}"), "Phase1Keys(..)");
    }
}

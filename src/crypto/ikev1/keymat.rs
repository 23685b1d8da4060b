//! KEYMAT of the IPsec SAs a Quick Mode negotiates (RFC 2409 section 5.5).

use zeroize::Zeroizing;

use super::hash::prf;
use crate::algorithm::Integrity;

/// KEYMAT = K1 | K2 | ... truncated to `len` octets (RFC 2409 section 5.5), with
/// K1 = prf(SKEYID_d, [ g(qm)^xy | ] protocol | SPI | Ni_b | Nr_b) and
/// Kn = prf(SKEYID_d, Kn-1 | [ g(qm)^xy | ] protocol | SPI | Ni_b | Nr_b).
///
/// `g_qm_xy` is the Quick Mode key exchange's shared secret when it had one (PFS),
/// `protocol` the protocol ID (3 for ESP), `spi` the SPI the receiving end of the
/// direction chose (so each direction has its own KEYMAT), `ni_b` and `nr_b` the nonce
/// bodies of Quick Mode messages 1 and 2. The encryption key comes first in KEYMAT, then
/// the integrity key.
#[allow(clippy::too_many_arguments)]
pub fn keymat(
    hash: Integrity,
    skeyid_d: &[u8],
    g_qm_xy: Option<&[u8]>,
    protocol: u8,
    spi: u32,
    ni_b: &[u8],
    nr_b: &[u8],
    len: usize,
) -> Zeroizing<Vec<u8>> {
    let g = g_qm_xy.unwrap_or_default();
    let spi = spi.to_be_bytes();
    let seed: [&[u8]; 5] = [g, &[protocol], &spi, ni_b, nr_b];
    let mut out = Zeroizing::new(Vec::with_capacity(len + 64));
    let mut block = prf(hash, skeyid_d, &seed);
    while out.len() < len {
        out.extend_from_slice(&block);
        if out.len() >= len {
            break;
        }
        block = prf(hash, skeyid_d, &[&block, g, &[protocol], &spi, ni_b, nr_b]);
    }
    out.truncate(len);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extension_feeds_back_the_previous_block() {
        let h = Integrity::HmacSha1_96;
        let k = b"skeyid_d";
        let spi = [0xc8, 0x58, 0x9b, 0xce];
        let k1 = prf(h, k, &[&[3], &spi, b"ni", b"nr"]);
        let k2 = prf(h, k, &[&k1, &[3], &spi, b"ni", b"nr"]);
        let out = keymat(h, k, None, 3, 0xc8589bce, b"ni", b"nr", 36);
        assert_eq!(out[..20], k1[..]);
        assert_eq!(out[20..], k2[..16]);
        // With PFS the new shared secret comes first.
        let pfs = keymat(h, k, Some(b"gqm"), 3, 0xc8589bce, b"ni", b"nr", 20);
        assert_eq!(*pfs, *prf(h, k, &[b"gqm", &[3], &spi, b"ni", b"nr"]));
        assert!(keymat(h, k, None, 3, 1, b"ni", b"nr", 0).is_empty());
        assert_eq!(keymat(h, k, None, 3, 1, b"ni", b"nr", 100).len(), 100);
    }
}

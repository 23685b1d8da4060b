//! The HASH payloads that authenticate IKEv1 exchanges: HASH_I and HASH_R of Main Mode with
//! pre-shared keys (RFC 2409 section 5), HASH(1), HASH(2) and HASH(3) of Quick Mode (5.5),
//! and the HASH(1) of Informational exchanges (5.7).
//!
//! `_b` arguments are payload bodies: the payload without its generic header (RFC 2409
//! section 3.2). The `rest` arguments of Quick Mode and Informational hashes are whole
//! payloads, generic headers included, as they follow the HASH payload in the message.

use super::hash::prf;
use crate::algorithm::Integrity;

/// HASH_I = prf(SKEYID, g^xi | g^xr | CKY-I | CKY-R | SAi_b | IDii_b) (RFC 2409 section 5):
/// what the initiator sends in Main Mode message 5. `sai_b` is the body of the initiator's
/// SA payload (from the DOI field on), `idii_b` that of its ID payload.
#[allow(clippy::too_many_arguments)]
pub fn hash_i(
    hash: Integrity,
    skeyid: &[u8],
    g_xi: &[u8],
    g_xr: &[u8],
    cky_i: u64,
    cky_r: u64,
    sai_b: &[u8],
    idii_b: &[u8],
) -> Vec<u8> {
    let (cky_i, cky_r) = (cky_i.to_be_bytes(), cky_r.to_be_bytes());
    prf(hash, skeyid, &[g_xi, g_xr, &cky_i, &cky_r, sai_b, idii_b]).to_vec()
}

/// HASH_R = prf(SKEYID, g^xr | g^xi | CKY-R | CKY-I | SAi_b | IDir_b) (RFC 2409 section 5):
/// what the responder sends in Main Mode message 6. The SA body is the initiator's offer,
/// not the responder's answer.
#[allow(clippy::too_many_arguments)]
pub fn hash_r(
    hash: Integrity,
    skeyid: &[u8],
    g_xi: &[u8],
    g_xr: &[u8],
    cky_i: u64,
    cky_r: u64,
    sai_b: &[u8],
    idir_b: &[u8],
) -> Vec<u8> {
    let (cky_i, cky_r) = (cky_i.to_be_bytes(), cky_r.to_be_bytes());
    prf(hash, skeyid, &[g_xr, g_xi, &cky_r, &cky_i, sai_b, idir_b]).to_vec()
}

/// Quick Mode HASH(1) = prf(SKEYID_a, M-ID | SA | Ni [ | KE ] [ | IDci | IDcr ])
/// (RFC 2409 section 5.5): `rest` is every payload of the message after the HASH payload.
pub fn quick_hash1(hash: Integrity, skeyid_a: &[u8], message_id: u32, rest: &[u8]) -> Vec<u8> {
    prf(hash, skeyid_a, &[&message_id.to_be_bytes(), rest]).to_vec()
}

/// Quick Mode HASH(2) = prf(SKEYID_a, M-ID | Ni_b | SA | Nr [ | KE ] [ | IDci | IDcr ])
/// (RFC 2409 section 5.5): `ni_b` is the body of the initiator's nonce from message 1,
/// `rest` every payload of message 2 after the HASH payload.
pub fn quick_hash2(
    hash: Integrity,
    skeyid_a: &[u8],
    message_id: u32,
    ni_b: &[u8],
    rest: &[u8],
) -> Vec<u8> {
    prf(hash, skeyid_a, &[&message_id.to_be_bytes(), ni_b, rest]).to_vec()
}

/// Quick Mode HASH(3) = prf(SKEYID_a, 0 | M-ID | Ni_b | Nr_b) (RFC 2409 section 5.5), the
/// 0 a single octet.
pub fn quick_hash3(
    hash: Integrity,
    skeyid_a: &[u8],
    message_id: u32,
    ni_b: &[u8],
    nr_b: &[u8],
) -> Vec<u8> {
    prf(
        hash,
        skeyid_a,
        &[&[0], &message_id.to_be_bytes(), ni_b, nr_b],
    )
    .to_vec()
}

/// Informational HASH(1) = prf(SKEYID_a, M-ID | N/D) (RFC 2409 section 5.7): `rest` is the
/// Notification or Delete payload (and any others) after the HASH payload. The same
/// computation as [`quick_hash1`].
pub fn informational_hash(
    hash: Integrity,
    skeyid_a: &[u8],
    message_id: u32,
    rest: &[u8],
) -> Vec<u8> {
    quick_hash1(hash, skeyid_a, message_id, rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    // The inputs in the order RFC 2409 gives them, written out with the prf.
    #[test]
    fn hashes_concatenate_in_rfc_order() {
        let h = Integrity::HmacSha1_96;
        let k = b"key";
        let (i, r) = (1u64, 2u64);
        let c_i = i.to_be_bytes();
        let c_r = r.to_be_bytes();
        assert_eq!(
            hash_i(h, k, b"gi", b"gr", i, r, b"sa", b"id"),
            *prf(h, k, &[b"gigr", &c_i, &c_r, b"said"])
        );
        assert_eq!(
            hash_r(h, k, b"gi", b"gr", i, r, b"sa", b"id"),
            *prf(h, k, &[b"grgi", &c_r, &c_i, b"said"])
        );
        let mid = 0xfe3290ca;
        let mid_b = [0xfe, 0x32, 0x90, 0xca];
        assert_eq!(
            quick_hash1(h, k, mid, b"rest"),
            *prf(h, k, &[&mid_b, b"rest"])
        );
        assert_eq!(
            quick_hash2(h, k, mid, b"ni", b"rest"),
            *prf(h, k, &[&mid_b, b"nirest"])
        );
        assert_eq!(
            quick_hash3(h, k, mid, b"ni", b"nr"),
            *prf(h, k, &[&[0], &mid_b, b"ninr"])
        );
        assert_eq!(
            informational_hash(h, k, mid, b"n"),
            quick_hash1(h, k, mid, b"n")
        );
    }
}

//! Pre-shared key authentication, and the octets a signature signs (RFC 7296 2.15).

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::prf::prf;
use crate::algorithm::Prf;

/// The pad string of RFC 7296 2.15, without a terminating NUL.
const KEY_PAD: &[u8] = b"Key Pad for IKEv2";

/// `AUTH = prf(prf(Shared Secret, "Key Pad for IKEv2"), <SignedOctets>)` where
/// `SignedOctets = <message octets> | Nonce | prf(SK_px, IDx')` (RFC 7296 2.15).
///
/// For the initiator's AUTH: `signed_message` is the whole IKE_SA_INIT request as sent,
/// `peer_nonce` is Nr, `sk_p` is SK_pi and `id_body` the IDi payload body (ID type,
/// three reserved octets, identification data). For the responder's AUTH: the IKE_SA_INIT
/// response, Ni, SK_pr and IDr.
pub fn psk_auth(
    prf_alg: Prf,
    psk: &[u8],
    signed_message: &[u8],
    peer_nonce: &[u8],
    sk_p: &[u8],
    id_body: &[u8],
) -> Zeroizing<Vec<u8>> {
    let maced_id = prf(prf_alg, sk_p, &[id_body]);
    let key = prf(prf_alg, psk, &[KEY_PAD]);
    prf(prf_alg, &key, &[signed_message, peer_nonce, &maced_id])
}

/// The octets a signature AUTH signs (RFC 7296 2.15): `<message octets> | Nonce |
/// prf(SK_px, IDx')`, with the same inputs as [`psk_auth`].
pub fn signed_octets(
    prf_alg: Prf,
    signed_message: &[u8],
    peer_nonce: &[u8],
    sk_p: &[u8],
    id_body: &[u8],
) -> Vec<u8> {
    let maced_id = prf(prf_alg, sk_p, &[id_body]);
    [signed_message, peer_nonce, maced_id.as_slice()].concat()
}

/// Recomputes the peer's AUTH and compares it with `received` in constant time.
pub fn verify_psk_auth(
    prf_alg: Prf,
    psk: &[u8],
    signed_message: &[u8],
    peer_nonce: &[u8],
    sk_p: &[u8],
    id_body: &[u8],
    received: &[u8],
) -> bool {
    let expected = psk_auth(prf_alg, psk, signed_message, peer_nonce, sk_p, id_body);
    // ct_eq on slices of different lengths is false without comparing contents.
    bool::from(expected.as_slice().ct_eq(received))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::testing::hex;

    // No published IKEv2 PSK AUTH vector was found. This known answer was computed
    // independently with Python 3's hmac module:
    //   k = hmac(psk, b"Key Pad for IKEv2"); m = hmac(sk_p, id_body)
    //   hmac(k, message + nonce + m), all HMAC-SHA256.
    #[test]
    fn known_answer_hmac_sha256() {
        let auth = psk_auth(
            Prf::HmacSha256,
            b"correct horse battery staple",
            b"IKE_SA_INIT request octets",
            &[0x5a; 32],
            &[0x42; 32],
            &hex("010000000a000001"),
        );
        assert_eq!(*auth, hex(PYTHON_AUTH));
    }

    const PYTHON_AUTH: &str = "f90ad844016e940a80f587a0ab6f7f58a961b20a20f3bae818c531513a7954c4";

    #[test]
    fn verify_accepts_own_and_rejects_changes() {
        let args = (b"psk".as_slice(), b"msg".as_slice(), b"nonce".as_slice());
        let sk_p = [7u8; 48];
        let id = b"\x02\x00\x00\x00peer.example";
        let auth = psk_auth(Prf::HmacSha384, args.0, args.1, args.2, &sk_p, id);
        assert_eq!(auth.len(), 48);
        assert!(verify_psk_auth(
            Prf::HmacSha384,
            args.0,
            args.1,
            args.2,
            &sk_p,
            id,
            &auth
        ));
        assert!(!verify_psk_auth(
            Prf::HmacSha384,
            b"wrong psk",
            args.1,
            args.2,
            &sk_p,
            id,
            &auth
        ));
        assert!(!verify_psk_auth(
            Prf::HmacSha384,
            args.0,
            args.1,
            b"other nonce",
            &sk_p,
            id,
            &auth
        ));
        assert!(!verify_psk_auth(
            Prf::HmacSha384,
            args.0,
            args.1,
            args.2,
            &sk_p,
            id,
            &auth[..47]
        ));
        let mut flipped = auth.to_vec();
        flipped[0] ^= 0x80;
        assert!(!verify_psk_auth(
            Prf::HmacSha384,
            args.0,
            args.1,
            args.2,
            &sk_p,
            id,
            &flipped
        ));
    }
}

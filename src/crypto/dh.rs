//! Key exchange (transform type 4): MODP groups 2, 5, 14, 15 and 16, ECP groups 19, 20 and
//! 21, Curve25519.
//!
//! ECDH on P-256, P-384 and Curve25519 runs on ring, whose ephemeral private keys come from
//! ring's own system RNG and cannot be imported. ring has no P-521: group 21 runs on
//! RustCrypto's `p521`, with its private scalar drawn from the injected [`Random`] like the
//! MODP exponents.

use std::fmt;

use ring::agreement;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::error::CryptoError;
use super::modp::ModpPrivate;
use super::rng::Random;
use crate::algorithm::DhGroup;

/// Our half of one key exchange: the private key and the KE payload data to send.
pub struct KeyExchange {
    group: DhGroup,
    public: Vec<u8>,
    private: Private,
}

enum Private {
    Ecdh(agreement::EphemeralPrivateKey),
    Modp(ModpPrivate),
    P521(p521::NonZeroScalar),
}

/// The agreed secret g^ir (RFC 7296 2.14). Wiped on drop, never printed.
pub struct SharedSecret(Zeroizing<Vec<u8>>);

impl SharedSecret {
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SharedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharedSecret(..)")
    }
}

impl fmt::Debug for KeyExchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyExchange")
            .field("group", &self.group)
            .finish_non_exhaustive()
    }
}

/// ring's algorithm for the elliptic-curve groups.
fn ecdh_algorithm(group: DhGroup) -> Option<&'static agreement::Algorithm> {
    match group {
        DhGroup::Ecp256 => Some(&agreement::ECDH_P256),
        DhGroup::Ecp384 => Some(&agreement::ECDH_P384),
        DhGroup::Curve25519 => Some(&agreement::X25519),
        DhGroup::Modp1024
        | DhGroup::Modp1536
        | DhGroup::Modp2048
        | DhGroup::Modp3072
        | DhGroup::Modp4096
        | DhGroup::Ecp521 => None,
    }
}

/// Whether the group encodes points as SEC1 uncompressed points without the 0x04 prefix.
fn is_ecp(group: DhGroup) -> bool {
    matches!(group, DhGroup::Ecp256 | DhGroup::Ecp384)
}

/// Longest uncompressed SEC1 point ring handles: 0x04 | x | y for P-384.
const MAX_SEC1_POINT: usize = 1 + 96;

/// Octets of a P-521 scalar or coordinate.
const P521_LEN: usize = 66;

/// A P-521 private scalar drawn from `rng`: 521 random bits, drawn again in the unlikely
/// case (about 2^-260) that they are zero or not below the group order. Returns the scalar
/// and the KE data x | y (RFC 5903 section 7).
fn p521_generate(rng: &mut dyn Random) -> Result<(p521::NonZeroScalar, Vec<u8>), CryptoError> {
    use p521::elliptic_curve::sec1::ToSec1Point;
    for _ in 0..64 {
        let mut bytes = Zeroizing::new([0u8; P521_LEN]);
        rng.fill(bytes.as_mut());
        // 521 bits: only the lowest bit of the first octet remains.
        bytes[0] &= 0x01;
        let Ok(secret) = p521::SecretKey::from_slice(bytes.as_ref()) else {
            continue;
        };
        let point = secret.public_key().as_affine().to_sec1_point(false);
        let public = point
            .as_bytes()
            .get(1..)
            .filter(|xy| xy.len() == 2 * P521_LEN)
            .ok_or(CryptoError::KeyGeneration)?
            .to_vec();
        return Ok((secret.to_nonzero_scalar(), public));
    }
    Err(CryptoError::KeyGeneration)
}

/// P-521 ECDH with the peer's x | y: the point must be on the curve and not the identity
/// (RFC 6989 2.3, checked by `from_sec1_bytes`); the shared secret is the x coordinate of
/// the product (RFC 5903 section 7).
fn p521_agree(
    private: &p521::NonZeroScalar,
    peer: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    if peer.len() != 2 * P521_LEN {
        return Err(CryptoError::BadPublicValue);
    }
    let mut sec1 = Vec::with_capacity(1 + peer.len());
    sec1.push(0x04);
    sec1.extend_from_slice(peer);
    let point = p521::PublicKey::from_sec1_bytes(&sec1).map_err(|_| CryptoError::BadPublicValue)?;
    let shared = p521::ecdh::diffie_hellman(private, point.as_affine());
    Ok(Zeroizing::new(shared.raw_secret_bytes().to_vec()))
}

impl KeyExchange {
    /// Generates a fresh private key for `group`.
    pub fn generate(group: DhGroup, rng: &mut dyn Random) -> Result<KeyExchange, CryptoError> {
        if group == DhGroup::Ecp521 {
            let (private, public) = p521_generate(rng)?;
            return Ok(KeyExchange {
                group,
                public,
                private: Private::P521(private),
            });
        }
        let Some(alg) = ecdh_algorithm(group) else {
            let (private, public) = ModpPrivate::generate(group, rng)?;
            return Ok(KeyExchange {
                group,
                public,
                private: Private::Modp(private),
            });
        };
        let system = ring::rand::SystemRandom::new();
        let private = agreement::EphemeralPrivateKey::generate(alg, &system)
            .map_err(|_| CryptoError::KeyGeneration)?;
        let public = private
            .compute_public_key()
            .map_err(|_| CryptoError::KeyGeneration)?;
        let public = public.as_ref();
        // RFC 5903 section 7: the KE data is x | y, without SEC1's 0x04 prefix.
        let public = if is_ecp(group) {
            public.get(1..).unwrap_or_default()
        } else {
            public
        };
        Ok(KeyExchange {
            group,
            public: public.to_vec(),
            private: Private::Ecdh(private),
        })
    }

    /// A MODP key exchange with a fixed exponent of the group's size, for known-answer tests.
    #[cfg(test)]
    pub(crate) fn modp_from_exponent(
        group: DhGroup,
        exponent: &[u8],
    ) -> Result<KeyExchange, CryptoError> {
        let (private, public) = ModpPrivate::from_exponent(group, exponent)?;
        Ok(KeyExchange {
            group,
            public,
            private: Private::Modp(private),
        })
    }

    pub fn group(&self) -> DhGroup {
        self.group
    }

    /// The Key Exchange Data of our KE payload: MODP values big endian and padded to the
    /// prime's length, ECP points as x | y (RFC 5903 7), X25519 as 32 octets (RFC 8031 2).
    pub fn public_value(&self) -> &[u8] {
        &self.public
    }

    /// Combines our private key with the peer's KE data into g^ir, validating the peer's
    /// value first: length, point on the curve (RFC 6989 2.3, done by ring), range for MODP
    /// (RFC 6989 2.2) and a non-zero X25519 result (RFC 8031 2.2).
    /// The responder's side in one step: a fresh key pair for `group`, agreed with the
    /// initiator's public value. Returns the shared secret and our public value for the KE
    /// payload of the answer.
    pub fn respond(
        group: DhGroup,
        peer_public: &[u8],
        rng: &mut dyn Random,
    ) -> Result<(SharedSecret, Vec<u8>), CryptoError> {
        let ours = KeyExchange::generate(group, rng)?;
        let public = ours.public_value().to_vec();
        Ok((ours.agree(peer_public)?, public))
    }

    pub fn agree(self, peer_public: &[u8]) -> Result<SharedSecret, CryptoError> {
        if peer_public.len() != self.group.public_len() {
            return Err(CryptoError::BadPublicValue);
        }
        let private = match self.private {
            Private::Modp(private) => return private.agree(peer_public).map(SharedSecret),
            Private::P521(private) => return p521_agree(&private, peer_public).map(SharedSecret),
            Private::Ecdh(private) => private,
        };
        let Some(alg) = ecdh_algorithm(self.group) else {
            return Err(CryptoError::UnsupportedAlgorithm("not an ECDH group"));
        };
        let mut sec1 = [0u8; MAX_SEC1_POINT];
        let peer: &[u8] = if is_ecp(self.group) {
            let point = sec1
                .get_mut(..=peer_public.len())
                .ok_or(CryptoError::BadPublicValue)?;
            if let Some((prefix, coordinates)) = point.split_first_mut() {
                *prefix = 0x04;
                coordinates.copy_from_slice(peer_public);
            }
            point
        } else {
            peer_public
        };
        // For the ECP groups ring returns only the x coordinate, which is the shared secret
        // of RFC 5903 section 7.
        let secret = agreement::agree_ephemeral(
            private,
            &agreement::UnparsedPublicKey::new(alg, peer),
            |material| Zeroizing::new(material.to_vec()),
        )
        .map_err(|_| CryptoError::BadPublicValue)?;
        // RFC 8031 2.2: an all-zero X25519 result means a low-order peer point.
        let all_zero = secret.iter().fold(0u8, |acc, b| acc | b).ct_eq(&0u8);
        if bool::from(all_zero) {
            return Err(CryptoError::BadPublicValue);
        }
        Ok(SharedSecret(secret))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::rng::SystemRandom;
    use crate::crypto::testing::{hex, DeterministicRandom};

    const ALL: [DhGroup; 9] = [
        DhGroup::Modp1024,
        DhGroup::Modp1536,
        DhGroup::Modp2048,
        DhGroup::Modp3072,
        DhGroup::Modp4096,
        DhGroup::Ecp256,
        DhGroup::Ecp384,
        DhGroup::Ecp521,
        DhGroup::Curve25519,
    ];

    #[test]
    fn both_sides_agree_in_every_group() {
        let mut rng = SystemRandom::new();
        for group in ALL {
            let a = KeyExchange::generate(group, &mut rng).unwrap();
            let b = KeyExchange::generate(group, &mut rng).unwrap();
            assert_eq!(a.public_value().len(), group.public_len(), "{group}");
            assert_ne!(a.public_value(), b.public_value());
            let a_public = a.public_value().to_vec();
            let s1 = a.agree(b.public_value()).unwrap();
            let s2 = b.agree(&a_public).unwrap();
            assert_eq!(s1.as_bytes(), s2.as_bytes(), "{group}");
            let secret_len = match group {
                DhGroup::Ecp256 | DhGroup::Curve25519 => 32,
                DhGroup::Ecp384 => 48,
                DhGroup::Ecp521 => 66,
                _ => group.public_len(),
            };
            assert_eq!(s1.as_bytes().len(), secret_len, "{group}");
        }
    }

    #[test]
    fn wrong_lengths_are_rejected() {
        let mut rng = SystemRandom::new();
        for group in ALL {
            let peer = KeyExchange::generate(group, &mut rng).unwrap();
            let mut long = peer.public_value().to_vec();
            long.push(1);
            for bad in [&[][..], &long[..], &long[..long.len() - 2]] {
                let ours = KeyExchange::generate(group, &mut rng).unwrap();
                assert_eq!(ours.agree(bad).unwrap_err(), CryptoError::BadPublicValue);
            }
        }
    }

    // RFC 5903 section 8.1 (group 19): the initiator's and responder's public values must
    // parse as x | y. ring cannot import the RFC's private keys, so the full known answer
    // (girx) was checked independently with Python's `cryptography` package instead.
    #[test]
    fn rfc5903_group19_public_values_are_accepted() {
        let gi = hex(
            "DAD0B65394221CF9B051E1FECA5787D098DFE637FC90B9EF945D0C3772581180
                      5271A0461CDB8252D61F1C456FA3E59AB1F45B33ACCF5F58389E0577B8990BB3",
        );
        let gr = hex(
            "D12DFB5289C8D4F81208B70270398C342296970A0BCCB74C736FC7554494BF63
                      56FBF3CA366CC23E8157854C13C58D6AAC23F046ADA30F8353E74F33039872AB",
        );
        let mut rng = SystemRandom::new();
        for point in [&gi, &gr] {
            let ours = KeyExchange::generate(DhGroup::Ecp256, &mut rng).unwrap();
            assert_eq!(ours.agree(point).unwrap().as_bytes().len(), 32);
            // Any change to y moves the point off the curve.
            let mut off_curve = point.clone();
            off_curve[63] ^= 1;
            let ours = KeyExchange::generate(DhGroup::Ecp256, &mut rng).unwrap();
            assert_eq!(
                ours.agree(&off_curve).unwrap_err(),
                CryptoError::BadPublicValue
            );
        }
    }

    // RFC 5114 appendix A.7 (384-bit random ECP group) as carried in strongSwan's test
    // vectors (libstrongswan test_vectors/ecp.c, ecp384): both public values parse as x | y
    // on P-384 and a flipped bit in y is rejected. The private keys were checked against
    // these points with Python's `cryptography` package.
    #[test]
    fn group20_public_values_are_accepted() {
        let pub_i = hex("793148f1787634d5da4c6d9074417d05e057ab62f82054d10ee6b0403d6279547e6a8ea9d1fd77427d016fe27a8b8c66
                         c6c41294331d23e6f480f4fb4cd40504c947392e94f4c3f06b8f398bb29e42368f7a685923de3b67baced214a1a1d128");
        let pub_r = hex("5cd42ab9c41b5347f74b8d4efb708b3d5b36db65915359b44abc17647b6b9999789d72a84865ae2f223f12b5a1abc120
                         e171458feaa939aaa3a8bfac46b404bd8f6d5b348c0fa4d80ceca16356ca933240bde8723415a8ece035b0edf36755de");
        let mut rng = SystemRandom::new();
        for point in [&pub_i, &pub_r] {
            let ours = KeyExchange::generate(DhGroup::Ecp384, &mut rng).unwrap();
            assert_eq!(ours.agree(point).unwrap().as_bytes().len(), 48);
            let mut off_curve = point.clone();
            off_curve[95] ^= 1;
            let ours = KeyExchange::generate(DhGroup::Ecp384, &mut rng).unwrap();
            assert_eq!(
                ours.agree(&off_curve).unwrap_err(),
                CryptoError::BadPublicValue
            );
        }
    }

    // RFC 7748 section 6.1: Alice's and Bob's public keys are accepted; the all-zero point
    // and u = 1 (low order) are rejected because they give an all-zero result (RFC 8031 2.2).
    #[test]
    fn x25519_public_values() {
        let alice = hex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
        let bob = hex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
        let mut rng = SystemRandom::new();
        for point in [&alice, &bob] {
            let ours = KeyExchange::generate(DhGroup::Curve25519, &mut rng).unwrap();
            assert_eq!(ours.agree(point).unwrap().as_bytes().len(), 32);
        }
        let mut one = [0u8; 32];
        one[0] = 1;
        for low_order in [[0u8; 32], one] {
            let ours = KeyExchange::generate(DhGroup::Curve25519, &mut rng).unwrap();
            assert_eq!(
                ours.agree(&low_order).unwrap_err(),
                CryptoError::BadPublicValue
            );
        }
    }

    proptest::proptest! {
        // Arbitrary peer values of the right and of arbitrary length never panic; the few
        // that are valid points or in range succeed, everything else is BadPublicValue.
        #[test]
        fn agree_never_panics_on_arbitrary_peer_values(
            group in proptest::sample::select(ALL.to_vec()),
            exact in proptest::bool::ANY,
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300),
        ) {
            let mut peer = bytes;
            if exact {
                peer.resize(group.public_len(), 0x5a);
            }
            let ours = match group {
                DhGroup::Modp1024 | DhGroup::Modp1536 | DhGroup::Modp2048 => {
                    KeyExchange::modp_from_exponent(group, &exponent(0x44)).unwrap()
                }
                _ => KeyExchange::generate(group, &mut DeterministicRandom::new(0x44)).unwrap(),
            };
            match ours.agree(&peer) {
                Ok(secret) => proptest::prop_assert!(!secret.as_bytes().is_empty()),
                Err(e) => proptest::prop_assert_eq!(e, CryptoError::BadPublicValue),
            }
        }
    }

    fn exponent(fill: u8) -> [u8; 32] {
        let mut e = [fill; 32];
        e[0] = 0x80;
        e
    }

    // Known answers computed independently with Python 3:
    //   a = int("80" + "11" * 31, 16); b = int("80" + "22" * 31, 16)
    //   pow(2, a, p).to_bytes(len, "big") and pow(pow(2, b, p), a, p).to_bytes(len, "big")
    // with p the group's prime (RFC 2409 6.2, RFC 3526 3).
    #[test]
    fn modp_known_answers() {
        let cases = [
            (
                DhGroup::Modp1024,
                "fdaaae24df076b8fc078d6b66db9e9904f5823505be200a4149a48b6d23cb642
                 10d93b1469a6a36a786ac08cccc1d57f3443de0f1c76aeafd40bfdbdad588585
                 f4c46000fb0057f8aaa0e494e9b946c30f7cb0d9b5c9ea16368e9c2c83bdb240
                 6b75f564047d6461cf581da86ff3038e8cd081019da17e2705fcf2fcd09f757d",
                "c6d8d796dddc73b658a1e67d31bc6ea555ee0676d90b1de7072cef8c85dca7ad
                 92741b4b9400d501c3660753ff149706fc3f646f9d62e5a981fa1a0f253c1cf9
                 29cb699f2703ac95d6c57f8dcb0b8a821cbaa76935d63fb4b6572536ad83db36
                 dd12c618b201d37b5dcd76d7f5376d0e777cff7e256c9510a01520733689a659",
            ),
            (
                DhGroup::Modp2048,
                "6c1390c75f7f8d4ff5f0be7d10ff2ee9ca717b7386fa04c6b080ebfa4e9f268b
                 2e561ca75ca71352010a59b70cbb193f34c1edc92d0520de1bd38ff1489268ac
                 da5be3915a4e2116ce1d50124e838721a881cddcd7ac9e80cca6fc219e2539c3
                 18d506ab2de30d9dfe26d6f85011430e1636e43f49c09da25d79727034976006
                 c7d180f1f9566290098f1f03d6630ae963979db0e10668fedcd7958a9c5f348e
                 9c5b540d533c226308290820087e69438a6fa229d347093b0afd75f746cbd386
                 41394f75914ee7300398f22dbe0e68e700d9d5ec440f8b6b34cb53633c093197
                 e601811e0a6070dc2dc9bd83e2df51ee995fd59fe52f06356016fc83d68eb1e4",
                "0cb2f1b5fa8e1c772d7e355a4011c9afa2ef7ff71150faa4c241e124dfbccf7d
                 c1cb8cfe16ef6388642d259bcf47cc3f77d710383bc57df499fc4814776de739
                 48b0d409a5ed85e8b3bb9780762d738733569fb498eee87a46d2b35f358e8652
                 562fccdbe9f084a1a0ea750d09f26f8e09fb30b195d363eb6f2814206e7b6d30
                 1dc94888b00ce1a07b9a63b3992792be33d22bd63ca4cd8e16570b3a25d30fd8
                 58ef4245dc1be1adf4271a2e2c48c3e6605a234d7e628d3354bc8158202d84d9
                 b2d7e2226caee887206307900124602499d09478371efa2bd7484a41d1a1baaf
                 ccec626ecbbab04ea9d352ed5b1d69ad9ecc6947a67a93b33ef365e69456d6ad",
            ),
        ];
        for (group, g_a, g_ab) in cases {
            let a = KeyExchange::modp_from_exponent(group, &exponent(0x11)).unwrap();
            let b = KeyExchange::modp_from_exponent(group, &exponent(0x22)).unwrap();
            assert_eq!(a.public_value(), hex(g_a), "{group}");
            let a_public = a.public_value().to_vec();
            let ab = a.agree(b.public_value()).unwrap();
            let ba = b.agree(&a_public).unwrap();
            assert_eq!(ab.as_bytes(), hex(g_ab), "{group}");
            assert_eq!(ab.as_bytes(), ba.as_bytes(), "{group}");
        }
    }

    // Groups 5, 15 and 16 (RFC 3526): SHA-256 of g^a and of g^ab, computed independently
    // with Python 3's pow() for a = 0x80 | 0x11.., b = 0x80 | 0x22.. of the group's exponent
    // size (32 octets for group 5, 64 for groups 15 and 16), with the primes rebuilt from
    // RFC 3526's formulas and checked to be safe primes.
    #[test]
    fn larger_modp_groups_known_answers() {
        let sha256 = |data: &[u8]| ring::digest::digest(&ring::digest::SHA256, data);
        let cases = [
            (
                DhGroup::Modp1536,
                "7fcb63e9008889fcbc4e28a6d4ae3632180fc05a79fb93595b2b03a94951578b",
                "715b6e4f31530fcfb6a0f4ce4b4fffaa864631497a68d3b19ebb4fe69fb7b64a",
            ),
            (
                DhGroup::Modp3072,
                "b713b8ef46d43f5f1b0c362b99f388c87518473787ba858c4a40fb6e8fce7fb5",
                "189d57c5c69065fa74c5f9a4b9adbdcebdf3727293db08e07e43070902a30a57",
            ),
            (
                DhGroup::Modp4096,
                "30abb8e8f0ec652a975a9afb75496d4b83d05c677d2a5c61942f39728a73ae0f",
                "37a226d1296dce521bfa1f6c7e956ab523f2b94fd113f4b50452d202a55a30ba",
            ),
        ];
        for (group, g_a, g_ab) in cases {
            let len = crate::crypto::modp::exponent_len(group);
            let exponent = |fill: u8| {
                let mut e = vec![fill; len];
                e[0] = 0x80;
                e
            };
            let a = KeyExchange::modp_from_exponent(group, &exponent(0x11)).unwrap();
            let b = KeyExchange::modp_from_exponent(group, &exponent(0x22)).unwrap();
            assert_eq!(a.public_value().len(), group.public_len(), "{group}");
            assert_eq!(sha256(a.public_value()).as_ref(), hex(g_a), "{group}");
            let a_public = a.public_value().to_vec();
            let ab = a.agree(b.public_value()).unwrap();
            assert_eq!(sha256(ab.as_bytes()).as_ref(), hex(g_ab), "{group}");
            assert_eq!(
                ab.as_bytes(),
                b.agree(&a_public).unwrap().as_bytes(),
                "{group}"
            );
            // A 32-octet exponent does not fit groups 15 and 16, nor 64 octets group 5.
            let wrong = if len == 32 { 64 } else { 32 };
            assert!(KeyExchange::modp_from_exponent(group, &vec![0x80; wrong]).is_err());
        }
    }

    /// Hands out fixed octets, so a test can choose a private key.
    struct FixedRandom(Vec<u8>);

    impl Random for FixedRandom {
        fn fill(&mut self, buf: &mut [u8]) {
            let n = buf.len().min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0.drain(..n);
        }
    }

    // Group 21 (P-521): public values x | y and the shared x coordinate for the private
    // scalars 0x01 | 0x11 x 65 and 0x01 | 0x22 x 65, computed independently with Python's
    // `cryptography` package (OpenSSL's P-521). A flipped bit in y leaves the curve.
    #[test]
    fn group21_known_answer() {
        let gi = hex("01f17c0111ebe63872f40a45aeeddec7ca8946aa5b2e798487ddec42f579edf7c5b5d780199bb7cea72401def9ced4475e538e61bfa6e9cd7bbfafc8e47051a6fad3
                      01527f7dbcf2ec7dd744f72998138bd4907950ae2bf7aaa83810f9b08be6ae4e00ce606dd875a849187e7235735df2a9256ff662e096cfc19273c208f0f3d93ee1a1");
        let gr = hex("00731edbc438b1e6e4147bef27209a7639f411fcf594a2f07f452964bcf00dd0dda8df2dfa00945f987825012703d6aceb3dc9ae50699ee43abfa3206a96b1467bef
                      00db3038fc22ce4978d1e270eb64963badc896efffe75fdcbfa8acc8414dde2cee6a80937a117a53e1a644c65ebeaf35cfb296eb4916a324c216ed40e91076f4e4ff");
        let girx = hex("011feb6c7d6b1bbe1d4cb373e65b17993e4f1fe7f8b6ff3ee6f16279efb54de8c8ed08e4832de4c5c6d0f7067729164beb87ed72711d5a7ee08a0da98a3c3206d693");
        let scalar = |fill: u8| {
            let mut bytes = vec![fill; 66];
            // The generator masks the first octet to its lowest bit.
            bytes[0] = 0xff;
            FixedRandom(bytes)
        };
        let i = KeyExchange::generate(DhGroup::Ecp521, &mut scalar(0x11)).unwrap();
        let r = KeyExchange::generate(DhGroup::Ecp521, &mut scalar(0x22)).unwrap();
        assert_eq!(i.public_value(), gi);
        assert_eq!(r.public_value(), gr);
        assert_eq!(i.agree(&gr).unwrap().as_bytes(), girx);
        assert_eq!(r.agree(&gi).unwrap().as_bytes(), girx);
        let mut off_curve = gi.clone();
        off_curve[131] ^= 1;
        let ours = KeyExchange::generate(DhGroup::Ecp521, &mut SystemRandom::new()).unwrap();
        assert_eq!(
            ours.agree(&off_curve).unwrap_err(),
            CryptoError::BadPublicValue
        );
        // The identity has no affine x | y; all zeros is not on the curve.
        let ours = KeyExchange::generate(DhGroup::Ecp521, &mut SystemRandom::new()).unwrap();
        assert_eq!(
            ours.agree(&[0u8; 132]).unwrap_err(),
            CryptoError::BadPublicValue
        );
    }

    // Published MODP-1024 vector with 256-bit exponents from strongSwan's test vectors
    // (libstrongswan test_vectors/modp.c, modp1024: seed = initiator exponent | responder
    // exponent). Also re-checked with Python 3's pow().
    #[test]
    fn modp1024_strongswan_vector() {
        let seed = hex(
            "e53c205da0d8e4bfb4174944320fc6e4ea66fe44e3c931ac5da1450aea47ebcf
                        7f9af721eb7cd2a900a36e399ebc5c65eecce6629c8e1c5a7ff33293645fd3e3",
        );
        let pub_i = hex(
            "66617c9bbe91ee9900d806415b7384ecb0b6b80a39bd5b070396ee32375a8f68
                         376b352b97baf32f95c4d18c06ab96bfe3f3752df1e3c55741b6f4244117eebd
                         a1015983c6ba008fe89fe51cf4c9692592ebf742436c393df61a60ccc64fd790
                         7a6d26267c0f1556230c3e332b2e11d118a6982589793a2f6d66b86676bae47a",
        );
        let pub_r = hex(
            "7b9010609ebf2c497017458afaab4202885d25de7b5e5ce9b05bd442a3e97b52
                         cea760d7dbcb21dd71d80cd4347caa9edfbc2df4c1cdc1669b8ad244eb345b33
                         1d875492883df04a3d0b1a8b8927d50991fe03e7357eb6bdfce3d8c684c9861b
                         c5ce03962ffb87bf05dabd5a3727994ddee5d3c6ecc589859991b93255761fd5",
        );
        let shared = hex(
            "95790f5c46ae7ca1a471dd786aa8e444073ecec9695d004620cd7c9d3609a697
                          3c89a230750935638b86d1e65b27b7848881f9013abd036280d1862bb03ca60b
                          a90b70f9ae7edf71ff80f5a7eefbe26729b5bbb1bb1feb0d240e53c9d74b4fe9
                          d262b53bd5d8a7383f90f01e359647d04802d74a4f753b294a96503f2605d3f1",
        );
        let exponent =
            |range: std::ops::Range<usize>| -> [u8; 32] { seed[range].try_into().unwrap() };
        let i = KeyExchange::modp_from_exponent(DhGroup::Modp1024, &exponent(0..32)).unwrap();
        let r = KeyExchange::modp_from_exponent(DhGroup::Modp1024, &exponent(32..64)).unwrap();
        assert_eq!(i.public_value(), pub_i);
        assert_eq!(r.public_value(), pub_r);
        assert_eq!(i.agree(&pub_r).unwrap().as_bytes(), shared);
        assert_eq!(r.agree(&pub_i).unwrap().as_bytes(), shared);
    }

    #[test]
    fn modp_exponent_comes_from_the_injected_rng() {
        let a = KeyExchange::generate(DhGroup::Modp1024, &mut DeterministicRandom::new(1));
        let b = KeyExchange::generate(DhGroup::Modp1024, &mut DeterministicRandom::new(1));
        let c = KeyExchange::generate(DhGroup::Modp1024, &mut DeterministicRandom::new(2));
        let (a, b, c) = (a.unwrap(), b.unwrap(), c.unwrap());
        assert_eq!(a.public_value(), b.public_value());
        assert_ne!(a.public_value(), c.public_value());
    }

    // RFC 6989 2.2 / RFC 7296: 1 < y < p-1, so 0, 1, p-1, p and anything above p fail.
    #[test]
    fn modp_rejects_out_of_range_values() {
        for group in [
            DhGroup::Modp1024,
            DhGroup::Modp1536,
            DhGroup::Modp2048,
            DhGroup::Modp3072,
            DhGroup::Modp4096,
        ] {
            let len = group.public_len();
            let p = hex(crate::crypto::modp::prime_hex(group));
            assert_eq!(p.len(), len);
            let mut p_minus_1 = p.clone();
            p_minus_1[len - 1] -= 1;
            let mut two = vec![0u8; len];
            two[len - 1] = 2;
            let mut one = vec![0u8; len];
            one[len - 1] = 1;
            let bad = [vec![0u8; len], one, p_minus_1.clone(), p, vec![0xff; len]];
            let mut x = vec![0x33; crate::crypto::modp::exponent_len(group)];
            x[0] = 0x80;
            for value in &bad {
                let ours = KeyExchange::modp_from_exponent(group, &x).unwrap();
                assert_eq!(
                    ours.agree(value).unwrap_err(),
                    CryptoError::BadPublicValue,
                    "{group}"
                );
            }
            // The smallest and largest legal values are accepted.
            let mut p_minus_2 = p_minus_1;
            p_minus_2[len - 1] -= 1;
            for value in [two, p_minus_2] {
                let ours = KeyExchange::modp_from_exponent(group, &x).unwrap();
                assert!(ours.agree(&value).is_ok(), "{group}");
            }
        }
    }
}

//! IKEv2 numbers of the algorithms named in [`crate::algorithm`]: transform IDs of transform
//! types 1 to 4 (IANA "IKEv2 Transform Type" registries, RFC 7296 3.3.2), the Key Length
//! attribute that completes a cipher's ID (RFC 7296 3.3.5), and the group in an
//! INVALID_KE_PAYLOAD notify (RFC 7296 3.10.1).
//!
//! Conversions go both ways. A received ID that names nothing we implement converts to `None`,
//! never to an error: such a transform is simply not chosen.

use super::enums::TransformType;
use super::sa::Transform;
use crate::algorithm::{DhGroup, Encryption, Integrity, Prf};

/// Transform ID "NONE": no integrity algorithm (beside an AEAD cipher, RFC 5282 8) or no key
/// exchange (an ESP proposal without PFS).
pub const NONE: u16 = 0;

/// An algorithm named by its transform ID alone, without attributes.
pub trait TransformId: Copy + Sized {
    /// The transform type whose IDs name algorithms of this kind.
    const KIND: TransformType;

    fn transform_id(self) -> u16;

    /// The algorithm an ID names, if we implement it.
    fn from_transform_id(id: u16) -> Option<Self>;

    /// The transform that offers this algorithm.
    fn to_transform(self) -> Transform {
        Transform::new(Self::KIND, self.transform_id())
    }
}

/// Implements [`TransformId`] from one table, so that both directions agree and every variant
/// has an ID.
macro_rules! transform_ids {
    ($algorithm:ident in $kind:ident { $($variant:ident = $id:literal,)+ }) => {
        impl TransformId for $algorithm {
            const KIND: TransformType = TransformType::$kind;

            fn transform_id(self) -> u16 {
                match self {
                    $($algorithm::$variant => $id,)+
                }
            }

            fn from_transform_id(id: u16) -> Option<$algorithm> {
                match id {
                    $($id => Some($algorithm::$variant),)+
                    _ => None,
                }
            }
        }
    };
}

transform_ids!(Integrity in Integ {
    HmacMd5_96 = 1,
    HmacSha1_96 = 2,
    HmacSha256_128 = 12,
    HmacSha384_192 = 13,
    HmacSha512_256 = 14,
});

transform_ids!(Prf in Prf {
    HmacMd5 = 1,
    HmacSha1 = 2,
    HmacSha256 = 5,
    HmacSha384 = 6,
    HmacSha512 = 7,
});

transform_ids!(DhGroup in Dh {
    Modp1024 = 2,
    Modp1536 = 5,
    Modp2048 = 14,
    Modp3072 = 15,
    Modp4096 = 16,
    Ecp256 = 19,
    Ecp384 = 20,
    Ecp521 = 21,
    Curve25519 = 31,
});

/// A key exchange method named by the data of an INVALID_KE_PAYLOAD notify: its two-octet
/// transform ID (RFC 7296 3.10.1).
pub trait InvalidKeData: TransformId {
    /// `None` for malformed data or a group we do not implement.
    fn from_notify_data(data: &[u8]) -> Option<Self> {
        <[u8; 2]>::try_from(data)
            .ok()
            .map(u16::from_be_bytes)
            .and_then(Self::from_transform_id)
    }
}

impl InvalidKeData for DhGroup {}

const ENCR_3DES: u16 = 3;
const ENCR_AES_CBC: u16 = 12;
const ENCR_AES_GCM_16: u16 = 20;
const ENCR_CHACHA20_POLY1305: u16 = 28;

/// The transform that offers a cipher: its ID and, for ciphers of several key sizes, the Key
/// Length attribute.
pub fn encryption_transform(encryption: Encryption) -> Transform {
    let (id, key_length) = match encryption {
        Encryption::TripleDes => (ENCR_3DES, None),
        Encryption::AesCbc { key_bits } => (ENCR_AES_CBC, Some(key_bits)),
        Encryption::AesGcm16 { key_bits } => (ENCR_AES_GCM_16, Some(key_bits)),
        Encryption::ChaCha20Poly1305 => (ENCR_CHACHA20_POLY1305, None),
    };
    Transform {
        key_length,
        ..Transform::new(TransformType::Encr, id)
    }
}

/// The cipher an encryption transform names, if we implement it with that key length. The
/// transform's type is the caller's to check.
pub fn encryption_from_transform(t: &Transform) -> Option<Encryption> {
    Some(match (t.id, t.key_length) {
        (ENCR_3DES, None) => Encryption::TripleDes,
        (ENCR_AES_CBC, Some(bits @ (128 | 192 | 256))) => Encryption::AesCbc { key_bits: bits },
        (ENCR_AES_GCM_16, Some(bits @ (128 | 256))) => Encryption::AesGcm16 { key_bits: bits },
        (ENCR_CHACHA20_POLY1305, None) => Encryption::ChaCha20Poly1305,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const INTEGRITY: [Integrity; 5] = [
        Integrity::HmacMd5_96,
        Integrity::HmacSha1_96,
        Integrity::HmacSha256_128,
        Integrity::HmacSha384_192,
        Integrity::HmacSha512_256,
    ];
    const PRFS: [Prf; 5] = [
        Prf::HmacMd5,
        Prf::HmacSha1,
        Prf::HmacSha256,
        Prf::HmacSha384,
        Prf::HmacSha512,
    ];
    const GROUPS: [DhGroup; 9] = [
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

    fn round_trips<T: TransformId + PartialEq + std::fmt::Debug>(all: &[T]) {
        for a in all {
            let t = a.to_transform();
            assert_eq!(t.kind, T::KIND);
            assert_eq!(t.key_length, None, "{a:?}");
            assert_eq!(T::from_transform_id(t.id), Some(*a));
        }
        assert_eq!(T::from_transform_id(NONE), None);
        assert_eq!(T::from_transform_id(0xffff), None);
    }

    #[test]
    fn ids_round_trip() {
        round_trips(&INTEGRITY);
        round_trips(&PRFS);
        round_trips(&GROUPS);
    }

    #[test]
    fn ids_are_the_iana_values() {
        let integrity: Vec<u16> = INTEGRITY.iter().map(|i| i.transform_id()).collect();
        assert_eq!(integrity, [1, 2, 12, 13, 14]);
        let prfs: Vec<u16> = PRFS.iter().map(|p| p.transform_id()).collect();
        assert_eq!(prfs, [1, 2, 5, 6, 7]);
        let groups: Vec<u16> = GROUPS.iter().map(|g| g.transform_id()).collect();
        assert_eq!(groups, [2, 5, 14, 15, 16, 19, 20, 21, 31]);
    }

    #[test]
    fn ciphers_carry_their_key_length() {
        let cases = [
            (Encryption::TripleDes, 3, None),
            (Encryption::AesCbc { key_bits: 128 }, 12, Some(128)),
            (Encryption::AesCbc { key_bits: 192 }, 12, Some(192)),
            (Encryption::AesCbc { key_bits: 256 }, 12, Some(256)),
            (Encryption::AesGcm16 { key_bits: 128 }, 20, Some(128)),
            (Encryption::AesGcm16 { key_bits: 256 }, 20, Some(256)),
            (Encryption::ChaCha20Poly1305, 28, None),
        ];
        for (encryption, id, key_length) in cases {
            let t = encryption_transform(encryption);
            assert_eq!(
                (t.kind, t.id, t.key_length),
                (TransformType::Encr, id, key_length)
            );
            assert!(t.other_attributes.is_empty());
            assert_eq!(encryption_from_transform(&t), Some(encryption));
        }
    }

    #[test]
    fn unknown_ciphers_and_key_lengths_name_nothing() {
        let with = |id, key_length| Transform {
            key_length,
            ..Transform::new(TransformType::Encr, id)
        };
        assert_eq!(
            encryption_from_transform(&with(12, None)),
            None,
            "AES without a length"
        );
        assert_eq!(encryption_from_transform(&with(12, Some(64))), None);
        assert_eq!(encryption_from_transform(&with(20, Some(192))), None);
        assert_eq!(encryption_from_transform(&with(28, Some(256))), None);
        assert_eq!(encryption_from_transform(&with(3, Some(192))), None);
        assert_eq!(
            encryption_from_transform(&with(19, None)),
            None,
            "AES-GCM-12"
        );
    }

    #[test]
    fn invalid_ke_notify_data_names_a_group() {
        assert_eq!(DhGroup::from_notify_data(&[0, 19]), Some(DhGroup::Ecp256));
        assert_eq!(
            DhGroup::from_notify_data(&[0, 31]),
            Some(DhGroup::Curve25519)
        );
        assert_eq!(DhGroup::from_notify_data(&[0, 99]), None, "unknown group");
        assert_eq!(DhGroup::from_notify_data(&[19]), None, "short");
        assert_eq!(DhGroup::from_notify_data(&[0, 0, 19]), None, "long");
    }
}

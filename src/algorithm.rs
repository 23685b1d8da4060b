//! Algorithms shared by the configuration, the engine and the kernel layer, in a module of
//! their own so that the configuration does not depend on `crypto`.
//!
//! Numbers are IANA "IKEv2 Transform Type" values (RFC 7296 section 3.3.2 and the registry it
//! creates).

use std::fmt;

/// Transform type 1: encryption (RFC 7296 3.3.2, RFC 4106, RFC 7634).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encryption {
    /// AES-CBC (ENCR_AES_CBC, 12) with a 128, 192 or 256 bit key.
    AesCbc { key_bits: u16 },
    /// AES-GCM with a 16-octet ICV (ENCR_AES_GCM_16, 20).
    AesGcm16 { key_bits: u16 },
    /// ChaCha20-Poly1305 (ENCR_CHACHA20_POLY1305, 28), 256 bit key.
    ChaCha20Poly1305,
    /// 3DES-CBC (ENCR_3DES, 3): only for legacy peers.
    TripleDes,
}

impl Encryption {
    /// IANA transform ID.
    pub fn transform_id(self) -> u16 {
        match self {
            Encryption::TripleDes => 3,
            Encryption::AesCbc { .. } => 12,
            Encryption::AesGcm16 { .. } => 20,
            Encryption::ChaCha20Poly1305 => 28,
        }
    }

    /// Key length attribute to send, if the transform takes one (RFC 7296 3.3.5).
    pub fn key_length_attribute(self) -> Option<u16> {
        match self {
            Encryption::AesCbc { key_bits } | Encryption::AesGcm16 { key_bits } => Some(key_bits),
            Encryption::ChaCha20Poly1305 | Encryption::TripleDes => None,
        }
    }

    /// Combined-mode (AEAD) ciphers take no separate integrity transform.
    pub fn is_aead(self) -> bool {
        matches!(
            self,
            Encryption::AesGcm16 { .. } | Encryption::ChaCha20Poly1305
        )
    }

    /// Key material this cipher consumes from KEYMAT/SK_e, in octets, including the salt of
    /// AEAD ciphers (RFC 5282 section 7.1, RFC 7634 section 3).
    pub fn keymat_len(self) -> usize {
        match self {
            Encryption::AesCbc { key_bits } => usize::from(key_bits) / 8,
            Encryption::AesGcm16 { key_bits } => usize::from(key_bits) / 8 + 4,
            Encryption::ChaCha20Poly1305 => 32 + 4,
            Encryption::TripleDes => 24,
        }
    }
}

impl fmt::Display for Encryption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Encryption::AesCbc { key_bits } => write!(f, "aes{key_bits}"),
            Encryption::AesGcm16 { key_bits } => write!(f, "aes{key_bits}gcm16"),
            Encryption::ChaCha20Poly1305 => f.write_str("chacha20poly1305"),
            Encryption::TripleDes => f.write_str("3des"),
        }
    }
}

/// Transform type 2: integrity (RFC 7296 3.3.2, RFC 4868).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Integrity {
    /// AUTH_HMAC_SHA1_96 (2).
    HmacSha1_96,
    /// AUTH_HMAC_SHA2_256_128 (12).
    HmacSha256_128,
    /// AUTH_HMAC_SHA2_384_192 (13).
    HmacSha384_192,
    /// AUTH_HMAC_SHA2_512_256 (14).
    HmacSha512_256,
}

impl Integrity {
    pub fn transform_id(self) -> u16 {
        match self {
            Integrity::HmacSha1_96 => 2,
            Integrity::HmacSha256_128 => 12,
            Integrity::HmacSha384_192 => 13,
            Integrity::HmacSha512_256 => 14,
        }
    }

    /// Key length in octets (RFC 4868 section 2.1.1: the full hash output size).
    pub fn key_len(self) -> usize {
        match self {
            Integrity::HmacSha1_96 => 20,
            Integrity::HmacSha256_128 => 32,
            Integrity::HmacSha384_192 => 48,
            Integrity::HmacSha512_256 => 64,
        }
    }

    /// Truncated ICV length in octets.
    pub fn icv_len(self) -> usize {
        match self {
            Integrity::HmacSha1_96 => 12,
            Integrity::HmacSha256_128 => 16,
            Integrity::HmacSha384_192 => 24,
            Integrity::HmacSha512_256 => 32,
        }
    }
}

impl fmt::Display for Integrity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Integrity::HmacSha1_96 => "sha1",
            Integrity::HmacSha256_128 => "sha256",
            Integrity::HmacSha384_192 => "sha384",
            Integrity::HmacSha512_256 => "sha512",
        })
    }
}

/// Transform type 3: pseudo-random function (RFC 7296 3.3.2, RFC 4868).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Prf {
    /// PRF_HMAC_SHA1 (2).
    HmacSha1,
    /// PRF_HMAC_SHA2_256 (5).
    HmacSha256,
    /// PRF_HMAC_SHA2_384 (6).
    HmacSha384,
    /// PRF_HMAC_SHA2_512 (7).
    HmacSha512,
}

impl Prf {
    pub fn transform_id(self) -> u16 {
        match self {
            Prf::HmacSha1 => 2,
            Prf::HmacSha256 => 5,
            Prf::HmacSha384 => 6,
            Prf::HmacSha512 => 7,
        }
    }

    /// Output length in octets; also the preferred key length (RFC 7296 section 2.13).
    pub fn output_len(self) -> usize {
        match self {
            Prf::HmacSha1 => 20,
            Prf::HmacSha256 => 32,
            Prf::HmacSha384 => 48,
            Prf::HmacSha512 => 64,
        }
    }

    /// The PRF that goes with an integrity algorithm of the same hash, used when a proposal
    /// names an integrity algorithm but no PRF (strongSwan's convention).
    pub fn matching(integrity: Integrity) -> Prf {
        match integrity {
            Integrity::HmacSha1_96 => Prf::HmacSha1,
            Integrity::HmacSha256_128 => Prf::HmacSha256,
            Integrity::HmacSha384_192 => Prf::HmacSha384,
            Integrity::HmacSha512_256 => Prf::HmacSha512,
        }
    }
}

impl fmt::Display for Prf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Prf::HmacSha1 => "prfsha1",
            Prf::HmacSha256 => "prfsha256",
            Prf::HmacSha384 => "prfsha384",
            Prf::HmacSha512 => "prfsha512",
        })
    }
}

/// Transform type 4: key exchange method (Diffie-Hellman group).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DhGroup {
    /// 1024-bit MODP (group 2, RFC 2409 6.2). Weak; only for cloud interop.
    Modp1024,
    /// 2048-bit MODP (group 14, RFC 3526 section 3).
    Modp2048,
    /// 256-bit random ECP (group 19, RFC 5903).
    Ecp256,
    /// 384-bit random ECP (group 20, RFC 5903).
    Ecp384,
    /// Curve25519 (group 31, RFC 8031).
    Curve25519,
}

impl DhGroup {
    pub fn transform_id(self) -> u16 {
        match self {
            DhGroup::Modp1024 => 2,
            DhGroup::Modp2048 => 14,
            DhGroup::Ecp256 => 19,
            DhGroup::Ecp384 => 20,
            DhGroup::Curve25519 => 31,
        }
    }

    pub fn from_transform_id(id: u16) -> Option<DhGroup> {
        Some(match id {
            2 => DhGroup::Modp1024,
            14 => DhGroup::Modp2048,
            19 => DhGroup::Ecp256,
            20 => DhGroup::Ecp384,
            31 => DhGroup::Curve25519,
            _ => return None,
        })
    }

    /// The group named by the two-octet data of an INVALID_KE_PAYLOAD notify (RFC 7296
    /// 3.10.1); `None` for malformed data or a group we do not implement.
    pub fn from_notify_data(data: &[u8]) -> Option<DhGroup> {
        <[u8; 2]>::try_from(data)
            .ok()
            .map(u16::from_be_bytes)
            .and_then(DhGroup::from_transform_id)
    }

    /// Length of the key exchange data in the KE payload, in octets.
    pub fn public_len(self) -> usize {
        match self {
            DhGroup::Modp1024 => 128,
            DhGroup::Modp2048 => 256,
            DhGroup::Ecp256 => 64,
            DhGroup::Ecp384 => 96,
            DhGroup::Curve25519 => 32,
        }
    }
}

impl fmt::Display for DhGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DhGroup::Modp1024 => "modp1024",
            DhGroup::Modp2048 => "modp2048",
            DhGroup::Ecp256 => "ecp256",
            DhGroup::Ecp384 => "ecp384",
            DhGroup::Curve25519 => "curve25519",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::DhGroup;

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

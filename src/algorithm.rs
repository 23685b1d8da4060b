//! Names of the algorithms ikehub implements, shared by the configuration, the engine and the
//! kernel layer, with the sizes that follow from the algorithm itself (keys, ICVs, PRF output,
//! public values).
//!
//! This module names algorithms only. Their numbers belong to each protocol's wire format: IKEv2
//! transform IDs live in [`crate::wire::ikev2::transform`], and IKEv1 attribute values (RFC 2409
//! appendix A) differ for the same algorithms. The `crypto` module implements them; the kernel
//! layer maps them to XFRM names. Depending on nothing else keeps the configuration free of
//! both.

use std::fmt;

/// A cipher protecting IKE and ESP payloads (RFC 3602, RFC 4106, RFC 7634, RFC 2451).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encryption {
    /// AES-CBC with a 128, 192 or 256 bit key.
    AesCbc { key_bits: u16 },
    /// AES-GCM with a 16-octet ICV.
    AesGcm16 { key_bits: u16 },
    /// ChaCha20-Poly1305, 256 bit key.
    ChaCha20Poly1305,
    /// 3DES-CBC: only for legacy peers.
    TripleDes,
}

impl Encryption {
    /// Combined-mode (AEAD) ciphers take no separate integrity algorithm.
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

/// An integrity algorithm: HMAC truncated to an ICV (RFC 2403, RFC 2404, RFC 4868).
///
/// IKEv1 also uses it to name a phase 1 SA's hash algorithm, whose HMAC is that SA's prf
/// (see [`crate::crypto::ikev1`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Integrity {
    /// HMAC-MD5, 96-bit ICV (RFC 2403): only for legacy peers.
    HmacMd5_96,
    /// HMAC-SHA1, 96-bit ICV.
    HmacSha1_96,
    /// HMAC-SHA-256, 128-bit ICV.
    HmacSha256_128,
    /// HMAC-SHA-384, 192-bit ICV.
    HmacSha384_192,
    /// HMAC-SHA-512, 256-bit ICV.
    HmacSha512_256,
}

impl Integrity {
    /// Key length in octets (RFC 4868 section 2.1.1: the full hash output size).
    pub fn key_len(self) -> usize {
        match self {
            Integrity::HmacMd5_96 => 16,
            Integrity::HmacSha1_96 => 20,
            Integrity::HmacSha256_128 => 32,
            Integrity::HmacSha384_192 => 48,
            Integrity::HmacSha512_256 => 64,
        }
    }

    /// Truncated ICV length in octets.
    pub fn icv_len(self) -> usize {
        match self {
            Integrity::HmacMd5_96 => 12,
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
            Integrity::HmacMd5_96 => "md5",
            Integrity::HmacSha1_96 => "sha1",
            Integrity::HmacSha256_128 => "sha256",
            Integrity::HmacSha384_192 => "sha384",
            Integrity::HmacSha512_256 => "sha512",
        })
    }
}

/// A pseudo-random function for key derivation (RFC 2104, RFC 4868).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Prf {
    /// HMAC-MD5 (RFC 2104): only for legacy peers.
    HmacMd5,
    /// HMAC-SHA1.
    HmacSha1,
    /// HMAC-SHA-256.
    HmacSha256,
    /// HMAC-SHA-384.
    HmacSha384,
    /// HMAC-SHA-512.
    HmacSha512,
}

impl Prf {
    /// Output length in octets; also the preferred key length (RFC 7296 section 2.13).
    pub fn output_len(self) -> usize {
        match self {
            Prf::HmacMd5 => 16,
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
            Integrity::HmacMd5_96 => Prf::HmacMd5,
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
            Prf::HmacMd5 => "prfmd5",
            Prf::HmacSha1 => "prfsha1",
            Prf::HmacSha256 => "prfsha256",
            Prf::HmacSha384 => "prfsha384",
            Prf::HmacSha512 => "prfsha512",
        })
    }
}

/// A key exchange method (Diffie-Hellman group).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DhGroup {
    /// 1024-bit MODP (group 2, RFC 2409 6.2). Weak; only for cloud interop.
    Modp1024,
    /// 1536-bit MODP (group 5, RFC 3526 section 2). Weak; only for legacy peers.
    Modp1536,
    /// 2048-bit MODP (group 14, RFC 3526 section 3).
    Modp2048,
    /// 3072-bit MODP (group 15, RFC 3526 section 4).
    Modp3072,
    /// 4096-bit MODP (group 16, RFC 3526 section 5).
    Modp4096,
    /// 256-bit random ECP (group 19, RFC 5903).
    Ecp256,
    /// 384-bit random ECP (group 20, RFC 5903).
    Ecp384,
    /// 521-bit random ECP (group 21, RFC 5903).
    Ecp521,
    /// Curve25519 (group 31, RFC 8031).
    Curve25519,
}

impl DhGroup {
    /// Length of the key exchange data in the KE payload, in octets.
    pub fn public_len(self) -> usize {
        match self {
            DhGroup::Modp1024 => 128,
            DhGroup::Modp1536 => 192,
            DhGroup::Modp2048 => 256,
            DhGroup::Modp3072 => 384,
            DhGroup::Modp4096 => 512,
            DhGroup::Ecp256 => 64,
            DhGroup::Ecp384 => 96,
            // RFC 5903 section 7: x | y, each coordinate of 521 bits in 66 octets.
            DhGroup::Ecp521 => 132,
            DhGroup::Curve25519 => 32,
        }
    }
}

impl fmt::Display for DhGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DhGroup::Modp1024 => "modp1024",
            DhGroup::Modp1536 => "modp1536",
            DhGroup::Modp2048 => "modp2048",
            DhGroup::Modp3072 => "modp3072",
            DhGroup::Modp4096 => "modp4096",
            DhGroup::Ecp256 => "ecp256",
            DhGroup::Ecp384 => "ecp384",
            DhGroup::Ecp521 => "ecp521",
            DhGroup::Curve25519 => "curve25519",
        })
    }
}

//! CBC initialization vectors of an ISAKMP SA (RFC 2409 appendix B).
//!
//! Phase 1 starts from a hash of the public values; every message then continues from the
//! last ciphertext block of the one before it, which the caller keeps. Each Quick Mode and
//! Informational exchange starts from a hash of phase 1's last ciphertext block and its
//! Message ID.

use super::hash::hash;
use crate::algorithm::{Encryption, Integrity};

/// The cipher's block length in octets, which is the IV length: 16 for AES, 8 for 3DES
/// (and, for the combined modes, which an ISAKMP SA never uses, AES's 16).
pub fn block_len(cipher: Encryption) -> usize {
    match cipher {
        Encryption::TripleDes => 8,
        Encryption::AesCbc { .. } | Encryption::AesGcm16 { .. } | Encryption::ChaCha20Poly1305 => {
            16
        }
    }
}

/// The IV of the first encrypted message of phase 1: hash(g^xi | g^xr) truncated to the
/// block length (RFC 2409 appendix B). `g_xi` and `g_xr` are the KE payload bodies of the
/// initiator and the responder.
pub fn phase1_iv(hash_alg: Integrity, cipher: Encryption, g_xi: &[u8], g_xr: &[u8]) -> Vec<u8> {
    let mut iv = hash(hash_alg, &[g_xi, g_xr]);
    iv.truncate(block_len(cipher));
    iv
}

/// The IV of the first message of a Quick Mode or Informational exchange: hash(last
/// ciphertext block of phase 1 | M-ID) truncated to the block length, the Message ID in
/// network order (RFC 2409 appendix B). `phase1_last_block` is the last block of the last
/// phase 1 message (Main Mode message 6), sent or received.
pub fn exchange_iv(
    hash_alg: Integrity,
    cipher: Encryption,
    phase1_last_block: &[u8],
    message_id: u32,
) -> Vec<u8> {
    let mut iv = hash(hash_alg, &[phase1_last_block, &message_id.to_be_bytes()]);
    iv.truncate(block_len(cipher));
    iv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ivs_are_truncated_hashes() {
        let aes = Encryption::AesCbc { key_bits: 256 };
        let iv = phase1_iv(Integrity::HmacSha256_128, aes, b"gxi", b"gxr");
        assert_eq!(iv, hash(Integrity::HmacSha256_128, &[b"gxigxr"])[..16]);
        let iv = phase1_iv(
            Integrity::HmacSha1_96,
            Encryption::TripleDes,
            b"gxi",
            b"gxr",
        );
        assert_eq!(iv, hash(Integrity::HmacSha1_96, &[b"gxigxr"])[..8]);
        let block = [0xab; 16];
        let iv = exchange_iv(Integrity::HmacMd5_96, aes, &block, 0x01020304);
        assert_eq!(iv, hash(Integrity::HmacMd5_96, &[&block, &[1, 2, 3, 4]]));
        assert_ne!(
            iv,
            exchange_iv(Integrity::HmacMd5_96, aes, &block, 0x01020305)
        );
    }
}

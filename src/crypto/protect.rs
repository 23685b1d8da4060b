//! Protection of the Encrypted (SK) payload: encryption plus integrity (RFC 7296 3.14), with
//! AES-GCM (RFC 5282) or ChaCha20-Poly1305 (RFC 7634) as combined modes, or AES-CBC
//! (RFC 3602) / 3DES-CBC (RFC 2451) with a truncated HMAC.
//!
//! Body layout: IV | ciphertext of (inner payloads | padding | Pad Length) | ICV. The caller
//! passes `prefix`, every octet of the message before the body (IKE header, unencrypted
//! payloads, SK payload header): it is the AEAD associated data (RFC 5282 5.1), and for
//! CBC the ICV covers prefix | IV | ciphertext (RFC 7296 3.14).

use std::fmt;

use aes::cipher::{Array, BlockCipherDecrypt, BlockCipherEncrypt, BlockModeDecrypt};
use aes::cipher::{BlockModeEncrypt, InnerIvInit, KeyInit};
use ring::aead;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::error::CryptoError;
use super::keymat::{IkeKeys, IkeSuite};
use super::mac::{HashAlg, MacKey};
use super::rng::Random;
use crate::algorithm::{Encryption, Integrity};

/// Explicit IV of the combined modes (RFC 5282 section 3.1, RFC 7634 section 2).
const AEAD_IV_LEN: usize = 8;
/// Salt at the end of SK_e for the combined modes (RFC 5282 7.1, RFC 7634 3).
const AEAD_SALT_LEN: usize = 4;
/// ICV of AES-GCM-16 and ChaCha20-Poly1305.
const AEAD_ICV_LEN: usize = 16;
/// AES block, which is also the CBC IV length (RFC 3602).
const AES_BLOCK: usize = 16;
/// 3DES block and CBC IV length (RFC 2451).
const DES_BLOCK: usize = 8;

/// Encrypts and authenticates SK payloads in one direction of an IKE SA.
///
/// Build one per direction from SK_ei/SK_ai or SK_er/SK_ar and keep it for the life of the
/// SA: for the combined modes it holds the IV counter, and a second instance over the same
/// key would start a second sequence.
///
/// It keeps the keys, not keyed cipher contexts: an established IKE SA protects a message
/// every few seconds at most (DPD, rekeying), while a keyed AES-GCM context costs about
/// 600 octets per direction. Keying per message costs well under a microsecond; holding
/// both contexts for every SA of a hub would cost over a kilobyte per tunnel.
pub struct PayloadProtection {
    encryption: Encryption,
    /// `None` for the combined modes.
    integrity: Option<Integrity>,
    sk_e: Zeroizing<Vec<u8>>,
    sk_a: Zeroizing<Vec<u8>>,
    /// Next explicit IV of a combined mode; drawn at random on the first seal, then counted
    /// up. RFC 5282 section 3.1 and RFC 7634 section 2 only require uniqueness under a key,
    /// and the Message ID is not enough: a request re-sent after a fragmentation or
    /// cookie round is sealed again with different content under the same ID.
    next_iv: Option<u64>,
}

/// The cipher contexts of one direction, keyed for one message.
enum Scheme {
    Aead {
        key: aead::LessSafeKey,
        salt: [u8; AEAD_SALT_LEN],
    },
    CbcHmac {
        cipher: CbcCipher,
        mac: MacKey,
        icv_len: usize,
    },
}

/// Block ciphers used in CBC mode, keyed once per direction (IKEv2) or per IKEv1 SA.
pub(crate) enum CbcCipher {
    Aes128(aes::Aes128),
    Aes192(aes::Aes192),
    Aes256(aes::Aes256),
    TripleDes(des::TdesEde3),
}

impl fmt::Debug for PayloadProtection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.encryption.is_aead() {
            "aead"
        } else {
            "cbc+hmac"
        };
        f.debug_struct("PayloadProtection")
            .field("scheme", &scheme)
            .finish_non_exhaustive()
    }
}

fn check_len(expected: usize, got: usize) -> Result<(), CryptoError> {
    if expected == got {
        Ok(())
    } else {
        Err(CryptoError::BadKeyLength { expected, got })
    }
}

impl Scheme {
    /// Keys one direction. `sk_e` is SK_ei or SK_er as long as `encryption.keymat_len()`
    /// (for the combined modes the last four octets are the salt); `sk_a` is SK_ai or SK_ar,
    /// required for CBC and ignored for the combined modes.
    fn key(
        encryption: Encryption,
        integrity: Option<Integrity>,
        sk_e: &[u8],
        sk_a: Option<&[u8]>,
    ) -> Result<Scheme, CryptoError> {
        check_len(encryption.keymat_len(), sk_e.len())?;
        Ok(match encryption {
            Encryption::AesGcm16 { .. } | Encryption::ChaCha20Poly1305 => {
                // RFC 7296 3.3: a combined-mode proposal carries no integrity transform.
                if integrity.is_some() {
                    return Err(CryptoError::UnsupportedAlgorithm(
                        "integrity transform with a combined-mode cipher",
                    ));
                }
                let alg = match encryption {
                    Encryption::AesGcm16 { key_bits: 128 } => &aead::AES_128_GCM,
                    Encryption::AesGcm16 { key_bits: 256 } => &aead::AES_256_GCM,
                    Encryption::ChaCha20Poly1305 => &aead::CHACHA20_POLY1305,
                    _ => return Err(CryptoError::UnsupportedAlgorithm("AES-GCM key size")),
                };
                let (key, salt) = sk_e.split_at(sk_e.len().saturating_sub(AEAD_SALT_LEN));
                let key =
                    aead::UnboundKey::new(alg, key).map_err(|_| CryptoError::BadKeyLength {
                        expected: alg.key_len(),
                        got: key.len(),
                    })?;
                let salt = salt.try_into().map_err(|_| CryptoError::BadKeyLength {
                    expected: AEAD_SALT_LEN,
                    got: salt.len(),
                })?;
                Scheme::Aead {
                    key: aead::LessSafeKey::new(key),
                    salt,
                }
            }
            Encryption::AesCbc { .. } | Encryption::TripleDes => {
                let integrity = integrity.ok_or(CryptoError::UnsupportedAlgorithm(
                    "CBC cipher without an integrity transform",
                ))?;
                let sk_a = sk_a.unwrap_or_default();
                check_len(integrity.key_len(), sk_a.len())?;
                let cipher = CbcCipher::new(encryption, sk_e)?;
                Scheme::CbcHmac {
                    cipher,
                    mac: MacKey::new(HashAlg::of_integrity(integrity), sk_a),
                    icv_len: integrity.icv_len(),
                }
            }
        })
    }
}

impl PayloadProtection {
    /// Checks and keeps the keys of one direction. `sk_e` is SK_ei or SK_er as long as
    /// `encryption.keymat_len()` (for the combined modes the last four octets are the salt);
    /// `sk_a` is SK_ai or SK_ar, required for CBC and ignored for the combined modes. Every
    /// error a key can cause is reported here, by keying once.
    pub fn new(
        encryption: Encryption,
        integrity: Option<Integrity>,
        sk_e: &[u8],
        sk_a: Option<&[u8]>,
    ) -> Result<PayloadProtection, CryptoError> {
        Scheme::key(encryption, integrity, sk_e, sk_a)?;
        // `key` refused an integrity transform next to a combined mode.
        let sk_a = match integrity {
            Some(_) => sk_a.unwrap_or_default(),
            None => &[],
        };
        Ok(PayloadProtection {
            encryption,
            integrity,
            sk_e: Zeroizing::new(sk_e.to_vec()),
            sk_a: Zeroizing::new(sk_a.to_vec()),
            next_iv: None,
        })
    }

    fn scheme(&self) -> Result<Scheme, CryptoError> {
        let sk_a = self.integrity.map(|_| self.sk_a.as_slice());
        Scheme::key(self.encryption, self.integrity, &self.sk_e, sk_a)
    }

    fn block_len(&self) -> usize {
        match self.encryption {
            Encryption::TripleDes => DES_BLOCK,
            _ => AES_BLOCK,
        }
    }

    /// Length of the IV at the start of the body (for CBC, one cipher block).
    pub fn iv_len(&self) -> usize {
        if self.encryption.is_aead() {
            AEAD_IV_LEN
        } else {
            self.block_len()
        }
    }

    /// Length of the ICV at the end of the body.
    pub fn icv_len(&self) -> usize {
        match self.integrity {
            Some(integrity) => integrity.icv_len(),
            None => AEAD_ICV_LEN,
        }
    }

    /// Length of the ciphertext for `plaintext_len` octets of inner payloads: the Pad Length
    /// octet is always present (RFC 7296 3.14); CBC pads to whole blocks, the combined modes
    /// need no padding.
    fn ciphertext_len(&self, plaintext_len: usize) -> usize {
        let unpadded = plaintext_len.saturating_add(1);
        if self.encryption.is_aead() {
            unpadded
        } else {
            let block = self.block_len();
            unpadded.div_ceil(block).saturating_mul(block)
        }
    }

    /// Length of the body `seal` produces for `plaintext_len` octets of inner payloads
    /// (IV, padded ciphertext with Pad Length, ICV), so the caller can write the final
    /// lengths into the prefix before sealing.
    pub fn body_len(&self, plaintext_len: usize) -> usize {
        self.iv_len()
            .saturating_add(self.ciphertext_len(plaintext_len))
            .saturating_add(self.icv_len())
    }

    /// Encrypts `plaintext` (the inner payload chain) and returns the body: IV | ciphertext
    /// | ICV, exactly `body_len(plaintext.len())` octets. `rng` supplies the CBC IV, which
    /// must be unpredictable (RFC 7296 3.14), and the start of the combined-mode IV counter.
    ///
    /// Returns an empty body (so nothing readable is sent) only where the underlying cipher
    /// refuses the input: the combined modes above about 2^36 octets, while an IKE message
    /// is at most 65535, or keys `new` already accepted. That cannot occur in practice.
    pub fn seal(&mut self, prefix: &[u8], plaintext: &[u8], rng: &mut dyn Random) -> Vec<u8> {
        let body_len = self.body_len(plaintext.len());
        let ciphertext_len = self.ciphertext_len(plaintext.len());
        let Ok(scheme) = self.scheme() else {
            return Vec::new();
        };
        let mut body = Vec::with_capacity(body_len);
        match &scheme {
            Scheme::Aead { key, salt } => {
                let iv = match self.next_iv {
                    Some(iv) => iv,
                    None => {
                        let mut start = [0u8; 8];
                        rng.fill(&mut start);
                        u64::from_be_bytes(start)
                    }
                };
                self.next_iv = Some(iv.wrapping_add(1));
                let iv = iv.to_be_bytes();
                body.extend_from_slice(&iv);
                body.extend_from_slice(plaintext);
                body.push(0); // Pad Length: no padding needed.
                let sealed = body.get_mut(AEAD_IV_LEN..).unwrap_or_default();
                match key.seal_in_place_separate_tag(
                    nonce(salt, &iv),
                    aead::Aad::from(prefix),
                    sealed,
                ) {
                    Ok(tag) => body.extend_from_slice(tag.as_ref()),
                    Err(_) => return Vec::new(),
                }
            }
            Scheme::CbcHmac {
                cipher,
                mac,
                icv_len,
            } => {
                let block = cipher.block_len();
                body.resize(block, 0);
                rng.fill(&mut body);
                body.extend_from_slice(plaintext);
                let pad_len = ciphertext_len - plaintext.len() - 1;
                body.resize(block + ciphertext_len - 1, 0);
                // Below one block, so the cast is lossless.
                body.push(pad_len as u8);
                let (iv, data) = body.split_at_mut(block);
                // The IV is one block by construction; should that ever fail, send nothing
                // rather than plaintext.
                if cipher.encrypt(iv, data).is_err() {
                    return Vec::new();
                }
                let mut ctx = mac.context();
                ctx.update(prefix);
                ctx.update(&body);
                let tag = ctx.finish();
                body.extend_from_slice(tag.as_ref().get(..*icv_len).unwrap_or_default());
            }
        }
        debug_assert_eq!(body.len(), body_len);
        body
    }

    /// Verifies and decrypts a body, returning the inner payload chain with the padding and
    /// Pad Length removed. The ICV is checked (in constant time) before anything is
    /// decrypted; any malformation is an error, never a panic. The padding octets' values
    /// are not checked: RFC 7296 3.14 lets the sender choose them.
    pub fn open(&self, prefix: &[u8], body: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        match &self.scheme()? {
            Scheme::Aead { key, salt } => {
                if body.len() < AEAD_IV_LEN + AEAD_ICV_LEN {
                    return Err(CryptoError::Truncated);
                }
                let (iv, sealed) = body.split_at(AEAD_IV_LEN);
                let iv: [u8; AEAD_IV_LEN] = iv.try_into().map_err(|_| CryptoError::Truncated)?;
                let mut buf = Zeroizing::new(sealed.to_vec());
                let plain_len = key
                    .open_in_place(nonce(salt, &iv), aead::Aad::from(prefix), &mut buf)
                    .map_err(|_| CryptoError::IcvMismatch)?
                    .len();
                buf.truncate(plain_len);
                strip_padding(buf)
            }
            Scheme::CbcHmac {
                cipher,
                mac,
                icv_len,
            } => {
                let block = cipher.block_len();
                // At least one block of ciphertext: the Pad Length octet must be somewhere.
                if body.len() < block + block + icv_len {
                    return Err(CryptoError::Truncated);
                }
                let (signed, icv) = body.split_at(body.len() - icv_len);
                let (iv, ciphertext) = signed.split_at(block);
                if ciphertext.len() % block != 0 {
                    return Err(CryptoError::MisalignedCiphertext);
                }
                let mut ctx = mac.context();
                ctx.update(prefix);
                ctx.update(signed);
                let tag = ctx.finish();
                let expected = tag.as_ref().get(..*icv_len).unwrap_or_default();
                if !bool::from(expected.ct_eq(icv)) {
                    return Err(CryptoError::IcvMismatch);
                }
                let mut buf = Zeroizing::new(ciphertext.to_vec());
                cipher.decrypt(iv, &mut buf)?;
                strip_padding(buf)
            }
        }
    }
}

/// The two directions of an IKE SA as (outbound, inbound). SK_ei/SK_ai protect what the
/// original initiator of the SA sends, SK_er/SK_ar what the original responder sends
/// (RFC 7296 2.14); "original" refers to who created this IKE SA (after a rekey, whoever
/// initiated the rekeying exchange), not to who sends the current request.
pub fn protections(
    suite: &IkeSuite,
    keys: &IkeKeys,
    original_initiator: bool,
) -> Result<(PayloadProtection, PayloadProtection), CryptoError> {
    let integrity = if suite.encryption.is_aead() {
        None
    } else {
        suite.integrity
    };
    let initiator =
        PayloadProtection::new(suite.encryption, integrity, &keys.sk_ei, Some(&keys.sk_ai))?;
    let responder =
        PayloadProtection::new(suite.encryption, integrity, &keys.sk_er, Some(&keys.sk_ar))?;
    Ok(if original_initiator {
        (initiator, responder)
    } else {
        (responder, initiator)
    })
}

/// Salt | explicit IV (RFC 5282 section 4, RFC 7634 section 2).
fn nonce(salt: &[u8; AEAD_SALT_LEN], iv: &[u8; AEAD_IV_LEN]) -> aead::Nonce {
    let mut nonce = [0u8; aead::NONCE_LEN];
    let (head, tail) = nonce.split_at_mut(AEAD_SALT_LEN);
    head.copy_from_slice(salt);
    tail.copy_from_slice(iv);
    aead::Nonce::assume_unique_for_key(nonce)
}

/// Removes the Pad Length octet and the padding it announces (RFC 7296 3.14).
fn strip_padding(mut plain: Zeroizing<Vec<u8>>) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let pad_len = plain.pop().ok_or(CryptoError::BadPadding)?;
    let payload_len = plain
        .len()
        .checked_sub(usize::from(pad_len))
        .ok_or(CryptoError::BadPadding)?;
    plain.truncate(payload_len);
    Ok(plain)
}

impl CbcCipher {
    /// Keys an AES-CBC or 3DES-CBC cipher with a key of exactly `encryption.keymat_len()`
    /// octets; refuses the combined modes.
    pub(crate) fn new(encryption: Encryption, key: &[u8]) -> Result<CbcCipher, CryptoError> {
        let bad_key = |_| CryptoError::BadKeyLength {
            expected: encryption.keymat_len(),
            got: key.len(),
        };
        Ok(match encryption {
            Encryption::AesCbc { key_bits: 128 } => {
                CbcCipher::Aes128(aes::Aes128::new_from_slice(key).map_err(bad_key)?)
            }
            Encryption::AesCbc { key_bits: 192 } => {
                CbcCipher::Aes192(aes::Aes192::new_from_slice(key).map_err(bad_key)?)
            }
            Encryption::AesCbc { key_bits: 256 } => {
                CbcCipher::Aes256(aes::Aes256::new_from_slice(key).map_err(bad_key)?)
            }
            Encryption::TripleDes => {
                CbcCipher::TripleDes(des::TdesEde3::new_from_slice(key).map_err(bad_key)?)
            }
            Encryption::AesCbc { .. } => {
                return Err(CryptoError::UnsupportedAlgorithm("AES-CBC key size"))
            }
            Encryption::AesGcm16 { .. } | Encryption::ChaCha20Poly1305 => {
                return Err(CryptoError::UnsupportedAlgorithm("not a CBC cipher"))
            }
        })
    }

    pub(crate) fn block_len(&self) -> usize {
        match self {
            CbcCipher::Aes128(_) | CbcCipher::Aes192(_) | CbcCipher::Aes256(_) => AES_BLOCK,
            CbcCipher::TripleDes(_) => DES_BLOCK,
        }
    }

    /// CBC-encrypts whole blocks of `data` in place with `iv`, which must be one block long.
    /// Callers pass whole blocks; a trailing partial block would be left untouched.
    pub(crate) fn encrypt(&self, iv: &[u8], data: &mut [u8]) -> Result<(), CryptoError> {
        match self {
            CbcCipher::Aes128(c) => cbc_encrypt(c, iv, data),
            CbcCipher::Aes192(c) => cbc_encrypt(c, iv, data),
            CbcCipher::Aes256(c) => cbc_encrypt(c, iv, data),
            CbcCipher::TripleDes(c) => cbc_encrypt(c, iv, data),
        }
    }

    /// CBC-decrypts whole blocks of `data` in place with `iv`, which must be one block long.
    pub(crate) fn decrypt(&self, iv: &[u8], data: &mut [u8]) -> Result<(), CryptoError> {
        match self {
            CbcCipher::Aes128(c) => cbc_decrypt(c, iv, data),
            CbcCipher::Aes192(c) => cbc_decrypt(c, iv, data),
            CbcCipher::Aes256(c) => cbc_decrypt(c, iv, data),
            CbcCipher::TripleDes(c) => cbc_decrypt(c, iv, data),
        }
    }
}

fn cbc_encrypt<C>(cipher: &C, iv: &[u8], data: &mut [u8]) -> Result<(), CryptoError>
where
    C: BlockCipherEncrypt + Clone,
{
    let mut mode = cbc::Encryptor::<C>::inner_iv_slice_init(cipher.clone(), iv)
        .map_err(|_| CryptoError::Truncated)?;
    let (blocks, _) = Array::<u8, C::BlockSize>::slice_as_chunks_mut(data);
    mode.encrypt_blocks(blocks);
    Ok(())
}

fn cbc_decrypt<C>(cipher: &C, iv: &[u8], data: &mut [u8]) -> Result<(), CryptoError>
where
    C: BlockCipherDecrypt + Clone,
{
    let mut mode = cbc::Decryptor::<C>::inner_iv_slice_init(cipher.clone(), iv)
        .map_err(|_| CryptoError::Truncated)?;
    let (blocks, _) = Array::<u8, C::BlockSize>::slice_as_chunks_mut(data);
    mode.decrypt_blocks(blocks);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::testing::{hex, DeterministicRandom};
    use proptest::prelude::*;

    fn all_suites() -> Vec<(Encryption, Option<Integrity>)> {
        let mut suites = vec![
            (Encryption::AesGcm16 { key_bits: 128 }, None),
            (Encryption::AesGcm16 { key_bits: 256 }, None),
            (Encryption::ChaCha20Poly1305, None),
        ];
        let cbc = [
            Encryption::AesCbc { key_bits: 128 },
            Encryption::AesCbc { key_bits: 192 },
            Encryption::AesCbc { key_bits: 256 },
            Encryption::TripleDes,
        ];
        for encryption in cbc {
            for integrity in [
                Integrity::HmacMd5_96,
                Integrity::HmacSha1_96,
                Integrity::HmacSha256_128,
                Integrity::HmacSha384_192,
                Integrity::HmacSha512_256,
            ] {
                suites.push((encryption, Some(integrity)));
            }
        }
        suites
    }

    /// Sender and receiver for one direction, keyed from a seeded stream.
    fn pair(
        encryption: Encryption,
        integrity: Option<Integrity>,
        seed: u64,
    ) -> (PayloadProtection, PayloadProtection) {
        let mut rng = DeterministicRandom::new(seed);
        let mut sk_e = vec![0u8; encryption.keymat_len()];
        rng.fill(&mut sk_e);
        let mut sk_a = vec![0u8; integrity.map_or(0, Integrity::key_len)];
        rng.fill(&mut sk_a);
        let make = || PayloadProtection::new(encryption, integrity, &sk_e, Some(&sk_a)).unwrap();
        (make(), make())
    }

    const PREFIX: &[u8] = b"IKE header (28 octets) .....SK hdr";

    #[test]
    fn round_trip_every_suite_and_length() {
        let mut rng = DeterministicRandom::new(1);
        for (encryption, integrity) in all_suites() {
            let (mut tx, rx) = pair(encryption, integrity, 2);
            for len in [0usize, 1, 7, 15, 16, 17, 31, 32, 200, 1400] {
                let plaintext: Vec<u8> = (0..len).map(|i| i as u8).collect();
                let body = tx.seal(PREFIX, &plaintext, &mut rng);
                assert_eq!(body.len(), tx.body_len(len), "{encryption} {len}");
                let ciphertext_len = body.len() - tx.iv_len() - tx.icv_len();
                if encryption.is_aead() {
                    assert_eq!(ciphertext_len, len + 1);
                } else {
                    let block = tx.iv_len();
                    assert_eq!(
                        block,
                        if encryption == Encryption::TripleDes {
                            8
                        } else {
                            16
                        }
                    );
                    assert_eq!(ciphertext_len % block, 0);
                    assert!(ciphertext_len > len && ciphertext_len <= len + block);
                }
                let opened = rx.open(PREFIX, &body).unwrap();
                assert_eq!(*opened, plaintext, "{encryption} {integrity:?} {len}");
            }
        }
    }

    #[test]
    fn any_changed_octet_of_prefix_or_body_is_rejected() {
        let mut rng = DeterministicRandom::new(3);
        for (encryption, integrity) in all_suites() {
            let (mut tx, rx) = pair(encryption, integrity, 4);
            let body = tx.seal(PREFIX, b"inner payload chain", &mut rng);
            for i in 0..PREFIX.len() {
                let mut prefix = PREFIX.to_vec();
                prefix[i] ^= 0x01;
                assert_eq!(rx.open(&prefix, &body), Err(CryptoError::IcvMismatch));
            }
            for i in 0..body.len() {
                let mut tampered = body.clone();
                tampered[i] ^= 0x80;
                assert_eq!(
                    rx.open(PREFIX, &tampered),
                    Err(CryptoError::IcvMismatch),
                    "{encryption} {integrity:?} octet {i}"
                );
            }
            // A different key in the other direction does not open it either.
            let (_, other) = pair(encryption, integrity, 5);
            assert_eq!(other.open(PREFIX, &body), Err(CryptoError::IcvMismatch));
        }
    }

    #[test]
    fn truncated_and_extended_bodies_fail_without_panic() {
        let mut rng = DeterministicRandom::new(6);
        for (encryption, integrity) in all_suites() {
            let (mut tx, rx) = pair(encryption, integrity, 7);
            let body = tx.seal(PREFIX, &[0x29; 40], &mut rng);
            for len in 0..body.len() {
                assert!(rx.open(PREFIX, &body[..len]).is_err(), "{encryption} {len}");
                assert!(
                    rx.open(PREFIX, &body[len + 1..]).is_err(),
                    "{encryption} {len}"
                );
            }
            let mut longer = body.clone();
            longer.push(0);
            assert!(rx.open(PREFIX, &longer).is_err());
        }
    }

    #[test]
    fn combined_mode_ivs_never_repeat() {
        let mut rng = DeterministicRandom::new(8);
        let (mut tx, rx) = pair(Encryption::AesGcm16 { key_bits: 128 }, None, 9);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            let body = tx.seal(PREFIX, b"same content", &mut rng);
            assert!(seen.insert(body[..8].to_vec()), "IV repeated");
            assert_eq!(*rx.open(PREFIX, &body).unwrap(), b"same content");
        }
    }

    #[test]
    fn cbc_ivs_come_from_the_rng() {
        let (mut tx, _) = pair(
            Encryption::AesCbc { key_bits: 128 },
            Some(Integrity::HmacSha256_128),
            10,
        );
        let a = tx.seal(PREFIX, b"x", &mut DeterministicRandom::new(11));
        let b = tx.seal(PREFIX, b"x", &mut DeterministicRandom::new(12));
        assert_ne!(a[..16], b[..16]);
        assert_ne!(a[16..32], b[16..32]);
    }

    #[test]
    fn protections_pair_the_directions() {
        use crate::algorithm::{DhGroup, Prf};
        use crate::crypto::keymat::derive_ike_keys;
        let mut rng = DeterministicRandom::new(16);
        for (encryption, integrity) in [
            (Encryption::AesGcm16 { key_bits: 256 }, None),
            (
                Encryption::AesCbc { key_bits: 128 },
                Some(Integrity::HmacSha256_128),
            ),
        ] {
            let suite = IkeSuite {
                encryption,
                integrity,
                prf: Prf::HmacSha256,
                dh: DhGroup::Ecp256,
            };
            let keys = derive_ike_keys(&suite, b"g^ir", b"Ni", b"Nr", 1, 2);
            let (mut i_out, i_in) = protections(&suite, &keys, true).unwrap();
            let (mut r_out, r_in) = protections(&suite, &keys, false).unwrap();
            let request = i_out.seal(PREFIX, b"request", &mut rng);
            assert_eq!(*r_in.open(PREFIX, &request).unwrap(), b"request");
            assert!(i_in.open(PREFIX, &request).is_err());
            let response = r_out.seal(PREFIX, b"response", &mut rng);
            assert_eq!(*i_in.open(PREFIX, &response).unwrap(), b"response");
            assert!(r_in.open(PREFIX, &response).is_err());
        }
    }

    #[test]
    fn bad_pad_length_is_rejected() {
        // Seal, directly with ring, plaintexts whose last octet (the Pad Length) points
        // before the start of the plaintext, or that are empty.
        let sk_e = [0x11u8; 20];
        let rx = PayloadProtection::new(Encryption::AesGcm16 { key_bits: 128 }, None, &sk_e, None)
            .unwrap();
        let key =
            aead::LessSafeKey::new(aead::UnboundKey::new(&aead::AES_128_GCM, &sk_e[..16]).unwrap());
        let iv = [0u8; 8];
        for (plaintext, expected) in [
            (&[][..], Err(CryptoError::BadPadding)),
            (&[3u8, 3, 3][..], Err(CryptoError::BadPadding)),
            (&[9u8, 2, 2][..], Ok(vec![])),
            (&[9u8, 1, 1][..], Ok(vec![9u8])),
        ] {
            let mut buf = plaintext.to_vec();
            let nonce = nonce(&[0x11; 4], &iv);
            key.seal_in_place_append_tag(nonce, aead::Aad::from(PREFIX), &mut buf)
                .unwrap();
            let body = [&iv[..], &buf].concat();
            assert_eq!(rx.open(PREFIX, &body).map(|p| p.to_vec()), expected);
        }
    }

    #[test]
    fn constructor_checks_keys_and_algorithms() {
        let gcm = Encryption::AesGcm16 { key_bits: 128 };
        let cbc = Encryption::AesCbc { key_bits: 256 };
        let sha = Some(Integrity::HmacSha256_128);
        assert_eq!(
            PayloadProtection::new(gcm, None, &[0; 16], None).unwrap_err(),
            CryptoError::BadKeyLength {
                expected: 20,
                got: 16
            }
        );
        assert!(PayloadProtection::new(gcm, sha, &[0; 20], None).is_err());
        assert!(PayloadProtection::new(
            Encryption::AesGcm16 { key_bits: 192 },
            None,
            &[0; 28],
            None
        )
        .is_err());
        assert!(PayloadProtection::new(cbc, None, &[0; 32], None).is_err());
        assert_eq!(
            PayloadProtection::new(cbc, sha, &[0; 32], Some(&[0; 20])).unwrap_err(),
            CryptoError::BadKeyLength {
                expected: 32,
                got: 20
            }
        );
        assert!(PayloadProtection::new(cbc, sha, &[0; 32], None).is_err());
        assert!(PayloadProtection::new(Encryption::TripleDes, None, &[0; 24], None).is_err());
        assert!(PayloadProtection::new(cbc, sha, &[0; 32], Some(&[0; 32])).is_ok());
    }

    // The AES-GCM specification's test case 4 (McGrew and Viega, "The Galois/Counter Mode
    // of Operation", 96-bit IV), read as an IKEv2 SK body: salt | explicit IV = the spec's
    // IV, associated data = the prefix. The plaintext's last octet, 0x39 = 57, is a valid
    // Pad Length, leaving the first 2 octets as the inner payloads.
    #[test]
    fn aes_gcm_known_answer() {
        let key = hex("feffe9928665731c6d6a8f9467308308 cafebabe");
        let aad = hex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
        let body = hex("facedbaddecaf888
             42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e
             21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091
             5bc94fbc3221a5db94fae95ae7121a47");
        let rx = PayloadProtection::new(Encryption::AesGcm16 { key_bits: 128 }, None, &key, None)
            .unwrap();
        assert_eq!(*rx.open(&aad, &body).unwrap(), hex("d931"));
    }

    // RFC 8439 section 2.8.2 (ChaCha20-Poly1305 AEAD): nonce 07000000 | 4041424344454647
    // maps to salt 07000000 and explicit IV 4041424344454647 (RFC 7634 section 2). The
    // plaintext ends in '.' = 46, a valid Pad Length, leaving 114 - 1 - 46 = 67 octets.
    #[test]
    fn chacha20_poly1305_known_answer() {
        let key: Vec<u8> = (0x80..=0x9f).chain([0x07, 0, 0, 0]).collect();
        let aad = hex("50515253c0c1c2c3c4c5c6c7");
        let body = hex("4041424344454647
             d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6
             3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36
             92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc
             3ff4def08e4b7a9de576d26586cec64b6116
             1ae10b594f09e26a7e902ecbd0600691");
        let plaintext: &[u8] = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";
        let rx = PayloadProtection::new(Encryption::ChaCha20Poly1305, None, &key, None).unwrap();
        assert_eq!(*rx.open(&aad, &body).unwrap(), plaintext[..67]);
    }

    // RFC 3602 section 4, case #3 (AES-128-CBC, 48 octets): the plaintext ends in ')' =
    // 41, a valid Pad Length, leaving "This i". The HMAC-SHA-256-128 ICV over prefix | IV |
    // ciphertext with SK_a = 0x11 * 32 was computed independently with Python 3's hmac.
    #[test]
    fn aes_cbc_hmac_known_answer() {
        let rx = PayloadProtection::new(
            Encryption::AesCbc { key_bits: 128 },
            Some(Integrity::HmacSha256_128),
            &hex("6c3ea0477630ce21a2ce334aa746c2cd"),
            Some(&[0x11; 32]),
        )
        .unwrap();
        let prefix = hex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b21000044");
        let body = hex("c782dc4c098c66cbd9cd27d825682c81
             d0a02b3836451753d493665d33f0e8862dea54cdb293abc7506939276772f8d5
             021c19216bad525c8579695d83ba2684
             f7aa058ba943e32b60515b9a36ed7d28");
        assert_eq!(*rx.open(&prefix, &body).unwrap(), b"This i");
    }

    /// Hands out fixed octets, so a test can choose the IV.
    struct FixedRandom(Vec<u8>);

    impl Random for FixedRandom {
        fn fill(&mut self, buf: &mut [u8]) {
            let n = buf.len().min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0.drain(..n);
        }
    }

    // 3DES-CBC with HMAC-SHA1-96: ciphertext and ICV computed independently with Python 3
    // (`cryptography`'s TripleDES in CBC mode and the hmac module) for the inner payloads
    // "IKE inner payloads", 5 zero octets of padding and Pad Length 5. Sealing with the
    // same IV must give the same body, and opening it must give the payloads back.
    #[test]
    fn triple_des_cbc_hmac_known_answer() {
        let key = hex("0123456789abcdef23456789abcdef01456789abcdef0123");
        let prefix = hex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b2e000044");
        let expected = hex("1234567890abcdef
             83f34f78c46ba7d60cef09f36e6671fae7b2d9a9d463487e
             1e430d5690692287f93f91fd");
        let integrity = Some(Integrity::HmacSha1_96);
        let mut tx =
            PayloadProtection::new(Encryption::TripleDes, integrity, &key, Some(&[0x22; 20]))
                .unwrap();
        let mut iv = FixedRandom(hex("1234567890abcdef"));
        assert_eq!(tx.seal(&prefix, b"IKE inner payloads", &mut iv), expected);
        assert_eq!(*tx.open(&prefix, &expected).unwrap(), b"IKE inner payloads");
    }

    // AES-128-CBC with HMAC-MD5-96 (RFC 2403): ciphertext and ICV computed independently
    // with Python 3 (`cryptography`'s AES in CBC mode and the hmac module with MD5) for the
    // inner payloads "IKE inner payloads", 13 zero octets of padding and Pad Length 13.
    #[test]
    fn aes_cbc_hmac_md5_known_answer() {
        let key = hex("6c3ea0477630ce21a2ce334aa746c2cd");
        let prefix = hex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b2e000044");
        let expected = hex("00112233445566778899aabbccddeeff
             ab19c8d29b0a302384f9ad09f29d58e0b8dde6567e0a6ecffb1eb8e190f2691b
             7d95461a3ca93b27dd872242");
        let integrity = Some(Integrity::HmacMd5_96);
        let aes = Encryption::AesCbc { key_bits: 128 };
        let mut tx = PayloadProtection::new(aes, integrity, &key, Some(&[0x33; 16])).unwrap();
        let mut iv = FixedRandom(hex("00112233445566778899aabbccddeeff"));
        assert_eq!(tx.seal(&prefix, b"IKE inner payloads", &mut iv), expected);
        assert_eq!(*tx.open(&prefix, &expected).unwrap(), b"IKE inner payloads");
    }

    proptest! {
        #[test]
        fn open_never_panics_on_arbitrary_bodies(
            suite in any::<proptest::sample::Index>(),
            prefix in proptest::collection::vec(any::<u8>(), 0..40),
            body in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let (encryption, integrity) = *suite.get(&all_suites());
            let (_, rx) = pair(encryption, integrity, 13);
            prop_assert!(rx.open(&prefix, &body).is_err());
        }

        #[test]
        fn seal_open_round_trips_arbitrary_input(
            suite in any::<proptest::sample::Index>(),
            prefix in proptest::collection::vec(any::<u8>(), 0..40),
            plaintext in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let (encryption, integrity) = *suite.get(&all_suites());
            let (mut tx, rx) = pair(encryption, integrity, 14);
            let body = tx.seal(&prefix, &plaintext, &mut DeterministicRandom::new(15));
            prop_assert_eq!(body.len(), tx.body_len(plaintext.len()));
            prop_assert_eq!(rx.open(&prefix, &body).unwrap().to_vec(), plaintext);
        }
    }
}

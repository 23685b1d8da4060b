//! Encryption of an ISAKMP SA's messages: everything after the 28-octet ISAKMP header is
//! CBC-encrypted when the header's Encryption flag is set (RFC 2408 section 3.1), with the
//! IV chained from message to message (RFC 2409 appendix B, see [`super::iv`]).

use std::fmt;

use zeroize::Zeroizing;

use crate::algorithm::Encryption;
use crate::crypto::error::CryptoError;
use crate::crypto::protect::CbcCipher;

/// The CBC cipher of an ISAKMP SA: AES-128/192/256-CBC or 3DES-CBC, keyed with the
/// phase 1 encryption key.
pub struct Phase1Cipher {
    cipher: CbcCipher,
}

impl fmt::Debug for Phase1Cipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Phase1Cipher")
            .field("block_len", &self.block_len())
            .finish_non_exhaustive()
    }
}

impl Phase1Cipher {
    /// Keys the cipher; `key` must be exactly `cipher.keymat_len()` octets (the encryption
    /// key of [`super::derive_phase1`]). The combined modes have no IKEv1 phase 1 use and
    /// are refused.
    pub fn new(cipher: Encryption, key: &[u8]) -> Result<Self, CryptoError> {
        Ok(Phase1Cipher {
            cipher: CbcCipher::new(cipher, key)?,
        })
    }

    /// The block length, which is also the IV length: 16 for AES, 8 for 3DES.
    pub fn block_len(&self) -> usize {
        self.cipher.block_len()
    }

    /// Pads `plaintext` (the payload chain after the ISAKMP header) with zero octets and
    /// CBC-encrypts it with `iv`. The caller keeps the last ciphertext block as the IV of
    /// the next message.
    ///
    /// Padding: 1 to `block_len` zero octets, a whole block when the payloads already end on
    /// a block boundary. The receiver finds the payloads' end from their own lengths and
    /// ignores what follows, so any zero padding to a whole number of blocks would do. This
    /// is what strongSwan 5.9 sends (seen in the exchange the known-answer tests come
    /// from, e.g. a 64-octet Main Mode message 5 sent as 80 octets), so a message we encrypt
    /// matches strongSwan's octet for octet; Libreswan also always pads for CBC ciphers.
    ///
    /// An IV that is not one block long gives an empty result, so nothing readable is
    /// sent; the IVs of [`super::iv`] always have the right length.
    pub fn encrypt(&self, iv: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let block = self.block_len();
        let padding = block - plaintext.len() % block;
        let mut data = Vec::with_capacity(plaintext.len() + padding);
        data.extend_from_slice(plaintext);
        data.resize(plaintext.len() + padding, 0);
        if iv.len() != block || self.cipher.encrypt(iv, &mut data).is_err() {
            return Vec::new();
        }
        data
    }

    /// CBC-decrypts `ciphertext` with `iv`. Errors if the ciphertext is empty or not a
    /// whole number of blocks, or the IV is not one block. The padding stays: the payload
    /// parser stops after the last payload.
    pub fn decrypt(&self, iv: &[u8], ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let block = self.block_len();
        if ciphertext.is_empty() || ciphertext.len() % block != 0 {
            return Err(CryptoError::MisalignedCiphertext);
        }
        if iv.len() != block {
            return Err(CryptoError::Truncated);
        }
        let mut data = Zeroizing::new(ciphertext.to_vec());
        self.cipher.decrypt(iv, &mut data)?;
        Ok(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::testing::hex;

    // RFC 3602 section 4, case #2 (AES-128-CBC, 32 octets): the same key, IV and
    // ciphertext; a 32-octet plaintext gets a whole block of zero padding on encryption.
    #[test]
    fn rfc3602_case_2() {
        let key = hex("c286696d887c9aa0611bbb3e2025a45a");
        let iv = hex("562e17996d093d28ddb3ba695a2e6f58");
        let plain = hex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
        let cipher_text = hex("d296cd94c2cccf8a3a863028b5e1dc0a7586602d253cfff91b8266bea6d61ab1");
        let c = Phase1Cipher::new(Encryption::AesCbc { key_bits: 128 }, &key).unwrap();
        assert_eq!(c.block_len(), 16);
        let out = c.encrypt(&iv, &plain);
        assert_eq!(out.len(), 48);
        assert_eq!(out[..32], cipher_text[..]);
        let back = c.decrypt(&iv, &out).unwrap();
        assert_eq!(back[..32], plain[..]);
        assert_eq!(back[32..], [0u8; 16]);
        assert_eq!(*c.decrypt(&iv, &cipher_text).unwrap(), plain);
    }

    #[test]
    fn padding_and_errors() {
        let c = Phase1Cipher::new(Encryption::TripleDes, &[0x11; 24]).unwrap();
        assert_eq!(c.block_len(), 8);
        let iv = [0x22; 8];
        for len in 0..20 {
            let plain = vec![0xab; len];
            let out = c.encrypt(&iv, &plain);
            assert_eq!(out.len(), (len / 8 + 1) * 8, "{len}");
            let back = c.decrypt(&iv, &out).unwrap();
            assert_eq!(back[..len], plain[..]);
            assert!(back[len..].iter().all(|&b| b == 0));
        }
        assert!(
            c.encrypt(&[0; 16], b"x").is_empty(),
            "IV of the wrong length"
        );
        assert_eq!(
            c.decrypt(&iv, &[0; 12]).unwrap_err(),
            CryptoError::MisalignedCiphertext
        );
        assert_eq!(
            c.decrypt(&iv, &[]).unwrap_err(),
            CryptoError::MisalignedCiphertext
        );
        assert_eq!(
            c.decrypt(&[0; 7], &[0; 8]).unwrap_err(),
            CryptoError::Truncated
        );
        assert!(Phase1Cipher::new(Encryption::AesGcm16 { key_bits: 128 }, &[0; 20]).is_err());
        assert_eq!(
            Phase1Cipher::new(Encryption::AesCbc { key_bits: 256 }, &[0; 16]).unwrap_err(),
            CryptoError::BadKeyLength {
                expected: 32,
                got: 16
            }
        );
    }
}

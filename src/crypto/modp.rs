//! Finite-field Diffie-Hellman over the MODP groups 2 (RFC 2409 6.2) and 14 (RFC 3526
//! section 3), generator 2. Exponentiation uses crypto-bigint's Montgomery ladder, which is
//! constant time in the secret exponent.
//!
//! Private exponents are 256 bits with the top bit set. RFC 3526 section 8 asks for an
//! exponent of at least twice the group's strength in bits: group 14 offers about 110 bits
//! and group 2 about 80, so 256 bits is ample for both, and a fixed size keeps the ladder's
//! running time independent of the exponent. The exponent is drawn from the injected
//! [`Random`], so tests can fix it.

use std::sync::LazyLock;

use crypto_bigint::modular::{FixedMontyForm, FixedMontyParams};
use crypto_bigint::{Odd, Uint, U1024, U2048, U256};
use zeroize::Zeroizing;

use super::alg::DhGroup;
use super::error::CryptoError;
use super::rng::Random;

/// Group 2: 2^1024 - 2^960 - 1 + 2^64 * { [2^894 pi] + 129093 } (RFC 2409 section 6.2).
const MODP1024_P: &str = concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381FFFFFFFFFFFFFFFF",
);

/// Group 14: 2^2048 - 2^1984 - 1 + 2^64 * { [2^1918 pi] + 124476 } (RFC 3526 section 3).
const MODP2048_P: &str = concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05",
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB",
    "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B",
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718",
    "3995497CEA956AE515D2261898FA051015728E5A8AACAA68FFFFFFFFFFFFFFFF",
);

/// Montgomery parameters of one group, computed once per process.
struct Group<const L: usize> {
    params: FixedMontyParams<L>,
    p_minus_1: Uint<L>,
}

impl<const L: usize> Group<L> {
    fn new(prime_hex: &str) -> Self {
        let p = Odd::<Uint<L>>::from_be_hex(prime_hex);
        let p_minus_1 = p.as_ref().wrapping_sub(&Uint::ONE);
        Group {
            params: FixedMontyParams::new_vartime(p),
            p_minus_1,
        }
    }

    /// g^x mod p, big endian, exactly as long as the prime.
    fn public(&self, x: &U256) -> Vec<u8> {
        let g = FixedMontyForm::new(&Uint::<L>::from_u64(2), &self.params);
        g.pow(x).retrieve().to_be_bytes().as_ref().to_vec()
    }

    /// y^x mod p after checking 1 < y < p-1. The primes are safe primes, for which that
    /// range check is the whole of the validation RFC 6989 section 2.2 asks for.
    fn shared(&self, x: &U256, peer: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        // Uint::from_be_slice requires the exact length.
        if peer.len() != Uint::<L>::BYTES {
            return Err(CryptoError::BadPublicValue);
        }
        let y = Uint::<L>::from_be_slice(peer);
        if y <= Uint::ONE || y >= self.p_minus_1 {
            return Err(CryptoError::BadPublicValue);
        }
        let y = FixedMontyForm::new(&y, &self.params);
        let z = Zeroizing::new(y.pow(x).retrieve());
        let bytes = Zeroizing::new(z.to_be_bytes());
        Ok(Zeroizing::new(bytes.as_ref().to_vec()))
    }
}

static MODP1024: LazyLock<Group<{ U1024::LIMBS }>> = LazyLock::new(|| Group::new(MODP1024_P));
static MODP2048: LazyLock<Group<{ U2048::LIMBS }>> = LazyLock::new(|| Group::new(MODP2048_P));

/// A MODP private exponent.
pub(crate) struct ModpPrivate {
    group: DhGroup,
    exponent: Zeroizing<U256>,
}

impl ModpPrivate {
    /// Draws a 256-bit exponent with its top bit set; returns it with its public value.
    pub(crate) fn generate(
        group: DhGroup,
        rng: &mut dyn Random,
    ) -> Result<(ModpPrivate, Vec<u8>), CryptoError> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rng.fill(bytes.as_mut());
        bytes[0] |= 0x80;
        Self::from_exponent(group, &bytes)
    }

    /// A key with a given 32-octet big-endian exponent (tests and [`Self::generate`]).
    pub(crate) fn from_exponent(
        group: DhGroup,
        exponent: &[u8; 32],
    ) -> Result<(ModpPrivate, Vec<u8>), CryptoError> {
        let exponent = Zeroizing::new(U256::from_be_slice(exponent));
        let public = match group {
            DhGroup::Modp1024 => MODP1024.public(&exponent),
            DhGroup::Modp2048 => MODP2048.public(&exponent),
            _ => return Err(CryptoError::UnsupportedAlgorithm("not a MODP group")),
        };
        Ok((ModpPrivate { group, exponent }, public))
    }

    pub(crate) fn agree(&self, peer: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        match self.group {
            DhGroup::Modp1024 => MODP1024.shared(&self.exponent, peer),
            DhGroup::Modp2048 => MODP2048.shared(&self.exponent, peer),
            _ => Err(CryptoError::UnsupportedAlgorithm("not a MODP group")),
        }
    }
}

/// The prime of a MODP group, as hex (tests build boundary values from it).
#[cfg(test)]
pub(crate) fn prime_hex(group: DhGroup) -> &'static str {
    match group {
        DhGroup::Modp1024 => MODP1024_P,
        _ => MODP2048_P,
    }
}

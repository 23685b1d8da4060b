//! Finite-field Diffie-Hellman over the MODP groups 2 (RFC 2409 6.2) and 14 (RFC 3526
//! section 3), generator 2. Exponentiation uses crypto-bigint's Montgomery ladder, which is
//! constant time in the secret exponent.
//!
//! The public value g^x uses a table of powers of the fixed generator (a comb: 64 4-bit
//! digits of x, one multiplication each, the table entry chosen by a constant-time scan of
//! its row): about 64 multiplications instead of the ladder's 256 squarings and 64
//! multiplications. The shared value y^x has a new base each time and uses the ladder.
//!
//! Private exponents are 256 bits with the top bit set. RFC 3526 section 8 asks for an
//! exponent of at least twice the group's strength in bits: group 14 offers about 110 bits
//! and group 2 about 80, so 256 bits is ample for both, and a fixed size keeps the ladder's
//! running time independent of the exponent. The exponent is drawn from the injected
//! [`Random`], so tests can fix it.

use std::sync::LazyLock;

use crypto_bigint::modular::{FixedMontyForm, FixedMontyParams};
use crypto_bigint::{CtAssign, CtEq, Odd, Uint, U1024, U2048, U256};
use zeroize::Zeroizing;

use super::error::CryptoError;
use super::rng::Random;
use crate::algorithm::DhGroup;

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

/// Bits per digit of the exponent in the generator's table.
const DIGIT_BITS: usize = 4;
const DIGIT_VALUES: usize = 1 << DIGIT_BITS;
/// Digits of a 256-bit exponent.
const DIGITS: usize = 256 / DIGIT_BITS;

/// Montgomery parameters of one group and its generator's table, computed once per
/// process (the table of group 14 is 256 KiB).
struct Group<const L: usize> {
    params: FixedMontyParams<L>,
    p_minus_1: Uint<L>,
    /// `generator_powers[i][j]` = g^(j * 16^i) in Montgomery form: row i serves digit i
    /// of the exponent.
    generator_powers: Vec<[Uint<L>; DIGIT_VALUES]>,
}

impl<const L: usize> Group<L> {
    fn new(prime_hex: &str) -> Self {
        let p = Odd::<Uint<L>>::from_be_hex(prime_hex);
        let p_minus_1 = p.as_ref().wrapping_sub(&Uint::ONE);
        let params = FixedMontyParams::new_vartime(p);
        let mut generator_powers = Vec::with_capacity(DIGITS);
        // g^(16^i), the base of row i.
        let mut base = FixedMontyForm::new(&Uint::<L>::from_u64(2), &params);
        for _ in 0..DIGITS {
            let mut power = FixedMontyForm::one(&params);
            let mut row = [Uint::ZERO; DIGIT_VALUES];
            for entry in row.iter_mut() {
                *entry = *power.as_montgomery();
                power *= base;
            }
            // power = base^16 = g^(16^(i+1))
            base = power;
            generator_powers.push(row);
        }
        Group {
            params,
            p_minus_1,
            generator_powers,
        }
    }

    /// g^x mod p, big endian, exactly as long as the prime. Every row is read whole and
    /// every digit costs one multiplication, so the time does not depend on x.
    fn public(&self, x: &U256) -> Vec<u8> {
        let digits = Zeroizing::new(x.to_le_bytes());
        let mut acc = FixedMontyForm::one(&self.params);
        for (i, row) in self.generator_powers.iter().enumerate() {
            let byte = digits.as_ref()[i / 2];
            let digit = if i % 2 == 0 { byte & 0x0f } else { byte >> 4 };
            let mut power = row[0];
            for (j, candidate) in row.iter().enumerate().skip(1) {
                // j < 16, so the cast is lossless.
                power.ct_assign(candidate, digit.ct_eq(&(j as u8)));
            }
            acc *= FixedMontyForm::from_montgomery(power, &self.params);
        }
        acc.retrieve().to_be_bytes().as_ref().to_vec()
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The generator's table gives what the ladder gives, for exponents that exercise
    /// every digit value in every row.
    #[test]
    fn generator_table_matches_the_ladder() {
        let exponents = [
            "8000000000000000000000000000000000000000000000000000000000000000",
            "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF",
            "0123456789ABCDEFFEDCBA98765432100F1E2D3C4B5A69788796A5B4C3D2E1F0",
            "F0E1D2C3B4A5968778695A4B3C2D1E0F0123456789ABCDEF0123456789ABCDEF",
            "8000000000000000000000000000000000000000000000000000000000000001",
        ];
        for hex in exponents {
            let x = U256::from_be_hex(hex);
            let g = FixedMontyForm::new(&Uint::from_u64(2), &MODP2048.params);
            let ladder = g.pow(&x).retrieve().to_be_bytes().as_ref().to_vec();
            assert_eq!(MODP2048.public(&x), ladder, "group 14, exponent {hex}");
            let g = FixedMontyForm::new(&Uint::from_u64(2), &MODP1024.params);
            let ladder = g.pow(&x).retrieve().to_be_bytes().as_ref().to_vec();
            assert_eq!(MODP1024.public(&x), ladder, "group 2, exponent {hex}");
        }
    }
}

//! Finite-field Diffie-Hellman over the MODP groups 2 (RFC 2409 6.2), 5, 14, 15 and 16
//! (RFC 3526 sections 2-5), generator 2. Exponentiation uses crypto-bigint's Montgomery
//! ladder, which is constant time in the secret exponent.
//!
//! The public value g^x uses a table of powers of the fixed generator (a comb: one row per
//! 4-bit digit of x, one multiplication each, the table entry chosen by a constant-time scan
//! of its row): for a 256-bit exponent about 64 multiplications instead of the ladder's 256
//! squarings and 64 multiplications. The shared value y^x has a new base each time and uses
//! the ladder.
//!
//! RFC 3526 section 8 asks for an exponent of at least twice the group's strength in bits.
//! Groups 2, 5 and 14 offer about 80, 90 and 110 bits (RFC 3526 section 8's first estimate,
//! 120 and 160 by its second for groups 5 and 14), so their exponents are 256 bits; groups
//! 15 and 16 offer 130-210 and 150-240 bits by the two estimates, so theirs are 512 bits.
//! The top bit is always set: a fixed size keeps the ladder's running time independent of
//! the exponent. The exponent is drawn from the injected [`Random`], so tests can fix it.

use std::sync::LazyLock;

use crypto_bigint::modular::{FixedMontyForm, FixedMontyParams};
use crypto_bigint::{CtAssign, CtEq, Odd, Uint, U1024, U1536, U2048, U256, U3072, U4096, U512};
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

/// Group 5: 2^1536 - 2^1472 - 1 + 2^64 * { [2^1406 pi] + 741804 } (RFC 3526 section 2).
const MODP1536_P: &str = concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05",
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB",
    "9ED529077096966D670C354E4ABC9804F1746C08CA237327FFFFFFFFFFFFFFFF",
);

/// Group 15: 2^3072 - 2^3008 - 1 + 2^64 * { [2^2942 pi] + 1690314 } (RFC 3526 section 4).
const MODP3072_P: &str = concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05",
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB",
    "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B",
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718",
    "3995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33",
    "A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7",
    "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864",
    "D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E2",
    "08E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF",
);

/// Group 16: 2^4096 - 2^4032 - 1 + 2^64 * { [2^3966 pi] + 240904 } (RFC 3526 section 5).
const MODP4096_P: &str = concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05",
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB",
    "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B",
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718",
    "3995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33",
    "A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7",
    "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864",
    "D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E2",
    "08E24FA074E5AB3143DB5BFCE0FD108E4B82D120A92108011A723C12A787E6D7",
    "88719A10BDBA5B2699C327186AF4E23C1A946834B6150BDA2583E9CA2AD44CE8",
    "DBBBC2DB04DE8EF92E8EFC141FBECAA6287C59474E6BC05D99B2964FA090C3A2",
    "233BA186515BE7ED1F612970CEE2D7AFB81BDD762170481CD0069127D5B05AA9",
    "93B4EA988D8FDDC186FFB7DC90A6C08F4DF435C934063199FFFFFFFFFFFFFFFF",
);

/// Bits per digit of the exponent in the generator's table.
const DIGIT_BITS: usize = 4;
const DIGIT_VALUES: usize = 1 << DIGIT_BITS;

/// Octets of the private exponent of a group (see the module documentation).
pub(crate) fn exponent_len(group: DhGroup) -> usize {
    match group {
        DhGroup::Modp3072 | DhGroup::Modp4096 => 64,
        _ => 32,
    }
}

/// Montgomery parameters of one group and its generator's table, computed once per
/// process on first use (the table of group 14 is 256 KiB, that of group 16 1 MiB).
struct Group<const L: usize> {
    params: FixedMontyParams<L>,
    p_minus_1: Uint<L>,
    /// `generator_powers[i][j]` = g^(j * 16^i) in Montgomery form: row i serves digit i
    /// of the exponent.
    generator_powers: Vec<[Uint<L>; DIGIT_VALUES]>,
}

impl<const L: usize> Group<L> {
    /// The group of `prime_hex` with a table for exponents of `exponent_len` octets.
    fn new(prime_hex: &str, exponent_len: usize) -> Self {
        let p = Odd::<Uint<L>>::from_be_hex(prime_hex);
        let p_minus_1 = p.as_ref().wrapping_sub(&Uint::ONE);
        let params = FixedMontyParams::new_vartime(p);
        let digits = exponent_len * 8 / DIGIT_BITS;
        let mut generator_powers = Vec::with_capacity(digits);
        // g^(16^i), the base of row i.
        let mut base = FixedMontyForm::new(&Uint::<L>::from_u64(2), &params);
        for _ in 0..digits {
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

    /// g^x mod p for a big-endian exponent as long as the table was built for, big endian
    /// and exactly as long as the prime. Every row is read whole and every digit costs one
    /// multiplication, so the time does not depend on x.
    fn public(&self, x: &[u8]) -> Vec<u8> {
        let mut acc = FixedMontyForm::one(&self.params);
        for (i, row) in self.generator_powers.iter().enumerate() {
            // Digit i counts from the least significant end.
            let byte = x
                .len()
                .checked_sub(1 + i / 2)
                .and_then(|at| x.get(at))
                .copied()
                .unwrap_or(0);
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
    fn shared(&self, x: &[u8], peer: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        // Uint::from_be_slice requires the exact length.
        if peer.len() != Uint::<L>::BYTES {
            return Err(CryptoError::BadPublicValue);
        }
        let y = Uint::<L>::from_be_slice(peer);
        if y <= Uint::ONE || y >= self.p_minus_1 {
            return Err(CryptoError::BadPublicValue);
        }
        let y = FixedMontyForm::new(&y, &self.params);
        let z = match x.len() {
            32 => Zeroizing::new(y.pow(&*Zeroizing::new(U256::from_be_slice(x))).retrieve()),
            64 => Zeroizing::new(y.pow(&*Zeroizing::new(U512::from_be_slice(x))).retrieve()),
            _ => return Err(CryptoError::UnsupportedAlgorithm("MODP exponent length")),
        };
        let bytes = Zeroizing::new(z.to_be_bytes());
        Ok(Zeroizing::new(bytes.as_ref().to_vec()))
    }
}

static MODP1024: LazyLock<Group<{ U1024::LIMBS }>> =
    LazyLock::new(|| Group::new(MODP1024_P, exponent_len(DhGroup::Modp1024)));
static MODP1536: LazyLock<Group<{ U1536::LIMBS }>> =
    LazyLock::new(|| Group::new(MODP1536_P, exponent_len(DhGroup::Modp1536)));
static MODP2048: LazyLock<Group<{ U2048::LIMBS }>> =
    LazyLock::new(|| Group::new(MODP2048_P, exponent_len(DhGroup::Modp2048)));
static MODP3072: LazyLock<Group<{ U3072::LIMBS }>> =
    LazyLock::new(|| Group::new(MODP3072_P, exponent_len(DhGroup::Modp3072)));
static MODP4096: LazyLock<Group<{ U4096::LIMBS }>> =
    LazyLock::new(|| Group::new(MODP4096_P, exponent_len(DhGroup::Modp4096)));

/// A MODP private exponent, big endian, [`exponent_len`] octets.
pub(crate) struct ModpPrivate {
    group: DhGroup,
    exponent: Zeroizing<Vec<u8>>,
}

impl ModpPrivate {
    /// Draws an exponent of the group's size with its top bit set; returns it with its
    /// public value.
    pub(crate) fn generate(
        group: DhGroup,
        rng: &mut dyn Random,
    ) -> Result<(ModpPrivate, Vec<u8>), CryptoError> {
        let mut bytes = Zeroizing::new(vec![0u8; exponent_len(group)]);
        rng.fill(&mut bytes);
        if let Some(top) = bytes.first_mut() {
            *top |= 0x80;
        }
        Self::from_exponent(group, &bytes)
    }

    /// A key with a given big-endian exponent of exactly [`exponent_len`] octets (tests and
    /// [`Self::generate`]).
    pub(crate) fn from_exponent(
        group: DhGroup,
        exponent: &[u8],
    ) -> Result<(ModpPrivate, Vec<u8>), CryptoError> {
        if exponent.len() != exponent_len(group) {
            return Err(CryptoError::UnsupportedAlgorithm("MODP exponent length"));
        }
        let public = match group {
            DhGroup::Modp1024 => MODP1024.public(exponent),
            DhGroup::Modp1536 => MODP1536.public(exponent),
            DhGroup::Modp2048 => MODP2048.public(exponent),
            DhGroup::Modp3072 => MODP3072.public(exponent),
            DhGroup::Modp4096 => MODP4096.public(exponent),
            DhGroup::Ecp256 | DhGroup::Ecp384 | DhGroup::Ecp521 | DhGroup::Curve25519 => {
                return Err(CryptoError::UnsupportedAlgorithm("not a MODP group"))
            }
        };
        let exponent = Zeroizing::new(exponent.to_vec());
        Ok((ModpPrivate { group, exponent }, public))
    }

    pub(crate) fn agree(&self, peer: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        match self.group {
            DhGroup::Modp1024 => MODP1024.shared(&self.exponent, peer),
            DhGroup::Modp1536 => MODP1536.shared(&self.exponent, peer),
            DhGroup::Modp2048 => MODP2048.shared(&self.exponent, peer),
            DhGroup::Modp3072 => MODP3072.shared(&self.exponent, peer),
            DhGroup::Modp4096 => MODP4096.shared(&self.exponent, peer),
            DhGroup::Ecp256 | DhGroup::Ecp384 | DhGroup::Ecp521 | DhGroup::Curve25519 => {
                Err(CryptoError::UnsupportedAlgorithm("not a MODP group"))
            }
        }
    }
}

/// The prime of a MODP group, as hex (tests build boundary values from it).
#[cfg(test)]
pub(crate) fn prime_hex(group: DhGroup) -> &'static str {
    match group {
        DhGroup::Modp1024 => MODP1024_P,
        DhGroup::Modp1536 => MODP1536_P,
        DhGroup::Modp3072 => MODP3072_P,
        DhGroup::Modp4096 => MODP4096_P,
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
            let bytes = x.to_be_bytes();
            let g = FixedMontyForm::new(&Uint::from_u64(2), &MODP2048.params);
            let ladder = g.pow(&x).retrieve().to_be_bytes().as_ref().to_vec();
            assert_eq!(
                MODP2048.public(bytes.as_ref()),
                ladder,
                "group 14, exponent {hex}"
            );
            let g = FixedMontyForm::new(&Uint::from_u64(2), &MODP1024.params);
            let ladder = g.pow(&x).retrieve().to_be_bytes().as_ref().to_vec();
            assert_eq!(
                MODP1024.public(bytes.as_ref()),
                ladder,
                "group 2, exponent {hex}"
            );
            // Groups 15 and 16 take 512-bit exponents: this one twice over.
            let x = U512::from_be_hex(&format!("{hex}{hex}"));
            let bytes = x.to_be_bytes();
            let g = FixedMontyForm::new(&Uint::from_u64(2), &MODP3072.params);
            let ladder = g.pow(&x).retrieve().to_be_bytes().as_ref().to_vec();
            assert_eq!(
                MODP3072.public(bytes.as_ref()),
                ladder,
                "group 15, exponent {hex}"
            );
        }
    }
}

//! Test support: a reproducible randomness source.
//!
//! **For tests only.** [`DeterministicRandom`] is a keyed stream that anyone who knows the seed
//! can predict; never use it for real key exchanges.

use ring::hmac;

use super::rng::Random;

/// A seeded stream: block `n` is HMAC-SHA256(seed, n as 64-bit big endian).
///
/// For tests only: the output is fully determined by the seed.
pub struct DeterministicRandom {
    key: hmac::Key,
    counter: u64,
    block: [u8; 32],
    used: usize,
}

impl DeterministicRandom {
    /// A stream determined by `seed`.
    pub fn new(seed: u64) -> Self {
        Self::from_seed(&seed.to_be_bytes())
    }

    /// A stream determined by an arbitrary seed string.
    pub fn from_seed(seed: &[u8]) -> Self {
        DeterministicRandom {
            key: hmac::Key::new(hmac::HMAC_SHA256, seed),
            counter: 0,
            block: [0; 32],
            used: 32,
        }
    }

    fn refill(&mut self) {
        let tag = hmac::sign(&self.key, &self.counter.to_be_bytes());
        self.block.copy_from_slice(tag.as_ref());
        self.counter = self.counter.wrapping_add(1);
        self.used = 0;
    }
}

impl Random for DeterministicRandom {
    fn fill(&mut self, buf: &mut [u8]) {
        for byte in buf.iter_mut() {
            if self.used >= self.block.len() {
                self.refill();
            }
            *byte = self.block.get(self.used).copied().unwrap_or_default();
            self.used += 1;
        }
    }
}

impl std::fmt::Debug for DeterministicRandom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeterministicRandom")
            .field("counter", &self.counter)
            .finish_non_exhaustive()
    }
}

/// Decodes hex test vectors, ignoring whitespace. Test code only.
#[cfg(test)]
pub(crate) fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("test vector is valid hex"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_different_seed_different_stream() {
        let (mut a, mut b, mut c) = (
            DeterministicRandom::new(7),
            DeterministicRandom::new(7),
            DeterministicRandom::new(8),
        );
        let (mut x, mut y, mut z) = ([0u8; 70], [0u8; 70], [0u8; 70]);
        a.fill(&mut x[..5]);
        a.fill(&mut x[5..]);
        b.fill(&mut y);
        c.fill(&mut z);
        assert_eq!(x, y);
        assert_ne!(x, z);
        assert_ne!(x[..32], x[32..64]);
    }
}

//! Injected randomness: the engine never reaches for a global RNG, so tests can replace it.

use ring::rand::SecureRandom;

/// A source of random octets for nonces, SPIs, IVs and private exponents.
pub trait Random {
    /// Fills `buf` entirely with random octets.
    fn fill(&mut self, buf: &mut [u8]);
}

/// The operating system's CSPRNG (through ring).
#[derive(Debug)]
pub struct SystemRandom {
    inner: ring::rand::SystemRandom,
}

impl SystemRandom {
    pub fn new() -> Self {
        SystemRandom {
            inner: ring::rand::SystemRandom::new(),
        }
    }
}

impl Default for SystemRandom {
    fn default() -> Self {
        Self::new()
    }
}

impl Random for SystemRandom {
    /// # Panics
    /// If the operating system cannot supply randomness. Carrying on with predictable nonces
    /// or keys would be worse than stopping, and on Linux `getrandom` does not fail once the
    /// pool is initialised.
    fn fill(&mut self, buf: &mut [u8]) {
        if self.inner.fill(buf).is_err() {
            panic!("operating system random number generator failed");
        }
    }
}

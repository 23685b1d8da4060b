//! Stateless cookies against IKE_SA_INIT floods (RFC 7296 2.6), with a secret that changes
//! every [`ROTATION`] and the previous one still honoured, so that a cookie handed out just
//! before a change still works (the initiator returns it within a round trip).

use std::net::IpAddr;
use std::time::{Duration, Instant};

use ring::digest;

use crate::crypto::rng::Random;

/// How long one secret is used. RFC 7296 2.6: "the responder should change the value of
/// <secret> frequently, especially if under attack".
pub const ROTATION: Duration = Duration::from_secs(300);

/// The current secret, numbered, and the one before it.
pub struct CookieSecrets {
    current: (u8, [u8; 32]),
    previous: Option<(u8, [u8; 32])>,
    /// When the current secret was first used; `None` until then.
    since: Option<Instant>,
}

impl CookieSecrets {
    pub fn new(rng: &mut dyn Random) -> CookieSecrets {
        let mut secret = [0u8; 32];
        rng.fill(&mut secret);
        CookieSecrets {
            current: (1, secret),
            previous: None,
            since: None,
        }
    }

    /// Changes the secret when the current one is older than [`ROTATION`].
    pub fn rotate_if_due(&mut self, now: Instant, rng: &mut dyn Random) {
        let since = *self.since.get_or_insert(now);
        if now.saturating_duration_since(since) < ROTATION {
            return;
        }
        let mut secret = [0u8; 32];
        rng.fill(&mut secret);
        self.previous = Some(self.current);
        self.current = (self.current.0.wrapping_add(1), secret);
        self.since = Some(now);
    }

    /// Cookie = <VersionIDofSecret> | Hash(Ni | IPi | SPIi | <secret>).
    pub fn compute(&self, ni: &[u8], initiator: IpAddr, spi_i: u64) -> Vec<u8> {
        let (version, secret) = &self.current;
        cookie(*version, secret, ni, initiator, spi_i)
    }

    /// A cookie made with the current or the previous secret, named by its version octet.
    pub fn verify(&self, ni: &[u8], initiator: IpAddr, spi_i: u64, cookie_data: &[u8]) -> bool {
        let Some(&version) = cookie_data.first() else {
            return false;
        };
        let secret = [Some(self.current), self.previous]
            .into_iter()
            .flatten()
            .find(|(v, _)| *v == version);
        let Some((version, secret)) = secret else {
            return false;
        };
        let expected = cookie(version, &secret, ni, initiator, spi_i);
        subtle::ConstantTimeEq::ct_eq(expected.as_slice(), cookie_data).into()
    }
}

fn cookie(version: u8, secret: &[u8; 32], ni: &[u8], initiator: IpAddr, spi_i: u64) -> Vec<u8> {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(ni);
    match initiator {
        IpAddr::V4(v4) => ctx.update(&v4.octets()),
        IpAddr::V6(v6) => ctx.update(&v6.octets()),
    }
    ctx.update(&spi_i.to_be_bytes());
    ctx.update(secret);
    let mut out = vec![version];
    out.extend_from_slice(ctx.finish().as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::testing::DeterministicRandom;

    #[test]
    fn a_cookie_survives_one_rotation_and_not_two() {
        let mut rng = DeterministicRandom::new(1);
        let mut secrets = CookieSecrets::new(&mut rng);
        let start = Instant::now();
        let ip: IpAddr = "192.0.2.9".parse().expect("ip");
        secrets.rotate_if_due(start, &mut rng);
        let c = secrets.compute(b"nonce-nonce-nonce", ip, 7);
        assert!(secrets.verify(b"nonce-nonce-nonce", ip, 7, &c));
        assert!(!secrets.verify(b"nonce-nonce-nonce", ip, 8, &c));
        assert!(!secrets.verify(b"nonce-nonce-nonce", ip, 7, &[]));
        secrets.rotate_if_due(start + ROTATION - Duration::from_secs(1), &mut rng);
        assert_eq!(
            secrets.compute(b"nonce-nonce-nonce", ip, 7),
            c,
            "not yet due"
        );
        secrets.rotate_if_due(start + ROTATION, &mut rng);
        assert_ne!(secrets.compute(b"nonce-nonce-nonce", ip, 7), c);
        assert!(
            secrets.verify(b"nonce-nonce-nonce", ip, 7, &c),
            "the previous secret"
        );
        secrets.rotate_if_due(start + 2 * ROTATION, &mut rng);
        assert!(
            !secrets.verify(b"nonce-nonce-nonce", ip, 7, &c),
            "two rotations ago"
        );
    }
}

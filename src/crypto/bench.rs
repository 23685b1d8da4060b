//! Micro-benchmarks of the handshake's crypto hot path. Ignored by default; run with
//! `cargo test --release --lib crypto -- --ignored --nocapture`.

use std::hint::black_box;
use std::time::Instant;

use super::auth::psk_auth;
use super::dh::KeyExchange;
use super::keymat::{derive_child_keys, derive_ike_keys, IkeSuite};
use super::protect::PayloadProtection;
use super::rng::SystemRandom;
use super::testing::DeterministicRandom;
use crate::algorithm::{DhGroup, Encryption, Prf};

/// CPU time of the current thread in nanoseconds (Linux schedstat), so that other load on
/// the machine does not inflate the figures; `None` where unavailable.
fn thread_cpu_ns() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok()
}

/// Prints the mean CPU time (and wall time) per call of `f`.
fn time(label: &str, iterations: u32, mut f: impl FnMut()) {
    for _ in 0..iterations / 10 {
        f();
    }
    let cpu_start = thread_cpu_ns();
    let start = Instant::now();
    for _ in 0..iterations {
        f();
    }
    let wall = start.elapsed().as_secs_f64() * 1e6 / f64::from(iterations);
    let cpu = match (cpu_start, thread_cpu_ns()) {
        (Some(a), Some(b)) => format!("{:>9.2}", (b - a) as f64 / 1e3 / f64::from(iterations)),
        _ => "      n/a".to_string(),
    };
    println!("{label:<44} cpu {cpu} us   wall {wall:>9.2} us");
}

#[test]
#[ignore = "timing report, not a check"]
fn crypto_hot_path_timings() {
    let mut rng = SystemRandom::new();
    time("ECDH P-256 generate", 2000, || {
        black_box(KeyExchange::generate(DhGroup::Ecp256, &mut rng).unwrap());
    });
    let peer = KeyExchange::generate(DhGroup::Ecp256, &mut rng).unwrap();
    let peer_public = peer.public_value().to_vec();
    time("ECDH P-256 generate + agree", 2000, || {
        let ours = KeyExchange::generate(DhGroup::Ecp256, &mut rng).unwrap();
        black_box(ours.agree(&peer_public).unwrap());
    });
    let peer = KeyExchange::generate(DhGroup::Curve25519, &mut rng).unwrap();
    let peer_public = peer.public_value().to_vec();
    time("X25519 generate + agree", 2000, || {
        let ours = KeyExchange::generate(DhGroup::Curve25519, &mut rng).unwrap();
        black_box(ours.agree(&peer_public).unwrap());
    });
    let peer = KeyExchange::generate(DhGroup::Modp2048, &mut rng).unwrap();
    let peer_public = peer.public_value().to_vec();
    time("MODP-2048 generate (256-bit exp)", 50, || {
        black_box(KeyExchange::generate(DhGroup::Modp2048, &mut rng).unwrap());
    });
    time("MODP-2048 generate + agree (256-bit exp)", 50, || {
        let ours = KeyExchange::generate(DhGroup::Modp2048, &mut rng).unwrap();
        black_box(ours.agree(&peer_public).unwrap());
    });

    let suite = IkeSuite {
        encryption: Encryption::AesGcm16 { key_bits: 256 },
        integrity: None,
        prf: Prf::HmacSha256,
        dh: DhGroup::Ecp256,
    };
    let (ni, nr, gir) = ([1u8; 32], [2u8; 32], [3u8; 32]);
    time("derive_ike_keys (prf-sha256, aes256gcm)", 20000, || {
        black_box(derive_ike_keys(&suite, &gir, &ni, &nr, 1, 2));
    });
    let keys = derive_ike_keys(&suite, &gir, &ni, &nr, 1, 2);
    time("derive_child_keys (prf-sha256, aes256gcm)", 20000, || {
        black_box(derive_child_keys(
            Prf::HmacSha256,
            &keys.sk_d,
            suite.encryption,
            None,
            None,
            &ni,
            &nr,
        ));
    });
    time("psk_auth (prf-sha256, 300-octet message)", 20000, || {
        black_box(psk_auth(
            Prf::HmacSha256,
            b"secret",
            &[0; 300],
            &nr,
            &keys.sk_pi,
            b"idbody",
        ));
    });
    time("PayloadProtection::new x2 (aes256gcm)", 20000, || {
        black_box(PayloadProtection::new(suite.encryption, None, &keys.sk_ei, None).unwrap());
        black_box(PayloadProtection::new(suite.encryption, None, &keys.sk_er, None).unwrap());
    });
    let mut tx = PayloadProtection::new(suite.encryption, None, &keys.sk_ei, None).unwrap();
    let rx = PayloadProtection::new(suite.encryption, None, &keys.sk_ei, None).unwrap();
    let mut drng = DeterministicRandom::new(1);
    let prefix = [0u8; 32];
    let plaintext = [0x42u8; 200];
    time("seal + open 200 octets (aes256gcm)", 20000, || {
        let body = tx.seal(&prefix, &plaintext, &mut drng);
        black_box(rx.open(&prefix, &body).unwrap());
    });
    let integ = Some(crate::algorithm::Integrity::HmacSha256_128);
    let cbc = Encryption::AesCbc { key_bits: 256 };
    let mut tx = PayloadProtection::new(cbc, integ, &[7; 32], Some(&[8; 32])).unwrap();
    let rx = PayloadProtection::new(cbc, integ, &[7; 32], Some(&[8; 32])).unwrap();
    time(
        "seal + open 200 octets (aes256-cbc + sha256)",
        20000,
        || {
            let body = tx.seal(&prefix, &plaintext, &mut drng);
            black_box(rx.open(&prefix, &body).unwrap());
        },
    );
}

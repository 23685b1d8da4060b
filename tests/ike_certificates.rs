//! IKEv2 with certificates, two engines in memory: every key type signs and verifies, and a
//! peer whose certificate is expired, from an unknown CA, revoked, or does not hold its
//! identity is refused with AUTHENTICATION_FAILED and the reason on both ends.

mod support {
    pub mod certs;
    pub mod pair;
}

use std::time::Duration;

use ikehub::config::AuthMethod;
use ikehub::ike::{ConnectionSettings, DownReason, EngineSettings, Event, IkeIdentity};
use support::certs::{
    credentials, Profile, TestCa, PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384, PKCS_ED25519,
};
use support::pair::{connection, ip, Pair, A_ADDR, B_ADDR};

const LIMIT: Duration = Duration::from_secs(60);
/// 2026-12-01: the tests' time of day, given to the engines (they read no clock).
const TODAY: u64 = 1_796_083_200;

fn pubkey(mut c: ConnectionSettings) -> ConnectionSettings {
    c.local_auth = AuthMethod::Pubkey;
    c.remote_auth = AuthMethod::Pubkey;
    c.psk = ikehub::ike::PreSharedKey(zeroize::Zeroizing::new(Vec::new()));
    c
}

fn settings(
    c: ConnectionSettings,
    creds: std::sync::Arc<ikehub::config::Credentials>,
) -> EngineSettings {
    let mut s = EngineSettings::new(vec![c]);
    s.credentials = Some(creds);
    s
}

fn start(mut pair: Pair) -> Pair {
    let now = pair.now;
    pair.a.engine.set_wall_clock(now, TODAY);
    pair.b.engine.set_wall_clock(now, TODAY);
    pair.a.engine.start(now);
    pair
}

/// A and B, each with a certificate for its address from one CA, keys of `algorithm`.
fn certificate_pair(algorithm: &'static rcgen::SignatureAlgorithm) -> Pair {
    let mut ca = TestCa::new("Test CA");
    let a = ca.issue(&Profile::for_ip("gateway-a", ip(A_ADDR)), algorithm);
    let b = ca.issue(&Profile::for_ip("gateway-b", ip(B_ADDR)), algorithm);
    Pair::new(
        settings(
            pubkey(connection(A_ADDR, B_ADDR, true)),
            credentials(Some(&a), &[&ca], vec![]),
        ),
        settings(
            pubkey(connection(B_ADDR, A_ADDR, false)),
            credentials(Some(&b), &[&ca], vec![]),
        ),
    )
}

#[test]
fn every_key_type_authenticates_both_ways() {
    for (name, algorithm) in [
        ("ECDSA P-256", &PKCS_ECDSA_P256_SHA256),
        ("ECDSA P-384", &PKCS_ECDSA_P384_SHA384),
        ("Ed25519", &PKCS_ED25519),
    ] {
        let mut pair = start(certificate_pair(algorithm));
        assert!(pair.drive_until(LIMIT, Pair::established), "{name}");
        for (side, subject) in [(&pair.a, "gateway-b"), (&pair.b, "gateway-a")] {
            let sa = side.engine.sas().next().expect("an IKE SA");
            let certificate = sa
                .peer_certificate
                .as_ref()
                .expect("the peer's certificate");
            assert!(
                certificate.subject.contains(subject),
                "{name}: {certificate:?}"
            );
            assert!(
                certificate.issuer.contains("Test CA"),
                "{name}: {certificate:?}"
            );
            assert_eq!(side.child_up(), 1, "{name}");
        }
    }
}

/// The texts of both ends' IKE SA failures: (initiator A, responder B).
fn failures(pair: &mut Pair) -> (String, String) {
    assert!(
        pair.drive_until(LIMIT, |p| !p.a.ike_down().is_empty()
            && !p.b.ike_down().is_empty()),
        "both ends should give up"
    );
    let text = |events: Vec<&Event>| match events.first() {
        Some(Event::IkeDown {
            reason: DownReason::AuthFailed(failure),
            ..
        }) => failure.to_string(),
        other => panic!("expected an authentication failure, got {other:?}"),
    };
    (text(pair.a.ike_down()), text(pair.b.ike_down()))
}

/// B (the responder) refuses A's certificate for `why`; A hears AUTHENTICATION_FAILED.
fn refused_initiator(a_profile: Profile, b_trusts: Option<&TestCa>, crl_of_a: bool, why: &str) {
    let mut ca = TestCa::new("Test CA");
    let a = ca.issue(&a_profile, &PKCS_ECDSA_P256_SHA256);
    let b = ca.issue(
        &Profile::for_ip("gateway-b", ip(B_ADDR)),
        &PKCS_ECDSA_P256_SHA256,
    );
    let crls = if crl_of_a {
        vec![ca.crl(&[a.serial])]
    } else {
        vec![]
    };
    let b_trusts = b_trusts.unwrap_or(&ca);
    let mut pair = start(Pair::new(
        settings(
            pubkey(connection(A_ADDR, B_ADDR, true)),
            credentials(Some(&a), &[&ca], vec![]),
        ),
        settings(
            pubkey(connection(B_ADDR, A_ADDR, false)),
            credentials(Some(&b), &[b_trusts], crls),
        ),
    ));
    let (initiator, responder) = failures(&mut pair);
    assert!(
        responder.contains("refused with AUTHENTICATION_FAILED") && responder.contains(why),
        "responder: {responder}"
    );
    assert!(
        initiator.contains("the peer refused with AUTHENTICATION_FAILED")
            && initiator.contains("check the certificates"),
        "initiator: {initiator}"
    );
}

#[test]
fn an_expired_certificate_is_refused_with_its_date() {
    let mut profile = Profile::for_ip("gateway-a", ip(A_ADDR));
    profile.not_after = (2025, 6, 30);
    refused_initiator(profile, None, false, "expired on 2025-06-30");
}

#[test]
fn a_certificate_not_yet_valid_is_refused() {
    let mut profile = Profile::for_ip("gateway-a", ip(A_ADDR));
    profile.not_before = (2027, 1, 1);
    refused_initiator(profile, None, false, "not valid before 2027-01-01");
}

#[test]
fn an_unknown_ca_is_refused_naming_the_issuer() {
    let other = TestCa::new("Other CA");
    refused_initiator(
        Profile::for_ip("gateway-a", ip(A_ADDR)),
        Some(&other),
        false,
        "unknown CA",
    );
}

#[test]
fn a_revoked_certificate_is_refused_with_its_serial() {
    refused_initiator(
        Profile::for_ip("gateway-a", ip(A_ADDR)),
        None,
        true,
        "(serial 01) is revoked",
    );
}

#[test]
fn an_identity_not_in_the_certificate_is_refused() {
    let profile = Profile::for_ip("gateway-a", ip("192.0.2.99"));
    refused_initiator(
        profile,
        None,
        false,
        "identity 192.0.2.1 is not in the certificate",
    );
}

/// The initiator refuses the responder's certificate: it gives up with the reason.
#[test]
fn the_initiator_refuses_a_responder_from_an_unknown_ca() {
    let mut ca = TestCa::new("Test CA");
    let mut other = TestCa::new("Other CA");
    let a = ca.issue(
        &Profile::for_ip("gateway-a", ip(A_ADDR)),
        &PKCS_ECDSA_P256_SHA256,
    );
    let b = other.issue(
        &Profile::for_ip("gateway-b", ip(B_ADDR)),
        &PKCS_ECDSA_P256_SHA256,
    );
    let mut pair = start(Pair::new(
        settings(
            pubkey(connection(A_ADDR, B_ADDR, true)),
            credentials(Some(&a), &[&ca], vec![]),
        ),
        settings(
            pubkey(connection(B_ADDR, A_ADDR, false)),
            credentials(Some(&b), &[&ca], vec![]),
        ),
    ));
    // B has established its end when A reads its answer: A tells it AUTHENTICATION_FAILED in
    // an INFORMATIONAL (RFC 7296 2.21.2), and B drops its IKE SA and CHILD_SA too.
    let (initiator, responder) = failures(&mut pair);
    assert!(
        initiator.contains("unknown CA") && initiator.contains("Other CA"),
        "initiator: {initiator}"
    );
    assert!(
        responder.contains("AUTHENTICATION_FAILED") && responder.contains("INFORMATIONAL"),
        "responder: {responder}"
    );
    assert_eq!(
        pair.b.child_up(),
        1,
        "the responder had installed its CHILD_SA"
    );
    assert!(pair.b.kernel.sas.is_empty(), "the responder's SAs are gone");
    assert_eq!(
        pair.b.engine.sas().count(),
        0,
        "the responder's IKE SA is gone"
    );
}

/// Distinguished-name identities: each end identifies by its certificate's subject.
#[test]
fn distinguished_names_identify_both_ends() {
    let mut ca = TestCa::new("Test CA");
    let a = ca.issue(
        &Profile::for_ip("gateway-a", ip(A_ADDR)),
        &PKCS_ECDSA_P256_SHA256,
    );
    let b = ca.issue(
        &Profile::for_ip("gateway-b", ip(B_ADDR)),
        &PKCS_ECDSA_P256_SHA256,
    );
    let dn = |text: &str| {
        IkeIdentity::from(&ikehub::config::Identity::Dn(
            ikehub::crypto::pki::dn_from_text(text).expect("dn"),
        ))
    };
    // Written as an operator copies them from `openssl x509 -subject`: the order of the
    // certificate's subject.
    let subject = |der: &[u8]| {
        ikehub::crypto::pki::Certificate::from_der(der)
            .expect("certificate")
            .subject
    };
    let (a_subject, b_subject) = (subject(&a.der), subject(&b.der));
    let mut ca_conn = pubkey(connection(A_ADDR, B_ADDR, true));
    ca_conn.local_id = dn(&a_subject);
    ca_conn.remote_id = Some(dn(&b_subject));
    let mut cb_conn = pubkey(connection(B_ADDR, A_ADDR, false));
    cb_conn.local_id = dn(&b_subject);
    cb_conn.remote_id = Some(dn(&a_subject));
    let mut pair = start(Pair::new(
        settings(ca_conn, credentials(Some(&a), &[&ca], vec![])),
        settings(cb_conn, credentials(Some(&b), &[&ca], vec![])),
    ));
    assert!(
        pair.drive_until(LIMIT, Pair::established),
        "A: {:?}\nB: {:?}",
        pair.a.events,
        pair.b.events
    );
    let sa = pair.b.engine.sas().next().expect("IKE SA");
    assert_eq!(
        sa.remote_id.as_ref().map(ToString::to_string).as_deref(),
        Some(a_subject.as_str())
    );
}

/// A peer that authenticates with a PSK where a certificate is expected is refused, and the
/// other way round.
#[test]
fn a_method_mismatch_is_named() {
    let mut ca = TestCa::new("Test CA");
    let b = ca.issue(
        &Profile::for_ip("gateway-b", ip(B_ADDR)),
        &PKCS_ECDSA_P256_SHA256,
    );
    let mut pair = start(Pair::new(
        EngineSettings::new(vec![connection(A_ADDR, B_ADDR, true)]),
        settings(
            pubkey(connection(B_ADDR, A_ADDR, false)),
            credentials(Some(&b), &[&ca], vec![]),
        ),
    ));
    let (_, responder) = failures(&mut pair);
    assert!(
        responder.contains("authenticates with psk") && responder.contains("expects a certificate"),
        "{responder}"
    );
}

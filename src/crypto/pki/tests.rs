//! The module as a whole: keys, certificates, chains, CRLs, identities and files, with
//! certificates and CRLs made here by rcgen and the keys rcgen cannot make in `testdata/`.

use std::net::IpAddr;
use std::path::PathBuf;

use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, CertificateRevocationListParams,
    DistinguishedName, DnType, DnValue, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod,
    KeyPair, KeyUsagePurpose, RevokedCertParams, SanType, SerialNumber, SignatureAlgorithm,
};

use super::*;

const RSA2048_PKCS8: &str = include_str!("testdata/rsa2048.pkcs8.pem");
const RSA2048_PKCS1: &str = include_str!("testdata/rsa2048.pkcs1.pem");
const RSA3072_PKCS8: &str = include_str!("testdata/rsa3072.pkcs8.pem");
const RSA1024_PKCS8: &str = include_str!("testdata/rsa1024.pkcs8.pem");
const P256_SEC1: &str = include_str!("testdata/p256.sec1.pem");
const P256_PKCS8: &str = include_str!("testdata/p256.pkcs8.pem");
const P256_NO_PUBLIC_SEC1: &str = include_str!("testdata/p256-no-public.sec1.pem");
const P384_SEC1: &str = include_str!("testdata/p384.sec1.pem");
const ED25519_OPENSSL_PKCS8: &str = include_str!("testdata/ed25519.pkcs8.pem");
const RSA2048_METHOD1_SIGNATURE: &[u8] = include_bytes!("testdata/rsa2048-method1.sig");

/// 2026-06-01T00:00:00Z: inside every validity below.
const NOW: u64 = 1_780_272_000;
/// 2024-01-01: before the leaves' notBefore (2025-01-01).
const BEFORE_LEAVES: u64 = 1_704_067_200;
/// 2031-01-01: after the leaves' notAfter (2030-01-01).
const AFTER_LEAVES: u64 = 1_924_992_000;

const LEAF_SERIAL: &[u8] = &[0x1a, 0x2b, 0x3c];

fn rcgen_key(pem: &str, algorithm: &'static SignatureAlgorithm) -> KeyPair {
    KeyPair::from_pem_and_sign_algo(pem, algorithm).expect("test key loads in rcgen")
}

fn generated_key(algorithm: &'static SignatureAlgorithm) -> KeyPair {
    KeyPair::generate_for(algorithm).expect("rcgen generates the key")
}

fn our_key(pem: &str) -> SigningKey {
    SigningKey::from_pem(pem.as_bytes()).expect("test key loads")
}

fn name(entries: &[(DnType, &str)]) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    for (kind, value) in entries {
        name.push(kind.clone(), *value);
    }
    name
}

fn example_name(common_name: &str) -> DistinguishedName {
    name(&[
        (DnType::CountryName, "CH"),
        (DnType::OrganizationName, "Example"),
        (DnType::CommonName, common_name),
    ])
}

/// A CA made by rcgen: its parameters and key sign what it issues.
struct Authority {
    params: CertificateParams,
    key: KeyPair,
    der: Vec<u8>,
}

impl Authority {
    fn root(common_name: &str, key: KeyPair) -> Authority {
        let params = ca_params(common_name);
        let der = params.self_signed(&key).expect("root signs").der().to_vec();
        Authority { params, key, der }
    }

    fn intermediate(common_name: &str, key: KeyPair, parent: &Authority) -> Authority {
        let params = ca_params(common_name);
        let der = parent.issue(&params, &key);
        Authority { params, key, der }
    }

    fn issuer(&self) -> Issuer<'_, &KeyPair> {
        Issuer::from_params(&self.params, &self.key)
    }

    fn issue(&self, params: &CertificateParams, key: &KeyPair) -> Vec<u8> {
        params
            .signed_by(key, &self.issuer())
            .expect("issues")
            .der()
            .to_vec()
    }

    fn certificate(&self) -> Certificate {
        Certificate::from_der(&self.der).expect("CA parses")
    }

    fn store(&self) -> TrustStore {
        TrustStore::new(vec![self.certificate()], Vec::new()).expect("store")
    }

    /// A CRL revoking the serials, valid from `this_update` to `next_update` (years).
    fn crl(
        &self,
        serials: &[&[u8]],
        this_update: i32,
        next_update: i32,
    ) -> rcgen::CertificateRevocationList {
        CertificateRevocationListParams {
            this_update: date_time_ymd(this_update, 1, 1),
            next_update: date_time_ymd(next_update, 1, 1),
            crl_number: SerialNumber::from(7u64),
            issuing_distribution_point: None,
            revoked_certs: serials
                .iter()
                .map(|serial| RevokedCertParams {
                    serial_number: SerialNumber::from_slice(serial),
                    revocation_time: date_time_ymd(this_update, 1, 1),
                    reason_code: None,
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        }
        .signed_by(&self.issuer())
        .expect("CRL signs")
    }
}

fn ca_params(common_name: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = example_name(common_name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = date_time_ymd(2020, 1, 1);
    params.not_after = date_time_ymd(2040, 1, 1);
    params
}

/// office1: valid 2025 to 2030, serial 1a:2b:3c, named by FQDN, email and two addresses.
fn leaf_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = example_name("office1");
    params.serial_number = Some(SerialNumber::from_slice(LEAF_SERIAL));
    params.not_before = date_time_ymd(2025, 1, 1);
    params.not_after = date_time_ymd(2030, 1, 1);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.subject_alt_names = vec![
        SanType::DnsName("office1.example.com".try_into().expect("ia5")),
        SanType::Rfc822Name("ops@example.com".try_into().expect("ia5")),
        SanType::IpAddress("192.0.2.1".parse().expect("ip")),
        SanType::IpAddress("2001:db8::1".parse().expect("ip")),
    ];
    params
}

fn ecdsa_root() -> Authority {
    Authority::root(
        "Example Root CA",
        generated_key(&rcgen::PKCS_ECDSA_P256_SHA256),
    )
}

// --- Signing keys and signatures ---------------------------------------------------------

/// Each key type, its certificate's public key, and the schemes it signs with.
fn keys_with_certificates() -> Vec<(SigningKey, PublicKey, Vec<SignatureScheme>)> {
    let rsa_schemes = vec![
        SignatureScheme::RsaPkcs1Sha256,
        SignatureScheme::RsaPkcs1Sha384,
        SignatureScheme::RsaPkcs1Sha512,
        SignatureScheme::RsaPssSha256,
        SignatureScheme::RsaPssSha384,
        SignatureScheme::RsaPssSha512,
    ];
    let p256 = generated_key(&rcgen::PKCS_ECDSA_P256_SHA256);
    let p384 = generated_key(&rcgen::PKCS_ECDSA_P384_SHA384);
    let ed25519 = generated_key(&rcgen::PKCS_ED25519);
    let cases: Vec<(String, KeyPair, Vec<SignatureScheme>)> = vec![
        (
            RSA2048_PKCS8.to_string(),
            rcgen_key(RSA2048_PKCS8, &rcgen::PKCS_RSA_SHA256),
            rsa_schemes.clone(),
        ),
        (
            RSA3072_PKCS8.to_string(),
            rcgen_key(RSA3072_PKCS8, &rcgen::PKCS_RSA_SHA256),
            rsa_schemes,
        ),
        (
            p256.serialize_pem(),
            p256,
            vec![SignatureScheme::EcdsaP256Sha256],
        ),
        (
            p384.serialize_pem(),
            p384,
            vec![SignatureScheme::EcdsaP384Sha384],
        ),
        (
            ed25519.serialize_pem(),
            ed25519,
            vec![SignatureScheme::Ed25519],
        ),
    ];
    cases
        .into_iter()
        .map(|(pem, rcgen_pair, schemes)| {
            let der = leaf_params().self_signed(&rcgen_pair).expect("signs");
            let certificate = Certificate::from_der(der.der()).expect("parses");
            (our_key(&pem), certificate.public_key, schemes)
        })
        .collect()
}

#[test]
fn every_key_type_signs_and_verifies_every_scheme() {
    let keys = keys_with_certificates();
    let message = b"IKE_SA_INIT | Ni | prf(SK_pi, IDi')";
    for (index, (key, public_key, schemes)) in keys.iter().enumerate() {
        assert_eq!(
            key.public_key(),
            public_key.octets.as_slice(),
            "{}",
            key.key_type()
        );
        assert_eq!(key.key_type(), public_key.key_type);
        let (_, other_public_key, _) = &keys[(index + 1) % keys.len()];
        for scheme in schemes {
            let signature = key.sign(*scheme, message).expect("signs");
            let what = format!("{} {}", key.key_type(), scheme.name());
            assert!(public_key.verify(*scheme, message, &signature), "{what}");
            assert!(
                !public_key.verify(*scheme, b"another message", &signature),
                "{what}"
            );
            let mut tampered = signature.clone();
            tampered[signature.len() / 2] ^= 1;
            assert!(!public_key.verify(*scheme, message, &tampered), "{what}");
            assert!(
                !other_public_key.verify(*scheme, message, &signature),
                "{what}"
            );
        }
    }
}

#[test]
fn schemes_that_do_not_fit_the_key_are_refused() {
    let rsa = our_key(RSA2048_PKCS8);
    let error = rsa
        .sign(SignatureScheme::RsaPkcs1Sha1, b"m")
        .expect_err("ring cannot");
    assert!(error.0.contains("rsa-sha1"), "{error}");
    assert!(rsa.sign(SignatureScheme::EcdsaP256Sha256, b"m").is_err());
    let p256 = our_key(P256_PKCS8);
    assert!(p256.sign(SignatureScheme::EcdsaP384Sha384, b"m").is_err());
    assert!(p256.sign(SignatureScheme::Ed25519, b"m").is_err());
    let ed25519 = our_key(ED25519_OPENSSL_PKCS8);
    assert!(ed25519.sign(SignatureScheme::RsaPssSha256, b"m").is_err());
    assert!(ed25519.sign_ecdsa_fixed(b"m").is_err());
    // A signature checked under a scheme of another key type is simply false.
    let signature = p256
        .sign(SignatureScheme::EcdsaP256Sha256, b"m")
        .expect("signs");
    let public_key = PublicKey {
        key_type: KeyType::EcdsaP256,
        octets: p256.public_key().to_vec(),
    };
    assert!(public_key.verify(SignatureScheme::EcdsaP256Sha256, b"m", &signature));
    assert!(!public_key.verify(SignatureScheme::RsaPssSha256, b"m", &signature));
    assert!(!public_key.verify(SignatureScheme::Ed25519, b"m", &signature));
}

#[test]
fn ecdsa_fixed_signatures_round_trip() {
    for (pem, key_type, width) in [
        (P256_SEC1, KeyType::EcdsaP256, 64),
        (P384_SEC1, KeyType::EcdsaP384, 96),
    ] {
        let key = our_key(pem);
        assert_eq!(key.key_type(), key_type);
        let public_key = PublicKey {
            key_type,
            octets: key.public_key().to_vec(),
        };
        let signature = key.sign_ecdsa_fixed(b"AUTH data").expect("signs");
        assert_eq!(signature.len(), width, "{key_type}");
        assert!(public_key.verify_ecdsa_fixed(b"AUTH data", &signature));
        assert!(!public_key.verify_ecdsa_fixed(b"other data", &signature));
        // The fixed form is not the DER form, nor the other way round.
        assert!(!public_key.verify(
            key.scheme_for(&[SignatureHash::Sha256, SignatureHash::Sha384])
                .expect("scheme"),
            b"AUTH data",
            &signature
        ));
        let der_signature = key
            .sign(
                key.scheme_for(SignatureHash::supported()).expect("scheme"),
                b"AUTH data",
            )
            .expect("signs");
        assert!(!public_key.verify_ecdsa_fixed(b"AUTH data", &der_signature));
    }
    let rsa_public_key = PublicKey {
        key_type: KeyType::Rsa { bits: 2048 },
        octets: our_key(RSA2048_PKCS8).public_key().to_vec(),
    };
    assert!(!rsa_public_key.verify_ecdsa_fixed(b"m", &[0; 64]));
}

#[test]
fn ecdsa_verification_follows_the_keys_curve() {
    // ecdsa-with-SHA256 names no curve: a P-384 key's SHA-256 signature verifies as such.
    let p384 = our_key(P384_SEC1);
    let public_key = PublicKey {
        key_type: KeyType::EcdsaP384,
        octets: p384.public_key().to_vec(),
    };
    let signature = p384
        .sign(SignatureScheme::EcdsaP384Sha384, b"m")
        .expect("signs");
    assert!(public_key.verify(SignatureScheme::EcdsaP384Sha384, b"m", &signature));
    assert!(!public_key.verify(SignatureScheme::EcdsaP256Sha256, b"m", &signature));
}

#[test]
fn rsa_method_1_signatures_made_elsewhere_verify() {
    let public_key = PublicKey {
        key_type: KeyType::Rsa { bits: 2048 },
        octets: our_key(RSA2048_PKCS8).public_key().to_vec(),
    };
    let message = b"RFC 7296 method 1";
    assert!(public_key.verify(
        SignatureScheme::RsaPkcs1Sha1,
        message,
        RSA2048_METHOD1_SIGNATURE
    ));
    assert!(!public_key.verify(
        SignatureScheme::RsaPkcs1Sha1,
        b"RFC 7296 method 2",
        RSA2048_METHOD1_SIGNATURE
    ));
    assert!(!public_key.verify(
        SignatureScheme::RsaPkcs1Sha256,
        message,
        RSA2048_METHOD1_SIGNATURE
    ));
}

#[test]
fn every_key_form_loads_with_the_certificates_public_key() {
    // RSA: PKCS#8 and PKCS#1 of one key.
    let rsa_certificate = Certificate::from_der(
        leaf_params()
            .self_signed(&rcgen_key(RSA2048_PKCS8, &rcgen::PKCS_RSA_SHA256))
            .expect("signs")
            .der(),
    )
    .expect("parses");
    assert_eq!(
        rsa_certificate.public_key.key_type,
        KeyType::Rsa { bits: 2048 }
    );
    for pem in [RSA2048_PKCS8, RSA2048_PKCS1] {
        let key = our_key(pem);
        assert_eq!(key.key_type(), KeyType::Rsa { bits: 2048 });
        assert_eq!(
            key.public_key(),
            rsa_certificate.public_key.octets.as_slice()
        );
    }
    // P-256: SEC1 (with its EC PARAMETERS block in front, as openssl ecparam writes it) and
    // PKCS#8 of one key.
    let p256_certificate = Certificate::from_der(
        leaf_params()
            .self_signed(&rcgen_key(P256_PKCS8, &rcgen::PKCS_ECDSA_P256_SHA256))
            .expect("signs")
            .der(),
    )
    .expect("parses");
    let with_parameters = format!(
        "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n{P256_SEC1}"
    );
    for pem in [P256_SEC1, P256_PKCS8, with_parameters.as_str()] {
        let key = our_key(pem);
        assert_eq!(key.key_type(), KeyType::EcdsaP256);
        assert_eq!(
            key.public_key(),
            p256_certificate.public_key.octets.as_slice()
        );
    }
    assert_eq!(
        our_key(RSA3072_PKCS8).key_type(),
        KeyType::Rsa { bits: 3072 }
    );
    assert_eq!(our_key(ED25519_OPENSSL_PKCS8).key_type(), KeyType::Ed25519);
    assert_eq!(our_key(ED25519_OPENSSL_PKCS8).public_key().len(), 32);
}

#[test]
fn key_types_print_for_operators() {
    assert_eq!(KeyType::Rsa { bits: 3072 }.to_string(), "RSA-3072");
    assert_eq!(KeyType::EcdsaP256.to_string(), "ECDSA P-256");
    assert_eq!(KeyType::EcdsaP384.to_string(), "ECDSA P-384");
    assert_eq!(KeyType::Ed25519.to_string(), "Ed25519");
}

#[test]
fn unusable_keys_are_refused_clearly() {
    let short = SigningKey::from_pem(RSA1024_PKCS8.as_bytes()).expect_err("too short");
    assert!(
        short.0.contains("unsupported key") && short.0.contains("2048"),
        "{short}"
    );
    let no_public =
        SigningKey::from_pem(P256_NO_PUBLIC_SEC1.as_bytes()).expect_err("no public key");
    assert!(no_public.0.contains("lacks its public key"), "{no_public}");
    let root = ecdsa_root();
    let pem = pem_text("CERTIFICATE", &root.der);
    let not_a_key = SigningKey::from_pem(pem.as_bytes()).expect_err("a certificate");
    assert!(not_a_key.0.contains("found CERTIFICATE"), "{not_a_key}");
    let encrypted = pem_text("ENCRYPTED PRIVATE KEY", &[0x30, 0x00]);
    let encrypted = SigningKey::from_pem(encrypted.as_bytes()).expect_err("encrypted");
    assert!(encrypted.0.contains("passphrase"), "{encrypted}");
    assert!(SigningKey::from_pem(b"").is_err());
    assert!(SigningKey::from_pem(
        pem_text("PRIVATE KEY", &[0x30, 0x03, 0x02, 0x01, 0x00]).as_bytes()
    )
    .is_err());
    assert_eq!(
        format!("{:?}", our_key(P256_SEC1)),
        "SigningKey(<redacted>)"
    );
}

#[test]
fn schemes_follow_the_peers_hashes() {
    use SignatureHash::{Identity, Sha1, Sha256, Sha384, Sha512};
    let rsa = our_key(RSA2048_PKCS8);
    assert_eq!(
        rsa.scheme_for(&[Sha512, Sha384, Sha256]),
        Some(SignatureScheme::RsaPssSha256)
    );
    assert_eq!(
        rsa.scheme_for(&[Sha512, Sha384]),
        Some(SignatureScheme::RsaPssSha384)
    );
    assert_eq!(
        rsa.scheme_for(&[Sha512]),
        Some(SignatureScheme::RsaPssSha512)
    );
    assert_eq!(rsa.scheme_for(&[Sha1, Identity]), None);
    let p256 = our_key(P256_SEC1);
    assert_eq!(
        p256.scheme_for(&[Sha256]),
        Some(SignatureScheme::EcdsaP256Sha256)
    );
    assert_eq!(p256.scheme_for(&[Sha384, Sha512]), None);
    let p384 = our_key(P384_SEC1);
    assert_eq!(
        p384.scheme_for(&[Sha256, Sha384]),
        Some(SignatureScheme::EcdsaP384Sha384)
    );
    assert_eq!(p384.scheme_for(&[Sha256]), None);
    let ed25519 = our_key(ED25519_OPENSSL_PKCS8);
    assert_eq!(
        ed25519.scheme_for(&[Identity]),
        Some(SignatureScheme::Ed25519)
    );
    assert_eq!(ed25519.scheme_for(&[Sha256]), None);
    assert_eq!(ed25519.scheme_for(&[]), None);
}

// --- Certificates ------------------------------------------------------------------------

#[test]
fn certificate_fields_read_as_operators_print_them() {
    let root = ecdsa_root();
    let leaf_key = rcgen_key(RSA3072_PKCS8, &rcgen::PKCS_RSA_SHA256);
    let leaf = Certificate::from_der(&root.issue(&leaf_params(), &leaf_key)).expect("parses");
    assert_eq!(leaf.subject, "C=CH, O=Example, CN=office1");
    assert_eq!(leaf.issuer, "C=CH, O=Example, CN=Example Root CA");
    assert_eq!(leaf.serial, "1a:2b:3c");
    assert_eq!(leaf.not_before, 1_735_689_600);
    assert_eq!(leaf.not_after, 1_893_456_000);
    assert_eq!(leaf.not_after_text(), "2030-01-01T00:00:00Z");
    assert_eq!(leaf.public_key.key_type, KeyType::Rsa { bits: 3072 });
    assert!(!leaf.is_ca);
    assert_eq!(
        dn_to_text(&leaf.subject_der).as_deref(),
        Some(leaf.subject.as_str())
    );
    let ca = root.certificate();
    assert!(ca.is_ca);
    assert_eq!(ca.public_key.key_type, KeyType::EcdsaP256);
    let spki = rcgen::PublicKeyData::subject_public_key_info(&root.key);
    let expected = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &spki);
    assert_eq!(ca.spki_sha1().as_slice(), expected.as_ref());
    // A certificate assembled by hand hashes its key's encoding: the same bytes.
    let by_hand = Certificate {
        der: Vec::new(),
        ..ca.clone()
    };
    assert_eq!(by_hand.spki_sha1(), ca.spki_sha1());
    assert_eq!(root.store().ca_key_hashes(), vec![ca.spki_sha1()]);
    let ed25519 = Certificate::from_der(
        root.issue(&leaf_params(), &generated_key(&rcgen::PKCS_ED25519))
            .as_slice(),
    )
    .expect("parses");
    assert_eq!(ed25519.public_key.key_type, KeyType::Ed25519);
    let p384 = Certificate::from_der(
        root.issue(
            &leaf_params(),
            &generated_key(&rcgen::PKCS_ECDSA_P384_SHA384),
        )
        .as_slice(),
    )
    .expect("parses");
    assert_eq!(p384.public_key.key_type, KeyType::EcdsaP384);
}

#[test]
fn garbage_is_not_a_certificate() {
    assert!(Certificate::from_der(&[]).is_err());
    assert!(Certificate::from_der(&[0x30, 0x03, 0x02, 0x01, 0x00]).is_err());
    let mut der = ecdsa_root().der;
    der.truncate(der.len() - 5);
    assert!(Certificate::from_der(&der).is_err());
}

// --- Identities ---------------------------------------------------------------------------

fn ip(text: &str) -> CertIdentity {
    CertIdentity::Ip(text.parse::<IpAddr>().expect("ip"))
}

#[test]
fn identities_bind_through_subject_alt_names() {
    let root = ecdsa_root();
    let leaf = Certificate::from_der(&root.issue(
        &leaf_params(),
        &generated_key(&rcgen::PKCS_ECDSA_P256_SHA256),
    ))
    .expect("parses");
    let bound = [
        CertIdentity::Fqdn("office1.example.com".to_string()),
        CertIdentity::Fqdn("Office1.Example.COM".to_string()),
        CertIdentity::Email("ops@example.com".to_string()),
        CertIdentity::Email("OPS@Example.com".to_string()),
        ip("192.0.2.1"),
        ip("2001:db8::1"),
        CertIdentity::Dn(dn_from_text("C=CH, O=Example, CN=office1").expect("dn")),
        CertIdentity::Dn(dn_from_text("C=ch, O=EXAMPLE, CN=Office1").expect("dn")),
    ];
    for identity in &bound {
        assert!(leaf.binds(identity), "{identity:?}");
    }
    let unbound = [
        CertIdentity::Fqdn("office2.example.com".to_string()),
        // With subjectAltNames present, the CN is not looked at.
        CertIdentity::Fqdn("office1".to_string()),
        CertIdentity::Fqdn("*.example.com".to_string()),
        CertIdentity::Email("ops@example.org".to_string()),
        ip("192.0.2.2"),
        ip("::ffff:192.0.2.1"),
        CertIdentity::Dn(dn_from_text("C=CH, O=Example, CN=office2").expect("dn")),
        CertIdentity::Dn(dn_from_text("CN=office1, O=Example, C=CH").expect("dn")),
        CertIdentity::Dn(b"not a name".to_vec()),
    ];
    for identity in &unbound {
        assert!(!leaf.binds(identity), "{identity:?}");
    }
}

#[test]
fn without_subject_alt_names_the_subject_binds_fqdn_and_email() {
    let root = ecdsa_root();
    let mut params = leaf_params();
    params.subject_alt_names.clear();
    params.distinguished_name = name(&[
        (DnType::CountryName, "CH"),
        (DnType::CommonName, "gw.example.com"),
    ]);
    params.distinguished_name.push(
        DnType::CustomDnType(vec![1, 2, 840, 113_549, 1, 9, 1]),
        DnValue::Ia5String("ops@example.com".try_into().expect("ia5")),
    );
    let leaf =
        Certificate::from_der(&root.issue(&params, &generated_key(&rcgen::PKCS_ECDSA_P256_SHA256)))
            .expect("parses");
    assert_eq!(leaf.subject, "C=CH, CN=gw.example.com, E=ops@example.com");
    assert!(leaf.binds(&CertIdentity::Fqdn("GW.example.com".to_string())));
    assert!(leaf.binds(&CertIdentity::Email("ops@example.com".to_string())));
    assert!(!leaf.binds(&CertIdentity::Fqdn("example.com".to_string())));
    assert!(!leaf.binds(&ip("192.0.2.1")));
}

#[test]
fn a_dn_binds_whatever_string_types_each_side_uses() {
    let root = ecdsa_root();
    let mut params = leaf_params();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(
        DnType::CountryName,
        DnValue::PrintableString("CH".try_into().expect("printable")),
    );
    params.distinguished_name.push(
        DnType::OrganizationName,
        DnValue::PrintableString("Example".try_into().expect("printable")),
    );
    params.distinguished_name.push(
        DnType::CommonName,
        DnValue::PrintableString("office1".try_into().expect("printable")),
    );
    let leaf =
        Certificate::from_der(&root.issue(&params, &generated_key(&rcgen::PKCS_ECDSA_P256_SHA256)))
            .expect("parses");
    // Our text encodes O and CN as UTF8String: other bytes, the same name.
    let configured = dn_from_text("C=CH, O=Example, CN=office1").expect("dn");
    assert_ne!(configured, leaf.subject_der);
    assert!(leaf.binds(&CertIdentity::Dn(configured)));
    assert!(leaf.binds(&CertIdentity::Dn(leaf.subject_der.clone())));
}

// --- Validation ---------------------------------------------------------------------------

#[test]
fn a_leaf_of_a_configured_ca_validates() {
    let root = ecdsa_root();
    let leaf_der = root.issue(&leaf_params(), &generated_key(&rcgen::PKCS_ED25519));
    let chain = root.store().validate(&leaf_der, &[], NOW).expect("valid");
    assert_eq!(chain.end_entity.subject, "C=CH, O=Example, CN=office1");
    assert_eq!(chain.anchor_subject, "C=CH, O=Example, CN=Example Root CA");
    assert!(!root.store().is_empty());
    assert!(TrustStore::default().is_empty());
}

#[test]
fn a_chain_validates_through_an_intermediate() {
    let root = Authority::root(
        "Example Root CA",
        generated_key(&rcgen::PKCS_ECDSA_P384_SHA384),
    );
    let intermediate = Authority::intermediate(
        "Example Sites CA",
        rcgen_key(RSA3072_PKCS8, &rcgen::PKCS_RSA_SHA256),
        &root,
    );
    let unrelated = ecdsa_root();
    let leaf_der = intermediate.issue(
        &leaf_params(),
        &rcgen_key(RSA2048_PKCS8, &rcgen::PKCS_RSA_SHA256),
    );
    let store = root.store();
    let chain = store
        .validate(
            &leaf_der,
            &[unrelated.der.clone(), intermediate.der.clone()],
            NOW,
        )
        .expect("valid");
    assert_eq!(chain.anchor_subject, "C=CH, O=Example, CN=Example Root CA");
    assert_eq!(
        chain.end_entity.public_key.key_type,
        KeyType::Rsa { bits: 2048 }
    );
    // Without the intermediate, the leaf's issuer is unknown.
    let refusal = store.validate(&leaf_der, &[], NOW).expect_err("no chain");
    assert_eq!(
        refusal,
        CertRefusal::UnknownCa {
            subject: "C=CH, O=Example, CN=office1".to_string(),
            issuer: "C=CH, O=Example, CN=Example Sites CA".to_string(),
        }
    );
}

#[test]
fn expired_and_not_yet_valid_leaves_are_refused_with_their_dates() {
    let root = ecdsa_root();
    let leaf_der = root.issue(
        &leaf_params(),
        &generated_key(&rcgen::PKCS_ECDSA_P256_SHA256),
    );
    let store = root.store();
    let expired = store
        .validate(&leaf_der, &[], AFTER_LEAVES)
        .expect_err("expired");
    assert_eq!(
        expired,
        CertRefusal::Expired {
            subject: "C=CH, O=Example, CN=office1".to_string(),
            not_after: "2030-01-01T00:00:00Z".to_string(),
        }
    );
    assert!(
        expired
            .to_string()
            .contains("expired on 2030-01-01T00:00:00Z"),
        "{expired}"
    );
    let early = store
        .validate(&leaf_der, &[], BEFORE_LEAVES)
        .expect_err("not yet valid");
    assert_eq!(
        early,
        CertRefusal::NotYetValid {
            subject: "C=CH, O=Example, CN=office1".to_string(),
            not_before: "2025-01-01T00:00:00Z".to_string(),
        }
    );
    assert!(
        early.to_string().contains("2025-01-01T00:00:00Z"),
        "{early}"
    );
}

#[test]
fn an_expired_intermediate_is_named() {
    let root = ecdsa_root();
    let mut params = ca_params("Example Old CA");
    params.not_after = date_time_ymd(2026, 1, 1);
    let key = generated_key(&rcgen::PKCS_ECDSA_P256_SHA256);
    let intermediate = Authority {
        der: root.issue(&params, &key),
        params,
        key,
    };
    let mut leaf = leaf_params();
    leaf.not_after = date_time_ymd(2025, 12, 1);
    let leaf_der = intermediate.issue(&leaf, &generated_key(&rcgen::PKCS_ECDSA_P256_SHA256));
    let refusal = root
        .store()
        .validate(
            &leaf_der,
            std::slice::from_ref(&intermediate.der),
            1_767_225_600 + 86_400,
        )
        .expect_err("expired");
    // The leaf expired first (2025-12-01); the intermediate too (2026-01-01).
    assert!(matches!(refusal, CertRefusal::Expired { .. }), "{refusal}");
    let leaf_der = intermediate.issue(
        &leaf_params(),
        &generated_key(&rcgen::PKCS_ECDSA_P256_SHA256),
    );
    let refusal = root
        .store()
        .validate(&leaf_der, std::slice::from_ref(&intermediate.der), NOW)
        .expect_err("intermediate expired");
    assert_eq!(
        refusal,
        CertRefusal::Expired {
            subject: "C=CH, O=Example, CN=Example Old CA".to_string(),
            not_after: "2026-01-01T00:00:00Z".to_string(),
        }
    );
}

#[test]
fn an_expired_ca_vouches_for_nothing() {
    let mut params = ca_params("Example Old Root");
    params.not_after = date_time_ymd(2026, 1, 1);
    let key = generated_key(&rcgen::PKCS_ECDSA_P256_SHA256);
    let root = Authority {
        der: params.self_signed(&key).expect("signs").der().to_vec(),
        params,
        key,
    };
    let leaf_der = root.issue(
        &leaf_params(),
        &generated_key(&rcgen::PKCS_ECDSA_P256_SHA256),
    );
    let store = root.store();
    assert_eq!(
        store.validate(&leaf_der, &[], NOW).expect_err("expired CA"),
        CertRefusal::Expired {
            subject: "C=CH, O=Example, CN=Example Old Root".to_string(),
            not_after: "2026-01-01T00:00:00Z".to_string(),
        }
    );
    assert!(store.validate(&leaf_der, &[], NOW - 365 * 86_400).is_ok());
}

#[test]
fn a_leaf_of_another_ca_names_its_issuer() {
    let other = Authority::root("Other CA", generated_key(&rcgen::PKCS_ECDSA_P256_SHA256));
    let leaf_der = other.issue(
        &leaf_params(),
        &generated_key(&rcgen::PKCS_ECDSA_P256_SHA256),
    );
    let refusal = ecdsa_root()
        .store()
        .validate(&leaf_der, &[], NOW)
        .expect_err("unknown CA");
    assert_eq!(
        refusal,
        CertRefusal::UnknownCa {
            subject: "C=CH, O=Example, CN=office1".to_string(),
            issuer: "C=CH, O=Example, CN=Other CA".to_string(),
        }
    );
    assert!(
        refusal
            .to_string()
            .contains("\"C=CH, O=Example, CN=Other CA\""),
        "{refusal}"
    );
}

#[test]
fn a_revoked_leaf_is_refused_with_its_serial() {
    let root = ecdsa_root();
    let leaf_der = root.issue(
        &leaf_params(),
        &generated_key(&rcgen::PKCS_ECDSA_P256_SHA256),
    );
    let ca = root.certificate();
    let revoking = root.crl(&[&[0x05], LEAF_SERIAL], 2026, 2027);
    let store = TrustStore::new(vec![ca.clone()], vec![revoking.der().to_vec()]).expect("store");
    let refusal = store.validate(&leaf_der, &[], NOW).expect_err("revoked");
    assert_eq!(
        refusal,
        CertRefusal::Revoked {
            subject: "C=CH, O=Example, CN=office1".to_string(),
            serial: "1a:2b:3c".to_string(),
            issuer: "C=CH, O=Example, CN=Example Root CA".to_string(),
        }
    );
    assert!(refusal.to_string().contains("serial 1a:2b:3c"), "{refusal}");
    // An expired CRL still revokes: it is the newest list there is.
    let expired_crl = root.crl(&[LEAF_SERIAL], 2025, 2026);
    let store = TrustStore::new(vec![ca.clone()], vec![expired_crl.der().to_vec()]).expect("store");
    assert!(matches!(
        store.validate(&leaf_der, &[], NOW),
        Err(CertRefusal::Revoked { .. })
    ));
    // A CRL without the serial lets it pass.
    let other_serials = root.crl(&[&[0x05]], 2026, 2027);
    let store = TrustStore::new(vec![ca], vec![other_serials.der().to_vec()]).expect("store");
    assert!(store.validate(&leaf_der, &[], NOW).is_ok());
}

#[test]
fn a_revoked_intermediate_is_named_and_a_ca_without_crl_passes() {
    let root = ecdsa_root();
    let mut params = ca_params("Example Sites CA");
    params.serial_number = Some(SerialNumber::from_slice(&[0x42]));
    let key = generated_key(&rcgen::PKCS_ECDSA_P256_SHA256);
    let intermediate = Authority {
        der: root.issue(&params, &key),
        params,
        key,
    };
    let leaf_der = intermediate.issue(
        &leaf_params(),
        &generated_key(&rcgen::PKCS_ECDSA_P256_SHA256),
    );
    let crl = root.crl(&[&[0x42]], 2026, 2027);
    let store = TrustStore::new(vec![root.certificate()], vec![crl.der().to_vec()]).expect("store");
    let refusal = store
        .validate(&leaf_der, std::slice::from_ref(&intermediate.der), NOW)
        .expect_err("revoked");
    assert_eq!(
        refusal,
        CertRefusal::Revoked {
            subject: "C=CH, O=Example, CN=Example Sites CA".to_string(),
            serial: "42".to_string(),
            issuer: "C=CH, O=Example, CN=Example Root CA".to_string(),
        }
    );
    // The intermediate has no CRL configured: its leaf is not checked, and passes when the
    // root's CRL does not list the intermediate.
    let crl = root.crl(&[LEAF_SERIAL], 2026, 2027);
    let store = TrustStore::new(vec![root.certificate()], vec![crl.der().to_vec()]).expect("store");
    assert!(store
        .validate(&leaf_der, std::slice::from_ref(&intermediate.der), NOW)
        .is_ok());
}

#[test]
fn extended_key_usages_for_ike_are_accepted_and_others_refused() {
    let root = ecdsa_root();
    let store = root.store();
    let accepted = [
        vec![ExtendedKeyUsagePurpose::ServerAuth],
        vec![ExtendedKeyUsagePurpose::ClientAuth],
        vec![ExtendedKeyUsagePurpose::Other(vec![
            1, 3, 6, 1, 5, 5, 8, 2, 2,
        ])],
        vec![ExtendedKeyUsagePurpose::Other(vec![
            1, 3, 6, 1, 5, 5, 7, 3, 17,
        ])],
        vec![
            ExtendedKeyUsagePurpose::CodeSigning,
            ExtendedKeyUsagePurpose::Any,
        ],
    ];
    for usages in accepted {
        let mut params = leaf_params();
        params.extended_key_usages = usages.clone();
        let leaf_der = root.issue(&params, &generated_key(&rcgen::PKCS_ECDSA_P256_SHA256));
        assert!(store.validate(&leaf_der, &[], NOW).is_ok(), "{usages:?}");
    }
    let mut params = leaf_params();
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
    let leaf_der = root.issue(&params, &generated_key(&rcgen::PKCS_ECDSA_P256_SHA256));
    let refusal = store
        .validate(&leaf_der, &[], NOW)
        .expect_err("code signing only");
    let CertRefusal::Usage { subject, detail } = &refusal else {
        panic!("not a usage refusal: {refusal}");
    };
    assert_eq!(subject, "C=CH, O=Example, CN=office1");
    assert!(detail.contains("1.3.6.1.5.5.7.3.3"), "{detail}");
}

#[test]
fn a_key_usage_without_signing_is_refused() {
    let root = ecdsa_root();
    let store = root.store();
    let mut params = leaf_params();
    params.key_usages = vec![KeyUsagePurpose::KeyEncipherment];
    let leaf_der = root.issue(&params, &generated_key(&rcgen::PKCS_ECDSA_P256_SHA256));
    let refusal = store
        .validate(&leaf_der, &[], NOW)
        .expect_err("no digitalSignature");
    let CertRefusal::Usage { detail, .. } = &refusal else {
        panic!("not a usage refusal: {refusal}");
    };
    assert!(detail.contains("digitalSignature"), "{detail}");
    // RFC 4945 5.1.3.2: nonRepudiation alone is enough.
    params.key_usages = vec![KeyUsagePurpose::ContentCommitment];
    let leaf_der = root.issue(&params, &generated_key(&rcgen::PKCS_ECDSA_P256_SHA256));
    assert!(store.validate(&leaf_der, &[], NOW).is_ok());
}

#[test]
fn other_defects_are_invalid_with_a_readable_reason() {
    let root = ecdsa_root();
    let store = root.store();
    // The CA itself presented as the peer's certificate.
    let refusal = store.validate(&root.der, &[], NOW).expect_err("a CA");
    let CertRefusal::Invalid { detail, .. } = &refusal else {
        panic!("not invalid: {refusal}");
    };
    assert!(!detail.contains("Used"), "{detail}");
    // A signature that does not verify: a leaf "issued" by our root's name with another key.
    let impostor = Authority::root(
        "Example Root CA",
        generated_key(&rcgen::PKCS_ECDSA_P256_SHA256),
    );
    let leaf_der = impostor.issue(
        &leaf_params(),
        &generated_key(&rcgen::PKCS_ECDSA_P256_SHA256),
    );
    let refusal = store
        .validate(&leaf_der, &[], NOW)
        .expect_err("bad signature");
    assert!(
        matches!(
            refusal,
            CertRefusal::UnknownCa { .. } | CertRefusal::Invalid { .. }
        ),
        "{refusal}"
    );
    let garbage = store.validate(b"garbage", &[], NOW).expect_err("garbage");
    assert!(matches!(garbage, CertRefusal::Invalid { .. }), "{garbage}");
}

#[test]
fn a_ca_file_with_a_leaf_is_refused_by_name() {
    let root = ecdsa_root();
    let leaf =
        Certificate::from_der(&root.issue(&leaf_params(), &generated_key(&rcgen::PKCS_ED25519)))
            .expect("parses");
    let error = TrustStore::new(vec![root.certificate(), leaf], Vec::new()).expect_err("not a CA");
    assert!(
        error
            .0
            .contains("\"C=CH, O=Example, CN=office1\" is not a CA"),
        "{error}"
    );
    let error =
        TrustStore::new(vec![root.certificate()], vec![b"junk".to_vec()]).expect_err("bad CRL");
    assert!(error.0.contains("CRL 1"), "{error}");
}

// --- Files --------------------------------------------------------------------------------

fn pem_text(label: &str, der: &[u8]) -> String {
    der::pem::encode_string(label, der::pem::LineEnding::LF, der).expect("encodes")
}

/// A file in the temporary directory, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, contents: &[u8]) -> TempFile {
        let path = std::env::temp_dir().join(format!("ikehub-pki-{}-{name}", std::process::id()));
        std::fs::write(&path, contents).expect("writes the test file");
        TempFile(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn certificate_files_in_pem_with_chains_and_in_der_are_read() {
    let root = ecdsa_root();
    let intermediate = Authority::intermediate(
        "Example Sites CA",
        generated_key(&rcgen::PKCS_ED25519),
        &root,
    );
    let leaf_der = intermediate.issue(
        &leaf_params(),
        &generated_key(&rcgen::PKCS_ECDSA_P256_SHA256),
    );
    let chain = format!(
        "subject=CN=office1\n{}\nissuer=CN=Example Sites CA\n{}",
        pem_text("CERTIFICATE", &leaf_der),
        pem_text("CERTIFICATE", &intermediate.der)
    );
    let file = TempFile::new("chain.pem", chain.as_bytes());
    let certificates = read_certificates(&file.0).expect("reads");
    assert_eq!(certificates.len(), 2);
    assert_eq!(certificates[0].subject, "C=CH, O=Example, CN=office1");
    assert_eq!(
        certificates[1].subject,
        "C=CH, O=Example, CN=Example Sites CA"
    );
    let der_file = TempFile::new("ca.der", &root.der);
    let certificates = read_certificates(&der_file.0).expect("reads");
    assert_eq!(certificates, vec![root.certificate()]);
}

#[test]
fn files_without_what_they_should_hold_are_named_in_errors() {
    let key_file = TempFile::new("notcerts.pem", P256_SEC1.as_bytes());
    let error = read_certificates(&key_file.0).expect_err("no certificate");
    assert!(
        error
            .0
            .starts_with(&format!("{}: no CERTIFICATE block", key_file.0.display())),
        "{error}"
    );
    assert!(error.0.contains("found EC PRIVATE KEY"), "{error}");
    let garbage = TempFile::new("garbage.der", b"\x30\x03\x02\x01");
    let error = read_certificates(&garbage.0).expect_err("garbage");
    assert!(
        error.0.starts_with(&garbage.0.display().to_string()),
        "{error}"
    );
    let missing = std::env::temp_dir().join("ikehub-pki-missing-file.pem");
    let error = read_certificates(&missing).expect_err("missing");
    assert!(
        error.0.starts_with(&missing.display().to_string()),
        "{error}"
    );
    let short_key = TempFile::new("short-key.pem", RSA1024_PKCS8.as_bytes());
    let error = read_private_key(&short_key.0).expect_err("short key");
    assert!(
        error
            .0
            .starts_with(&format!("{}: unsupported key: ", short_key.0.display())),
        "{error}"
    );
    let error = read_crls(&key_file.0).expect_err("no CRL");
    assert!(error.0.contains("no X509 CRL block"), "{error}");
    let broken_crl = TempFile::new("broken.crl", b"\x30\x03\x02\x01\x00");
    let error = read_crls(&broken_crl.0).expect_err("broken CRL");
    assert!(error.0.contains("CRL 1 does not parse"), "{error}");
}

#[test]
fn key_and_crl_files_are_read() {
    let key_file = TempFile::new("key.pem", RSA2048_PKCS1.as_bytes());
    let key = read_private_key(&key_file.0).expect("reads");
    assert_eq!(key.key_type(), KeyType::Rsa { bits: 2048 });
    let root = ecdsa_root();
    let first = root.crl(&[LEAF_SERIAL], 2026, 2027);
    let second = root.crl(&[&[0x05]], 2026, 2027);
    let crls = format!(
        "{}{}",
        first.pem().expect("pem"),
        second.pem().expect("pem")
    );
    let crl_file = TempFile::new("crls.pem", crls.as_bytes());
    let read = read_crls(&crl_file.0).expect("reads");
    assert_eq!(read, vec![first.der().to_vec(), second.der().to_vec()]);
    let der_file = TempFile::new("crl.der", first.der());
    assert_eq!(
        read_crls(&der_file.0).expect("reads"),
        vec![first.der().to_vec()]
    );
    let store = TrustStore::new(
        read_certificates(
            &TempFile::new("root.pem", pem_text("CERTIFICATE", &root.der).as_bytes()).0,
        )
        .expect("reads"),
        read,
    )
    .expect("store");
    let leaf_der = root.issue(
        &leaf_params(),
        &generated_key(&rcgen::PKCS_ECDSA_P256_SHA256),
    );
    assert!(matches!(
        store.validate(&leaf_der, &[], NOW),
        Err(CertRefusal::Revoked { .. })
    ));
}

#[test]
fn credentials_can_be_shared_between_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<SigningKey>();
    shareable::<Certificate>();
    shareable::<TrustStore>();
    shareable::<ValidatedChain>();
}

//! A test PKI made by the test itself (rcgen): a CA, certificates it issues, CRLs, and the
//! gateway credentials built from them.
#![allow(dead_code)]

use std::net::IpAddr;
use std::sync::Arc;

use ikehub::config::{Credentials, LocalCredential};
use ikehub::crypto::pki::{Certificate, SigningKey};
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DnType, IsCa, Issuer,
    KeyPair, KeyUsagePurpose, RevokedCertParams, SanType, SerialNumber, SignatureAlgorithm,
};

#[allow(unused_imports)]
pub use rcgen::{date_time_ymd, PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384, PKCS_ED25519};

/// A certification authority that issues certificates and CRLs.
pub struct TestCa {
    pub certificate_der: Vec<u8>,
    issuer: Issuer<'static, KeyPair>,
    next_serial: u64,
}

/// A certificate with its key, as PEM and parsed.
pub struct Issued {
    pub der: Vec<u8>,
    pub key_pem: String,
    pub serial: u64,
}

/// How a test certificate differs from a plain one.
#[derive(Clone)]
pub struct Profile {
    pub common_name: String,
    pub ip: Option<IpAddr>,
    pub dns: Option<String>,
    pub email: Option<String>,
    pub not_before: (i32, u8, u8),
    pub not_after: (i32, u8, u8),
    pub key_usages: Vec<KeyUsagePurpose>,
}

impl Profile {
    pub fn for_ip(common_name: &str, ip: IpAddr) -> Profile {
        Profile {
            common_name: common_name.into(),
            ip: Some(ip),
            dns: None,
            email: None,
            not_before: (2020, 1, 1),
            not_after: (2099, 1, 1),
            key_usages: vec![KeyUsagePurpose::DigitalSignature],
        }
    }
}

impl TestCa {
    pub fn new(name: &str) -> TestCa {
        TestCa::with_algorithm(name, &PKCS_ECDSA_P256_SHA256)
    }

    pub fn with_algorithm(name: &str, algorithm: &'static SignatureAlgorithm) -> TestCa {
        let key = KeyPair::generate_for(algorithm).expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Example");
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.not_before = date_time_ymd(2020, 1, 1);
        params.not_after = date_time_ymd(2099, 1, 1);
        let certificate = params.self_signed(&key).expect("CA certificate");
        TestCa {
            certificate_der: certificate.der().to_vec(),
            issuer: Issuer::new(params, key),
            next_serial: 1,
        }
    }

    pub fn issue(&mut self, profile: &Profile, algorithm: &'static SignatureAlgorithm) -> Issued {
        let key = KeyPair::generate_for(algorithm).expect("key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Example");
        params
            .distinguished_name
            .push(DnType::CommonName, profile.common_name.as_str());
        if let Some(ip) = profile.ip {
            params.subject_alt_names.push(SanType::IpAddress(ip));
        }
        if let Some(dns) = &profile.dns {
            params
                .subject_alt_names
                .push(SanType::DnsName(dns.clone().try_into().expect("dns name")));
        }
        if let Some(email) = &profile.email {
            params.subject_alt_names.push(SanType::Rfc822Name(
                email.clone().try_into().expect("email"),
            ));
        }
        let (y, m, d) = profile.not_before;
        params.not_before = date_time_ymd(y, m, d);
        let (y, m, d) = profile.not_after;
        params.not_after = date_time_ymd(y, m, d);
        params.key_usages = profile.key_usages.clone();
        let serial = self.next_serial;
        self.next_serial += 1;
        params.serial_number = Some(SerialNumber::from(serial));
        let certificate = params.signed_by(&key, &self.issuer).expect("issue");
        Issued {
            der: certificate.der().to_vec(),
            key_pem: key.serialize_pem(),
            serial,
        }
    }

    /// A CRL revoking the given serials.
    pub fn crl(&self, revoked: &[u64]) -> Vec<u8> {
        let params = CertificateRevocationListParams {
            this_update: date_time_ymd(2024, 1, 1),
            next_update: date_time_ymd(2098, 1, 1),
            crl_number: SerialNumber::from(1u64),
            issuing_distribution_point: None,
            revoked_certs: revoked
                .iter()
                .map(|&serial| RevokedCertParams {
                    serial_number: SerialNumber::from(serial),
                    revocation_time: date_time_ymd(2024, 1, 1),
                    reason_code: None,
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: rcgen::KeyIdMethod::Sha256,
        };
        params.signed_by(&self.issuer).expect("CRL").der().to_vec()
    }
}

/// Gateway credentials: our certificate and key (if any), trusting `cas`, with `crls`.
pub fn credentials(ours: Option<&Issued>, cas: &[&TestCa], crls: Vec<Vec<u8>>) -> Arc<Credentials> {
    let local = ours.map(|issued| LocalCredential {
        certificate: Certificate::from_der(&issued.der).expect("our certificate"),
        chain: Vec::new(),
        key: SigningKey::from_pem(issued.key_pem.as_bytes()).expect("our key"),
        certificate_file: "test.pem".into(),
    });
    let cas = cas
        .iter()
        .map(|ca| Certificate::from_der(&ca.certificate_der).expect("CA"))
        .collect();
    Arc::new(Credentials::new(local, cas, crls).expect("credentials"))
}

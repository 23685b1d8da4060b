//! The fields of an X.509 certificate that IKE needs (read with x509-cert).

use der::asn1::{Any, BitString, UintRef};
use der::{Decode, Encode, SliceReader};
use ring::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use x509_cert::ext::pkix::BasicConstraints;
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};

use super::binding;
use super::dn::rdns_text;
use super::error::PkiError;
use super::identity::CertIdentity;
use super::oid;
use super::scheme::SignatureScheme;
use super::signing_key::KeyType;
use crate::wall_clock::rfc3339;

/// A certificate's subject public key, ready for ring's verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    pub key_type: KeyType,
    /// The subjectPublicKey BIT STRING's octets.
    pub octets: Vec<u8>,
}

impl PublicKey {
    /// Verifies a signature with a scheme (ECDSA DER-encoded); false if the scheme does not
    /// fit the key type.
    ///
    /// An ECDSA AlgorithmIdentifier names the hash, not the curve (RFC 7427 A.3), so ECDSA
    /// goes by the key's curve: a P-384 key signing with ecdsa-with-SHA256 verifies as
    /// P-384 with SHA-256. RSA keys verify from 2048 bits up (ring's floor).
    pub fn verify(&self, scheme: SignatureScheme, message: &[u8], signature: &[u8]) -> bool {
        let algorithm: &'static dyn VerificationAlgorithm = match (scheme, self.key_type) {
            (SignatureScheme::RsaPkcs1Sha1, KeyType::Rsa { .. }) => {
                &signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY
            }
            (SignatureScheme::RsaPkcs1Sha256, KeyType::Rsa { .. }) => {
                &signature::RSA_PKCS1_2048_8192_SHA256
            }
            (SignatureScheme::RsaPkcs1Sha384, KeyType::Rsa { .. }) => {
                &signature::RSA_PKCS1_2048_8192_SHA384
            }
            (SignatureScheme::RsaPkcs1Sha512, KeyType::Rsa { .. }) => {
                &signature::RSA_PKCS1_2048_8192_SHA512
            }
            (SignatureScheme::RsaPssSha256, KeyType::Rsa { .. }) => {
                &signature::RSA_PSS_2048_8192_SHA256
            }
            (SignatureScheme::RsaPssSha384, KeyType::Rsa { .. }) => {
                &signature::RSA_PSS_2048_8192_SHA384
            }
            (SignatureScheme::RsaPssSha512, KeyType::Rsa { .. }) => {
                &signature::RSA_PSS_2048_8192_SHA512
            }
            (SignatureScheme::EcdsaP256Sha256, KeyType::EcdsaP256) => {
                &signature::ECDSA_P256_SHA256_ASN1
            }
            (SignatureScheme::EcdsaP256Sha256, KeyType::EcdsaP384) => {
                &signature::ECDSA_P384_SHA256_ASN1
            }
            (SignatureScheme::EcdsaP384Sha384, KeyType::EcdsaP384) => {
                &signature::ECDSA_P384_SHA384_ASN1
            }
            (SignatureScheme::EcdsaP384Sha384, KeyType::EcdsaP256) => {
                &signature::ECDSA_P256_SHA384_ASN1
            }
            (SignatureScheme::Ed25519, KeyType::Ed25519) => &signature::ED25519,
            _ => return false,
        };
        UnparsedPublicKey::new(algorithm, &self.octets)
            .verify(message, signature)
            .is_ok()
    }

    /// ECDSA methods 9 and 10 (RFC 4754): a fixed-width `r | s` signature with the curve's
    /// own hash.
    pub fn verify_ecdsa_fixed(&self, message: &[u8], signature: &[u8]) -> bool {
        let algorithm = match self.key_type {
            KeyType::EcdsaP256 => &signature::ECDSA_P256_SHA256_FIXED,
            KeyType::EcdsaP384 => &signature::ECDSA_P384_SHA384_FIXED,
            _ => return false,
        };
        UnparsedPublicKey::new(algorithm, &self.octets)
            .verify(message, signature)
            .is_ok()
    }

    /// From a subjectPublicKeyInfo: rsaEncryption, id-ecPublicKey on P-256 or P-384, or
    /// id-Ed25519.
    fn from_spki(spki: &SubjectPublicKeyInfoOwned) -> Result<PublicKey, String> {
        let octets = spki
            .subject_public_key
            .as_bytes()
            .ok_or("the subjectPublicKey is not a whole number of octets")?
            .to_vec();
        let key_type = match spki.algorithm.oid {
            oid::RSA_ENCRYPTION => KeyType::Rsa {
                bits: rsa_modulus_bits(&octets)
                    .map_err(|error| format!("the RSA public key does not parse: {error}"))?,
            },
            oid::ID_EC_PUBLIC_KEY => {
                let curve = spki.algorithm.parameters.as_ref().and_then(|parameters| {
                    parameters.decode_as::<der::asn1::ObjectIdentifier>().ok()
                });
                match curve {
                    Some(oid::SECP256R1) => KeyType::EcdsaP256,
                    Some(oid::SECP384R1) => KeyType::EcdsaP384,
                    Some(other) => {
                        return Err(format!(
                            "EC curve {other} is not supported (P-256 and P-384 are)"
                        ))
                    }
                    None => return Err("the EC public key does not name its curve".to_string()),
                }
            }
            oid::ID_ED25519 => KeyType::Ed25519,
            other => return Err(format!("public key algorithm {other} is not supported")),
        };
        Ok(PublicKey { key_type, octets })
    }

    /// The subjectPublicKeyInfo this key is written as in a certificate (RFC 8017 A.1,
    /// RFC 5480 2, RFC 8410 4).
    fn to_spki_der(&self) -> der::Result<Vec<u8>> {
        let (oid, parameters) = match self.key_type {
            KeyType::Rsa { .. } => (oid::RSA_ENCRYPTION, Some(Any::null())),
            KeyType::EcdsaP256 => (oid::ID_EC_PUBLIC_KEY, Some(Any::from(oid::SECP256R1))),
            KeyType::EcdsaP384 => (oid::ID_EC_PUBLIC_KEY, Some(Any::from(oid::SECP384R1))),
            KeyType::Ed25519 => (oid::ID_ED25519, None),
        };
        SubjectPublicKeyInfoOwned {
            algorithm: AlgorithmIdentifierOwned { oid, parameters },
            subject_public_key: BitString::from_bytes(&self.octets)?,
        }
        .to_der()
    }
}

/// The bit length of an RSAPublicKey's modulus (RFC 8017 A.1.1).
pub(super) fn rsa_modulus_bits(rsa_public_key: &[u8]) -> der::Result<usize> {
    let mut reader = SliceReader::new(rsa_public_key)?;
    let modulus = der::Reader::sequence(&mut reader, |body| {
        let modulus = UintRef::decode(body)?;
        let _exponent = UintRef::decode(body)?;
        Ok::<_, der::Error>(modulus)
    })?;
    der::Reader::finish(reader)?;
    let bytes = modulus.as_bytes();
    let leading_zeros = bytes
        .first()
        .map_or(0, |byte| byte.leading_zeros() as usize);
    Ok(bytes.len() * 8 - leading_zeros)
}

/// A parsed certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    /// The whole certificate, DER.
    pub der: Vec<u8>,
    /// RFC 4514-style text, most significant RDN first as OpenSSL and strongSwan print it:
    /// "C=CH, O=Example, CN=office1".
    pub subject: String,
    /// The subject Name, DER (what an ID_DER_ASN1_DN identity carries).
    pub subject_der: Vec<u8>,
    pub issuer: String,
    /// Hex octets separated by colons: "1a:2b:3c".
    pub serial: String,
    /// Seconds since the Unix epoch.
    pub not_before: u64,
    pub not_after: u64,
    pub public_key: PublicKey,
    /// Whether basicConstraints says cA.
    pub is_ca: bool,
}

impl Certificate {
    pub fn from_der(der: &[u8]) -> Result<Certificate, PkiError> {
        let parsed = x509_cert::Certificate::from_der(der)
            .map_err(|error| PkiError(format!("not an X.509 certificate: {error}")))?;
        let tbs = parsed.tbs_certificate();
        let subject = rdns_text(tbs.subject().as_ref());
        let invalid = |detail: String| PkiError(format!("certificate \"{subject}\": {detail}"));
        let subject_der = tbs
            .subject()
            .to_der()
            .map_err(|error| invalid(format!("subject does not encode: {error}")))?;
        let public_key = PublicKey::from_spki(tbs.subject_public_key_info()).map_err(invalid)?;
        let is_ca = tbs
            .get_extension::<BasicConstraints>()
            .map_err(|error| invalid(format!("malformed basicConstraints: {error}")))?
            .is_some_and(|(_, constraints)| constraints.ca);
        Ok(Certificate {
            der: der.to_vec(),
            subject_der,
            issuer: rdns_text(tbs.issuer().as_ref()),
            serial: colon_hex(tbs.serial_number().as_bytes()),
            not_before: tbs.validity().not_before.to_unix_duration().as_secs(),
            not_after: tbs.validity().not_after.to_unix_duration().as_secs(),
            public_key,
            is_ca,
            subject,
        })
    }

    /// Whether the identity is the subject (a DN) or one of the subjectAltNames (dNSName
    /// without case, rfc822Name, iPAddress); an FQDN or email identity also matches a
    /// subject CN / emailAddress only when the certificate has no subjectAltName, as
    /// strongSwan does. A DN also matches a directoryName subjectAltName.
    pub fn binds(&self, identity: &CertIdentity) -> bool {
        match x509_cert::Certificate::from_der(&self.der) {
            Ok(parsed) => binding::binds(parsed.tbs_certificate(), identity),
            Err(_) => false,
        }
    }

    /// SHA-1 of the subjectPublicKeyInfo: what a CERTREQ lists for a CA (RFC 7296 3.7).
    pub fn spki_sha1(&self) -> [u8; 20] {
        // The certificate's own encoding where it parses; a certificate built by hand hashes
        // the encoding of its public key.
        let spki_der = x509_cert::Certificate::from_der(&self.der)
            .ok()
            .and_then(|parsed| {
                parsed
                    .tbs_certificate()
                    .subject_public_key_info()
                    .to_der()
                    .ok()
            })
            .or_else(|| self.public_key.to_spki_der().ok())
            .unwrap_or_default();
        let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &spki_der);
        let mut hash = [0u8; 20];
        hash.copy_from_slice(digest.as_ref());
        hash
    }

    /// notBefore as RFC 3339 UTC.
    pub fn not_before_text(&self) -> String {
        rfc3339(self.not_before)
    }

    /// notAfter as RFC 3339 UTC ("2027-01-31T12:00:00Z").
    pub fn not_after_text(&self) -> String {
        rfc3339(self.not_after)
    }
}

/// "1a:2b:3c", as OpenSSL and strongSwan print serial numbers.
pub(super) fn colon_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

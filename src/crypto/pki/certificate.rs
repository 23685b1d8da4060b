//! The fields of an X.509 certificate that IKE needs (read with x509-cert).

use super::error::PkiError;
use super::identity::CertIdentity;
use super::scheme::SignatureScheme;
use super::signing_key::KeyType;

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
    pub fn verify(&self, scheme: SignatureScheme, message: &[u8], signature: &[u8]) -> bool {
        let _ = (scheme, message, signature);
        unimplemented!()
    }

    /// ECDSA methods 9 and 10 (RFC 4754): a fixed-width `r | s` signature with the curve's
    /// own hash.
    pub fn verify_ecdsa_fixed(&self, message: &[u8], signature: &[u8]) -> bool {
        let _ = (message, signature);
        unimplemented!()
    }
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
        let _ = der;
        unimplemented!()
    }

    /// Whether the identity is the subject (a DN) or one of the subjectAltNames (dNSName
    /// without case, rfc822Name, iPAddress); an FQDN or email identity also matches a
    /// subject CN / emailAddress only when the certificate has no subjectAltName, as
    /// strongSwan does.
    pub fn binds(&self, identity: &CertIdentity) -> bool {
        let _ = identity;
        unimplemented!()
    }

    /// SHA-1 of the subjectPublicKeyInfo: what a CERTREQ lists for a CA (RFC 7296 3.7).
    pub fn spki_sha1(&self) -> [u8; 20] {
        unimplemented!()
    }

    /// notBefore as RFC 3339 UTC.
    pub fn not_before_text(&self) -> String {
        unimplemented!()
    }

    /// notAfter as RFC 3339 UTC ("2027-01-31T12:00:00Z").
    pub fn not_after_text(&self) -> String {
        unimplemented!()
    }
}

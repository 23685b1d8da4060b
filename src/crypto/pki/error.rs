//! Why a file, key or certificate could not be used, and why a peer's certificate was refused.

use std::fmt;

/// A problem with our own credentials or configured files: named with the file where known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PkiError(pub String);

impl fmt::Display for PkiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PkiError {}

/// Why a peer's certificate is not accepted. `Display` is the text an operator reads in the
/// log and in `last_error` (dates in RFC 3339 UTC, serials in hex with colons).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertRefusal {
    /// Not valid any more: "certificate CN=... expired on 2026-01-01T00:00:00Z".
    Expired { subject: String, not_after: String },
    /// "certificate CN=... is not valid before 2027-...".
    NotYetValid { subject: String, not_before: String },
    /// No chain to a configured CA: "unknown CA: issuer CN=Other CA of CN=...".
    UnknownCa { subject: String, issuer: String },
    /// "certificate CN=... (serial 1a:2b) is revoked by a CRL of CN=CA".
    Revoked {
        subject: String,
        serial: String,
        issuer: String,
    },
    /// The key usage extension has neither digitalSignature nor nonRepudiation (RFC 4945
    /// 5.1.3.2), or the EKU has none of serverAuth, clientAuth, ipsecIKE, ikeIntermediate,
    /// anyExtendedKeyUsage.
    Usage { subject: String, detail: String },
    /// The identity the peer claims is not in its certificate.
    IdentityMismatch { identity: String, subject: String },
    /// Anything else webpki or the parser refused, with its reason.
    Invalid { subject: String, detail: String },
}

impl fmt::Display for CertRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CertRefusal::Expired { subject, not_after } => {
                write!(f, "certificate \"{subject}\" expired on {not_after}")
            }
            CertRefusal::NotYetValid {
                subject,
                not_before,
            } => write!(f, "certificate \"{subject}\" is not valid before {not_before}"),
            CertRefusal::UnknownCa { subject, issuer } => write!(
                f,
                "unknown CA: certificate \"{subject}\" is issued by \"{issuer}\", which does not chain to a configured CA"
            ),
            CertRefusal::Revoked {
                subject,
                serial,
                issuer,
            } => write!(
                f,
                "certificate \"{subject}\" (serial {serial}) is revoked by the CRL of \"{issuer}\""
            ),
            CertRefusal::Usage { subject, detail } => {
                write!(f, "certificate \"{subject}\" may not be used for IKE: {detail}")
            }
            CertRefusal::IdentityMismatch { identity, subject } => write!(
                f,
                "identity {identity} is not in the certificate \"{subject}\" (neither its subject nor a subjectAltName)"
            ),
            CertRefusal::Invalid { subject, detail } => {
                write!(f, "certificate \"{subject}\" is not valid: {detail}")
            }
        }
    }
}

/// webpki's error names ("InvalidSignatureForPublicKey") as words, with the common ones
/// said plainly.
pub(super) fn webpki_reason(error: &webpki::Error) -> String {
    let plain = match error {
        webpki::Error::BadDer | webpki::Error::BadDerTime => "it is not valid DER",
        webpki::Error::CaUsedAsEndEntity => "a CA certificate is used as the peer's own",
        webpki::Error::EndEntityUsedAsCa => "a certificate that is not a CA issued another",
        webpki::Error::InvalidSignatureForPublicKey => {
            "a signature in the chain does not verify with its issuer's key"
        }
        webpki::Error::InvalidCrlSignatureForPublicKey => {
            "a CRL's signature does not verify with its CA's key"
        }
        webpki::Error::PathLenConstraintViolated => {
            "the chain is longer than a CA's pathLenConstraint allows"
        }
        webpki::Error::NameConstraintViolation => "a CA's name constraints exclude it",
        webpki::Error::UnsupportedSignatureAlgorithmContext(_) => {
            "a certificate is signed with an algorithm that is not supported"
        }
        webpki::Error::UnsupportedSignatureAlgorithmForPublicKeyContext(_) => {
            "a certificate's signature algorithm does not fit its issuer's key"
        }
        webpki::Error::UnsupportedCriticalExtension => "it has an unknown critical extension",
        _ => "",
    };
    if !plain.is_empty() {
        return plain.to_string();
    }
    let debug = format!("{error:?}");
    let name = debug.split(['(', ' ', '{']).next().unwrap_or_default();
    let mut words = String::new();
    for (index, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && index > 0 {
            words.push(' ');
        }
        words.push(c.to_ascii_lowercase());
    }
    words
}

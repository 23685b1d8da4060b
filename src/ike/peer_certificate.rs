//! What an IKE SA keeps of the certificate its peer authenticated with: what `status` shows
//! (subject, issuer, expiry) and nothing an operator does not read.

/// The peer's end-entity certificate, once validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerCertificate {
    pub subject: String,
    pub issuer: String,
    /// Seconds since the Unix epoch.
    pub not_after: u64,
    /// The same as RFC 3339 UTC.
    pub not_after_text: String,
    pub serial: String,
}

impl PeerCertificate {
    pub fn of(certificate: &crate::crypto::pki::Certificate) -> PeerCertificate {
        PeerCertificate {
            subject: certificate.subject.clone(),
            issuer: certificate.issuer.clone(),
            not_after: certificate.not_after,
            not_after_text: certificate.not_after_text(),
            serial: certificate.serial.clone(),
        }
    }
}

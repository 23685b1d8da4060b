//! The configured CAs and CRLs, and validating a peer's certificate chain against them.

use super::certificate::Certificate;
use super::error::{CertRefusal, PkiError};

/// Trust anchors and revocation lists, loaded once (and again on reload).
#[derive(Debug, Clone, Default)]
pub struct TrustStore {
    _private: (),
}

/// A peer certificate that chains to a configured CA, is valid now, may sign for IKE and is
/// not revoked.
#[derive(Debug, Clone)]
pub struct ValidatedChain {
    pub end_entity: Certificate,
    /// The CA certificate the chain ends at.
    pub anchor_subject: String,
}

impl TrustStore {
    /// From CA certificates (each must be a CA: basicConstraints cA) and CRLs (DER).
    pub fn new(cas: Vec<Certificate>, crls: Vec<Vec<u8>>) -> Result<TrustStore, PkiError> {
        let _ = (cas, crls);
        unimplemented!()
    }

    pub fn is_empty(&self) -> bool {
        unimplemented!()
    }

    /// SHA-1 hashes of the CAs' subjectPublicKeyInfo, for CERTREQ (RFC 7296 3.7).
    pub fn ca_key_hashes(&self) -> Vec<[u8; 20]> {
        unimplemented!()
    }

    /// Validates `end_entity` (DER) with `intermediates` (DER, any order) at `unix_time`:
    /// chain to a configured CA, validity of every certificate, basicConstraints, key usage
    /// digitalSignature where the extension is present, an EKU that is absent or holds
    /// serverAuth, clientAuth or ikeIntermediate (1.3.6.1.5.5.8.2.2), as strongSwan accepts,
    /// and revocation by the configured CRLs (a CA with no CRL configured is not checked).
    pub fn validate(
        &self,
        end_entity: &[u8],
        intermediates: &[Vec<u8>],
        unix_time: u64,
    ) -> Result<ValidatedChain, CertRefusal> {
        let _ = (end_entity, intermediates, unix_time);
        unimplemented!()
    }
}

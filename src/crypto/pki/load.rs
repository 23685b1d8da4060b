//! Reading PEM files: certificates, private keys and CRLs.

use std::path::Path;

use super::certificate::Certificate;
use super::error::PkiError;
use super::signing_key::SigningKey;

/// Every CERTIFICATE block of a PEM file (or a single DER certificate), in file order.
pub fn read_certificates(path: &Path) -> Result<Vec<Certificate>, PkiError> {
    let _ = path;
    unimplemented!()
}

/// A PEM private key file (see [`SigningKey::from_pem`]); the file's contents are zeroized.
pub fn read_private_key(path: &Path) -> Result<SigningKey, PkiError> {
    let _ = path;
    unimplemented!()
}

/// Every X509 CRL block of a PEM file (or a single DER CRL), DER each.
pub fn read_crls(path: &Path) -> Result<Vec<Vec<u8>>, PkiError> {
    let _ = path;
    unimplemented!()
}

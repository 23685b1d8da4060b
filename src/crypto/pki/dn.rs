//! Distinguished names between the configuration's text and DER.

use super::error::PkiError;

/// "CN=office1, O=Example" (RFC 4514 or OpenSSL's comma-separated order, most significant
/// RDN first) to a DER Name. Attribute types: C, ST, L, O, OU, CN, E/emailAddress, DC,
/// serialNumber.
pub fn dn_from_text(text: &str) -> Result<Vec<u8>, PkiError> {
    let _ = text;
    unimplemented!()
}

/// A DER Name as text, in the same form [`dn_from_text`] reads; `None` if it does not parse.
pub fn dn_to_text(der: &[u8]) -> Option<String> {
    let _ = der;
    unimplemented!()
}

//! An IKE identity in the terms certificates bind identities with.

use std::net::IpAddr;

/// What a peer's ID payload claims, to be found in its certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertIdentity {
    Ip(IpAddr),
    Fqdn(String),
    Email(String),
    /// An ID_DER_ASN1_DN: a Name, DER.
    Dn(Vec<u8>),
}

//! Certificates and public-key signatures for IKE authentication (RFC 7296 2.15 and 3.6-3.8,
//! RFC 7427, RFC 4754, RFC 2409 5.1).
//!
//! - [`SigningKey`]: our private key (PEM PKCS#8, SEC1 or PKCS#1), signing with ring.
//! - [`SignatureScheme`]: a signature algorithm with its RFC 7427 AlgorithmIdentifier.
//! - [`Certificate`]: the parsed fields of an X.509 certificate that identities bind to and
//!   operators read (subject, issuer, serial, validity, subjectAltName, key usage).
//! - [`TrustStore`]: the configured CAs and CRLs; validates a peer's chain at a given time
//!   (the engine passes wall-clock time in: nothing here reads a clock).
//! - [`CertIdentity`]: an IKE identity as certificates bind it.
//!
//! Chain building, validity, basic constraints, EKU and CRL checks are rustls-webpki's; the
//! fields are read with x509-cert. No DER is parsed by hand.

mod binding;
mod certificate;
mod dn;
mod error;
mod hash;
mod identity;
mod load;
mod oid;
mod pem;
mod scheme;
mod signing_key;
#[cfg(test)]
mod tests;
mod trust;

pub use certificate::{Certificate, PublicKey};
pub use dn::{dn_from_text, dn_to_text};
pub use error::{CertRefusal, PkiError};
pub use hash::SignatureHash;
pub use identity::CertIdentity;
pub use load::{read_certificates, read_crls, read_private_key};
pub use scheme::SignatureScheme;
pub use signing_key::{KeyType, SigningKey};
pub use trust::{TrustStore, ValidatedChain};

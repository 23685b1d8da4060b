//! The object identifiers this module reads and writes, named as their RFCs name them.

use der::asn1::ObjectIdentifier;

const fn oid(dotted: &str) -> ObjectIdentifier {
    // Evaluated at compile time only: a typo here fails the build, never a run.
    ObjectIdentifier::new_unwrap(dotted)
}

// Signature algorithms (RFC 8017 A.2.4, RFC 4055 5, RFC 5758 3.2, RFC 8410 3).
pub(super) const SHA1_WITH_RSA_ENCRYPTION: ObjectIdentifier = oid("1.2.840.113549.1.1.5");
pub(super) const SHA256_WITH_RSA_ENCRYPTION: ObjectIdentifier = oid("1.2.840.113549.1.1.11");
pub(super) const SHA384_WITH_RSA_ENCRYPTION: ObjectIdentifier = oid("1.2.840.113549.1.1.12");
pub(super) const SHA512_WITH_RSA_ENCRYPTION: ObjectIdentifier = oid("1.2.840.113549.1.1.13");
pub(super) const ID_RSASSA_PSS: ObjectIdentifier = oid("1.2.840.113549.1.1.10");
pub(super) const ID_MGF1: ObjectIdentifier = oid("1.2.840.113549.1.1.8");
pub(super) const ID_ED25519: ObjectIdentifier = oid("1.3.101.112");

// Hash algorithms (RFC 5754 2).
pub(super) const ID_SHA256: ObjectIdentifier = oid("2.16.840.1.101.3.4.2.1");
pub(super) const ID_SHA384: ObjectIdentifier = oid("2.16.840.1.101.3.4.2.2");
pub(super) const ID_SHA512: ObjectIdentifier = oid("2.16.840.1.101.3.4.2.3");

// Public key algorithms and curves (RFC 8017 A.1, RFC 5480 2.1.1).
pub(super) const RSA_ENCRYPTION: ObjectIdentifier = oid("1.2.840.113549.1.1.1");
pub(super) const ID_EC_PUBLIC_KEY: ObjectIdentifier = oid("1.2.840.10045.2.1");
pub(super) const SECP256R1: ObjectIdentifier = oid("1.2.840.10045.3.1.7");
pub(super) const SECP384R1: ObjectIdentifier = oid("1.3.132.0.34");

// Name attributes (RFC 4519 2, RFC 2985 5.2.1, RFC 4519 2.4).
pub(super) const COUNTRY_NAME: ObjectIdentifier = oid("2.5.4.6");
pub(super) const STATE_OR_PROVINCE_NAME: ObjectIdentifier = oid("2.5.4.8");
pub(super) const LOCALITY_NAME: ObjectIdentifier = oid("2.5.4.7");
pub(super) const ORGANIZATION_NAME: ObjectIdentifier = oid("2.5.4.10");
pub(super) const ORGANIZATIONAL_UNIT_NAME: ObjectIdentifier = oid("2.5.4.11");
pub(super) const COMMON_NAME: ObjectIdentifier = oid("2.5.4.3");
pub(super) const SERIAL_NUMBER: ObjectIdentifier = oid("2.5.4.5");
pub(super) const EMAIL_ADDRESS: ObjectIdentifier = oid("1.2.840.113549.1.9.1");
pub(super) const DOMAIN_COMPONENT: ObjectIdentifier = oid("0.9.2342.19200300.100.1.25");

// Extended key usages an IKE peer's certificate may carry (RFC 5280 4.2.1.12, RFC 4945
// 5.1.3.12, and the "IP security IKE intermediate" purpose of the expired
// draft-ietf-ipsec-pki-req that Windows and strongSwan still use).
pub(super) const ANY_EXTENDED_KEY_USAGE: ObjectIdentifier = oid("2.5.29.37.0");
pub(super) const ID_KP_SERVER_AUTH: ObjectIdentifier = oid("1.3.6.1.5.5.7.3.1");
pub(super) const ID_KP_CLIENT_AUTH: ObjectIdentifier = oid("1.3.6.1.5.5.7.3.2");
pub(super) const ID_KP_IPSEC_IKE: ObjectIdentifier = oid("1.3.6.1.5.5.7.3.17");
pub(super) const IKE_INTERMEDIATE: ObjectIdentifier = oid("1.3.6.1.5.5.8.2.2");

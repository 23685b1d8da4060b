//! Signature algorithms and their AlgorithmIdentifiers in the Digital Signature AUTH method
//! (RFC 7427 3 and Appendix A).

use der::asn1::{AnyRef, ContextSpecific, ObjectIdentifier};
use der::{Decode, Reader, TagNumber};
use x509_cert::spki::AlgorithmIdentifierRef;

use super::hash::SignatureHash;
use super::oid;

/// A signature algorithm we can sign or verify IKE AUTH data with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureScheme {
    /// PKCS#1 v1.5 with SHA-1: IKEv2's RSA Digital Signature method (1); verify only.
    RsaPkcs1Sha1,
    RsaPkcs1Sha256,
    RsaPkcs1Sha384,
    RsaPkcs1Sha512,
    /// RSASSA-PSS, MGF1 with the same hash, salt as long as the hash (RFC 7427 A.4).
    RsaPssSha256,
    RsaPssSha384,
    RsaPssSha512,
    EcdsaP256Sha256,
    EcdsaP384Sha384,
    Ed25519,
}

// The AlgorithmIdentifiers, DER, as RFC 7427 Appendix A lists them where it does. The tests
// hold them against the Appendix's hex, decode each with `der`, and compare them with
// rustls-pki-types' independent transcription.

/// A.1.1 sha1WithRSAEncryption: PKCS#1 v1.5 carries NULL parameters (RFC 8017 A.2.4).
const RSA_PKCS1_SHA1: &[u8] = &[
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05, 0x05, 0x00,
];
/// A.1.2 sha256WithRSAEncryption.
const RSA_PKCS1_SHA256: &[u8] = &[
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00,
];
/// A.1.3 sha384WithRSAEncryption.
const RSA_PKCS1_SHA384: &[u8] = &[
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c, 0x05, 0x00,
];
/// A.1.4 sha512WithRSAEncryption.
const RSA_PKCS1_SHA512: &[u8] = &[
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d, 0x05, 0x00,
];
/// A.3.2 ecdsa-with-sha256: no parameters (RFC 5758 3.2).
const ECDSA_SHA256: &[u8] = &[
    0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02,
];
/// A.3.3 ecdsa-with-sha384.
const ECDSA_SHA384: &[u8] = &[
    0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03,
];
/// A.4.3 RSASSA-PSS with SHA-256: RSASSA-PSS-params (RFC 4055 3.1) with hashAlgorithm
/// [0] sha256 (NULL parameters), maskGenAlgorithm [1] mgf1 with sha256, saltLength [2] 32,
/// trailerField left at its default.
const RSA_PSS_SHA256: &[u8] = &[
    0x30, 0x41, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a, 0x30, 0x34, 0xa0,
    0x0f, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00,
    0xa1, 0x1c, 0x30, 0x1a, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08, 0x30,
    0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0xa2, 0x03,
    0x02, 0x01, 0x20,
];
/// RSASSA-PSS with SHA-384: A.4.3's form with sha384 in both places and saltLength 48
/// (RFC 7427 A.4 gives only SHA-256; the others follow RFC 4055 3.1 and 8247 3.2).
const RSA_PSS_SHA384: &[u8] = &[
    0x30, 0x41, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a, 0x30, 0x34, 0xa0,
    0x0f, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00,
    0xa1, 0x1c, 0x30, 0x1a, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08, 0x30,
    0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0xa2, 0x03,
    0x02, 0x01, 0x30,
];
/// RSASSA-PSS with SHA-512 and saltLength 64, likewise.
const RSA_PSS_SHA512: &[u8] = &[
    0x30, 0x41, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a, 0x30, 0x34, 0xa0,
    0x0f, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00,
    0xa1, 0x1c, 0x30, 0x1a, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08, 0x30,
    0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0xa2, 0x03,
    0x02, 0x01, 0x40,
];
/// id-Ed25519 without parameters (RFC 8420 2, RFC 8410 3).
const ED25519: &[u8] = &[0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70];

const ALL: [SignatureScheme; 10] = [
    SignatureScheme::RsaPkcs1Sha1,
    SignatureScheme::RsaPkcs1Sha256,
    SignatureScheme::RsaPkcs1Sha384,
    SignatureScheme::RsaPkcs1Sha512,
    SignatureScheme::RsaPssSha256,
    SignatureScheme::RsaPssSha384,
    SignatureScheme::RsaPssSha512,
    SignatureScheme::EcdsaP256Sha256,
    SignatureScheme::EcdsaP384Sha384,
    SignatureScheme::Ed25519,
];

impl SignatureScheme {
    /// The DER AlgorithmIdentifier carried in a Digital Signature (14) AUTH payload.
    pub fn algorithm_identifier(self) -> &'static [u8] {
        match self {
            SignatureScheme::RsaPkcs1Sha1 => RSA_PKCS1_SHA1,
            SignatureScheme::RsaPkcs1Sha256 => RSA_PKCS1_SHA256,
            SignatureScheme::RsaPkcs1Sha384 => RSA_PKCS1_SHA384,
            SignatureScheme::RsaPkcs1Sha512 => RSA_PKCS1_SHA512,
            SignatureScheme::RsaPssSha256 => RSA_PSS_SHA256,
            SignatureScheme::RsaPssSha384 => RSA_PSS_SHA384,
            SignatureScheme::RsaPssSha512 => RSA_PSS_SHA512,
            SignatureScheme::EcdsaP256Sha256 => ECDSA_SHA256,
            SignatureScheme::EcdsaP384Sha384 => ECDSA_SHA384,
            SignatureScheme::Ed25519 => ED25519,
        }
    }

    /// The scheme an AlgorithmIdentifier names; `None` for one we do not support (including
    /// PSS parameters other than those of RFC 7427 A.4).
    ///
    /// The encodings above match byte for byte. Beyond them, two spellings RFC 4055 tells
    /// receivers to accept are read too: sha*WithRSAEncryption without the NULL parameters
    /// (RFC 4055 5: "MUST accept the parameters being absent as well as present"), and PSS
    /// parameters whose hash AlgorithmIdentifiers leave out NULL (RFC 4055 2.1). ECDSA with
    /// parameters stays refused (RFC 5758 3.2: they MUST be absent), and so does any other
    /// PSS salt length or trailer: ring verifies PSS with a salt as long as the hash only.
    ///
    /// ecdsa-with-SHA256 names the hash only, not the curve: it maps to `EcdsaP256Sha256`
    /// and `ecdsa-with-SHA384` to `EcdsaP384Sha384`, and verification goes by the key's
    /// curve (see `PublicKey::verify`).
    pub fn from_algorithm_identifier(der: &[u8]) -> Option<SignatureScheme> {
        if let Some(scheme) = ALL
            .iter()
            .find(|scheme| scheme.algorithm_identifier() == der)
        {
            return Some(*scheme);
        }
        let algorithm = AlgorithmIdentifierRef::from_der(der).ok()?;
        let parameters = algorithm.parameters;
        match algorithm.oid {
            oid::SHA1_WITH_RSA_ENCRYPTION if null_or_absent(parameters) => {
                Some(SignatureScheme::RsaPkcs1Sha1)
            }
            oid::SHA256_WITH_RSA_ENCRYPTION if null_or_absent(parameters) => {
                Some(SignatureScheme::RsaPkcs1Sha256)
            }
            oid::SHA384_WITH_RSA_ENCRYPTION if null_or_absent(parameters) => {
                Some(SignatureScheme::RsaPkcs1Sha384)
            }
            oid::SHA512_WITH_RSA_ENCRYPTION if null_or_absent(parameters) => {
                Some(SignatureScheme::RsaPkcs1Sha512)
            }
            oid::ID_RSASSA_PSS => pss_from_parameters(parameters?),
            _ => None,
        }
    }

    pub fn hash(self) -> SignatureHash {
        match self {
            SignatureScheme::RsaPkcs1Sha1 => SignatureHash::Sha1,
            SignatureScheme::RsaPkcs1Sha256
            | SignatureScheme::RsaPssSha256
            | SignatureScheme::EcdsaP256Sha256 => SignatureHash::Sha256,
            SignatureScheme::RsaPkcs1Sha384
            | SignatureScheme::RsaPssSha384
            | SignatureScheme::EcdsaP384Sha384 => SignatureHash::Sha384,
            SignatureScheme::RsaPkcs1Sha512 | SignatureScheme::RsaPssSha512 => {
                SignatureHash::Sha512
            }
            SignatureScheme::Ed25519 => SignatureHash::Identity,
        }
    }

    /// As strongSwan writes it: "rsa-pss-sha256", "ecdsa-sha384", "ed25519", "rsa-sha1" ...
    pub fn name(self) -> &'static str {
        match self {
            SignatureScheme::RsaPkcs1Sha1 => "rsa-sha1",
            SignatureScheme::RsaPkcs1Sha256 => "rsa-sha256",
            SignatureScheme::RsaPkcs1Sha384 => "rsa-sha384",
            SignatureScheme::RsaPkcs1Sha512 => "rsa-sha512",
            SignatureScheme::RsaPssSha256 => "rsa-pss-sha256",
            SignatureScheme::RsaPssSha384 => "rsa-pss-sha384",
            SignatureScheme::RsaPssSha512 => "rsa-pss-sha512",
            SignatureScheme::EcdsaP256Sha256 => "ecdsa-sha256",
            SignatureScheme::EcdsaP384Sha384 => "ecdsa-sha384",
            SignatureScheme::Ed25519 => "ed25519",
        }
    }
}

fn null_or_absent(parameters: Option<AnyRef<'_>>) -> bool {
    parameters.is_none_or(AnyRef::is_null)
}

/// RSASSA-PSS-params (RFC 4055 3.1) with the same SHA-2 hash for the message and MGF1 and a
/// salt as long as the hash; `None` for anything else (SHA-1 defaults included).
fn pss_from_parameters(parameters: AnyRef<'_>) -> Option<SignatureScheme> {
    let (hash, mgf, salt, trailer) = parameters
        .sequence(|reader| {
            let hash = ContextSpecific::<AlgorithmIdentifierRef<'_>>::decode_explicit(
                reader,
                TagNumber(0),
            )?;
            let mgf = ContextSpecific::<AlgorithmIdentifierRef<'_>>::decode_explicit(
                reader,
                TagNumber(1),
            )?;
            let salt = ContextSpecific::<u32>::decode_explicit(reader, TagNumber(2))?;
            let trailer = ContextSpecific::<u32>::decode_explicit(reader, TagNumber(3))?;
            if !reader.is_finished() {
                return Err(der::ErrorKind::Failed.into());
            }
            Ok::<_, der::Error>((hash, mgf, salt, trailer))
        })
        .ok()?;
    let hash = hash?.value;
    let mgf = mgf?.value;
    if mgf.oid != oid::ID_MGF1 || !null_or_absent(hash.parameters) {
        return None;
    }
    let mgf_hash = mgf
        .parameters?
        .decode_as::<AlgorithmIdentifierRef<'_>>()
        .ok()?;
    if mgf_hash.oid != hash.oid || !null_or_absent(mgf_hash.parameters) {
        return None;
    }
    if trailer.is_some_and(|trailer| trailer.value != 1) {
        return None;
    }
    let (scheme, hash_len) = pss_scheme_for_hash(hash.oid)?;
    (salt?.value == hash_len).then_some(scheme)
}

fn pss_scheme_for_hash(hash: ObjectIdentifier) -> Option<(SignatureScheme, u32)> {
    match hash {
        oid::ID_SHA256 => Some((SignatureScheme::RsaPssSha256, 32)),
        oid::ID_SHA384 => Some((SignatureScheme::RsaPssSha384, 48)),
        oid::ID_SHA512 => Some((SignatureScheme::RsaPssSha512, 64)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hex as RFC 7427 Appendix A prints it ("Length = 15", "0000: 300d 0609 ..."), spaces
    /// and all; the PSS forms for SHA-384 and SHA-512, which the RFC does not list, as
    /// RFC 4055 3.1 builds them.
    fn rfc_hex(text: &str) -> Vec<u8> {
        let digits: String = text.chars().filter(|c| c.is_ascii_hexdigit()).collect();
        (0..digits.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).expect("hex in the test"))
            .collect()
    }

    #[test]
    fn algorithm_identifiers_are_those_of_rfc_7427_appendix_a() {
        let rfc = [
            // A.1.1 sha1WithRSAEncryption
            (
                SignatureScheme::RsaPkcs1Sha1,
                15,
                "300d 0609 2a86 4886 f70d 0101 0505 00",
            ),
            // A.1.2 sha256WithRSAEncryption
            (
                SignatureScheme::RsaPkcs1Sha256,
                15,
                "300d 0609 2a86 4886 f70d 0101 0b05 00",
            ),
            // A.1.3 sha384WithRSAEncryption
            (
                SignatureScheme::RsaPkcs1Sha384,
                15,
                "300d 0609 2a86 4886 f70d 0101 0c05 00",
            ),
            // A.1.4 sha512WithRSAEncryption
            (
                SignatureScheme::RsaPkcs1Sha512,
                15,
                "300d 0609 2a86 4886 f70d 0101 0d05 00",
            ),
            // A.3.2 ecdsa-with-sha256
            (
                SignatureScheme::EcdsaP256Sha256,
                12,
                "300a 0608 2a86 48ce 3d04 0302",
            ),
            // A.3.3 ecdsa-with-sha384
            (
                SignatureScheme::EcdsaP384Sha384,
                12,
                "300a 0608 2a86 48ce 3d04 0303",
            ),
            // A.4.3 RSASSA-PSS with SHA-256
            (
                SignatureScheme::RsaPssSha256,
                67,
                "3041 0609 2a86 4886 f70d 0101 0a30 34a0 0f30 0d06 0960 8648 0165 0304 0201 \
                 0500 a11c 301a 0609 2a86 4886 f70d 0101 0830 0d06 0960 8648 0165 0304 0201 \
                 0500 a203 0201 20",
            ),
            (
                SignatureScheme::RsaPssSha384,
                67,
                "3041 0609 2a86 4886 f70d 0101 0a30 34a0 0f30 0d06 0960 8648 0165 0304 0202 \
                 0500 a11c 301a 0609 2a86 4886 f70d 0101 0830 0d06 0960 8648 0165 0304 0202 \
                 0500 a203 0201 30",
            ),
            (
                SignatureScheme::RsaPssSha512,
                67,
                "3041 0609 2a86 4886 f70d 0101 0a30 34a0 0f30 0d06 0960 8648 0165 0304 0203 \
                 0500 a11c 301a 0609 2a86 4886 f70d 0101 0830 0d06 0960 8648 0165 0304 0203 \
                 0500 a203 0201 40",
            ),
            // RFC 8420 2: id-Ed25519, no parameters
            (SignatureScheme::Ed25519, 7, "3005 0603 2b65 70"),
        ];
        for (scheme, length, hex) in rfc {
            let expected = rfc_hex(hex);
            assert_eq!(expected.len(), length, "{}", scheme.name());
            assert_eq!(scheme.algorithm_identifier(), expected, "{}", scheme.name());
        }
    }

    #[test]
    fn algorithm_identifiers_decode_to_their_oids() {
        use x509_cert::spki::AlgorithmIdentifierOwned;
        let expected = [
            (SignatureScheme::RsaPkcs1Sha1, "1.2.840.113549.1.1.5", true),
            (
                SignatureScheme::RsaPkcs1Sha256,
                "1.2.840.113549.1.1.11",
                true,
            ),
            (
                SignatureScheme::RsaPkcs1Sha384,
                "1.2.840.113549.1.1.12",
                true,
            ),
            (
                SignatureScheme::RsaPkcs1Sha512,
                "1.2.840.113549.1.1.13",
                true,
            ),
            (SignatureScheme::RsaPssSha256, "1.2.840.113549.1.1.10", true),
            (SignatureScheme::RsaPssSha384, "1.2.840.113549.1.1.10", true),
            (SignatureScheme::RsaPssSha512, "1.2.840.113549.1.1.10", true),
            (
                SignatureScheme::EcdsaP256Sha256,
                "1.2.840.10045.4.3.2",
                false,
            ),
            (
                SignatureScheme::EcdsaP384Sha384,
                "1.2.840.10045.4.3.3",
                false,
            ),
            (SignatureScheme::Ed25519, "1.3.101.112", false),
        ];
        for (scheme, dotted, has_parameters) in expected {
            let decoded = AlgorithmIdentifierOwned::from_der(scheme.algorithm_identifier())
                .expect("our constant is DER");
            assert_eq!(decoded.oid.to_string(), dotted, "{}", scheme.name());
            assert_eq!(
                decoded.parameters.is_some(),
                has_parameters,
                "{}",
                scheme.name()
            );
            assert_eq!(
                der::Encode::to_der(&decoded).expect("encodes"),
                scheme.algorithm_identifier(),
                "{} re-encodes to the same bytes",
                scheme.name()
            );
        }
    }

    #[test]
    fn algorithm_identifiers_agree_with_rustls_pki_types() {
        // An independent transcription: pki-types holds the contents without the SEQUENCE.
        use rustls_pki_types::alg_id;
        let pairs = [
            (SignatureScheme::RsaPkcs1Sha256, alg_id::RSA_PKCS1_SHA256),
            (SignatureScheme::RsaPkcs1Sha384, alg_id::RSA_PKCS1_SHA384),
            (SignatureScheme::RsaPkcs1Sha512, alg_id::RSA_PKCS1_SHA512),
            (SignatureScheme::RsaPssSha256, alg_id::RSA_PSS_SHA256),
            (SignatureScheme::RsaPssSha384, alg_id::RSA_PSS_SHA384),
            (SignatureScheme::RsaPssSha512, alg_id::RSA_PSS_SHA512),
            (SignatureScheme::EcdsaP256Sha256, alg_id::ECDSA_SHA256),
            (SignatureScheme::EcdsaP384Sha384, alg_id::ECDSA_SHA384),
            (SignatureScheme::Ed25519, alg_id::ED25519),
        ];
        for (scheme, contents) in pairs {
            assert_eq!(
                &scheme.algorithm_identifier()[2..],
                contents.as_ref(),
                "{}",
                scheme.name()
            );
        }
    }

    #[test]
    fn every_scheme_round_trips() {
        for scheme in ALL {
            assert_eq!(
                SignatureScheme::from_algorithm_identifier(scheme.algorithm_identifier()),
                Some(scheme)
            );
        }
    }

    #[test]
    fn pkcs1_without_null_parameters_is_accepted() {
        let sha256_absent = rfc_hex("300b 0609 2a86 4886 f70d 0101 0b");
        assert_eq!(
            SignatureScheme::from_algorithm_identifier(&sha256_absent),
            Some(SignatureScheme::RsaPkcs1Sha256)
        );
    }

    #[test]
    fn pss_hashes_without_null_parameters_are_accepted() {
        let pss = rfc_hex(
            "303d 0609 2a86 4886 f70d 0101 0a30 30a0 0d30 0b06 0960 8648 0165 0304 0201 \
             a11a 3018 0609 2a86 4886 f70d 0101 0830 0b06 0960 8648 0165 0304 0201 \
             a203 0201 20",
        );
        assert_eq!(
            SignatureScheme::from_algorithm_identifier(&pss),
            Some(SignatureScheme::RsaPssSha256)
        );
    }

    #[test]
    fn other_pss_parameters_and_unknown_algorithms_are_refused() {
        // SHA-256 with a 20-octet salt.
        let mut short_salt = RSA_PSS_SHA256.to_vec();
        let last = short_salt.len() - 1;
        short_salt[last] = 20;
        assert_eq!(
            SignatureScheme::from_algorithm_identifier(&short_salt),
            None
        );
        // PSS with empty parameters: SHA-1 everywhere (RFC 4055 3.1 defaults).
        let defaults = rfc_hex("300d 0609 2a86 4886 f70d 0101 0a30 00");
        assert_eq!(SignatureScheme::from_algorithm_identifier(&defaults), None);
        // ecdsa-with-SHA512, ECDSA with NULL parameters, garbage, nothing.
        let ecdsa_sha512 = rfc_hex("300a 0608 2a86 48ce 3d04 0304");
        assert_eq!(
            SignatureScheme::from_algorithm_identifier(&ecdsa_sha512),
            None
        );
        let ecdsa_null = rfc_hex("300c 0608 2a86 48ce 3d04 0302 0500");
        assert_eq!(
            SignatureScheme::from_algorithm_identifier(&ecdsa_null),
            None
        );
        assert_eq!(
            SignatureScheme::from_algorithm_identifier(&[0x30, 0x03, 0x06]),
            None
        );
        assert_eq!(SignatureScheme::from_algorithm_identifier(&[]), None);
    }

    #[test]
    fn names_and_hashes() {
        assert_eq!(SignatureScheme::RsaPssSha256.name(), "rsa-pss-sha256");
        assert_eq!(SignatureScheme::RsaPkcs1Sha1.name(), "rsa-sha1");
        assert_eq!(
            SignatureScheme::EcdsaP384Sha384.hash(),
            SignatureHash::Sha384
        );
        assert_eq!(SignatureScheme::Ed25519.hash(), SignatureHash::Identity);
    }
}

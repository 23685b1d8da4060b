//! The configured CAs and CRLs, and validating a peer's certificate chain against them.

use std::sync::Arc;
use std::time::Duration;

use der::asn1::ObjectIdentifier;
use der::{Decode, Header, Reader, SliceReader};
use rustls_pki_types::{CertificateDer, TrustAnchor, UnixTime};
use webpki::{
    CertRevocationList, EndEntityCert, ExpirationPolicy, ExtendedKeyUsageValidator, KeyPurposeId,
    KeyPurposeIdIter, OwnedCertRevocationList, RequiredEkuNotFoundContext, RevocationCheckDepth,
    RevocationOptionsBuilder, UnknownStatusPolicy,
};
use x509_cert::ext::pkix::{ExtendedKeyUsage, KeyUsage};

use super::certificate::Certificate;
use super::error::{webpki_reason as readable, CertRefusal, PkiError};
use super::oid;
use crate::wall_clock::rfc3339;

/// Trust anchors and revocation lists, loaded once (and again on reload).
#[derive(Debug, Clone, Default)]
pub struct TrustStore {
    cas: Vec<Certificate>,
    /// webpki's view of `cas`, index for index.
    anchors: Vec<TrustAnchor<'static>>,
    /// Parsed once; shared by the clones a reload hands around.
    crls: Arc<Vec<CertRevocationList<'static>>>,
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
        let mut anchors = Vec::with_capacity(cas.len());
        for ca in &cas {
            if !ca.is_ca {
                return Err(PkiError(format!(
                    "certificate \"{}\" is not a CA (its basicConstraints do not say cA), so it \
                     cannot be a trusted CA",
                    ca.subject
                )));
            }
            let ca_der = CertificateDer::from(ca.der.as_slice());
            let anchor = webpki::anchor_from_trusted_cert(&ca_der).map_err(|error| {
                PkiError(format!(
                    "CA certificate \"{}\" cannot be a trust anchor: {}",
                    ca.subject,
                    readable(&error)
                ))
            })?;
            anchors.push(anchor.to_owned());
        }
        let crls = crls
            .iter()
            .enumerate()
            .map(|(index, der)| {
                OwnedCertRevocationList::from_der(der)
                    .map(CertRevocationList::from)
                    .map_err(|error| {
                        PkiError(format!(
                            "CRL {} does not parse: {}",
                            index + 1,
                            readable(&error)
                        ))
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(TrustStore {
            cas,
            anchors,
            crls: Arc::new(crls),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.cas.is_empty()
    }

    /// SHA-1 hashes of the CAs' subjectPublicKeyInfo, for CERTREQ (RFC 7296 3.7).
    pub fn ca_key_hashes(&self) -> Vec<[u8; 20]> {
        self.cas.iter().map(Certificate::spki_sha1).collect()
    }

    /// Validates `end_entity` (DER) with `intermediates` (DER, any order) at `unix_time`:
    /// chain to a configured CA, validity of every certificate, basicConstraints, key usage
    /// digitalSignature or nonRepudiation where the extension is present (RFC 4945
    /// 5.1.3.2), an EKU that is absent or holds serverAuth, clientAuth, ipsecIKE,
    /// anyExtendedKeyUsage (RFC 4945 5.1.3.12) or ikeIntermediate (1.3.6.1.5.5.8.2.2), as
    /// strongSwan accepts, and revocation by the configured CRLs (a CA with no CRL configured
    /// is not checked).
    pub fn validate(
        &self,
        end_entity: &[u8],
        intermediates: &[Vec<u8>],
        unix_time: u64,
    ) -> Result<ValidatedChain, CertRefusal> {
        let leaf =
            Certificate::from_der(end_entity).map_err(|error| unreadable(end_entity, error))?;
        let end_entity_der = CertificateDer::from(end_entity);
        let end_entity_cert =
            EndEntityCert::try_from(&end_entity_der).map_err(|error| CertRefusal::Invalid {
                subject: leaf.subject.clone(),
                detail: readable(&error),
            })?;
        let intermediate_ders: Vec<CertificateDer<'_>> = intermediates
            .iter()
            .map(|der| CertificateDer::from(der.as_slice()))
            .collect();
        let crls: Vec<&CertRevocationList<'_>> = self.crls.iter().collect();
        // Every CA with a CRL is checked, the issuers of intermediates too. A CA without one
        // is not (Allow): configuring CRLs is optional. An expired CRL still counts
        // (Ignore): the newest list we have is better than none, and a peer revoked
        // yesterday stays revoked when the CRL is not refreshed in time (strongSwan also
        // uses an expired CRL, with a warning).
        let revocation = RevocationOptionsBuilder::new(&crls).ok().map(|builder| {
            builder
                .with_depth(RevocationCheckDepth::Chain)
                .with_status_policy(UnknownStatusPolicy::Allow)
                .with_expiration_policy(ExpirationPolicy::Ignore)
                .build()
        });
        let path = end_entity_cert
            .verify_for_usage(
                webpki::ALL_VERIFICATION_ALGS,
                &self.anchors,
                &intermediate_ders,
                UnixTime::since_unix_epoch(Duration::from_secs(unix_time)),
                IkeKeyPurposes,
                revocation,
                None,
            )
            .map_err(|error| self.refusal(&error, &leaf, intermediates))?;
        let anchor = self
            .anchors
            .iter()
            .position(|anchor| std::ptr::eq(anchor, path.anchor()))
            .and_then(|index| self.cas.get(index));
        if let Some(ca) = anchor {
            check_ca_validity(ca, unix_time)?;
        }
        let anchor_subject =
            anchor.map_or_else(|| chain_top_issuer(&leaf, &path), |ca| ca.subject.clone());
        check_key_usage(&leaf)?;
        Ok(ValidatedChain {
            end_entity: leaf,
            anchor_subject,
        })
    }

    /// webpki's error in an operator's words, naming the certificate it concerns where that
    /// can be told.
    fn refusal(
        &self,
        error: &webpki::Error,
        leaf: &Certificate,
        intermediates: &[Vec<u8>],
    ) -> CertRefusal {
        let chain = || {
            std::iter::once(leaf.clone()).chain(
                intermediates
                    .iter()
                    .filter_map(|der| Certificate::from_der(der).ok()),
            )
        };
        match error {
            webpki::Error::CertExpired { not_after, .. } => {
                let not_after = not_after.as_secs();
                let expired = chain()
                    .chain(self.cas.iter().cloned())
                    .find(|cert| cert.not_after == not_after);
                CertRefusal::Expired {
                    subject: expired.map_or_else(|| leaf.subject.clone(), |cert| cert.subject),
                    not_after: rfc3339(not_after),
                }
            }
            webpki::Error::CertNotValidYet { not_before, .. } => {
                let not_before = not_before.as_secs();
                let early = chain()
                    .chain(self.cas.iter().cloned())
                    .find(|cert| cert.not_before == not_before);
                CertRefusal::NotYetValid {
                    subject: early.map_or_else(|| leaf.subject.clone(), |cert| cert.subject),
                    not_before: rfc3339(not_before),
                }
            }
            webpki::Error::UnknownIssuer => CertRefusal::UnknownCa {
                subject: leaf.subject.clone(),
                issuer: leaf.issuer.clone(),
            },
            webpki::Error::CertRevoked => {
                let revoked = chain()
                    .find(|cert| self.is_listed(cert))
                    .unwrap_or_else(|| leaf.clone());
                CertRefusal::Revoked {
                    subject: revoked.subject,
                    serial: revoked.serial,
                    issuer: revoked.issuer,
                }
            }
            webpki::Error::RequiredEkuNotFoundContext(context) => {
                let present: Vec<String> = context
                    .present
                    .iter()
                    .map(|arcs| {
                        arcs.iter()
                            .map(usize::to_string)
                            .collect::<Vec<_>>()
                            .join(".")
                    })
                    .collect();
                let subject = chain()
                    .find(|cert| !eku_acceptable(cert))
                    .map_or_else(|| leaf.subject.clone(), |cert| cert.subject);
                CertRefusal::Usage {
                    subject,
                    detail: format!(
                        "its extended key usage ({}) has none of serverAuth, clientAuth, \
                         ipsecIKE, ikeIntermediate or anyExtendedKeyUsage",
                        present.join(", ")
                    ),
                }
            }
            webpki::Error::EmptyEkuExtension => CertRefusal::Usage {
                subject: leaf.subject.clone(),
                detail: "its extended key usage extension is empty".to_string(),
            },
            other => CertRefusal::Invalid {
                subject: leaf.subject.clone(),
                detail: readable(other),
            },
        }
    }

    /// Whether a CRL of the certificate's issuer lists its serial number.
    fn is_listed(&self, cert: &Certificate) -> bool {
        let Ok(parsed) = x509_cert::Certificate::from_der(&cert.der) else {
            return false;
        };
        let tbs = parsed.tbs_certificate();
        let Ok(issuer) = der::Encode::to_der(tbs.issuer()) else {
            return false;
        };
        let issuer_contents = value_contents(&issuer);
        let serial = tbs.serial_number().as_bytes();
        self.crls.iter().any(|crl| {
            // webpki keeps a CRL's issuer as the Name's contents, without its header.
            Some(crl.issuer()) == issuer_contents && matches!(crl.find_serial(serial), Ok(Some(_)))
        })
    }
}

/// A certificate we cannot use at all (not X.509, or a key type we do not support), named by
/// its subject where it has a readable one.
fn unreadable(der: &[u8], error: PkiError) -> CertRefusal {
    match x509_cert::Certificate::from_der(der) {
        Ok(parsed) => {
            let subject = super::dn::rdns_text(parsed.tbs_certificate().subject().as_ref());
            let prefix = format!("certificate \"{subject}\": ");
            let detail = error
                .0
                .strip_prefix(&prefix)
                .unwrap_or(&error.0)
                .to_string();
            CertRefusal::Invalid { subject, detail }
        }
        Err(_) => CertRefusal::Invalid {
            subject: "(not a certificate)".to_string(),
            detail: error.0,
        },
    }
}

/// The EKU purposes an IKE peer's certificate may carry (see `validate`), as DER contents.
struct IkeKeyPurposes;

const ACCEPTED_PURPOSES: [ObjectIdentifier; 5] = [
    oid::ID_KP_SERVER_AUTH,
    oid::ID_KP_CLIENT_AUTH,
    oid::ID_KP_IPSEC_IKE,
    oid::IKE_INTERMEDIATE,
    oid::ANY_EXTENDED_KEY_USAGE,
];

impl ExtendedKeyUsageValidator for IkeKeyPurposes {
    /// Called for every certificate of a path but the anchor, with no purposes when the
    /// certificate has no EKU extension (webpki refuses an empty one before asking).
    fn validate(&self, purposes: KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        let mut present = Vec::new();
        for purpose in purposes {
            let purpose = purpose?;
            if ACCEPTED_PURPOSES
                .iter()
                .any(|accepted| KeyPurposeId::new(accepted.as_bytes()) == purpose)
            {
                return Ok(());
            }
            present.push(purpose.to_decoded_oid());
        }
        if present.is_empty() {
            return Ok(());
        }
        Err(webpki::Error::RequiredEkuNotFoundContext(
            RequiredEkuNotFoundContext {
                // webpki's context holds one required purpose; ours are several, and the
                // refusal text (see `refusal`) lists them all.
                required: webpki::KeyUsage::server_auth(),
                present,
            },
        ))
    }
}

/// The same test with x509-cert, to tell which certificate of a chain failed it.
fn eku_acceptable(cert: &Certificate) -> bool {
    let Ok(parsed) = x509_cert::Certificate::from_der(&cert.der) else {
        return false;
    };
    match parsed.tbs_certificate().get_extension::<ExtendedKeyUsage>() {
        Ok(None) => true,
        Ok(Some((_, usage))) => usage
            .0
            .iter()
            .any(|purpose| ACCEPTED_PURPOSES.contains(purpose)),
        Err(_) => false,
    }
}

/// webpki takes a trust anchor as a name and a key, without dates; the configured CA is a
/// certificate, though, and one that has expired (or is not valid yet) vouches for nothing,
/// as RFC 5280 6.1.3 checks every certificate of a path and strongSwan refuses such a CA.
fn check_ca_validity(ca: &Certificate, unix_time: u64) -> Result<(), CertRefusal> {
    if unix_time > ca.not_after {
        return Err(CertRefusal::Expired {
            subject: ca.subject.clone(),
            not_after: rfc3339(ca.not_after),
        });
    }
    if unix_time < ca.not_before {
        return Err(CertRefusal::NotYetValid {
            subject: ca.subject.clone(),
            not_before: rfc3339(ca.not_before),
        });
    }
    Ok(())
}

/// RFC 4945 5.1.3.2: "If the KeyUsage extension is present, then at least one of the
/// digitalSignature or the nonRepudiation bits in the KeyUsage extension MUST be set".
/// nonRepudiation alone is accepted as that RFC says, though strongSwan wants
/// digitalSignature: a certificate from a CA that follows the IKE profile must not be
/// refused. webpki ignores keyUsage on end entities, so this is ours to check.
fn check_key_usage(leaf: &Certificate) -> Result<(), CertRefusal> {
    let usage_refusal = |detail: &str| CertRefusal::Usage {
        subject: leaf.subject.clone(),
        detail: detail.to_string(),
    };
    let parsed = x509_cert::Certificate::from_der(&leaf.der)
        .map_err(|_| usage_refusal("it does not parse"))?;
    match parsed.tbs_certificate().get_extension::<KeyUsage>() {
        Ok(None) => Ok(()),
        Ok(Some((_, usage))) if usage.digital_signature() || usage.non_repudiation() => Ok(()),
        Ok(Some(_)) => Err(usage_refusal(
            "its key usage allows neither digitalSignature nor nonRepudiation",
        )),
        Err(_) => Err(usage_refusal("its key usage extension is malformed")),
    }
}

/// The issuer named by the last certificate before the anchor, when the anchor cannot be
/// matched to a configured CA (it always can; this keeps the answer honest if not).
fn chain_top_issuer(leaf: &Certificate, path: &webpki::VerifiedPath<'_>) -> String {
    path.intermediate_certificates()
        .next_back()
        .and_then(|top| x509_cert::name::RdnSequence::from_der(&wrap_sequence(top.issuer())).ok())
        .map_or_else(|| leaf.issuer.clone(), |name| super::dn::rdns_text(&name))
}

/// The contents of a DER value (after its tag and length).
fn value_contents(der: &[u8]) -> Option<&[u8]> {
    let mut reader = SliceReader::new(der).ok()?;
    let header = Header::decode(&mut reader).ok()?;
    reader.read_slice(header.length()).ok()
}

/// A SEQUENCE around contents (webpki hands out a Name's contents only).
fn wrap_sequence(contents: &[u8]) -> Vec<u8> {
    der::asn1::AnyRef::new(der::Tag::Sequence, contents)
        .and_then(|any| der::Encode::to_der(&any))
        .unwrap_or_default()
}

//! Certificate authentication in IKEv2: SIGNATURE_HASH_ALGORITHMS (RFC 7427 4), CERT and
//! CERTREQ payloads (RFC 7296 3.6, 3.7), signing our AUTH and verifying the peer's with the
//! certificate it sent, after validating that certificate against the gateway's CAs.
//!
//! AUTH methods: Digital Signature (14, RFC 7427) whenever the peer announced the hashes it
//! verifies; otherwise the ECDSA methods 9 and 10 (RFC 4754). RSA Digital Signature (1) is
//! verified (PKCS#1 v1.5 with SHA-1) but not produced: ring signs no SHA-1, and RFC 8247
//! deprecates it, so a peer that announces no hashes cannot be sent an RSA signature.

use crate::config::{Credentials, LocalCredential};
use crate::crypto::pki::{CertIdentity, PublicKey, SignatureHash, SignatureScheme};
use crate::wire::ikev2::{AuthMethod, AuthPayload, CertEncoding, CertPayload, NotifyType, Payload};

use super::super::peer_certificate::PeerCertificate;
use super::super::settings::{IdentityKind, IkeIdentity};
use super::informational::notify;

/// Our SIGNATURE_HASH_ALGORITHMS notify: the hashes we verify signatures with.
pub(super) fn hashes_notify() -> Payload {
    let data = SignatureHash::supported()
        .iter()
        .flat_map(|h| h.value().to_be_bytes())
        .collect();
    Payload::Notify(notify(NotifyType::SignatureHashAlgorithms, data))
}

/// The hashes a SIGNATURE_HASH_ALGORITHMS notify lists; `None` without the notify. Values we
/// do not know are skipped (RFC 7427 4).
pub(super) fn peer_hashes(payloads: &[Payload]) -> Option<Vec<SignatureHash>> {
    let data = payloads.iter().find_map(|p| match p {
        Payload::Notify(n) if n.notify_type == NotifyType::SignatureHashAlgorithms => {
            Some(n.data.as_slice())
        }
        _ => None,
    })?;
    Some(
        data.chunks_exact(2)
            .filter_map(|pair| SignatureHash::from_value(u16::from_be_bytes([pair[0], pair[1]])))
            .collect(),
    )
}

/// A CERTREQ naming our CAs by the SHA-1 of their public keys (RFC 7296 3.7); `None`
/// without CAs.
pub(super) fn certificate_request(credentials: Option<&Credentials>) -> Option<Payload> {
    let hashes = credentials?.trust.ca_key_hashes();
    if hashes.is_empty() {
        return None;
    }
    Some(Payload::CertReq(CertPayload {
        encoding: CertEncoding::X509Signature,
        data: hashes.concat(),
    }))
}

/// Our certificate, then the rest of its file's chain, one CERT payload each (RFC 7296 3.6:
/// the first carries the key that signs AUTH).
pub(super) fn certificates(local: &LocalCredential) -> impl Iterator<Item = Payload> + '_ {
    std::iter::once(&local.certificate)
        .chain(&local.chain)
        .map(|c| {
            Payload::Cert(CertPayload {
                encoding: CertEncoding::X509Signature,
                data: c.der.clone(),
            })
        })
}

/// Signs `octets` (RFC 7296 2.15's signed octets) for our AUTH payload.
pub(super) fn sign(
    local: &LocalCredential,
    peer_hashes: Option<&[SignatureHash]>,
    octets: &[u8],
) -> Result<AuthPayload, String> {
    let key = &local.key;
    if let Some(hashes) = peer_hashes {
        let Some(scheme) = key.scheme_for(hashes) else {
            let names: Vec<&str> = hashes.iter().map(|h| h.name()).collect();
            return Err(format!(
                "the peer verifies signatures with {} only, none of which a {} key signs with",
                if names.is_empty() {
                    "no hash".to_string()
                } else {
                    names.join(", ")
                },
                key.key_type()
            ));
        };
        let signature = key.sign(scheme, octets).map_err(|e| e.to_string())?;
        // RFC 7427 3: one octet of AlgorithmIdentifier length, the AlgorithmIdentifier,
        // then the signature.
        let algorithm = scheme.algorithm_identifier();
        let mut data = Vec::with_capacity(1 + algorithm.len() + signature.len());
        data.push(u8::try_from(algorithm.len()).map_err(|_| "AlgorithmIdentifier too long")?);
        data.extend_from_slice(algorithm);
        data.extend_from_slice(&signature);
        return Ok(AuthPayload {
            method: AuthMethod::DigitalSignature,
            data,
        });
    }
    use crate::crypto::pki::KeyType;
    let method = match key.key_type() {
        KeyType::EcdsaP256 => AuthMethod::EcdsaSha256P256,
        KeyType::EcdsaP384 => AuthMethod::EcdsaSha384P384,
        other => {
            return Err(format!(
                "the peer sent no SIGNATURE_HASH_ALGORITHMS (RFC 7427), and a {other} key can then only sign with AUTH method 1 (RSA with SHA-1), which ikehub does not produce"
            ))
        }
    };
    let data = key.sign_ecdsa_fixed(octets).map_err(|e| e.to_string())?;
    Ok(AuthPayload { method, data })
}

/// The identity a peer claims, as certificates bind it; `None` for kinds none holds.
fn cert_identity(id: &IkeIdentity) -> Option<CertIdentity> {
    Some(match id.kind {
        IdentityKind::Ipv4 => CertIdentity::Ip(
            std::net::Ipv4Addr::from(<[u8; 4]>::try_from(id.data.as_slice()).ok()?).into(),
        ),
        IdentityKind::Ipv6 => CertIdentity::Ip(
            std::net::Ipv6Addr::from(<[u8; 16]>::try_from(id.data.as_slice()).ok()?).into(),
        ),
        IdentityKind::Fqdn => CertIdentity::Fqdn(String::from_utf8(id.data.clone()).ok()?),
        IdentityKind::Email => CertIdentity::Email(String::from_utf8(id.data.clone()).ok()?),
        IdentityKind::Dn => CertIdentity::Dn(id.data.clone()),
        IdentityKind::KeyId | IdentityKind::Other(_) => return None,
    })
}

/// Verifies a peer that authenticates with a certificate: the chain from its CERT payloads
/// to one of our CAs at `unix_time`, its identity in the certificate, and the AUTH signature
/// over `octets`. The error is the reason an operator reads.
pub(super) fn verify(
    credentials: Option<&Credentials>,
    unix_time: Option<u64>,
    payloads: &[Payload],
    identity: &IkeIdentity,
    auth: &AuthPayload,
    octets: &[u8],
) -> Result<PeerCertificate, String> {
    let Some(credentials) = credentials.filter(|c| c.ca_count > 0) else {
        return Err("no CA configured to check the peer's certificate against".into());
    };
    let Some(unix_time) = unix_time else {
        return Err("the time of day is unknown, so no certificate can be checked".into());
    };
    let mut certs = payloads.iter().filter_map(|p| match p {
        Payload::Cert(c) if c.encoding == CertEncoding::X509Signature => Some(&c.data),
        _ => None,
    });
    let Some(end_entity) = certs.next() else {
        return Err(format!(
            "{identity} sent no certificate (CERT payload with an X.509 signature certificate)"
        ));
    };
    let intermediates: Vec<Vec<u8>> = certs.cloned().collect();
    let chain = credentials
        .trust
        .validate(end_entity, &intermediates, unix_time)
        .map_err(|refusal| refusal.to_string())?;
    let certificate = &chain.end_entity;
    let bound = cert_identity(identity).is_some_and(|id| certificate.binds(&id));
    if !bound {
        return Err(format!(
            "identity {identity} is not in the certificate \"{}\" (neither its subject nor a subjectAltName)",
            certificate.subject
        ));
    }
    let key = &certificate.public_key;
    let (valid, scheme_name) = verify_signature(key, auth, octets)?;
    if !valid {
        return Err(format!(
            "the AUTH signature ({scheme_name}) of {identity} does not verify with the key of its certificate \"{}\"",
            certificate.subject
        ));
    }
    Ok(PeerCertificate::of(certificate))
}

/// Whether the AUTH payload's signature verifies, and the scheme's name; an error for a
/// method or algorithm we do not accept.
fn verify_signature(
    key: &PublicKey,
    auth: &AuthPayload,
    octets: &[u8],
) -> Result<(bool, String), String> {
    use crate::crypto::pki::KeyType;
    match auth.method {
        AuthMethod::DigitalSignature => {
            let (&len, rest) = auth
                .data
                .split_first()
                .ok_or("empty Digital Signature AUTH payload")?;
            let len = usize::from(len);
            if rest.len() < len {
                return Err(
                    "Digital Signature AUTH payload shorter than its AlgorithmIdentifier".into(),
                );
            }
            let (algorithm, signature) = rest.split_at(len);
            let scheme = SignatureScheme::from_algorithm_identifier(algorithm).ok_or_else(|| {
                format!(
                    "the peer signed with an algorithm ikehub does not verify (AlgorithmIdentifier {})",
                    algorithm.iter().map(|b| format!("{b:02x}")).collect::<String>()
                )
            })?;
            Ok((
                key.verify(scheme, octets, signature),
                scheme.name().to_string(),
            ))
        }
        AuthMethod::RsaDigitalSignature => Ok((
            matches!(key.key_type, KeyType::Rsa { .. })
                && key.verify(SignatureScheme::RsaPkcs1Sha1, octets, &auth.data),
            "rsa-sha1".into(),
        )),
        AuthMethod::EcdsaSha256P256 => Ok((
            key.key_type == KeyType::EcdsaP256 && key.verify_ecdsa_fixed(octets, &auth.data),
            "ecdsa-256".into(),
        )),
        AuthMethod::EcdsaSha384P384 => Ok((
            key.key_type == KeyType::EcdsaP384 && key.verify_ecdsa_fixed(octets, &auth.data),
            "ecdsa-384".into(),
        )),
        other => Err(format!(
            "the peer authenticates with {}, not a signature",
            other
                .registry_name()
                .unwrap_or_else(|| format!("auth method {}", other.value()))
        )),
    }
}

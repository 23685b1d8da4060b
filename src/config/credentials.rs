//! The certificate settings of `[gateway]`: our certificate and private key, and the CAs and
//! CRLs peers' certificates are checked against.
//!
//! Decisions:
//! - `certificate` and `private_key` come together; the key file is refused unless only its
//!   owner can read it, as a `psk_file` is, and the key must be the certificate's.
//! - Our certificate must be valid now: a gateway that starts with an expired certificate
//!   fails every negotiation, so `check-config` says so, with the dates.
//! - `ca_certificates` names files or directories (every regular file in it); each file must
//!   hold at least one CA certificate, and every certificate in it must be a CA.
//! - `crl_files` are read whole at each (re)load: a reload picks up a new CRL.
//! - Relative paths start from the configuration file's directory, as `psk_file` does.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::crypto::pki::{self, Certificate, SigningKey, TrustStore};

use super::error::Diagnostics;
use super::model::{AuthMethod, Identity, IkeVersion};
use super::raw::{RawGateway, Strings};
use super::rules::Entries;
use super::secret;
use super::validate::Validator;

/// Our certificate with what its file carried after it, and its private key.
pub struct LocalCredential {
    pub certificate: Certificate,
    /// The rest of the certificate file (intermediate CAs), sent with ours in CERT payloads.
    pub chain: Vec<Certificate>,
    pub key: SigningKey,
    pub certificate_file: PathBuf,
}

/// What `[gateway]` configures for certificate authentication.
pub struct Credentials {
    pub local: Option<LocalCredential>,
    /// The CAs and CRLs a peer's certificate must chain to and not be revoked by.
    pub trust: TrustStore,
    /// The number of CA certificates and CRLs loaded, for the log.
    pub ca_count: usize,
    pub crl_count: usize,
    /// SHA-256 over every certificate, CRL and our public key: two loads with equal digests
    /// hold the same credentials (a reload compares them).
    digest: [u8; 32],
}

impl PartialEq for Credentials {
    fn eq(&self, other: &Credentials) -> bool {
        self.digest == other.digest
    }
}

impl Eq for Credentials {}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field(
                "certificate",
                &self.local.as_ref().map(|l| l.certificate.subject.as_str()),
            )
            .field("ca_count", &self.ca_count)
            .field("crl_count", &self.crl_count)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// From our certificate and key (if any), the CAs (each must be a CA) and CRLs (DER).
    pub fn new(
        local: Option<LocalCredential>,
        cas: Vec<Certificate>,
        crls: Vec<Vec<u8>>,
    ) -> Result<Credentials, pki::PkiError> {
        let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
        if let Some(local) = &local {
            digest.update(&local.certificate.der);
            local.chain.iter().for_each(|c| digest.update(&c.der));
            digest.update(local.key.public_key());
        }
        cas.iter().for_each(|c| digest.update(&c.der));
        crls.iter().for_each(|c| digest.update(c));
        let (ca_count, crl_count) = (cas.len(), crls.len());
        let trust = TrustStore::new(cas, crls)?;
        let mut sum = [0u8; 32];
        sum.copy_from_slice(digest.finish().as_ref());
        Ok(Credentials {
            local,
            trust,
            ca_count,
            crl_count,
            digest: sum,
        })
    }
}

impl Validator<'_, '_> {
    /// `certificate`, `private_key`, `ca_certificates` and `crl_files`: `Some(None)` when
    /// none is given, `None` when something is wrong (reported).
    pub(crate) fn credentials(&mut self, raw: &RawGateway) -> Option<Option<Arc<Credentials>>> {
        if raw.certificate.is_none()
            && raw.private_key.is_none()
            && raw.ca_certificates.is_none()
            && raw.crl_files.is_none()
        {
            return Some(None);
        }
        let local = match (&raw.certificate, &raw.private_key) {
            (None, None) => Some(None),
            (Some(cert), None) => {
                self.fail_at(
                    &cert.span(),
                    "gateway.private_key",
                    "certificate is set but private_key is not: name the certificate's key file",
                );
                None
            }
            (None, Some(key)) => {
                self.fail_at(
                    &key.span(),
                    "gateway.certificate",
                    "private_key is set but certificate is not: name the key's certificate file",
                );
                None
            }
            (Some(cert), Some(key)) => self.local_credential(cert, key).map(Some),
        };
        let cas = match &raw.ca_certificates {
            None => Some(Vec::new()),
            Some(list) => self.ca_certificates(list),
        };
        let crls = match &raw.crl_files {
            None => Some(Vec::new()),
            Some(list) => self.crls(list),
        };
        let (local, cas, crls) = (local?, cas?, crls?);
        match Credentials::new(local, cas, crls) {
            Ok(credentials) => Some(Some(Arc::new(credentials))),
            Err(e) => {
                let span = raw
                    .ca_certificates
                    .as_ref()
                    .map(|l| l.span())
                    .unwrap_or_default();
                self.fail_at(&span, "gateway.ca_certificates", e.to_string());
                None
            }
        }
    }

    fn fail_at(&mut self, span: &std::ops::Range<usize>, field: &str, message: impl Into<String>) {
        self.d.error(Some(span), field.to_string(), message);
    }

    fn local_credential(
        &mut self,
        cert: &toml::Spanned<String>,
        key: &toml::Spanned<String>,
    ) -> Option<LocalCredential> {
        let cert_path = self.base_dir.join(cert.get_ref());
        let key_path = self.base_dir.join(key.get_ref());
        let certificates = match pki::read_certificates(&cert_path) {
            Ok(list) if list.is_empty() => {
                self.fail_at(
                    &cert.span(),
                    "gateway.certificate",
                    format!("{} holds no certificate", cert_path.display()),
                );
                None
            }
            Ok(list) => Some(list),
            Err(e) => {
                self.fail_at(&cert.span(), "gateway.certificate", e.to_string());
                None
            }
        };
        let signing_key = match key_file_mode(&key_path) {
            Err(why) => {
                self.fail_at(&key.span(), "gateway.private_key", why);
                None
            }
            Ok(()) => match pki::read_private_key(&key_path) {
                Ok(k) => Some(k),
                Err(e) => {
                    self.fail_at(&key.span(), "gateway.private_key", e.to_string());
                    None
                }
            },
        };
        let (mut certificates, signing_key) = (certificates?, signing_key?);
        let certificate = certificates.remove(0);
        let mut valid = true;
        if certificate.public_key.octets != signing_key.public_key() {
            self.fail_at(
                &key.span(),
                "gateway.private_key",
                format!(
                    "the key in {} ({}) is not the key of the certificate \"{}\" in {} ({})",
                    key_path.display(),
                    signing_key.key_type(),
                    certificate.subject,
                    cert_path.display(),
                    certificate.public_key.key_type
                ),
            );
            valid = false;
        }
        let now = crate::wall_clock::now_unix();
        if now < certificate.not_before {
            self.fail_at(
                &cert.span(),
                "gateway.certificate",
                format!(
                    "the certificate \"{}\" in {} is not valid before {} (valid until {})",
                    certificate.subject,
                    cert_path.display(),
                    certificate.not_before_text(),
                    certificate.not_after_text()
                ),
            );
            valid = false;
        } else if now > certificate.not_after {
            self.fail_at(
                &cert.span(),
                "gateway.certificate",
                format!(
                    "the certificate \"{}\" in {} expired on {} (valid from {})",
                    certificate.subject,
                    cert_path.display(),
                    certificate.not_after_text(),
                    certificate.not_before_text()
                ),
            );
            valid = false;
        }
        valid.then_some(LocalCredential {
            certificate,
            chain: certificates,
            key: signing_key,
            certificate_file: cert_path,
        })
    }

    /// Every CA certificate of the files and directories listed.
    fn ca_certificates(&mut self, list: &Strings) -> Option<Vec<Certificate>> {
        let mut all = Vec::new();
        let mut valid = true;
        for (index, entry) in list.get_ref().iter().enumerate() {
            let field = format!("gateway.ca_certificates[{index}]");
            let path = self.base_dir.join(entry.get_ref());
            let files = match files_of(&path) {
                Ok(files) => files,
                Err(why) => {
                    self.fail_at(&entry.span(), &field, why);
                    valid = false;
                    continue;
                }
            };
            for file in files {
                match pki::read_certificates(&file) {
                    Ok(certs) => match certs.iter().find(|c| !c.is_ca) {
                        _ if certs.is_empty() => {
                            self.fail_at(
                                &entry.span(),
                                &field,
                                format!("{} holds no CA certificate", file.display()),
                            );
                            valid = false;
                        }
                        Some(not_ca) => {
                            self.fail_at(
                                &entry.span(),
                                &field,
                                format!(
                                    "{} holds no CA: \"{}\" is not a CA certificate (no basicConstraints cA)",
                                    file.display(),
                                    not_ca.subject
                                ),
                            );
                            valid = false;
                        }
                        None => all.extend(certs),
                    },
                    Err(e) => {
                        self.fail_at(&entry.span(), &field, e.to_string());
                        valid = false;
                    }
                }
            }
        }
        if valid && all.is_empty() {
            self.fail_at(
                &list.span(),
                "gateway.ca_certificates",
                "no CA certificate found: name at least one file or directory with a CA",
            );
            return None;
        }
        valid.then_some(all)
    }

    fn crls(&mut self, list: &Strings) -> Option<Vec<Vec<u8>>> {
        let mut all = Vec::new();
        let mut valid = true;
        for (index, entry) in list.get_ref().iter().enumerate() {
            let path = self.base_dir.join(entry.get_ref());
            match pki::read_crls(&path) {
                Ok(crls) if crls.is_empty() => {
                    self.fail_at(
                        &entry.span(),
                        &format!("gateway.crl_files[{index}]"),
                        format!("{} holds no CRL", path.display()),
                    );
                    valid = false;
                }
                Ok(crls) => all.extend(crls),
                Err(e) => {
                    self.fail_at(
                        &entry.span(),
                        &format!("gateway.crl_files[{index}]"),
                        e.to_string(),
                    );
                    valid = false;
                }
            }
        }
        valid.then_some(all)
    }
}

/// A private key file must be a regular file only its owner can access.
fn key_file_mode(path: &Path) -> Result<(), String> {
    let metadata =
        std::fs::metadata(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    if !metadata.is_file() {
        return Err(format!("{} is not a regular file", path.display()));
    }
    match secret::file_mode(&metadata).and_then(|mode| secret::too_open(path, mode)) {
        Some(why) => Err(why),
        None => Ok(()),
    }
}

/// The file itself, or every regular file of a directory in name order.
fn files_of(path: &Path) -> Result<Vec<PathBuf>, String> {
    let metadata =
        std::fs::metadata(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    if !metadata.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let entries =
        std::fs::read_dir(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if entry.file_type().is_ok_and(|t| t.is_file()) {
            files.push(entry.path());
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(format!("{} is an empty directory", path.display()));
    }
    Ok(files)
}

/// The identity as a certificate binds it; `None` for a key ID, which no certificate holds.
pub(crate) fn cert_identity(identity: &Identity) -> Option<pki::CertIdentity> {
    Some(match identity {
        Identity::Ipv4(a) => pki::CertIdentity::Ip((*a).into()),
        Identity::Ipv6(a) => pki::CertIdentity::Ip((*a).into()),
        Identity::Fqdn(name) => pki::CertIdentity::Fqdn(name.clone()),
        Identity::Email(address) => pki::CertIdentity::Email(address.clone()),
        Identity::Dn(der) => pki::CertIdentity::Dn(der.clone()),
        Identity::KeyId(_) => return None,
    })
}

/// Connections that authenticate with certificates: the gateway must have what they need, our
/// identity must be in our certificate, and the peer's identity must be one a certificate can
/// hold.
pub(crate) fn check(entries: &Entries<'_>, d: &mut Diagnostics<'_>) {
    let credentials = entries.gateway.and_then(|g| g.credentials.as_deref());
    let gateway_ok = entries.gateway.is_some();
    for (draft, raw) in entries.connections.iter().zip(&entries.raw.connections) {
        let Some(auth) = &draft.auth else { continue };
        let label = &raw.label;
        let span =
            |s: &Option<toml::Spanned<String>>| s.as_ref().map_or(raw.span.clone(), |t| t.span());
        if (auth.local == AuthMethod::Pubkey || auth.remote == AuthMethod::Pubkey)
            && draft.version == Some(IkeVersion::V1)
        {
            let (at, key) = if auth.local == AuthMethod::Pubkey {
                (&raw.local_auth, "local_auth")
            } else {
                (&raw.remote_auth, "remote_auth")
            };
            d.error(
                Some(&span(at)),
                format!("{label}.{key}"),
                "certificate authentication is implemented for IKEv2 only; use psk with IKEv1",
            );
            continue;
        }
        if auth.local == AuthMethod::Pubkey && gateway_ok {
            match credentials.and_then(|c| c.local.as_ref()) {
                None => d.error(
                    Some(&span(&raw.local_auth)),
                    format!("{label}.local_auth"),
                    "local_auth = \"pubkey\" needs gateway.certificate and gateway.private_key",
                ),
                Some(local) => {
                    let identity = draft.local_identity.as_ref().and_then(|i| i.as_ref());
                    if let Some(identity) = identity {
                        let bound =
                            cert_identity(identity).is_some_and(|id| local.certificate.binds(&id));
                        if !bound {
                            d.error(
                                Some(&span(&raw.local_identity)),
                                format!("{label}.local_identity"),
                                format!(
                                    "identity {identity} is not in the certificate \"{}\" ({}): use its subject or one of its subjectAltNames, or leave local_identity out to use the subject",
                                    local.certificate.subject,
                                    local.certificate_file.display()
                                ),
                            );
                        }
                    }
                }
            }
        }
        if auth.remote == AuthMethod::Pubkey
            && gateway_ok
            && credentials.is_none_or(|c| c.ca_count == 0)
        {
            d.error(
                Some(&span(&raw.remote_auth)),
                format!("{label}.remote_auth"),
                "remote_auth = \"pubkey\" needs gateway.ca_certificates to check the peer's certificate against",
            );
        }
        if auth.remote == AuthMethod::Pubkey {
            let peer = entries
                .peers
                .iter()
                .find(|p| p.name.is_some() && p.name == draft.peer);
            if let Some(Identity::KeyId(_)) = peer.and_then(|p| p.identity.as_ref()) {
                d.error(
                    Some(&span(&raw.remote_auth)),
                    format!("{label}.remote_auth"),
                    format!(
                        "the identity of peer \"{}\" is a key ID, which no certificate holds: give its certificate's subject or subjectAltName",
                        draft.peer.as_deref().unwrap_or_default()
                    ),
                );
            }
        }
    }
}

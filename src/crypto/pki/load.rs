//! Reading PEM files: certificates, private keys and CRLs.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use zeroize::Zeroizing;

use super::certificate::Certificate;
use super::error::{webpki_reason, PkiError};
use super::pem::{is_pem, pem_blocks};
use super::signing_key::SigningKey;

/// Every CERTIFICATE block of a PEM file (or a single DER certificate), in file order.
pub fn read_certificates(path: &Path) -> Result<Vec<Certificate>, PkiError> {
    let bytes = read(path)?;
    let in_file = |detail: String| PkiError(format!("{}: {detail}", path.display()));
    if !is_pem(&bytes) {
        return Certificate::from_der(&bytes)
            .map(|certificate| vec![certificate])
            .map_err(|error| in_file(format!("neither PEM nor a DER certificate ({error})")));
    }
    let blocks = pem_blocks(&bytes).map_err(in_file)?;
    let certificates = blocks
        .iter()
        .filter(|block| block.label == "CERTIFICATE")
        .enumerate()
        .map(|(index, block)| {
            Certificate::from_der(&block.der)
                .map_err(|error| in_file(format!("certificate {}: {error}", index + 1)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if certificates.is_empty() {
        return Err(in_file(format!(
            "no CERTIFICATE block{}",
            found_labels(blocks.iter().map(|block| block.label.as_str()))
        )));
    }
    Ok(certificates)
}

/// A PEM private key file (see [`SigningKey::from_pem`]); the file's contents are zeroized.
pub fn read_private_key(path: &Path) -> Result<SigningKey, PkiError> {
    let contents = read(path)?;
    SigningKey::from_pem(&contents)
        .map_err(|error| PkiError(format!("{}: {error}", path.display())))
}

/// Every X509 CRL block of a PEM file (or a single DER CRL), DER each.
///
/// Each CRL is parsed here too, so that a broken one is reported with its file when the
/// configuration is loaded, not at the first validation.
pub fn read_crls(path: &Path) -> Result<Vec<Vec<u8>>, PkiError> {
    let bytes = read(path)?;
    let in_file = |detail: String| PkiError(format!("{}: {detail}", path.display()));
    let crls: Vec<Vec<u8>> = if is_pem(&bytes) {
        let blocks = pem_blocks(&bytes).map_err(in_file)?;
        let crls: Vec<Vec<u8>> = blocks
            .iter()
            .filter(|block| block.label == "X509 CRL")
            .map(|block| block.der.to_vec())
            .collect();
        if crls.is_empty() {
            return Err(in_file(format!(
                "no X509 CRL block{}",
                found_labels(blocks.iter().map(|block| block.label.as_str()))
            )));
        }
        crls
    } else {
        vec![bytes.to_vec()]
    };
    for (index, crl) in crls.iter().enumerate() {
        webpki::OwnedCertRevocationList::from_der(crl).map_err(|error| {
            in_file(format!(
                "CRL {} does not parse: {}",
                index + 1,
                webpki_reason(&error)
            ))
        })?;
    }
    Ok(crls)
}

/// The whole file, in a buffer that is zeroized when dropped (it may be a private key), sized
/// up front so that no copy is left behind by a growing buffer.
fn read(path: &Path) -> Result<Zeroizing<Vec<u8>>, PkiError> {
    let unreadable = |error: std::io::Error| PkiError(format!("{}: {error}", path.display()));
    let mut file = File::open(path).map_err(unreadable)?;
    let length = file.metadata().map_err(unreadable)?.len();
    let capacity = usize::try_from(length).unwrap_or(0).saturating_add(1);
    let mut contents = Zeroizing::new(Vec::with_capacity(capacity));
    file.read_to_end(&mut contents).map_err(unreadable)?;
    Ok(contents)
}

fn found_labels<'a>(labels: impl Iterator<Item = &'a str>) -> String {
    let labels: Vec<&str> = labels.collect();
    if labels.is_empty() {
        String::new()
    } else {
        format!(" (found {})", labels.join(", "))
    }
}

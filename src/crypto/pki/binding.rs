//! Whether a certificate binds an IKE identity (RFC 4945 3.1, 5.1.2).

use std::net::IpAddr;

use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::TbsCertificate;

use super::dn::{dn_matches, value_text};
use super::identity::CertIdentity;
use super::oid;

/// See `Certificate::binds`.
pub(super) fn binds(tbs: &TbsCertificate, identity: &CertIdentity) -> bool {
    let alt_names = match tbs.get_extension::<SubjectAltName>() {
        Ok(Some((_, alt_names))) => Some(alt_names.0),
        Ok(None) => None,
        // A malformed subjectAltName binds nothing, not even through the subject.
        Err(_) => return false,
    };
    let alt_names = alt_names.as_deref();
    match identity {
        CertIdentity::Dn(dn) => {
            // The subject, or a directoryName among the subjectAltNames (RFC 4945 3.1.5
            // names the subject; strongSwan also looks through the alternative names).
            let subject_der = der::Encode::to_der(tbs.subject()).unwrap_or_default();
            dn_matches(dn, &subject_der)
                || alt_names.unwrap_or_default().iter().any(|name| match name {
                    GeneralName::DirectoryName(directory) => der::Encode::to_der(directory)
                        .is_ok_and(|directory_der| dn_matches(dn, &directory_der)),
                    _ => false,
                })
        }
        CertIdentity::Fqdn(fqdn) => match alt_names {
            // dNSName as RFC 5280 4.2.1.6 compares it: without case. No wildcards: an IKE
            // peer names itself, it is not one of many hosts under a name.
            Some(names) => names.iter().any(|name| match name {
                GeneralName::DnsName(dns) => same_domain(dns.as_str(), fqdn),
                _ => false,
            }),
            // Without subjectAltName, the subject's CN, as strongSwan falls back to.
            None => subject_values(tbs, oid::COMMON_NAME).any(|cn| same_domain(&cn, fqdn)),
        },
        CertIdentity::Email(email) => match alt_names {
            // Compared without case as a whole, as strongSwan does: RFC 5321 lets a mail
            // system treat local parts by case, but none an IKE peer names itself by does,
            // and refusing "Ops@example.com" for "ops@example.com" helps no one.
            Some(names) => names.iter().any(|name| match name {
                GeneralName::Rfc822Name(rfc822) => rfc822.as_str().eq_ignore_ascii_case(email),
                _ => false,
            }),
            None => subject_values(tbs, oid::EMAIL_ADDRESS)
                .any(|address| address.trim().eq_ignore_ascii_case(email)),
        },
        // An iPAddress is 4 or 16 octets (RFC 5280 4.2.1.6); no mapping between families.
        CertIdentity::Ip(ip) => alt_names.unwrap_or_default().iter().any(|name| match name {
            GeneralName::IpAddress(octets) => match ip {
                IpAddr::V4(v4) => octets.as_bytes() == v4.octets(),
                IpAddr::V6(v6) => octets.as_bytes() == v6.octets(),
            },
            _ => false,
        }),
    }
}

/// The text of every subject attribute of a type.
fn subject_values(
    tbs: &TbsCertificate,
    attribute: der::asn1::ObjectIdentifier,
) -> impl Iterator<Item = String> + '_ {
    tbs.subject()
        .iter()
        .filter(move |value| value.oid == attribute)
        .filter_map(|value| value_text(&value.value))
}

/// Domain names without case and without a final root dot.
fn same_domain(a: &str, b: &str) -> bool {
    a.trim_end_matches('.')
        .eq_ignore_ascii_case(b.trim_end_matches('.'))
}

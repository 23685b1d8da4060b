//! IKE identities (RFC 7296 3.5) written the way strongSwan writes them.
//!
//! Accepted forms:
//! - an IPv4 or IPv6 literal: an address ID (`192.0.2.1`, `2001:db8::1`);
//! - `user@example.com` (an `@` with something before it): an RFC 822 (email) ID;
//! - `@vpn.example.com`: an FQDN ID (the `@` only forces the type);
//!   `@@user.example.com`: an RFC 822 ID; `@#0a1b...`: a key ID in hex;
//! - anything else without `@`: an FQDN ID (`vpn.example.com`);
//! - a distinguished name, most significant RDN first as strongSwan and OpenSSL print them
//!   (`C=CH, O=Example, CN=office1`, or with the `dn:` prefix): an ID_DER_ASN1_DN, which a
//!   peer's certificate subject must match;
//! - explicit prefixes: `ipv4:`, `ipv6:`, `fqdn:`/`dns:`, `email:`/`rfc822:`, `keyid:`, `dn:`;
//!   after `keyid:` a `#` introduces hex (`keyid:#0a1b`), otherwise the text's bytes are the key
//!   ID.
//!
//! Unlike strongSwan, wildcards (`%any`), unknown prefixes and text with `=` that is not a
//! distinguished name are errors instead of falling back to a key ID, so typos do not silently
//! become identities no peer will ever present.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

/// An IKE identification payload value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Identity {
    /// ID_IPV4_ADDR (1).
    Ipv4(Ipv4Addr),
    /// ID_IPV6_ADDR (5).
    Ipv6(Ipv6Addr),
    /// ID_FQDN (2).
    Fqdn(String),
    /// ID_RFC822_ADDR (3).
    Email(String),
    /// ID_KEY_ID (11): opaque octets.
    KeyId(Vec<u8>),
    /// ID_DER_ASN1_DN (9): a Name, DER-encoded.
    Dn(Vec<u8>),
}

impl Identity {
    /// The identity of an address.
    pub fn from_ip(addr: std::net::IpAddr) -> Identity {
        match addr {
            std::net::IpAddr::V4(v4) => Identity::Ipv4(v4),
            std::net::IpAddr::V6(v6) => Identity::Ipv6(v6),
        }
    }

    /// Parses the textual form described in the module documentation.
    pub fn parse(text: &str) -> Result<Identity, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("identity is empty".into());
        }
        if let Some((prefix, rest)) = split_prefix(text) {
            return parse_prefixed(prefix, rest);
        }
        if let Some(rest) = text.strip_prefix("@#") {
            return parse_hex(rest).map(Identity::KeyId);
        }
        if let Some(rest) = text.strip_prefix("@@") {
            return email(rest);
        }
        if let Some(rest) = text.strip_prefix('@') {
            return fqdn(rest);
        }
        if text.contains('=') {
            return distinguished_name(text);
        }
        if text.starts_with('%') || text == "*" {
            return Err(format!(
                "\"{text}\" would match any identity; name the peer's identity"
            ));
        }
        if let Ok(v4) = text.parse::<Ipv4Addr>() {
            return Ok(Identity::Ipv4(v4));
        }
        if let Ok(v6) = text.parse::<Ipv6Addr>() {
            return Ok(Identity::Ipv6(v6));
        }
        if text.contains('@') {
            return email(text);
        }
        if text.contains(':') {
            return Err(format!(
                "\"{text}\" is neither an IPv6 address nor a known prefix (ipv4:, ipv6:, fqdn:, \
                 email:, keyid:)"
            ));
        }
        fqdn(text)
    }
}

const PREFIXES: &[&str] = &[
    "ipv4:", "ipv6:", "fqdn:", "dns:", "email:", "rfc822:", "keyid:", "dn:",
];

fn distinguished_name(text: &str) -> Result<Identity, String> {
    crate::crypto::pki::dn_from_text(text)
        .map(Identity::Dn)
        .map_err(|e| format!("\"{text}\" is not a distinguished name: {e}"))
}

/// Splits off a known type prefix (case-insensitive, like strongSwan).
fn split_prefix(text: &str) -> Option<(&'static str, &str)> {
    PREFIXES.iter().find_map(|prefix| {
        let head = text.get(..prefix.len())?;
        if head.eq_ignore_ascii_case(prefix) {
            Some((*prefix, text.get(prefix.len()..).unwrap_or("")))
        } else {
            None
        }
    })
}

fn parse_prefixed(prefix: &str, rest: &str) -> Result<Identity, String> {
    match prefix {
        "ipv4:" => rest
            .parse::<Ipv4Addr>()
            .map(Identity::Ipv4)
            .map_err(|_| format!("\"{rest}\" is not an IPv4 address")),
        "ipv6:" => rest
            .parse::<Ipv6Addr>()
            .map(Identity::Ipv6)
            .map_err(|_| format!("\"{rest}\" is not an IPv6 address")),
        "fqdn:" | "dns:" => fqdn(rest),
        "email:" | "rfc822:" => email(rest),
        "dn:" => distinguished_name(rest),
        _ => {
            // keyid:
            if let Some(hex) = rest.strip_prefix('#') {
                parse_hex(hex).map(Identity::KeyId)
            } else if rest.is_empty() {
                Err("key ID is empty".into())
            } else {
                Ok(Identity::KeyId(rest.as_bytes().to_vec()))
            }
        }
    }
}

fn fqdn(name: &str) -> Result<Identity, String> {
    if name.is_empty() {
        return Err("FQDN identity is empty".into());
    }
    // RFC 1035 2.3.4: 255 octets at most.
    if name.len() > 255 {
        return Err("FQDN identity is longer than 255 characters".into());
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("FQDN identity \"{name}\" contains white space"));
    }
    Ok(Identity::Fqdn(name.to_owned()))
}

fn email(address: &str) -> Result<Identity, String> {
    if address.is_empty() {
        return Err("email identity is empty".into());
    }
    if address.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("email identity \"{address}\" contains white space"));
    }
    Ok(Identity::Email(address.to_owned()))
}

fn parse_hex(hex: &str) -> Result<Vec<u8>, String> {
    if hex.is_empty() {
        return Err("key ID is empty".into());
    }
    if hex.len() % 2 != 0 {
        return Err(format!("hex key ID \"{hex}\" has an odd number of digits"));
    }
    hex.as_bytes()
        .chunks(2)
        .map(|pair| {
            std::str::from_utf8(pair)
                .ok()
                .and_then(|digits| u8::from_str_radix(digits, 16).ok())
                .ok_or_else(|| format!("hex key ID \"{hex}\" contains a non-hex digit"))
        })
        .collect()
}

impl fmt::Display for Identity {
    /// The textual form, which [`Identity::parse`] reads back to the same identity.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Identity::Ipv4(addr) => write!(f, "{addr}"),
            Identity::Ipv6(addr) => write!(f, "{addr}"),
            Identity::Fqdn(name) => {
                // Names that would read back as something else get the explicit prefix.
                match Identity::parse(name) {
                    Ok(Identity::Fqdn(ref back)) if back == name => f.write_str(name),
                    _ => write!(f, "fqdn:{name}"),
                }
            }
            Identity::Email(address) => match Identity::parse(address) {
                Ok(Identity::Email(ref back)) if back == address => f.write_str(address),
                _ => write!(f, "email:{address}"),
            },
            Identity::KeyId(bytes) => {
                f.write_str("keyid:#")?;
                for byte in bytes {
                    write!(f, "{byte:02x}")?;
                }
                Ok(())
            }
            Identity::Dn(der) => match crate::crypto::pki::dn_to_text(der) {
                Some(text) => f.write_str(&text),
                None => f.write_str("dn:<unreadable>"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Identity {
        Identity::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn follows_strongswan_conventions() {
        assert_eq!(
            parsed("192.0.2.1"),
            Identity::Ipv4(Ipv4Addr::new(192, 0, 2, 1))
        );
        assert_eq!(
            parsed("2001:db8::1"),
            Identity::Ipv6("2001:db8::1".parse().expect("v6"))
        );
        assert_eq!(
            parsed("vpn.example.com"),
            Identity::Fqdn("vpn.example.com".into())
        );
        assert_eq!(
            parsed("@vpn.example.com"),
            Identity::Fqdn("vpn.example.com".into())
        );
        assert_eq!(
            parsed("user@example.com"),
            Identity::Email("user@example.com".into())
        );
        assert_eq!(
            parsed("@@user.example.com"),
            Identity::Email("user.example.com".into())
        );
        assert_eq!(parsed("@#0a1B"), Identity::KeyId(vec![0x0a, 0x1b]));
        assert_eq!(parsed("keyid:#00ff"), Identity::KeyId(vec![0x00, 0xff]));
        assert_eq!(parsed("keyid:office"), Identity::KeyId(b"office".to_vec()));
        assert_eq!(parsed("KEYID:office"), Identity::KeyId(b"office".to_vec()));
        assert_eq!(parsed("fqdn:192.0.2.1"), Identity::Fqdn("192.0.2.1".into()));
        assert_eq!(
            parsed("ipv4:192.0.2.1"),
            Identity::Ipv4(Ipv4Addr::new(192, 0, 2, 1))
        );
    }

    #[test]
    fn rejects_what_no_peer_presents() {
        for bad in [
            "",
            "%any",
            "*",
            "C=CH, X=strongSwan",
            "keyid:",
            "keyid:#abc",
            "keyid:#zz",
            "foo:bar",
            "ipv4:vpn",
        ] {
            assert!(Identity::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn display_reads_back() {
        for text in [
            "192.0.2.1",
            "2001:db8::1",
            "vpn.example.com",
            "user@example.com",
            "keyid:#0a1b",
            "fqdn:192.0.2.1",
            "@@user.example.com",
        ] {
            let identity = parsed(text);
            assert_eq!(parsed(&identity.to_string()), identity, "{text}");
        }
        assert_eq!(parsed("fqdn:192.0.2.1").to_string(), "fqdn:192.0.2.1");
    }
}

//! Distinguished names between the configuration's text and DER, and comparing them.
//!
//! The text form is strongSwan's and OpenSSL's: RDNs in the order the DER holds them, most
//! significant first ("C=CH, O=Example, CN=office1"). RFC 4514 writes the same name the
//! other way round ("CN=office1,O=Example,C=CH"); that order is not guessed at, since both
//! orders are valid names: a DN written RFC 4514 style is simply a different DN here, as it is
//! in strongSwan. Escapes are RFC 4514's (`\,`, `\+`, `\"`, `\\`, `\<`, `\>`, `\;`, `\#`,
//! `\ `, `\=`, and two hex digits); "+" joins the attributes of a multi-valued RDN.

use der::asn1::{Any, ObjectIdentifier};
use der::{Decode, Encode, Tag, Tagged};
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::name::{RdnSequence, RelativeDistinguishedName};

use super::error::PkiError;
use super::oid;

/// The attribute types the text form names, with the string type each is written in:
/// UTF8String where RFC 5280 4.1.2.6 wants it, the types the ASN.1 module fixes elsewhere
/// (countryName and serialNumber PrintableString, emailAddress and domainComponent
/// IA5String).
const ATTRIBUTES: [(&str, ObjectIdentifier, Tag); 9] = [
    ("C", oid::COUNTRY_NAME, Tag::PrintableString),
    ("ST", oid::STATE_OR_PROVINCE_NAME, Tag::Utf8String),
    ("L", oid::LOCALITY_NAME, Tag::Utf8String),
    ("O", oid::ORGANIZATION_NAME, Tag::Utf8String),
    ("OU", oid::ORGANIZATIONAL_UNIT_NAME, Tag::Utf8String),
    ("CN", oid::COMMON_NAME, Tag::Utf8String),
    ("E", oid::EMAIL_ADDRESS, Tag::Ia5String),
    ("DC", oid::DOMAIN_COMPONENT, Tag::Ia5String),
    ("serialNumber", oid::SERIAL_NUMBER, Tag::PrintableString),
];

/// Names also read (OpenSSL prints emailAddress, strongSwan E).
const ALIASES: [(&str, &str); 2] = [("emailAddress", "E"), ("S", "ST")];

/// "CN=office1, O=Example" (RFC 4514 or OpenSSL's comma-separated order, most significant
/// RDN first) to a DER Name. Attribute types: C, ST, L, O, OU, CN, E/emailAddress, DC,
/// serialNumber.
///
/// Besides the names above, a dotted OID with a `#`-prefixed hex DER value ("2.5.4.4=#0c03616263")
/// is read, the form [`dn_to_text`] writes for attributes it has no name for.
pub fn dn_from_text(text: &str) -> Result<Vec<u8>, PkiError> {
    let error = |detail: String| PkiError(format!("distinguished name \"{text}\": {detail}"));
    if text.trim().is_empty() {
        return Err(error("it is empty".to_string()));
    }
    let mut rdns = RdnSequence::default();
    for rdn_text in split_unescaped(text, b',') {
        let mut attributes = Vec::new();
        for attribute_text in split_unescaped(rdn_text, b'+') {
            attributes.push(attribute_from_text(attribute_text).map_err(error)?);
        }
        let rdn = RelativeDistinguishedName::try_from(attributes)
            .map_err(|_| error(format!("\"{}\" repeats an attribute", rdn_text.trim())))?;
        rdns.push(rdn);
    }
    rdns.to_der()
        .map_err(|der_error| error(format!("does not encode: {der_error}")))
}

/// A DER Name as text, in the same form [`dn_from_text`] reads; `None` if it does not parse.
pub fn dn_to_text(der: &[u8]) -> Option<String> {
    RdnSequence::from_der(der).ok().map(|rdns| rdns_text(&rdns))
}

/// The text of a parsed Name, most significant RDN first.
pub(super) fn rdns_text(rdns: &RdnSequence) -> String {
    rdns.iter()
        .map(|rdn| {
            rdn.iter()
                .map(attribute_to_text)
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether two DER Names name the same subject, the way strongSwan matches DNs: equal DER,
/// or the same RDNs in the same order with the same attribute types, and values equal after
/// trimming and without case, whatever string type each side chose (a peer's ID payload may
/// carry PrintableString where the certificate has UTF8String).
pub(super) fn dn_matches(a: &[u8], b: &[u8]) -> bool {
    if a == b {
        return true;
    }
    let (Ok(a), Ok(b)) = (RdnSequence::from_der(a), RdnSequence::from_der(b)) else {
        return false;
    };
    a.len() == b.len()
        && a.iter().zip(b.iter()).all(|(a_rdn, b_rdn)| {
            // The attributes of a multi-valued RDN are a SET: DER sorts them by their
            // encoding, so two string types may sort them differently. Match without order.
            a_rdn.len() == b_rdn.len()
                && a_rdn
                    .iter()
                    .all(|a_attr| b_rdn.iter().any(|b_attr| attributes_match(a_attr, b_attr)))
        })
}

fn attributes_match(a: &AttributeTypeAndValue, b: &AttributeTypeAndValue) -> bool {
    if a.oid != b.oid {
        return false;
    }
    match (value_text(&a.value), value_text(&b.value)) {
        (Some(a_text), Some(b_text)) => {
            a_text.trim().to_lowercase() == b_text.trim().to_lowercase()
        }
        _ => a.value == b.value,
    }
}

/// The text of an attribute value in any of the string types a Name uses; `None` for other
/// types or bytes that are not text in their type.
pub(super) fn value_text(value: &Any) -> Option<String> {
    let bytes = value.value();
    match value.tag() {
        Tag::Utf8String
        | Tag::PrintableString
        | Tag::Ia5String
        | Tag::VisibleString
        | Tag::NumericString => std::str::from_utf8(bytes).ok().map(str::to_string),
        // T.61 in theory, Latin-1 in practice (as OpenSSL reads it).
        Tag::TeletexString => Some(bytes.iter().map(|&byte| char::from(byte)).collect()),
        Tag::BmpString => {
            if bytes.len() % 2 != 0 {
                return None;
            }
            let units = bytes
                .chunks_exact(2)
                .map(|pair| u16::from_be_bytes([pair[0], pair[1]]));
            char::decode_utf16(units)
                .collect::<Result<String, _>>()
                .ok()
        }
        _ => None,
    }
}

fn attribute_to_text(attribute: &AttributeTypeAndValue) -> String {
    let name = ATTRIBUTES
        .iter()
        .find(|(_, oid, _)| *oid == attribute.oid)
        .map(|(name, _, _)| *name);
    match (name, value_text(&attribute.value)) {
        (Some(name), Some(text)) => format!("{name}={}", escape(&text)),
        (name, _) => {
            let value_der = attribute.value.to_der().unwrap_or_default();
            let hex: String = value_der.iter().map(|byte| format!("{byte:02x}")).collect();
            match name {
                Some(name) => format!("{name}=#{hex}"),
                None => format!("{}=#{hex}", attribute.oid),
            }
        }
    }
}

/// RFC 4514 2.4 escaping, plus "=" which strongSwan's reader would otherwise stumble on.
fn escape(text: &str) -> String {
    let last = text.chars().count().saturating_sub(1);
    let mut escaped = String::with_capacity(text.len());
    for (index, c) in text.chars().enumerate() {
        match c {
            '"' | '+' | ',' | ';' | '<' | '>' | '\\' | '=' => {
                escaped.push('\\');
                escaped.push(c);
            }
            '#' if index == 0 => escaped.push_str("\\#"),
            ' ' if index == 0 || index == last => escaped.push_str("\\ "),
            // Other white space at either end would be trimmed when read back, and control
            // characters are unreadable: both as escaped UTF-8 octets.
            c if c.is_control() || (c.is_whitespace() && (index == 0 || index == last)) => {
                let mut buffer = [0u8; 4];
                for byte in c.encode_utf8(&mut buffer).bytes() {
                    escaped.push_str(&format!("\\{byte:02x}"));
                }
            }
            c => escaped.push(c),
        }
    }
    escaped
}

fn attribute_from_text(text: &str) -> Result<AttributeTypeAndValue, String> {
    let text = text.trim_start();
    let (name, raw_value) = text
        .split_once('=')
        .ok_or_else(|| format!("\"{text}\" is not an attribute=value pair"))?;
    let name = name.trim();
    let raw_value = trim_unescaped_end(raw_value.trim_start());
    let oid_and_tag = attribute_by_name(name);
    if let Some(hex) = raw_value.strip_prefix('#') {
        let oid = match oid_and_tag {
            Some((oid, _)) => oid,
            None => name
                .parse::<ObjectIdentifier>()
                .map_err(|_| unknown_attribute(name))?,
        };
        let der = hex_bytes(hex).ok_or_else(|| format!("{name}: \"#{hex}\" is not hex"))?;
        let value = Any::from_der(&der).map_err(|_| format!("{name}: \"#{hex}\" is not DER"))?;
        return Ok(AttributeTypeAndValue { oid, value });
    }
    let (oid, tag) = oid_and_tag.ok_or_else(|| unknown_attribute(name))?;
    let value =
        unescape(raw_value).ok_or_else(|| format!("{name}: bad escape in \"{raw_value}\""))?;
    if value.is_empty() {
        return Err(format!("{name} has no value"));
    }
    let fits = match tag {
        Tag::PrintableString => value.chars().all(is_printable_string_char),
        Tag::Ia5String => value.is_ascii(),
        _ => true,
    };
    if !fits {
        let kind = if tag == Tag::Ia5String {
            "ASCII"
        } else {
            "letters, digits and ' ()+,-./:=?"
        };
        return Err(format!("{name} \"{value}\" may hold {kind} only"));
    }
    let value = Any::new(tag, value.as_bytes()).map_err(|error| format!("{name}: {error}"))?;
    Ok(AttributeTypeAndValue { oid, value })
}

fn unknown_attribute(name: &str) -> String {
    format!(
        "unknown attribute type \"{name}\" (known: C, ST, L, O, OU, CN, E or emailAddress, DC, \
         serialNumber, or a dotted OID with a #hex value)"
    )
}

fn attribute_by_name(name: &str) -> Option<(ObjectIdentifier, Tag)> {
    let canonical = ALIASES
        .iter()
        .find(|(alias, _)| alias.eq_ignore_ascii_case(name))
        .map_or(name, |(_, canonical)| canonical);
    ATTRIBUTES
        .iter()
        .find(|(known, _, _)| known.eq_ignore_ascii_case(canonical))
        .map(|(_, oid, tag)| (*oid, *tag))
}

/// X.680 41.4: PrintableString's repertoire.
fn is_printable_string_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || " '()+,-./:=?".contains(c)
}

/// Splits at separators that are not escaped with a backslash.
fn split_unescaped(text: &str, separator: u8) -> Vec<&str> {
    let bytes = text.as_bytes();
    let mut parts = Vec::new();
    let mut start = 0;
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'\\' {
            index += 2;
            continue;
        }
        if bytes[index] == separator {
            parts.push(&text[start..index]);
            start = index + 1;
        }
        index += 1;
    }
    parts.push(&text[start.min(text.len())..]);
    parts
}

/// Trailing spaces go, unless the last one is escaped ("CN=x\ ").
fn trim_unescaped_end(text: &str) -> &str {
    let mut end = text.trim_end().len();
    let backslashes = text[..end]
        .bytes()
        .rev()
        .take_while(|&b| b == b'\\')
        .count();
    if backslashes % 2 == 1 {
        end += text[end..].chars().next().map_or(0, char::len_utf8);
    }
    &text[..end]
}

fn unescape(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] != b'\\' {
            out.push(bytes[index]);
            index += 1;
            continue;
        }
        let next = *bytes.get(index + 1)?;
        if next.is_ascii_hexdigit() {
            let pair = text.get(index + 1..index + 3)?;
            out.push(u8::from_str_radix(pair, 16).ok()?);
            index += 3;
        } else {
            out.push(next);
            index += 2;
        }
    }
    String::from_utf8(out).ok()
}

fn hex_bytes(hex: &str) -> Option<Vec<u8>> {
    if hex.len() % 2 != 0 || !hex.is_ascii() {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|index| u8::from_str_radix(&hex[index..index + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(text: &str) -> String {
        let der = dn_from_text(text).expect("parses");
        dn_to_text(&der).expect("prints")
    }

    #[test]
    fn text_keeps_its_order_and_round_trips() {
        let text = "C=CH, ST=Zug, L=Baar, O=Example, OU=VPN, CN=office1, E=ops@example.com";
        assert_eq!(round_trip(text), text);
        assert_eq!(
            round_trip("DC=com, DC=example, CN=gw"),
            "DC=com, DC=example, CN=gw"
        );
        assert_eq!(
            round_trip("serialNumber=1234, CN=x"),
            "serialNumber=1234, CN=x"
        );
    }

    #[test]
    fn most_significant_first_in_the_der() {
        let der = dn_from_text("C=CH, O=Example, CN=office1").expect("parses");
        let rdns = RdnSequence::from_der(&der).expect("decodes");
        let first = rdns
            .iter()
            .next()
            .and_then(|rdn| rdn.iter().next())
            .expect("an RDN");
        assert_eq!(first.oid, oid::COUNTRY_NAME);
        assert_eq!(first.value.tag(), Tag::PrintableString);
    }

    #[test]
    fn separators_spaces_and_aliases() {
        let a = dn_from_text("C=CH,O=Example,CN=office1").expect("parses");
        let b = dn_from_text("  C = CH ,  O=Example,   CN=office1  ").expect("parses");
        assert_eq!(a, b);
        let c = dn_from_text("CN=x, emailAddress=a@b.c").expect("parses");
        let d = dn_from_text("cn=x, e=a@b.c").expect("parses");
        assert_eq!(c, d);
        assert_eq!(dn_to_text(&c).as_deref(), Some("CN=x, E=a@b.c"));
    }

    #[test]
    fn escapes_and_multi_valued_rdns() {
        let text = r"O=Example\, Inc., OU=A+CN=b\+c, CN=\#1\ ";
        let der = dn_from_text(text).expect("parses");
        let rdns = RdnSequence::from_der(&der).expect("decodes");
        assert_eq!(rdns.len(), 3);
        assert_eq!(
            rdns.iter().nth(1).map(RelativeDistinguishedName::len),
            Some(2)
        );
        let printed = dn_to_text(&der).expect("prints");
        assert_eq!(dn_from_text(&printed).expect("parses again"), der);
        assert!(printed.contains(r"O=Example\, Inc."), "{printed}");
        let hex = dn_from_text(r"CN=caf\c3\a9").expect("parses");
        assert_eq!(dn_to_text(&hex).as_deref(), Some("CN=café"));
    }

    #[test]
    fn unknown_attributes_and_bad_text_are_errors() {
        let error = dn_from_text("C=CH, FOO=bar").expect_err("unknown");
        assert!(
            error.0.contains("unknown attribute type \"FOO\""),
            "{error}"
        );
        assert!(error.0.contains("C=CH, FOO=bar"), "{error}");
        assert!(dn_from_text("").is_err());
        assert!(dn_from_text("CN").is_err());
        assert!(dn_from_text("CN=").is_err());
        assert!(dn_from_text("C=Zürich").is_err());
        assert!(dn_from_text("E=jörg@example.com").is_err());
        assert!(dn_from_text(r"CN=a\").is_err());
        // An escaped space that is not ASCII stays, without splitting the character.
        let ideographic = dn_from_text("CN=a\\\u{3000}").expect("parses");
        let text = dn_to_text(&ideographic).expect("prints");
        assert_eq!(text, r"CN=a\e3\80\80");
        assert_eq!(dn_from_text(&text).expect("parses again"), ideographic);
    }

    #[test]
    fn unnamed_attributes_print_as_oid_and_hex_and_read_back() {
        // surname (2.5.4.4), UTF8String "abc".
        let der = dn_from_text("2.5.4.4=#0c03616263, CN=x").expect("parses");
        let text = dn_to_text(&der).expect("prints");
        assert_eq!(text, "2.5.4.4=#0c03616263, CN=x");
        assert_eq!(dn_from_text(&text).expect("parses again"), der);
    }

    #[test]
    fn matching_ignores_string_type_case_and_spaces() {
        let utf8 = dn_from_text("C=CH, O=Example, CN=office1").expect("parses");
        let printable =
            dn_from_text("C=CH, O=#13074578616d706c65, CN=#13084f46464943453120").expect("parses");
        assert_ne!(utf8, printable);
        assert!(dn_matches(&utf8, &printable));
        let other = dn_from_text("C=CH, O=Example, CN=office2").expect("parses");
        assert!(!dn_matches(&utf8, &other));
        let reversed = dn_from_text("CN=office1, O=Example, C=CH").expect("parses");
        assert!(!dn_matches(&utf8, &reversed));
        let shorter = dn_from_text("C=CH, O=Example").expect("parses");
        assert!(!dn_matches(&utf8, &shorter));
        assert!(!dn_matches(&utf8, b"junk"));
    }
}

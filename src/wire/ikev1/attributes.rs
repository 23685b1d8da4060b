//! Data attributes (RFC 2408 3.3) and the attribute numbers of the IKE phase 1 transform
//! (RFC 2409 appendix A) and of the IPsec DOI's phase 2 transforms (RFC 2407 4.5).
//!
//! ```text
//!  0..2   AF (1 bit) | Attribute Type (15 bits)
//!  2..4   AF = 1: Attribute Value (basic, TV); AF = 0: Attribute Length (TLV)
//!  4..    AF = 0: Attribute Value, Attribute Length octets
//! ```

use crate::wire::codec::{len16, Reader};
use crate::wire::Result;

/// The AF bit: set for a basic (TV) attribute, clear for a variable-length (TLV) one.
const ATTRIBUTE_FORMAT_TV: u16 = 0x8000;

/// One data attribute of a transform.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Attribute {
    /// The attribute type without the AF bit.
    pub kind: u16,
    pub value: AttributeValue,
}

/// A basic or a variable-length value: the AF bit (RFC 2408 3.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AttributeValue {
    /// AF = 1: two octets in place of the length.
    Basic(u16),
    /// AF = 0: a length-prefixed value.
    Variable(Vec<u8>),
}

impl AttributeValue {
    /// The value as a number: a basic value, or a variable one of 1 to 8 octets, big-endian.
    /// Life durations come either way (RFC 2409 appendix A: "variable"; most peers send a
    /// basic value when it fits in 16 bits).
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            AttributeValue::Basic(v) => Some(u64::from(*v)),
            AttributeValue::Variable(bytes) if (1..=8).contains(&bytes.len()) => {
                Some(bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
            }
            AttributeValue::Variable(_) => None,
        }
    }

    /// A number as the shortest value that holds it: basic up to 65535, else variable with
    /// four octets (or eight beyond `u32`).
    pub fn from_u64(value: u64) -> AttributeValue {
        if let Ok(short) = u16::try_from(value) {
            AttributeValue::Basic(short)
        } else if let Ok(word) = u32::try_from(value) {
            AttributeValue::Variable(word.to_be_bytes().to_vec())
        } else {
            AttributeValue::Variable(value.to_be_bytes().to_vec())
        }
    }
}

impl Attribute {
    /// A basic attribute.
    pub fn basic(kind: u16, value: u16) -> Attribute {
        Attribute {
            kind,
            value: AttributeValue::Basic(value),
        }
    }

    /// Parses attributes until `r` is exhausted; a variable value must lie within it.
    pub(crate) fn parse_all(r: &mut Reader<'_>) -> Result<Vec<Attribute>> {
        const WHAT: &str = "data attribute";
        let mut attributes = Vec::new();
        while !r.is_empty() {
            let type_field = r.u16(WHAT)?;
            let kind = type_field & !ATTRIBUTE_FORMAT_TV;
            let value = if type_field & ATTRIBUTE_FORMAT_TV != 0 {
                AttributeValue::Basic(r.u16(WHAT)?)
            } else {
                let len = usize::from(r.u16(WHAT)?);
                AttributeValue::Variable(r.take(len, "data attribute value")?.to_vec())
            };
            attributes.push(Attribute { kind, value });
        }
        Ok(attributes)
    }

    pub(crate) fn emit(&self, out: &mut Vec<u8>) {
        let kind = self.kind & !ATTRIBUTE_FORMAT_TV;
        match &self.value {
            AttributeValue::Basic(value) => {
                out.extend_from_slice(&(ATTRIBUTE_FORMAT_TV | kind).to_be_bytes());
                out.extend_from_slice(&value.to_be_bytes());
            }
            AttributeValue::Variable(value) => {
                out.extend_from_slice(&kind.to_be_bytes());
                out.extend_from_slice(&len16(value.len()));
                out.extend_from_slice(value);
            }
        }
    }
}

/// Attribute types and values of the IKE (phase 1) transform, KEY_IKE (RFC 2409 appendix A;
/// AES from RFC 3602 5, the SHA-2 hashes from IANA's "IPSEC Hash Algorithm" registry).
pub mod phase1 {
    /// Attribute type: Encryption Algorithm (basic).
    pub const ENCRYPTION_ALGORITHM: u16 = 1;
    pub const ENC_DES_CBC: u16 = 1;
    pub const ENC_3DES_CBC: u16 = 5;
    pub const ENC_AES_CBC: u16 = 7;

    /// Attribute type: Hash Algorithm (basic); its HMAC is the PRF (RFC 2409 4).
    pub const HASH_ALGORITHM: u16 = 2;
    pub const HASH_MD5: u16 = 1;
    pub const HASH_SHA: u16 = 2;
    pub const HASH_SHA2_256: u16 = 4;
    pub const HASH_SHA2_384: u16 = 5;
    pub const HASH_SHA2_512: u16 = 6;

    /// Attribute type: Authentication Method (basic).
    pub const AUTHENTICATION_METHOD: u16 = 3;
    pub const AUTH_PRE_SHARED_KEY: u16 = 1;
    pub const AUTH_RSA_SIGNATURES: u16 = 3;

    /// Attribute type: Group Description (basic), the Diffie-Hellman group number.
    pub const GROUP_DESCRIPTION: u16 = 4;

    /// Attribute type: Life Type (basic), followed by its Life Duration.
    pub const LIFE_TYPE: u16 = 11;
    pub const LIFE_SECONDS: u16 = 1;
    pub const LIFE_KILOBYTES: u16 = 2;
    /// Attribute type: Life Duration (variable, often basic).
    pub const LIFE_DURATION: u16 = 12;

    /// Attribute type: Key Length in bits (basic), for ciphers with a variable key.
    pub const KEY_LENGTH: u16 = 14;
}

/// Attribute types and values of the IPsec DOI's (phase 2) transforms (RFC 2407 4.5; UDP
/// encapsulation from RFC 3947 5.1 and its drafts; the SHA-2 authentication algorithms from
/// IANA's registry, used with RFC 4868's truncation).
pub mod phase2 {
    /// Attribute type: SA Life Type (basic), followed by its SA Life Duration.
    pub const SA_LIFE_TYPE: u16 = 1;
    pub const LIFE_SECONDS: u16 = 1;
    pub const LIFE_KILOBYTES: u16 = 2;
    /// Attribute type: SA Life Duration (variable, often basic).
    pub const SA_LIFE_DURATION: u16 = 2;

    /// Attribute type: Group Description (basic), the PFS group.
    pub const GROUP_DESCRIPTION: u16 = 3;

    /// Attribute type: Encapsulation Mode (basic).
    pub const ENCAPSULATION_MODE: u16 = 4;
    pub const ENCAP_TUNNEL: u16 = 1;
    pub const ENCAP_TRANSPORT: u16 = 2;
    /// RFC 3947 5.1.
    pub const ENCAP_UDP_TUNNEL: u16 = 3;
    pub const ENCAP_UDP_TRANSPORT: u16 = 4;
    /// The values of draft-ietf-ipsec-nat-t-ike, still sent by older peers.
    pub const ENCAP_UDP_TUNNEL_DRAFT: u16 = 61443;
    pub const ENCAP_UDP_TRANSPORT_DRAFT: u16 = 61444;

    /// Attribute type: Authentication Algorithm (basic); absent with an AEAD cipher.
    pub const AUTHENTICATION_ALGORITHM: u16 = 5;
    pub const AUTH_HMAC_MD5: u16 = 1;
    pub const AUTH_HMAC_SHA: u16 = 2;
    pub const AUTH_HMAC_SHA2_256: u16 = 5;
    pub const AUTH_HMAC_SHA2_384: u16 = 6;
    pub const AUTH_HMAC_SHA2_512: u16 = 7;

    /// Attribute type: Key Length in bits (basic).
    pub const KEY_LENGTH: u16 = 6;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Error;

    #[test]
    fn basic_and_variable_round_trip() {
        let attributes = vec![
            Attribute::basic(phase1::ENCRYPTION_ALGORITHM, phase1::ENC_AES_CBC),
            Attribute {
                kind: phase1::LIFE_DURATION,
                value: AttributeValue::Variable(vec![0, 1, 0x51, 0x80]),
            },
        ];
        let mut out = Vec::new();
        for a in &attributes {
            a.emit(&mut out);
        }
        assert_eq!(out, [0x80, 1, 0, 7, 0, 12, 0, 4, 0, 1, 0x51, 0x80]);
        let parsed = Attribute::parse_all(&mut Reader::new(&out)).expect("valid");
        assert_eq!(parsed, attributes);
        assert_eq!(parsed[1].value.as_u64(), Some(86_400));
    }

    #[test]
    fn variable_value_must_fit() {
        assert_eq!(
            Attribute::parse_all(&mut Reader::new(&[0, 12, 0, 5, 1, 2, 3, 4])),
            Err(Error::Truncated {
                what: "data attribute value"
            })
        );
        assert!(Attribute::parse_all(&mut Reader::new(&[0x80, 1, 0])).is_err());
    }

    #[test]
    fn numbers_either_way() {
        assert_eq!(AttributeValue::Basic(3600).as_u64(), Some(3600));
        assert_eq!(AttributeValue::Variable(vec![]).as_u64(), None);
        assert_eq!(AttributeValue::Variable(vec![1; 9]).as_u64(), None);
        assert_eq!(
            AttributeValue::Variable(vec![0xff; 8]).as_u64(),
            Some(u64::MAX)
        );
        for n in [0, 28_800, 65_535, 65_536, 86_400, u64::from(u32::MAX) + 1] {
            assert_eq!(AttributeValue::from_u64(n).as_u64(), Some(n));
        }
        assert_eq!(
            AttributeValue::from_u64(86_400),
            AttributeValue::Variable(vec![0, 1, 0x51, 0x80])
        );
    }
}

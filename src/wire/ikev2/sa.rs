//! Security Association payload with its Proposal and Transform substructures and transform
//! attributes (RFC 7296 3.3).
//!
//! ```text
//! Proposal:  0 Last Substruc (0 last, 2 more) | 1 RESERVED | 2..4 Proposal Length
//!            4 Proposal Num | 5 Protocol ID | 6 SPI Size | 7 Num Transforms | SPI | Transforms
//! Transform: 0 Last Substruc (0 last, 3 more) | 1 RESERVED | 2..4 Transform Length
//!            4 Transform Type | 5 RESERVED | 6..8 Transform ID | Attributes
//! Attribute: AF bit | 15-bit type, then a 2-octet value (AF=1) or a 2-octet length and value
//! ```

use super::enums::{ProtocolId, TransformType};
use crate::wire::codec::{len16, patch_len16, reserve_len16, Reader};
use crate::wire::{Error, Result};

const LAST: u8 = 0;
const MORE_PROPOSALS: u8 = 2;
const MORE_TRANSFORMS: u8 = 3;
const SUBSTRUCT_HEADER_LEN: usize = 4;
const ATTRIBUTE_FORMAT_TV: u16 = 0x8000;
/// Key Length attribute type, always in TV format (RFC 7296 3.3.5).
pub const ATTRIBUTE_KEY_LENGTH: u16 = 14;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaPayload {
    pub proposals: Vec<Proposal>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    pub number: u8,
    pub protocol: ProtocolId,
    /// Empty in IKE_SA_INIT, 8 octets when rekeying an IKE SA, 4 for AH/ESP.
    pub spi: Vec<u8>,
    pub transforms: Vec<Transform>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transform {
    pub kind: TransformType,
    pub id: u16,
    /// The Key Length attribute in bits (RFC 7296 3.3.5). Emitted first among the attributes.
    pub key_length: Option<u16>,
    /// Every other attribute, in the order received.
    pub other_attributes: Vec<TransformAttribute>,
}

impl Transform {
    /// A transform without attributes.
    pub fn new(kind: TransformType, id: u16) -> Transform {
        Transform {
            kind,
            id,
            key_length: None,
            other_attributes: Vec::new(),
        }
    }
}

/// A transform attribute other than Key Length (RFC 7296 3.3.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransformAttribute {
    /// Attribute type, 15 bits (the top bit is the format flag and is not part of it).
    pub attr_type: u16,
    pub value: AttributeValue,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttributeValue {
    /// AF=1: a two-octet value in place of the length.
    Short(u16),
    /// AF=0: a length-prefixed value.
    Variable(Vec<u8>),
}

impl SaPayload {
    pub(crate) fn parse_body(body: &[u8]) -> Result<SaPayload> {
        let mut r = Reader::new(body);
        let mut proposals = Vec::new();
        loop {
            let (last, mut sub) = substructure(&mut r, "proposal")?;
            proposals.push(Proposal::parse(&mut sub)?);
            match last {
                LAST => break,
                MORE_PROPOSALS if !r.is_empty() => {}
                MORE_PROPOSALS => return Err(Error::Truncated { what: "proposal" }),
                _ => {
                    return Err(Error::BadValue {
                        what: "proposal Last Substruc",
                    })
                }
            }
        }
        r.finish("last proposal")?;
        Ok(SaPayload { proposals })
    }

    pub(crate) fn emit_body(&self, out: &mut Vec<u8>) {
        let count = self.proposals.len();
        for (index, proposal) in self.proposals.iter().enumerate() {
            let last = index.saturating_add(1) == count;
            proposal.emit(if last { LAST } else { MORE_PROPOSALS }, out);
        }
    }
}

/// Reads a substructure header (Last Substruc, RESERVED, Length) and scopes a reader to it.
fn substructure<'a>(r: &mut Reader<'a>, what: &'static str) -> Result<(u8, Reader<'a>)> {
    let last = r.u8(what)?;
    r.skip(1, what)?;
    let length = usize::from(r.u16(what)?);
    Ok((last, r.sub(length, SUBSTRUCT_HEADER_LEN, what)?))
}

impl Proposal {
    fn parse(r: &mut Reader<'_>) -> Result<Proposal> {
        const WHAT: &str = "proposal";
        let number = r.u8(WHAT)?;
        let protocol = ProtocolId::from(r.u8(WHAT)?);
        let spi_size = usize::from(r.u8(WHAT)?);
        let transform_count = r.u8(WHAT)?;
        let spi = r.take(spi_size, "proposal SPI")?.to_vec();
        let mut transforms = Vec::with_capacity(usize::from(transform_count));
        for index in 0..transform_count {
            let (last, mut sub) = substructure(r, "transform")?;
            let expected = if index.saturating_add(1) == transform_count {
                LAST
            } else {
                MORE_TRANSFORMS
            };
            if last != expected {
                return Err(Error::BadValue {
                    what: "transform Last Substruc",
                });
            }
            transforms.push(Transform::parse(&mut sub)?);
        }
        r.finish("transforms")?;
        Ok(Proposal {
            number,
            protocol,
            spi,
            transforms,
        })
    }

    fn emit(&self, last: u8, out: &mut Vec<u8>) {
        debug_assert!(self.spi.len() <= usize::from(u8::MAX), "SPI too long");
        debug_assert!(
            self.transforms.len() <= usize::from(u8::MAX),
            "too many transforms"
        );
        let start = out.len();
        out.extend_from_slice(&[last, 0]);
        let len_at = reserve_len16(out);
        out.push(self.number);
        out.push(self.protocol.value());
        out.push(u8::try_from(self.spi.len()).unwrap_or(u8::MAX));
        out.push(u8::try_from(self.transforms.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(&self.spi);
        let count = self.transforms.len();
        for (index, transform) in self.transforms.iter().enumerate() {
            let last = index.saturating_add(1) == count;
            transform.emit(if last { LAST } else { MORE_TRANSFORMS }, out);
        }
        patch_len16(out, len_at, start);
    }
}

impl Transform {
    fn parse(r: &mut Reader<'_>) -> Result<Transform> {
        const WHAT: &str = "transform";
        let kind = TransformType::from(r.u8(WHAT)?);
        r.skip(1, WHAT)?;
        let id = r.u16(WHAT)?;
        let mut key_length = None;
        let mut other_attributes = Vec::new();
        while !r.is_empty() {
            let type_field = r.u16("transform attribute")?;
            let attr_type = type_field & !ATTRIBUTE_FORMAT_TV;
            let value = if type_field & ATTRIBUTE_FORMAT_TV != 0 {
                AttributeValue::Short(r.u16("transform attribute")?)
            } else {
                let len = usize::from(r.u16("transform attribute")?);
                AttributeValue::Variable(r.take(len, "transform attribute value")?.to_vec())
            };
            match value {
                AttributeValue::Short(bits) if attr_type == ATTRIBUTE_KEY_LENGTH => {
                    if key_length.replace(bits).is_some() {
                        return Err(Error::BadValue {
                            what: "duplicate Key Length attribute",
                        });
                    }
                }
                value => other_attributes.push(TransformAttribute { attr_type, value }),
            }
        }
        Ok(Transform {
            kind,
            id,
            key_length,
            other_attributes,
        })
    }

    fn emit(&self, last: u8, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&[last, 0]);
        let len_at = reserve_len16(out);
        out.push(self.kind.value());
        out.push(0);
        out.extend_from_slice(&self.id.to_be_bytes());
        if let Some(bits) = self.key_length {
            out.extend_from_slice(&(ATTRIBUTE_FORMAT_TV | ATTRIBUTE_KEY_LENGTH).to_be_bytes());
            out.extend_from_slice(&bits.to_be_bytes());
        }
        for attribute in &self.other_attributes {
            let attr_type = attribute.attr_type & !ATTRIBUTE_FORMAT_TV;
            match &attribute.value {
                AttributeValue::Short(value) => {
                    out.extend_from_slice(&(ATTRIBUTE_FORMAT_TV | attr_type).to_be_bytes());
                    out.extend_from_slice(&value.to_be_bytes());
                }
                AttributeValue::Variable(value) => {
                    out.extend_from_slice(&attr_type.to_be_bytes());
                    out.extend_from_slice(&len16(value.len()));
                    out.extend_from_slice(value);
                }
            }
        }
        patch_len16(out, len_at, start);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One IKE proposal: AES-CBC-256, HMAC-SHA2-256 PRF and integrity, group 19.
    const IKE_PROPOSAL: [u8; 44] = [
        0, 0, 0, 44, // last proposal, length 44
        1, 1, 0, 4, // number 1, IKE, no SPI, 4 transforms
        3, 0, 0, 12, 1, 0, 0, 12, 0x80, 14, 1, 0, // ENCR 12, key length 256
        3, 0, 0, 8, 2, 0, 0, 5, // PRF 5
        3, 0, 0, 8, 3, 0, 0, 12, // INTEG 12
        0, 0, 0, 8, 4, 0, 0, 19, // DH 19
    ];

    #[test]
    fn parses_ike_proposal() {
        let sa = SaPayload::parse_body(&IKE_PROPOSAL).expect("valid");
        assert_eq!(sa.proposals.len(), 1);
        let p = &sa.proposals[0];
        assert_eq!((p.number, p.protocol), (1, ProtocolId::Ike));
        assert!(p.spi.is_empty());
        assert_eq!(p.transforms.len(), 4);
        assert_eq!(p.transforms[0].kind, TransformType::Encr);
        assert_eq!(
            (p.transforms[0].id, p.transforms[0].key_length),
            (12, Some(256))
        );
        assert_eq!(p.transforms[3], Transform::new(TransformType::Dh, 19));
        let mut out = Vec::new();
        sa.emit_body(&mut out);
        assert_eq!(out, IKE_PROPOSAL);
    }

    #[test]
    fn rejects_inconsistent_structure() {
        let mut bytes = IKE_PROPOSAL;
        bytes[7] = 5; // more transforms announced than present
        assert!(SaPayload::parse_body(&bytes).is_err());
        let mut bytes = IKE_PROPOSAL;
        bytes[7] = 3; // fewer announced: the last one's marker is wrong
        assert!(SaPayload::parse_body(&bytes).is_err());
        let mut bytes = IKE_PROPOSAL;
        bytes[0] = 2; // more proposals announced, none present
        assert_eq!(
            SaPayload::parse_body(&bytes),
            Err(Error::Truncated { what: "proposal" })
        );
        let mut bytes = IKE_PROPOSAL;
        bytes[11] = 200; // transform length beyond the proposal
        assert!(SaPayload::parse_body(&bytes).is_err());
        let mut bytes = IKE_PROPOSAL;
        bytes[3] = 43; // proposal length shorter than its content
        assert!(SaPayload::parse_body(&bytes).is_err());
        assert!(SaPayload::parse_body(&[]).is_err());
    }

    #[test]
    fn variable_and_unknown_attributes() {
        let t = Transform {
            kind: TransformType::Unknown(9),
            id: 1,
            key_length: Some(128),
            other_attributes: vec![
                TransformAttribute {
                    attr_type: 17,
                    value: AttributeValue::Variable(vec![1, 2, 3]),
                },
                TransformAttribute {
                    attr_type: 18,
                    value: AttributeValue::Short(7),
                },
            ],
        };
        let mut out = Vec::new();
        t.emit(LAST, &mut out);
        assert_eq!(out.len(), 8 + 4 + 7 + 4);
        let (_, mut sub) = substructure(&mut Reader::new(&out), "t").expect("header");
        assert_eq!(Transform::parse(&mut sub), Ok(t));
    }
}

//! Security Association payload with its Proposal and Transform payloads (RFC 2408 3.4, 3.5,
//! 3.6) for the IPsec DOI (RFC 2407 4.2, 4.4).
//!
//! ```text
//! SA:        0..4 DOI | 4..8 Situation | Proposals
//! Proposal:  0 Next Payload (0 last, 2 more) | 1 RESERVED | 2..4 Payload Length
//!            4 Proposal # | 5 Protocol-Id | 6 SPI Size | 7 # of Transforms | SPI | Transforms
//! Transform: 0 Next Payload (0 last, 3 more) | 1 RESERVED | 2..4 Payload Length
//!            4 Transform # | 5 Transform-Id | 6..8 RESERVED2 | SA Attributes
//! ```
//!
//! Proposals and transforms are chained by their own Next Payload fields; the "# of
//! Transforms" field is not checked against the chain (it is recomputed when emitting).

use super::attributes::Attribute;
use crate::wire::codec::{patch_len16, reserve_len16, Reader};
use crate::wire::{Error, Result};

/// The IPsec DOI (RFC 2407 4.2).
pub const DOI_IPSEC: u32 = 1;
/// SIT_IDENTITY_ONLY (RFC 2407 4.2.1): the only situation without labelled-domain fields.
pub const SIT_IDENTITY_ONLY: u32 = 1;

/// Protocol-Id of a proposal (RFC 2407 4.4.1).
pub const PROTO_ISAKMP: u8 = 1;
pub const PROTO_IPSEC_AH: u8 = 2;
pub const PROTO_IPSEC_ESP: u8 = 3;
pub const PROTO_IPCOMP: u8 = 4;

/// Transform-Id of the ISAKMP proposal's transforms (RFC 2407 4.4.2).
pub const KEY_IKE: u8 = 1;
/// ESP Transform-Ids (RFC 2407 4.4.4; AES-CBC from RFC 3602 5, AES-GCM with a 16-octet ICV
/// from RFC 4106 8.2).
pub const ESP_DES: u8 = 2;
pub const ESP_3DES: u8 = 3;
pub const ESP_NULL: u8 = 11;
pub const ESP_AES: u8 = 12;
pub const ESP_AES_GCM_16: u8 = 20;

/// Next Payload of the last proposal or transform.
const LAST: u8 = 0;
/// Next Payload of a proposal that another one follows: the Proposal payload type.
const MORE_PROPOSALS: u8 = 2;
/// Next Payload of a transform that another one follows: the Transform payload type.
const MORE_TRANSFORMS: u8 = 3;
const SUBSTRUCT_HEADER_LEN: usize = 4;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SaPayload {
    /// [`DOI_IPSEC`]; 0 is the generic ISAKMP DOI.
    pub doi: u32,
    /// [`SIT_IDENTITY_ONLY`] for every SA this implementation makes.
    pub situation: u32,
    pub proposals: Vec<Proposal>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Proposal {
    /// Proposals with the same number form one bundle (AND), different numbers are
    /// alternatives (RFC 2408 3.5).
    pub number: u8,
    /// [`PROTO_ISAKMP`], [`PROTO_IPSEC_ESP`], ...
    pub protocol: u8,
    /// Empty (or the cookies) for ISAKMP, 4 octets for AH and ESP.
    pub spi: Vec<u8>,
    /// Alternatives (OR) for this proposal.
    pub transforms: Vec<Transform>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Transform {
    pub number: u8,
    /// [`KEY_IKE`] in an ISAKMP proposal, the cipher ([`ESP_AES`], ...) in an ESP one.
    pub id: u8,
    /// In the order received.
    pub attributes: Vec<Attribute>,
}

impl Transform {
    /// The value of the first attribute of a kind, if present.
    pub fn attribute(&self, kind: u16) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.kind == kind)
    }
}

impl SaPayload {
    pub(crate) fn parse_body(body: &[u8]) -> Result<SaPayload> {
        const WHAT: &str = "SA payload";
        let mut r = Reader::new(body);
        let doi = r.u32(WHAT)?;
        let situation = r.u32(WHAT)?;
        let mut proposals = Vec::new();
        loop {
            let (next, mut sub) = substructure(&mut r, "proposal")?;
            proposals.push(Proposal::parse(&mut sub)?);
            match next {
                LAST => break,
                MORE_PROPOSALS => {}
                _ => {
                    return Err(Error::BadValue {
                        what: "proposal Next Payload",
                    })
                }
            }
        }
        r.finish("last proposal")?;
        Ok(SaPayload {
            doi,
            situation,
            proposals,
        })
    }

    pub(crate) fn emit_body(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.doi.to_be_bytes());
        out.extend_from_slice(&self.situation.to_be_bytes());
        let count = self.proposals.len();
        for (index, proposal) in self.proposals.iter().enumerate() {
            let last = index.saturating_add(1) == count;
            proposal.emit(if last { LAST } else { MORE_PROPOSALS }, out);
        }
    }
}

/// Reads a proposal or transform header (Next Payload, RESERVED, Payload Length) and scopes
/// a reader to the rest of it.
fn substructure<'a>(r: &mut Reader<'a>, what: &'static str) -> Result<(u8, Reader<'a>)> {
    let next = r.u8(what)?;
    r.skip(1, what)?;
    let length = usize::from(r.u16(what)?);
    Ok((next, r.sub(length, SUBSTRUCT_HEADER_LEN, what)?))
}

impl Proposal {
    fn parse(r: &mut Reader<'_>) -> Result<Proposal> {
        const WHAT: &str = "proposal";
        let number = r.u8(WHAT)?;
        let protocol = r.u8(WHAT)?;
        let spi_size = usize::from(r.u8(WHAT)?);
        let _announced_transforms = r.u8(WHAT)?;
        let spi = r.take(spi_size, "proposal SPI")?.to_vec();
        let mut transforms = Vec::new();
        loop {
            let (next, mut sub) = substructure(r, "transform")?;
            transforms.push(Transform::parse(&mut sub)?);
            match next {
                LAST => break,
                MORE_TRANSFORMS => {}
                _ => {
                    return Err(Error::BadValue {
                        what: "transform Next Payload",
                    })
                }
            }
        }
        r.finish("last transform")?;
        Ok(Proposal {
            number,
            protocol,
            spi,
            transforms,
        })
    }

    fn emit(&self, next: u8, out: &mut Vec<u8>) {
        debug_assert!(self.spi.len() <= usize::from(u8::MAX), "SPI too long");
        debug_assert!(
            self.transforms.len() <= usize::from(u8::MAX),
            "too many transforms"
        );
        let start = out.len();
        out.extend_from_slice(&[next, 0]);
        let len_at = reserve_len16(out);
        out.push(self.number);
        out.push(self.protocol);
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
        let number = r.u8(WHAT)?;
        let id = r.u8(WHAT)?;
        r.skip(2, WHAT)?;
        let attributes = Attribute::parse_all(r)?;
        Ok(Transform {
            number,
            id,
            attributes,
        })
    }

    fn emit(&self, next: u8, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&[next, 0]);
        let len_at = reserve_len16(out);
        out.extend_from_slice(&[self.number, self.id, 0, 0]);
        for attribute in &self.attributes {
            attribute.emit(out);
        }
        patch_len16(out, len_at, start);
    }
}

#[cfg(test)]
mod tests {
    use super::super::attributes::{phase1, AttributeValue};
    use super::*;

    /// The SA payload body of a Main Mode first message: one ISAKMP proposal with one
    /// KEY_IKE transform, AES-128, SHA, PSK, group 2, 28800 s.
    const MAIN_MODE_SA: [u8; 52] = [
        0, 0, 0, 1, 0, 0, 0, 1, // DOI IPsec, SIT_IDENTITY_ONLY
        0, 0, 0, 44, 1, 1, 0, 1, // last proposal, length 44, #1, ISAKMP, no SPI, 1 transform
        0, 0, 0, 36, 1, 1, 0, 0, // last transform, length 36, #1, KEY_IKE
        0x80, 1, 0, 7, 0x80, 14, 0, 128, 0x80, 2, 0, 2, 0x80, 3, 0, 1, // AES-128, SHA, PSK
        0x80, 4, 0, 2, 0x80, 11, 0, 1, 0x80, 12, 0x70, 0x80, // group 2, seconds, 28800
    ];

    #[test]
    fn parses_main_mode_sa() {
        let sa = SaPayload::parse_body(&MAIN_MODE_SA).expect("valid");
        assert_eq!((sa.doi, sa.situation), (DOI_IPSEC, SIT_IDENTITY_ONLY));
        let [p] = sa.proposals.as_slice() else {
            panic!("one proposal")
        };
        assert_eq!((p.number, p.protocol), (1, PROTO_ISAKMP));
        assert!(p.spi.is_empty());
        let [t] = p.transforms.as_slice() else {
            panic!("one transform")
        };
        assert_eq!((t.number, t.id), (1, KEY_IKE));
        assert_eq!(t.attributes.len(), 7);
        assert_eq!(
            t.attribute(phase1::KEY_LENGTH).map(|a| &a.value),
            Some(&AttributeValue::Basic(128))
        );
        assert_eq!(
            t.attribute(phase1::LIFE_DURATION)
                .and_then(|a| a.value.as_u64()),
            Some(28_800)
        );
        let mut out = Vec::new();
        sa.emit_body(&mut out);
        assert_eq!(out, MAIN_MODE_SA);
    }

    #[test]
    fn transform_count_is_recomputed() {
        let mut bytes = MAIN_MODE_SA;
        bytes[15] = 9; // the chain, not the count, says how many there are
        let sa = SaPayload::parse_body(&bytes).expect("valid");
        let mut out = Vec::new();
        sa.emit_body(&mut out);
        assert_eq!(out, MAIN_MODE_SA);
    }

    #[test]
    fn rejects_inconsistent_structure() {
        let mut bytes = MAIN_MODE_SA;
        bytes[8] = 2; // another proposal announced, none present
        assert_eq!(
            SaPayload::parse_body(&bytes),
            Err(Error::Truncated { what: "proposal" })
        );
        let mut bytes = MAIN_MODE_SA;
        bytes[8] = 5;
        assert_eq!(
            SaPayload::parse_body(&bytes),
            Err(Error::BadValue {
                what: "proposal Next Payload"
            })
        );
        let mut bytes = MAIN_MODE_SA;
        bytes[16] = 3; // another transform announced, none present
        assert!(SaPayload::parse_body(&bytes).is_err());
        let mut bytes = MAIN_MODE_SA;
        bytes[19] = 200; // transform longer than its proposal
        assert!(SaPayload::parse_body(&bytes).is_err());
        let mut bytes = MAIN_MODE_SA;
        bytes[11] = 43; // proposal shorter than its transform
        assert!(SaPayload::parse_body(&bytes).is_err());
        let mut bytes = MAIN_MODE_SA;
        bytes[14] = 4; // SPI beyond the proposal's transforms
        assert!(SaPayload::parse_body(&bytes).is_err());
        assert!(SaPayload::parse_body(&MAIN_MODE_SA[..8]).is_err());
        assert!(SaPayload::parse_body(&[]).is_err());
        let mut trailing = MAIN_MODE_SA.to_vec();
        trailing.push(0);
        assert_eq!(
            SaPayload::parse_body(&trailing),
            Err(Error::TrailingData {
                what: "last proposal"
            })
        );
    }
}

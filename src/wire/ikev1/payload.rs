//! The generic payload header (RFC 2408 3.2), the [`Payload`] enum and payload chain walking.
//!
//! ```text
//!  0      Next Payload
//!  1      RESERVED
//!  2..4   Payload Length, this header included
//! ```

use super::delete::Delete;
use super::enums::PayloadType;
use super::id::Identification;
use super::notify::Notification;
use super::sa::SaPayload;
use super::{cert, nat};
use crate::wire::codec::{patch_len16, reserve_len16, Reader};
use crate::wire::{Error, Result};

/// Length of the generic payload header.
pub const GENERIC_HEADER_LEN: usize = 4;

/// One decoded payload.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Payload {
    Sa(SaPayload),
    /// Key Exchange Data (RFC 2408 3.7).
    KeyExchange(Vec<u8>),
    Identification(Identification),
    Certificate {
        encoding: u8,
        data: Vec<u8>,
    },
    CertificateRequest {
        encoding: u8,
        authority: Vec<u8>,
    },
    /// Hash Data (RFC 2408 3.11).
    Hash(Vec<u8>),
    /// Signature Data (RFC 2408 3.12).
    Signature(Vec<u8>),
    /// Nonce Data (RFC 2408 3.13). RFC 2409 5 wants nonces of 8 to 256 octets; the engine
    /// checks that, the codec keeps any length.
    Nonce(Vec<u8>),
    Notification(Notification),
    Delete(Delete),
    /// Vendor ID (RFC 2408 3.16); see [`super::vendor`].
    VendorId(Vec<u8>),
    /// NAT-D (RFC 3947 3.2); `draft` for payload type 130.
    NatD {
        draft: bool,
        hash: Vec<u8>,
    },
    /// NAT-OA (RFC 3947 5.2); `draft` for payload type 131.
    NatOa {
        draft: bool,
        id_type: u8,
        address: Vec<u8>,
    },
    /// A payload type this codec does not decode, and a Proposal or Transform payload met
    /// outside an SA payload, kept as received.
    Unknown {
        payload_type: u8,
        body: Vec<u8>,
    },
}

/// A payload with where it lies in the bytes it was parsed from: `bytes[start..end]` is the
/// whole payload including its 4-octet generic header, `bytes[start + 4..end]` its body.
/// IKEv1 hashes are computed over raw payload bodies (RFC 2409 5: SAi_b, IDii_b) and over the
/// bytes following the HASH payload (RFC 2409 5.5: HASH(1) of Quick Mode), so the engine
/// needs these ranges, not re-encodings.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PayloadSpan {
    pub payload: Payload,
    pub start: usize,
    pub end: usize,
}

impl PayloadSpan {
    /// Where the body starts: after the generic header.
    pub fn body_start(&self) -> usize {
        self.start.saturating_add(GENERIC_HEADER_LEN)
    }
}

/// A parsed payload chain.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Chain {
    pub payloads: Vec<PayloadSpan>,
    /// Where the last payload ends; anything between it and the end of the bytes is padding
    /// (RFC 2409 5.3 and appendix B: an encrypted body is padded to the cipher's block size).
    pub payload_end: usize,
}

impl Chain {
    /// The payloads without their positions.
    pub fn payloads(&self) -> impl Iterator<Item = &Payload> {
        self.payloads.iter().map(|span| &span.payload)
    }
}

impl Payload {
    /// The type code that announces this payload in the previous Next Payload field.
    pub fn payload_type(&self) -> PayloadType {
        match self {
            Payload::Sa(_) => PayloadType::Sa,
            Payload::KeyExchange(_) => PayloadType::KeyExchange,
            Payload::Identification(_) => PayloadType::Identification,
            Payload::Certificate { .. } => PayloadType::Certificate,
            Payload::CertificateRequest { .. } => PayloadType::CertificateRequest,
            Payload::Hash(_) => PayloadType::Hash,
            Payload::Signature(_) => PayloadType::Signature,
            Payload::Nonce(_) => PayloadType::Nonce,
            Payload::Notification(_) => PayloadType::Notification,
            Payload::Delete(_) => PayloadType::Delete,
            Payload::VendorId(_) => PayloadType::VendorId,
            Payload::NatD { draft: false, .. } => PayloadType::NatD,
            Payload::NatD { draft: true, .. } => PayloadType::NatDDraft,
            Payload::NatOa { draft: false, .. } => PayloadType::NatOa,
            Payload::NatOa { draft: true, .. } => PayloadType::NatOaDraft,
            Payload::Unknown { payload_type, .. } => PayloadType::from(*payload_type),
        }
    }

    /// Decodes the body of a payload of type `payload_type`.
    fn parse_body(payload_type: PayloadType, body: &[u8]) -> Result<Payload> {
        Ok(match payload_type {
            PayloadType::Sa => Payload::Sa(SaPayload::parse_body(body)?),
            PayloadType::KeyExchange => Payload::KeyExchange(body.to_vec()),
            PayloadType::Identification => {
                Payload::Identification(Identification::parse_body(body)?)
            }
            PayloadType::Certificate => {
                let (encoding, data) = cert::parse_body(body, "Certificate payload")?;
                Payload::Certificate { encoding, data }
            }
            PayloadType::CertificateRequest => {
                let (encoding, authority) = cert::parse_body(body, "Certificate Request payload")?;
                Payload::CertificateRequest {
                    encoding,
                    authority,
                }
            }
            PayloadType::Hash => Payload::Hash(body.to_vec()),
            PayloadType::Signature => Payload::Signature(body.to_vec()),
            PayloadType::Nonce => Payload::Nonce(body.to_vec()),
            PayloadType::Notification => Payload::Notification(Notification::parse_body(body)?),
            PayloadType::Delete => Payload::Delete(Delete::parse_body(body)?),
            PayloadType::VendorId => Payload::VendorId(body.to_vec()),
            PayloadType::NatD | PayloadType::NatDDraft => Payload::NatD {
                draft: payload_type == PayloadType::NatDDraft,
                hash: body.to_vec(),
            },
            PayloadType::NatOa | PayloadType::NatOaDraft => {
                let (id_type, address) = nat::parse_nat_oa(body)?;
                Payload::NatOa {
                    draft: payload_type == PayloadType::NatOaDraft,
                    id_type,
                    address,
                }
            }
            // "NONE" names no payload; a chain never asks to decode it.
            PayloadType::None => {
                return Err(Error::BadValue {
                    what: "payload type",
                })
            }
            PayloadType::Proposal | PayloadType::Transform | PayloadType::Unknown(_) => {
                Payload::Unknown {
                    payload_type: payload_type.value(),
                    body: body.to_vec(),
                }
            }
        })
    }

    /// Appends the generic header (RESERVED zero, RFC 2408 3.2) and the body.
    fn emit(&self, next: PayloadType, out: &mut Vec<u8>) {
        let start = out.len();
        out.push(next.value());
        out.push(0);
        let len_at = reserve_len16(out);
        match self {
            Payload::Sa(sa) => sa.emit_body(out),
            Payload::KeyExchange(data)
            | Payload::Hash(data)
            | Payload::Signature(data)
            | Payload::Nonce(data)
            | Payload::VendorId(data)
            | Payload::NatD { hash: data, .. }
            | Payload::Unknown { body: data, .. } => out.extend_from_slice(data),
            Payload::Identification(id) => id.emit_body(out),
            Payload::Certificate { encoding, data } => cert::emit_body(*encoding, data, out),
            Payload::CertificateRequest {
                encoding,
                authority,
            } => cert::emit_body(*encoding, authority, out),
            Payload::Notification(n) => n.emit_body(out),
            Payload::Delete(d) => d.emit_body(out),
            Payload::NatOa {
                id_type, address, ..
            } => nat::emit_nat_oa(*id_type, address, out),
        }
        patch_len16(out, len_at, start);
    }
}

/// Walks a payload chain that starts at `bytes[base..]` with a payload of type `first` and
/// ends at the payload whose Next Payload is NONE. Positions are offsets in `bytes`.
pub(crate) fn parse_chain(first: PayloadType, bytes: &[u8], base: usize) -> Result<Chain> {
    const WHAT: &str = "generic payload header";
    let mut r = Reader::new(bytes);
    r.skip(base, WHAT)?;
    let mut payloads = Vec::new();
    let mut current = first;
    while current != PayloadType::None {
        let start = r.offset();
        let next = PayloadType::from(r.u8(WHAT)?);
        r.skip(1, WHAT)?;
        let length = usize::from(r.u16(WHAT)?);
        let body = r.sub(length, GENERIC_HEADER_LEN, "payload length")?.rest();
        payloads.push(PayloadSpan {
            payload: Payload::parse_body(current, body)?,
            start,
            end: r.offset(),
        });
        current = next;
    }
    Ok(Chain {
        payloads,
        payload_end: r.offset(),
    })
}

/// Parses a payload chain starting with a payload of type `first`: the body of a message
/// after its header, decrypted if it was encrypted. The chain ends at a payload whose Next
/// Payload is NONE; bytes after it are allowed and ignored (the padding of a decrypted body,
/// RFC 2409 5.3), and [`Chain::payload_end`] says where they start. Every payload length must
/// be at least 4 and lie within `bytes`. Positions are offsets in `bytes`.
pub fn parse_payloads(first: PayloadType, bytes: &[u8]) -> Result<Chain> {
    parse_chain(first, bytes, 0)
}

/// Appends `payloads` as a chain, with every Next Payload and Payload Length filled, and
/// returns the type of the first one (NONE if there is none) for the header or the caller.
pub fn emit_payloads(payloads: &[Payload], out: &mut Vec<u8>) -> PayloadType {
    for (index, payload) in payloads.iter().enumerate() {
        let next = payloads
            .get(index.saturating_add(1))
            .map_or(PayloadType::None, Payload::payload_type);
        payload.emit(next, out);
    }
    payloads
        .first()
        .map_or(PayloadType::None, Payload::payload_type)
}

#[cfg(test)]
mod tests {
    use super::super::enums::NotifyType;
    use super::*;

    fn sample() -> Vec<Payload> {
        vec![
            Payload::Hash(vec![0xa1; 20]),
            Payload::Nonce(vec![0x17; 16]),
            Payload::Notification(Notification {
                doi: 1,
                protocol: 3,
                notify: NotifyType::ResponderLifetime,
                spi: vec![1, 2, 3, 4],
                data: vec![0x80, 1, 0, 1, 0x80, 2, 0x0e, 0x10],
            }),
            Payload::NatD {
                draft: true,
                hash: vec![5; 20],
            },
            Payload::NatOa {
                draft: false,
                id_type: 1,
                address: vec![10, 0, 0, 1],
            },
            Payload::Unknown {
                payload_type: 2,
                body: vec![1, 2, 3],
            },
            Payload::Unknown {
                payload_type: 14,
                body: vec![],
            },
        ]
    }

    #[test]
    fn chain_round_trip_with_positions() {
        let payloads = sample();
        let mut bytes = Vec::new();
        let first = emit_payloads(&payloads, &mut bytes);
        assert_eq!(first, PayloadType::Hash);
        let chain = parse_payloads(first, &bytes).expect("valid");
        assert_eq!(chain.payloads().cloned().collect::<Vec<_>>(), payloads);
        assert_eq!(chain.payload_end, bytes.len());
        let hash = &chain.payloads[0];
        assert_eq!((hash.start, hash.end, hash.body_start()), (0, 24, 4));
        assert_eq!(&bytes[hash.body_start()..hash.end], &[0xa1; 20]);
        let nonce = &chain.payloads[1];
        assert_eq!((nonce.start, nonce.end), (24, 44));
        assert_eq!(bytes[2..4], [0, 24]);
        assert_eq!(bytes[0], u8::from(PayloadType::Nonce));
    }

    #[test]
    fn padding_after_the_last_payload_is_ignored() {
        let mut bytes = Vec::new();
        let first = emit_payloads(&sample(), &mut bytes);
        let end = bytes.len();
        bytes.extend_from_slice(&[0, 0, 0, 3]);
        let chain = parse_payloads(first, &bytes).expect("padding allowed");
        assert_eq!(chain.payload_end, end);
        assert_eq!(chain.payloads.len(), 7);
    }

    #[test]
    fn lengths_are_checked() {
        // Length 3: shorter than the generic header.
        assert_eq!(
            parse_payloads(PayloadType::Hash, &[0, 0, 0, 3]),
            Err(Error::BadLength {
                what: "payload length"
            })
        );
        // Length beyond the bytes.
        assert!(parse_payloads(PayloadType::Hash, &[0, 0, 0, 9, 1, 2]).is_err());
        // A next payload announced but absent.
        assert!(parse_payloads(PayloadType::Hash, &[10, 0, 0, 4]).is_err());
        // An empty chain.
        assert_eq!(
            parse_payloads(PayloadType::None, &[1, 2, 3])
                .map(|c| (c.payloads.len(), c.payload_end)),
            Ok((0, 0))
        );
    }
}

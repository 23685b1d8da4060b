//! The generic payload header (RFC 7296 3.2), the [`Payload`] enum and payload chain walking.
//!
//! ```text
//!  0      Next Payload
//!  1      C (critical) | RESERVED (7 bits)
//!  2..4   Payload Length, this header included
//! ```

use super::auth::AuthPayload;
use super::cert::CertPayload;
use super::cp::Configuration;
use super::delete::Delete;
use super::enums::PayloadType;
use super::id::Identification;
use super::ke::KePayload;
use super::notify::Notify;
use super::sa::SaPayload;
use super::sk::{Encrypted, EncryptedFragment};
use super::ts::TrafficSelector;
use super::{nonce, ts, vendor};
use crate::wire::codec::{patch_len16, reserve_len16, Reader};
use crate::wire::{Error, Result};

/// Length of the generic payload header.
pub const GENERIC_HEADER_LEN: usize = 4;

const CRITICAL: u8 = 0x80;

/// One decoded payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    Sa(SaPayload),
    Ke(KePayload),
    IdI(Identification),
    IdR(Identification),
    Cert(CertPayload),
    CertReq(CertPayload),
    Auth(AuthPayload),
    /// Nonce Data, 16 to 256 octets (RFC 7296 3.9).
    Nonce(Vec<u8>),
    Notify(Notify),
    Delete(Delete),
    /// Vendor ID (RFC 7296 3.12).
    Vendor(Vec<u8>),
    TsI(Vec<TrafficSelector>),
    TsR(Vec<TrafficSelector>),
    Cp(Configuration),
    /// The EAP message, undecoded (RFC 7296 3.16).
    Eap(Vec<u8>),
    Encrypted(Encrypted),
    EncryptedFragment(EncryptedFragment),
    /// A payload type this codec does not decode, with its critical bit (RFC 7296 2.5).
    Unknown {
        payload_type: u8,
        critical: bool,
        body: Vec<u8>,
    },
}

impl Payload {
    /// The type code that announces this payload in the previous "Next Payload" field.
    pub fn payload_type(&self) -> PayloadType {
        match self {
            Payload::Sa(_) => PayloadType::Sa,
            Payload::Ke(_) => PayloadType::Ke,
            Payload::IdI(_) => PayloadType::IdI,
            Payload::IdR(_) => PayloadType::IdR,
            Payload::Cert(_) => PayloadType::Cert,
            Payload::CertReq(_) => PayloadType::CertReq,
            Payload::Auth(_) => PayloadType::Auth,
            Payload::Nonce(_) => PayloadType::Nonce,
            Payload::Notify(_) => PayloadType::Notify,
            Payload::Delete(_) => PayloadType::Delete,
            Payload::Vendor(_) => PayloadType::Vendor,
            Payload::TsI(_) => PayloadType::TsI,
            Payload::TsR(_) => PayloadType::TsR,
            Payload::Cp(_) => PayloadType::Cp,
            Payload::Eap(_) => PayloadType::Eap,
            Payload::Encrypted(_) => PayloadType::Sk,
            Payload::EncryptedFragment(_) => PayloadType::Skf,
            Payload::Unknown { payload_type, .. } => PayloadType::from(*payload_type),
        }
    }

    /// Decodes the body of a payload of type `payload_type` (not SK/SKF, see `sk`).
    fn parse_body(payload_type: PayloadType, critical: bool, body: &[u8]) -> Result<Payload> {
        Ok(match payload_type {
            PayloadType::Sa => Payload::Sa(SaPayload::parse_body(body)?),
            PayloadType::Ke => Payload::Ke(KePayload::parse_body(body)?),
            PayloadType::IdI => Payload::IdI(Identification::parse_body(body)?),
            PayloadType::IdR => Payload::IdR(Identification::parse_body(body)?),
            PayloadType::Cert => Payload::Cert(CertPayload::parse_body(body)?),
            PayloadType::CertReq => Payload::CertReq(CertPayload::parse_body(body)?),
            PayloadType::Auth => Payload::Auth(AuthPayload::parse_body(body)?),
            PayloadType::Nonce => Payload::Nonce(nonce::parse_body(body)?),
            PayloadType::Notify => Payload::Notify(Notify::parse_body(body)?),
            PayloadType::Delete => Payload::Delete(Delete::parse_body(body)?),
            PayloadType::Vendor => Payload::Vendor(vendor::parse_body(body)),
            PayloadType::TsI => Payload::TsI(ts::parse_body(body)?),
            PayloadType::TsR => Payload::TsR(ts::parse_body(body)?),
            PayloadType::Cp => Payload::Cp(Configuration::parse_body(body)?),
            PayloadType::Eap => Payload::Eap(body.to_vec()),
            // "No Next Payload" names no payload; a chain never asks to decode it.
            PayloadType::None | PayloadType::Sk | PayloadType::Skf => {
                return Err(Error::BadValue {
                    what: "payload type",
                })
            }
            PayloadType::Unknown(code) => Payload::Unknown {
                payload_type: code,
                critical,
                body: body.to_vec(),
            },
        })
    }

    /// Appends the generic header and the body. `next` is the type of the payload that
    /// follows; SK and SKF carry their first inner payload type there instead.
    pub(crate) fn emit(&self, next: PayloadType, out: &mut Vec<u8>) {
        let start = out.len();
        let (next_field, critical) = match self {
            Payload::Encrypted(sk) => (sk.first_inner, false),
            Payload::EncryptedFragment(skf) => (skf.first_inner, false),
            Payload::Unknown { critical, .. } => (next, *critical),
            _ => (next, false),
        };
        out.push(next_field.value());
        out.push(if critical { CRITICAL } else { 0 });
        let len_at = reserve_len16(out);
        match self {
            Payload::Sa(sa) => sa.emit_body(out),
            Payload::Ke(ke) => ke.emit_body(out),
            Payload::IdI(id) | Payload::IdR(id) => id.emit_body(out),
            Payload::Cert(cert) | Payload::CertReq(cert) => cert.emit_body(out),
            Payload::Auth(auth) => auth.emit_body(out),
            Payload::Nonce(data)
            | Payload::Vendor(data)
            | Payload::Eap(data)
            | Payload::Unknown { body: data, .. } => out.extend_from_slice(data),
            Payload::Notify(notify) => notify.emit_body(out),
            Payload::Delete(delete) => delete.emit_body(out),
            Payload::TsI(selectors) | Payload::TsR(selectors) => ts::emit_body(selectors, out),
            Payload::Cp(cp) => cp.emit_body(out),
            Payload::Encrypted(sk) => sk.emit_body(out),
            Payload::EncryptedFragment(skf) => skf.emit_body(out),
        }
        patch_len16(out, len_at, start);
    }
}

/// Payloads decoded from a chain, and where the SK/SKF body starts if the chain ends in one.
pub(crate) struct Chain {
    pub payloads: Vec<Payload>,
    /// Offset of the encrypted body within the chain's bytes.
    pub encrypted_body_offset: Option<usize>,
}

/// Walks a payload chain that starts with a payload of type `first` and must fill `bytes`
/// exactly. SK and SKF are only accepted when `allow_encrypted` is set, and only as the last
/// payload (RFC 7296 3.14, RFC 7383 2.5).
pub(crate) fn parse_chain(
    first: PayloadType,
    bytes: &[u8],
    allow_encrypted: bool,
) -> Result<Chain> {
    const WHAT: &str = "generic payload header";
    let mut r = Reader::new(bytes);
    let mut payloads = Vec::new();
    let mut current = first;
    while current != PayloadType::None {
        let start = r.offset();
        let next = PayloadType::from(r.u8(WHAT)?);
        let critical = r.u8(WHAT)? & CRITICAL != 0;
        let length = usize::from(r.u16(WHAT)?);
        let body = r.sub(length, GENERIC_HEADER_LEN, "payload length")?.rest();
        if matches!(current, PayloadType::Sk | PayloadType::Skf) {
            if !allow_encrypted || !r.is_empty() {
                return Err(Error::MisplacedEncrypted);
            }
            // The Next Payload field of SK/SKF names the first inner payload, not a successor.
            let (payload, body_offset) = if current == PayloadType::Sk {
                (Payload::Encrypted(Encrypted::parse_body(next, body)), 0)
            } else {
                let skf = EncryptedFragment::parse_body(next, body)?;
                (
                    Payload::EncryptedFragment(skf),
                    EncryptedFragment::FIELDS_LEN,
                )
            };
            payloads.push(payload);
            let offset = start
                .checked_add(GENERIC_HEADER_LEN + body_offset)
                .ok_or(Error::BadLength { what: WHAT })?;
            return Ok(Chain {
                payloads,
                encrypted_body_offset: Some(offset),
            });
        }
        payloads.push(Payload::parse_body(current, critical, body)?);
        current = next;
    }
    r.finish("last payload")?;
    Ok(Chain {
        payloads,
        encrypted_body_offset: None,
    })
}

/// Appends `payloads` as a chain and returns the type of the first one (`None` if empty).
pub(crate) fn emit_chain(payloads: &[Payload], out: &mut Vec<u8>) -> PayloadType {
    debug_assert!(
        payloads
            .iter()
            .rev()
            .skip(1)
            .all(|p| !matches!(p, Payload::Encrypted(_) | Payload::EncryptedFragment(_))),
        "SK/SKF must be the last payload (RFC 7296 3.14)"
    );
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

/// The payload type of the first payload that is not understood and is marked critical: the
/// engine must reject the message with UNSUPPORTED_CRITICAL_PAYLOAD carrying this type as
/// notification data (RFC 7296 2.5). Non-critical unknown payloads are skipped.
pub fn first_unsupported_critical(payloads: &[Payload]) -> Option<u8> {
    payloads.iter().find_map(|payload| match payload {
        Payload::Unknown {
            payload_type,
            critical: true,
            ..
        } => Some(*payload_type),
        _ => None,
    })
}

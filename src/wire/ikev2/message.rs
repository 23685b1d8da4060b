//! Whole IKEv2 messages: header plus payload chain, and the byte prefixes that encrypted
//! messages are authenticated over.

use super::enums::PayloadType;
use super::header::Header;
use super::payload::{emit_chain, parse_chain, Payload, GENERIC_HEADER_LEN};
use super::sk::{Encrypted, EncryptedFragment};
use crate::wire::codec::len16;
use crate::wire::{Error, Result};

/// Offset of the Length field in the IKE header.
const HEADER_LENGTH_FIELD: std::ops::Range<usize> = 24..28;

/// A parsed message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub header: Header,
    /// The unencrypted payloads; an SK or SKF payload, if any, is the last one.
    pub payloads: Vec<Payload>,
    /// For a message ending in SK or SKF: offset in the datagram where the encrypted body
    /// (IV || ciphertext || ICV) starts. Everything before it is the AEAD associated data
    /// (RFC 5282 5.1) and the start of the integrity-protected data (RFC 7296 3.14).
    pub encrypted_body_offset: Option<usize>,
}

impl Message {
    /// The SK payload, if the message carries one.
    pub fn encrypted(&self) -> Option<&Encrypted> {
        match self.payloads.last() {
            Some(Payload::Encrypted(sk)) => Some(sk),
            _ => None,
        }
    }

    /// The SKF payload, if the message is a fragment.
    pub fn encrypted_fragment(&self) -> Option<&EncryptedFragment> {
        match self.payloads.last() {
            Some(Payload::EncryptedFragment(skf)) => Some(skf),
            _ => None,
        }
    }

    /// Splits the datagram this message was parsed from into (authenticated prefix,
    /// encrypted body). `None` if the message has no SK/SKF payload or `datagram` is not
    /// long enough.
    pub fn split_encrypted<'a>(&self, datagram: &'a [u8]) -> Option<(&'a [u8], &'a [u8])> {
        let offset = self.encrypted_body_offset?;
        Some((datagram.get(..offset)?, datagram.get(offset..)?))
    }
}

/// Parses a datagram (without the non-ESP marker of port 4500) into a message. The header's
/// Length must equal the datagram length, every payload must lie within it, and an SK or SKF
/// payload must be the last one (RFC 7296 3.14, RFC 7383 2.5). Payload types this codec does
/// not know are kept as [`Payload::Unknown`]; check [`super::first_unsupported_critical`].
pub fn parse_message(bytes: &[u8]) -> Result<Message> {
    let header = Header::parse(bytes)?;
    if usize::try_from(header.length).ok() != Some(bytes.len()) {
        return Err(Error::BadLength {
            what: "IKE header Length",
        });
    }
    let chain_bytes = bytes
        .get(Header::LEN..)
        .ok_or(Error::Truncated { what: "IKE header" })?;
    let chain = parse_chain(header.next_payload, chain_bytes, true)?;
    let encrypted_body_offset = match chain.encrypted_body_offset {
        Some(offset) => Some(offset.checked_add(Header::LEN).ok_or(Error::BadLength {
            what: "IKE header Length",
        })?),
        None => None,
    };
    Ok(Message {
        header,
        payloads: chain.payloads,
        encrypted_body_offset,
    })
}

/// Parses a decrypted inner payload chain: the plaintext of an SK payload (or of reassembled
/// SKF fragments) with the padding and Pad Length already removed. `first` is the SK
/// payload's Next Payload field. SK/SKF may not appear inside.
pub fn parse_payloads(first: PayloadType, bytes: &[u8]) -> Result<Vec<Payload>> {
    Ok(parse_chain(first, bytes, false)?.payloads)
}

/// Serializes a message. The header's `next_payload` and `length` are filled in from
/// `payloads`; its other fields are used as given.
pub fn emit_message(header: &Header, payloads: &[Payload]) -> Vec<u8> {
    let mut out = Vec::new();
    Header {
        next_payload: payloads
            .first()
            .map_or(PayloadType::None, Payload::payload_type),
        length: 0,
        ..*header
    }
    .emit(&mut out);
    emit_chain(payloads, &mut out);
    let length = u32::try_from(out.len()).unwrap_or(u32::MAX).to_be_bytes();
    if let Some(field) = out.get_mut(HEADER_LENGTH_FIELD) {
        field.copy_from_slice(&length);
    }
    out
}

/// Serializes an inner payload chain to be encrypted into an SK payload, and returns the type
/// of its first payload, which goes into the SK payload's Next Payload field.
pub fn emit_payloads(payloads: &[Payload]) -> (PayloadType, Vec<u8>) {
    let mut out = Vec::new();
    let first = emit_chain(payloads, &mut out);
    (first, out)
}

/// Everything of an encrypted message up to the start of the SK body: the IKE header with
/// Next Payload = SK and the final total length, then the SK generic header. This is the AEAD
/// associated data (RFC 5282 5.1) and the start of the integrity-checked data (RFC 7296 3.14);
/// the caller appends exactly `body_len` octets (IV || ciphertext || ICV) and has the whole
/// datagram. `header.next_payload` and `header.length` are ignored.
pub fn emit_encrypted_prefix(
    header: &Header,
    first_inner: PayloadType,
    body_len: usize,
) -> Vec<u8> {
    let payload_len = GENERIC_HEADER_LEN.saturating_add(body_len);
    let mut out = Vec::with_capacity(Header::LEN + GENERIC_HEADER_LEN);
    Header {
        next_payload: PayloadType::Sk,
        length: total_length(payload_len),
        ..*header
    }
    .emit(&mut out);
    out.push(first_inner.value());
    out.push(0);
    out.extend_from_slice(&len16(payload_len));
    out
}

/// The same for one SKF fragment: the prefix ends after the Total Fragments field (RFC 7383
/// 2.5). `first_inner` is written into fragment 1 only; the other fragments carry 0 there, as
/// RFC 7383 2.5 requires.
pub fn emit_fragment_prefix(
    header: &Header,
    first_inner: PayloadType,
    number: u16,
    total: u16,
    body_len: usize,
) -> Vec<u8> {
    let payload_len = (GENERIC_HEADER_LEN + EncryptedFragment::FIELDS_LEN).saturating_add(body_len);
    let mut out =
        Vec::with_capacity(Header::LEN + GENERIC_HEADER_LEN + EncryptedFragment::FIELDS_LEN);
    Header {
        next_payload: PayloadType::Skf,
        length: total_length(payload_len),
        ..*header
    }
    .emit(&mut out);
    let next = if number == 1 {
        first_inner
    } else {
        PayloadType::None
    };
    out.push(next.value());
    out.push(0);
    out.extend_from_slice(&len16(payload_len));
    out.extend_from_slice(&number.to_be_bytes());
    out.extend_from_slice(&total.to_be_bytes());
    out
}

fn total_length(payload_len: usize) -> u32 {
    u32::try_from(Header::LEN.saturating_add(payload_len)).unwrap_or(u32::MAX)
}

//! Whole ISAKMP messages: header plus payload chain.

use super::enums::PayloadType;
use super::header::Header;
use super::payload::{parse_chain, Chain};
use crate::wire::{Error, Result};

/// A parsed unencrypted message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Message {
    pub header: Header,
    /// The payloads; their positions are offsets in the datagram, header included.
    pub chain: Chain,
}

/// Parses an unencrypted datagram (without the non-ESP marker of port 4500): the header, whose
/// Length must equal the datagram length, and the payload chain. An encrypted message (E flag
/// set) is refused: its callers use [`Header::parse`], decrypt `bytes[Header::LEN..]`
/// themselves and parse the plaintext with [`super::parse_payloads`].
pub fn parse_message(bytes: &[u8]) -> Result<Message> {
    let header = Header::parse(bytes)?;
    if usize::try_from(header.length).ok() != Some(bytes.len()) {
        return Err(Error::BadLength {
            what: "ISAKMP header Length",
        });
    }
    if header.is_encrypted() {
        return Err(Error::BadValue {
            what: "encrypted message",
        });
    }
    let chain = parse_chain(header.next_payload, bytes, Header::LEN)?;
    Ok(Message { header, chain })
}

/// A whole message: the header with its Next Payload set to `first` and its Length to the
/// total, then `body` as given (already encrypted by the caller when the header's E flag is
/// set; the codec never encrypts).
pub fn emit_message(header: &Header, first: PayloadType, body: &[u8]) -> Vec<u8> {
    let total = Header::LEN.saturating_add(body.len());
    let mut out = Vec::with_capacity(total);
    Header {
        next_payload: first,
        length: u32::try_from(total).unwrap_or(u32::MAX),
        ..*header
    }
    .emit(&mut out);
    out.extend_from_slice(body);
    out
}

#[cfg(test)]
mod tests {
    use super::super::enums::ExchangeType;
    use super::super::payload::{emit_payloads, Payload};
    use super::*;

    fn header() -> Header {
        Header {
            initiator_cookie: 0x1122_3344_5566_7788,
            responder_cookie: 0,
            next_payload: PayloadType::None,
            exchange: ExchangeType::IdentityProtection,
            flags: 0,
            message_id: 0,
            length: 0,
        }
    }

    /// A Main Mode first message as a cloud gateway's IKEv1 defaults send it: one ISAKMP
    /// proposal, one KEY_IKE transform for aes128-sha1-modp1024 with a pre-shared key.
    const MAIN_MODE_1: [u8; 80] = [
        0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0, 0, 0, 0, 0, 0, 0, 0, // cookies
        1, 0x10, 2, 0, 0, 0, 0, 0, 0, 0, 0, 80, // SA, 1.0, ID_PROT, no flags, ID 0, 80
        0, 0, 0, 52, 0, 0, 0, 1, 0, 0, 0, 1, // SA payload, DOI IPsec, SIT_IDENTITY_ONLY
        0, 0, 0, 40, 1, 1, 0, 1, // proposal #1, ISAKMP, no SPI, one transform
        0, 0, 0, 32, 1, 1, 0, 0, // transform #1, KEY_IKE
        0x80, 1, 0, 7, 0x80, 14, 0, 128, 0x80, 2, 0, 2, // AES, 128 bits, SHA
        0x80, 3, 0, 1, 0x80, 4, 0, 2, 0x80, 11, 0, 1, // PSK, group 2, life in seconds
    ];

    #[test]
    fn main_mode_first_message() {
        let msg = parse_message(&MAIN_MODE_1).expect("valid");
        assert_eq!(msg.header.exchange, ExchangeType::IdentityProtection);
        assert_eq!(msg.header.initiator_cookie, 0x1122_3344_5566_7788);
        let [span] = msg.chain.payloads.as_slice() else {
            panic!("one payload")
        };
        // SAi_b, the body the HASH_I computation covers (RFC 2409 5).
        assert_eq!((span.start, span.body_start(), span.end), (28, 32, 80));
        let Payload::Sa(sa) = &span.payload else {
            panic!("an SA payload")
        };
        assert_eq!(sa.proposals[0].transforms[0].attributes.len(), 6);
        let mut body = Vec::new();
        let first = emit_payloads(std::slice::from_ref(&span.payload), &mut body);
        assert_eq!(emit_message(&msg.header, first, &body), MAIN_MODE_1);
    }

    #[test]
    fn message_round_trip_with_datagram_offsets() {
        let payloads = vec![
            Payload::VendorId(super::super::vendor::NAT_T_RFC3947.to_vec()),
            Payload::VendorId(super::super::vendor::DPD.to_vec()),
        ];
        let mut body = Vec::new();
        let first = emit_payloads(&payloads, &mut body);
        let bytes = emit_message(&header(), first, &body);
        assert_eq!(bytes.len(), 28 + 40);
        let msg = parse_message(&bytes).expect("valid");
        assert_eq!(msg.header.length, 68);
        assert_eq!(msg.header.next_payload, PayloadType::VendorId);
        assert_eq!(msg.chain.payloads().cloned().collect::<Vec<_>>(), payloads);
        assert_eq!(
            (msg.chain.payloads[0].start, msg.chain.payloads[0].end),
            (28, 48)
        );
        assert_eq!(msg.chain.payload_end, 68);
    }

    #[test]
    fn length_must_match_and_encrypted_is_refused() {
        let bytes = emit_message(&header(), PayloadType::None, &[]);
        assert!(parse_message(&bytes).is_ok());
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(
            parse_message(&longer),
            Err(Error::BadLength {
                what: "ISAKMP header Length"
            })
        );
        let encrypted = emit_message(
            &Header {
                flags: Header::FLAG_ENCRYPTION,
                ..header()
            },
            PayloadType::Hash,
            &[0x55; 32],
        );
        assert_eq!(
            parse_message(&encrypted),
            Err(Error::BadValue {
                what: "encrypted message"
            })
        );
        assert!(Header::parse(&encrypted).is_ok());
    }
}

//! Building and opening messages of an IKE SA: header fields from the SA's role, and SK
//! payload protection (RFC 7296 3.14) over the wire codec.

use crate::crypto::protect::PayloadProtection;
use crate::crypto::rng::Random;
use crate::wire::ikev2::{self, ExchangeType, Flags, Header, Message, Payload, PayloadType};

use super::error::Error;
use super::sa::IkeSa;

/// Header for a message of `sa`; lengths and next-payload are filled in by the codec.
pub fn header(sa: &IkeSa, exchange: ExchangeType, response: bool, message_id: u32) -> Header {
    Header {
        spi_i: sa.spi_i,
        spi_r: sa.spi_r,
        next_payload: PayloadType::None,
        version: 0x20,
        exchange,
        flags: Flags {
            initiator: sa.initiator,
            response,
        },
        message_id,
        length: 0,
    }
}

/// Encrypts `payloads` into an SK payload and returns the whole datagram.
pub fn seal(
    protection: &mut PayloadProtection,
    header: &Header,
    payloads: &[Payload],
    rng: &mut dyn Random,
) -> Vec<u8> {
    let (first, inner) = ikev2::emit_payloads(payloads);
    let body_len = protection.body_len(inner.len());
    let mut datagram = ikev2::emit_encrypted_prefix(header, first, body_len);
    let body = protection.seal(&datagram, &inner, rng);
    datagram.extend_from_slice(&body);
    datagram
}

/// Verifies and decrypts the SK payload of a parsed message, returning the inner payloads.
/// An unencrypted message, or one with more than the SK payload, is refused: after
/// IKE_SA_INIT everything must be protected (RFC 7296 3.14).
pub fn open(
    protection: &PayloadProtection,
    datagram: &[u8],
    message: &Message,
) -> Result<Vec<Payload>, Error> {
    let (Some(offset), [Payload::Encrypted(sk)]) =
        (message.encrypted_body_offset, message.payloads.as_slice())
    else {
        return Err(Error::Unprotected);
    };
    let (prefix, body) = datagram
        .split_at_checked(offset)
        .ok_or(Error::Unprotected)?;
    let inner = protection
        .open(prefix, body)
        .map_err(|_| Error::Undecryptable)?;
    Ok(ikev2::parse_payloads(sk.first_inner, &inner)?)
}

//! Building and opening messages of an IKE SA: header fields from the SA's role, SK payload
//! protection (RFC 7296 3.14) over the wire codec, and IKE fragmentation (RFC 7383): large
//! messages leave as several SKF payloads, each protected on its own, and arriving fragments
//! are verified one by one and joined when complete.

use crate::crypto::protect::PayloadProtection;
use crate::crypto::rng::Random;
use crate::wire::ikev2::{self, ExchangeType, Flags, Header, Message, Payload, PayloadType};

use super::super::error::Error;
use super::super::sa::IkeSa;

/// Most fragments we accept for one message; bounds the memory a peer can make us hold.
pub const MAX_FRAGMENTS: u16 = 64;

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

/// Encrypts `payloads` into one SK datagram or, when it would exceed `max_message` octets and
/// fragmentation was negotiated, into SKF fragments that each fit.
pub fn seal(
    protection: &mut PayloadProtection,
    header: &Header,
    payloads: &[Payload],
    rng: &mut dyn Random,
    max_message: Option<usize>,
) -> Vec<Vec<u8>> {
    let (first, inner) = ikev2::emit_payloads(payloads);
    let whole = ikev2::emit_encrypted_prefix(header, first, protection.body_len(inner.len())).len()
        + protection.body_len(inner.len());
    match max_message {
        Some(max) if whole > max => fragments(protection, header, first, &inner, rng, max),
        _ => {
            let mut datagram =
                ikev2::emit_encrypted_prefix(header, first, protection.body_len(inner.len()));
            let body = protection.seal(&datagram, &inner, rng);
            datagram.extend_from_slice(&body);
            vec![datagram]
        }
    }
}

/// RFC 7383 2.5: the plaintext is cut into pieces, each sealed in its own SKF payload; only
/// the first names the first inner payload.
fn fragments(
    protection: &mut PayloadProtection,
    header: &Header,
    first: PayloadType,
    inner: &[u8],
    rng: &mut dyn Random,
    max: usize,
) -> Vec<Vec<u8>> {
    // Largest plaintext piece whose fragment fits in `max`.
    let overhead = ikev2::emit_fragment_prefix(header, first, 1, 1, 0).len();
    let mut piece = max.saturating_sub(overhead).max(1);
    while piece > 1 && overhead + protection.body_len(piece) > max {
        piece -= 1;
    }
    let chunks: Vec<&[u8]> = inner.chunks(piece).collect();
    let total = u16::try_from(chunks.len()).unwrap_or(u16::MAX);
    chunks
        .iter()
        .zip(1u16..)
        .map(|(chunk, number)| {
            let next = if number == 1 {
                first
            } else {
                PayloadType::None
            };
            let mut datagram = ikev2::emit_fragment_prefix(
                header,
                next,
                number,
                total,
                protection.body_len(chunk.len()),
            );
            let body = protection.seal(&datagram, chunk, rng);
            datagram.extend_from_slice(&body);
            datagram
        })
        .collect()
}

/// Fragments of one message collected so far.
#[derive(Debug, Default)]
pub struct Reassembly {
    message_id: u32,
    response: bool,
    first_inner: Option<PayloadType>,
    first_digest: Option<Digest>,
    pieces: Vec<Option<Vec<u8>>>,
}

/// SHA-256 of the datagram that identifies a message: the whole message, or its first
/// fragment. A retransmitted request is recognised by it before any cached response is
/// resent, so a forged datagram with a known message ID cannot make us reflect a response.
pub type Digest = [u8; 32];

pub fn digest(datagram: &[u8]) -> Digest {
    let mut d = [0u8; 32];
    d.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, datagram).as_ref());
    d
}

/// The result of opening one datagram.
pub enum Opened {
    Complete {
        payloads: Vec<Payload>,
        digest: Digest,
    },
    /// A verified fragment of a message still incomplete.
    Partial,
}

/// Verifies and decrypts the SK or SKF payload of a parsed message. An unencrypted message is
/// refused: after IKE_SA_INIT everything must be protected (RFC 7296 3.14).
pub fn open(
    protection: &PayloadProtection,
    reassembly: &mut Option<Reassembly>,
    datagram: &[u8],
    message: &Message,
) -> Result<Opened, Error> {
    let (prefix, body) = message
        .split_encrypted(datagram)
        .ok_or(Error::Unprotected)?;
    match message.payloads.as_slice() {
        [Payload::Encrypted(sk)] => {
            let inner = protection
                .open(prefix, body)
                .map_err(|_| Error::Undecryptable)?;
            Ok(Opened::Complete {
                payloads: ikev2::parse_payloads(sk.first_inner, &inner)?,
                digest: digest(datagram),
            })
        }
        [Payload::EncryptedFragment(skf)] => {
            if skf.total > MAX_FRAGMENTS {
                return Err(Error::TooManyFragments(skf.total));
            }
            // RFC 7383 2.6: each fragment is authenticated before it is kept.
            let piece = protection
                .open(prefix, body)
                .map_err(|_| Error::Undecryptable)?;
            let header = &message.header;
            let state = reassembly.get_or_insert_with(Reassembly::default);
            let same_message = state.message_id == header.message_id
                && state.response == header.flags.response
                && state.pieces.len() == usize::from(skf.total);
            if !same_message {
                // A new message, or the sender re-fragmented it: start over.
                *state = Reassembly {
                    message_id: header.message_id,
                    response: header.flags.response,
                    first_inner: None,
                    first_digest: None,
                    pieces: vec![None; usize::from(skf.total)],
                };
            }
            let index = usize::from(skf.number).saturating_sub(1);
            if let Some(slot) = state.pieces.get_mut(index) {
                *slot = Some(piece.to_vec());
            }
            if skf.number == 1 {
                state.first_inner = Some(skf.first_inner);
                state.first_digest = Some(digest(datagram));
            }
            let complete = state.pieces.iter().all(Option::is_some);
            match (complete, state.first_inner, state.first_digest) {
                (true, Some(first), Some(first_digest)) => {
                    let whole: Vec<u8> = state.pieces.iter().flatten().flatten().copied().collect();
                    *reassembly = None;
                    Ok(Opened::Complete {
                        payloads: ikev2::parse_payloads(first, &whole)?,
                        digest: first_digest,
                    })
                }
                _ => Ok(Opened::Partial),
            }
        }
        _ => Err(Error::Unprotected),
    }
}

//! Building and opening the IKEv1 messages of an SA: header fields from the SA, the CBC
//! encryption of everything after phase 1's key exchange with IVs chained per exchange (RFC
//! 2409 appendix B), and the HASH payload that leads Quick Mode and informational messages,
//! computed over the payloads that follow it (RFC 2409 5.5, 5.7).

use std::net::SocketAddr;

use zeroize::Zeroizing;

use crate::wire::ikev1::{self, Chain, ExchangeType, Header, Payload, PayloadType};

use super::super::error::Error;
use super::super::owner::Direction;
use super::super::sa::IkeSa;
use super::sa::V1Crypto;
use super::trace;

/// The header of a message of `sa`; lengths and next-payload are filled in by the codec.
pub fn header(sa: &IkeSa, exchange: ExchangeType, message_id: u32) -> Header {
    Header {
        initiator_cookie: sa.spi_i,
        responder_cookie: sa.spi_r,
        next_payload: PayloadType::None,
        exchange,
        flags: 0,
        message_id,
        length: 0,
    }
}

/// The payloads as they go on the wire, and the type of the first.
pub fn emit(payloads: &[Payload]) -> (PayloadType, Vec<u8>) {
    let mut body = Vec::new();
    let first = ikev1::emit_payloads(payloads, &mut body);
    (first, body)
}

/// The body of one payload (without its generic header), as HASH_I and HASH_R cover the SA
/// and ID payloads (RFC 2409 5).
pub fn body_of(payload: &Payload) -> Vec<u8> {
    let (_, bytes) = emit(std::slice::from_ref(payload));
    bytes.get(4..).map(<[u8]>::to_vec).unwrap_or_default()
}

/// An unencrypted message (phase 1 before the key exchange is done) to `peer`.
pub fn plain(header: &Header, payloads: &[Payload], peer: SocketAddr) -> Vec<u8> {
    trace::log_message(Direction::Sent, peer, header, payloads);
    let (first, body) = emit(payloads);
    ikev1::emit_message(header, first, &body)
}

/// Encrypts `payloads` under the exchange's IV and moves the IV on (RFC 2409 appendix B:
/// the last ciphertext block is the next message's IV).
pub fn seal(
    crypto: &mut V1Crypto,
    header: &Header,
    payloads: &[Payload],
    peer: SocketAddr,
) -> Vec<u8> {
    trace::log_message(Direction::Sent, peer, header, payloads);
    let (first, body) = emit(payloads);
    let body = Zeroizing::new(body);
    let iv = crypto.iv_for(header.message_id);
    let ciphertext = crypto.cipher.encrypt(&iv, &body);
    crypto.set_iv(
        header.message_id,
        last_block(&ciphertext, crypto.cipher.block_len()),
    );
    let mut header = *header;
    header.flags |= Header::FLAG_ENCRYPTION;
    ikev1::emit_message(&header, first, &ciphertext)
}

/// A HASH payload computed over the payloads that follow it, then those payloads.
pub fn hashed(rest: &[Payload], hash_of: impl FnOnce(&[u8]) -> Vec<u8>) -> Vec<Payload> {
    let (_, rest_bytes) = emit(rest);
    let mut payloads = Vec::with_capacity(rest.len() + 1);
    payloads.push(Payload::Hash(hash_of(&rest_bytes)));
    payloads.extend_from_slice(rest);
    payloads
}

fn last_block(ciphertext: &[u8], block: usize) -> Vec<u8> {
    ciphertext
        .len()
        .checked_sub(block)
        .and_then(|start| ciphertext.get(start..))
        .map(<[u8]>::to_vec)
        .unwrap_or_default()
}

/// An encrypted message, decrypted and parsed; the exchange's IV moves on only once the
/// caller accepted it ([`Opened::accept`]), so a forged or corrupt message changes nothing.
pub struct Opened {
    pub header: Header,
    pub plaintext: Zeroizing<Vec<u8>>,
    pub chain: Chain,
    next_iv: Vec<u8>,
}

impl Opened {
    pub fn payloads(&self) -> impl Iterator<Item = &Payload> {
        self.chain.payloads.iter().map(|s| &s.payload)
    }

    /// The payloads, cloned (for the helpers that take a slice).
    pub fn payload_list(&self) -> Vec<Payload> {
        self.payloads().cloned().collect()
    }

    /// The body of the first payload of a type, as received.
    pub fn raw_body(&self, pick: impl Fn(&Payload) -> bool) -> Option<&[u8]> {
        let span = self.chain.payloads.iter().find(|s| pick(&s.payload))?;
        self.plaintext.get(span.start.checked_add(4)?..span.end)
    }

    /// The leading HASH payload and every byte after it up to the end of the last payload
    /// (the padding left out): what HASH(1), HASH(2) and the informational hash cover.
    pub fn leading_hash(&self) -> Option<(&[u8], &[u8])> {
        let first = self.chain.payloads.first()?;
        let Payload::Hash(hash) = &first.payload else {
            return None;
        };
        let rest = self.plaintext.get(first.end..self.chain.payload_end)?;
        Some((hash.as_slice(), rest))
    }

    /// The message was accepted: its last ciphertext block is the exchange's next IV.
    pub fn accept(self, crypto: &mut V1Crypto) {
        crypto.set_iv(self.header.message_id, self.next_iv);
    }
}

/// Decrypts and parses an encrypted message from `peer` of the SA whose keys are `crypto`.
pub fn open(crypto: &mut V1Crypto, datagram: &[u8], peer: SocketAddr) -> Result<Opened, Error> {
    let header = Header::parse(datagram)?;
    if usize::try_from(header.length).ok() != Some(datagram.len()) {
        return Err(Error::Malformed(crate::wire::Error::BadLength {
            what: "ISAKMP header Length",
        }));
    }
    if header.flags & Header::FLAG_ENCRYPTION == 0 {
        return Err(Error::Unprotected);
    }
    let ciphertext = datagram.get(Header::LEN..).ok_or(Error::Undecryptable)?;
    let block = crypto.cipher.block_len();
    if ciphertext.is_empty() || ciphertext.len() % block != 0 {
        return Err(Error::Undecryptable);
    }
    let iv = crypto.iv_for(header.message_id);
    let plaintext = crypto
        .cipher
        .decrypt(&iv, ciphertext)
        .map_err(|_| Error::Undecryptable)?;
    // Without the right key the plaintext is noise, which the payload chain rarely survives.
    let chain =
        ikev1::parse_payloads(header.next_payload, &plaintext).map_err(|_| Error::Undecryptable)?;
    if tracing::enabled!(tracing::Level::DEBUG) {
        let payloads: Vec<Payload> = chain.payloads.iter().map(|s| s.payload.clone()).collect();
        trace::log_message(Direction::Received, peer, &header, &payloads);
    }
    Ok(Opened {
        header,
        plaintext,
        chain,
        next_iv: last_block(ciphertext, block),
    })
}

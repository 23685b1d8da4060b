//! The ISAKMP header (RFC 2408 3.1).
//!
//! ```text
//!  0..8   Initiator Cookie
//!  8..16  Responder Cookie
//!  16     Next Payload
//!  17     MjVer (high nibble) | MnVer (low nibble)
//!  18     Exchange Type
//!  19     Flags: 0 0 0 0 0 A C E
//!  20..24 Message ID
//!  24..28 Length of the whole message, header included
//! ```

use super::enums::{ExchangeType, PayloadType};
use crate::wire::codec::Reader;
use crate::wire::{Error, Result};

/// The only major version this codec speaks (RFC 2408 3.1).
pub const MAJOR_VERSION: u8 = 1;
/// The version octet we send: major 1, minor 0 (RFC 2408 3.1: implementations of that RFC
/// MUST set the Minor Version to 0).
pub const VERSION: u8 = 0x10;

/// A parsed ISAKMP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    pub initiator_cookie: u64,
    pub responder_cookie: u64,
    pub next_payload: PayloadType,
    pub exchange: ExchangeType,
    /// The E, C and A bits ([`Header::FLAG_ENCRYPTION`] and the others); the other bits are
    /// dropped on receipt and never sent.
    pub flags: u8,
    pub message_id: u32,
    /// Total message length in octets, header included.
    pub length: u32,
}

impl Header {
    pub const LEN: usize = 28;
    /// E: every payload after the header is encrypted.
    pub const FLAG_ENCRYPTION: u8 = 0x01;
    /// C: key exchange synchronisation (RFC 2408 3.1).
    pub const FLAG_COMMIT: u8 = 0x02;
    /// A: an Informational exchange authenticated but not encrypted.
    pub const FLAG_AUTH_ONLY: u8 = 0x04;
    /// The flag bits RFC 2408 3.1 defines: "The remaining bits of the Flags field MUST be
    /// set to 0 prior to transmission".
    const DEFINED_FLAGS: u8 =
        Header::FLAG_ENCRYPTION | Header::FLAG_COMMIT | Header::FLAG_AUTH_ONLY;

    /// Parses the first 28 octets of `bytes`, refusing any major version but 1 with
    /// `Error::UnsupportedVersion(major)`; the minor version is ignored. The length field is
    /// not compared with `bytes.len()` here; [`super::parse_message`] does that.
    pub fn parse(bytes: &[u8]) -> Result<Header> {
        const WHAT: &str = "ISAKMP header";
        let mut r = Reader::new(bytes);
        let initiator_cookie = r.u64(WHAT)?;
        let responder_cookie = r.u64(WHAT)?;
        let next_payload = PayloadType::from(r.u8(WHAT)?);
        let version = r.u8(WHAT)?;
        let exchange = ExchangeType::from(r.u8(WHAT)?);
        let flags = r.u8(WHAT)? & Header::DEFINED_FLAGS;
        let message_id = r.u32(WHAT)?;
        let length = r.u32(WHAT)?;
        let major = version >> 4;
        if major != MAJOR_VERSION {
            return Err(Error::UnsupportedVersion(major));
        }
        Ok(Header {
            initiator_cookie,
            responder_cookie,
            next_payload,
            exchange,
            flags,
            message_id,
            length,
        })
    }

    /// Appends the 28 header octets as the fields say, with version 1.0 and only the defined
    /// flag bits.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.reserve(Header::LEN);
        out.extend_from_slice(&self.initiator_cookie.to_be_bytes());
        out.extend_from_slice(&self.responder_cookie.to_be_bytes());
        out.push(self.next_payload.value());
        out.push(VERSION);
        out.push(self.exchange.value());
        out.push(self.flags & Header::DEFINED_FLAGS);
        out.extend_from_slice(&self.message_id.to_be_bytes());
        out.extend_from_slice(&self.length.to_be_bytes());
    }

    /// Whether the E flag says the payloads are encrypted.
    pub fn is_encrypted(&self) -> bool {
        self.flags & Header::FLAG_ENCRYPTION != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> [u8; 28] {
        let mut b = [0u8; 28];
        b[..8].copy_from_slice(&0x0102_0304_0506_0708u64.to_be_bytes());
        b[8..16].copy_from_slice(&0x1112_1314_1516_1718u64.to_be_bytes());
        b[16] = 8;
        b[17] = 0x10;
        b[18] = 32;
        b[19] = 0x01;
        b[20..24].copy_from_slice(&0xdead_beefu32.to_be_bytes());
        b[24..28].copy_from_slice(&92u32.to_be_bytes());
        b
    }

    #[test]
    fn parses_every_field_and_round_trips() {
        let bytes = sample();
        let h = Header::parse(&bytes).expect("valid header");
        assert_eq!(h.initiator_cookie, 0x0102_0304_0506_0708);
        assert_eq!(h.responder_cookie, 0x1112_1314_1516_1718);
        assert_eq!(h.next_payload, PayloadType::Hash);
        assert_eq!(h.exchange, ExchangeType::QuickMode);
        assert_eq!(h.flags, Header::FLAG_ENCRYPTION);
        assert!(h.is_encrypted());
        assert_eq!(h.message_id, 0xdead_beef);
        assert_eq!(h.length, 92);
        let mut out = Vec::new();
        h.emit(&mut out);
        assert_eq!(out, bytes);
    }

    #[test]
    fn undefined_flags_and_minor_version_are_dropped() {
        let mut bytes = sample();
        bytes[17] = 0x1f;
        bytes[19] = 0xf6;
        let h = Header::parse(&bytes).expect("a minor version is no reason to refuse");
        assert_eq!(h.flags, Header::FLAG_COMMIT | Header::FLAG_AUTH_ONLY);
        let mut out = Vec::new();
        h.emit(&mut out);
        assert_eq!((out[17], out[19]), (0x10, 0x06));
    }

    #[test]
    fn refuses_other_major_versions() {
        let mut bytes = sample();
        bytes[17] = 0x20;
        assert_eq!(Header::parse(&bytes), Err(Error::UnsupportedVersion(2)));
        bytes[17] = 0x00;
        assert_eq!(Header::parse(&bytes), Err(Error::UnsupportedVersion(0)));
    }

    #[test]
    fn short_input() {
        let bytes = sample();
        for len in 0..Header::LEN {
            assert_eq!(
                Header::parse(&bytes[..len]),
                Err(Error::Truncated {
                    what: "ISAKMP header"
                })
            );
        }
    }
}

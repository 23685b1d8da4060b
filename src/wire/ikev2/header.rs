//! The IKE header (RFC 7296 3.1).
//!
//! ```text
//!  0..8   IKE SA Initiator's SPI
//!  8..16  IKE SA Responder's SPI
//!  16     Next Payload
//!  17     MjVer (high nibble) | MnVer (low nibble)
//!  18     Exchange Type
//!  19     Flags: X X R V I X X X
//!  20..24 Message ID
//!  24..28 Length of the whole message, header included
//! ```

use super::enums::{ExchangeType, PayloadType};
use crate::wire::codec::Reader;
use crate::wire::{Error, Result};

/// The only major version this codec speaks (RFC 7296 3.1).
pub const MAJOR_VERSION: u8 = 2;
/// The version octet we send: major 2, minor 0.
pub const VERSION: u8 = 0x20;

/// Flag bits we keep. 0x10 is V, which is never sent and is ignored (see [`Flags`]).
mod flag {
    pub const RESPONSE: u8 = 0x20;
    pub const INITIATOR: u8 = 0x08;
}

/// Header flags we act on. The V (higher version) bit MUST be cleared when sending and ignored
/// on receipt, and the X bits likewise (RFC 7296 3.1), so neither is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags {
    /// I: set by the original initiator of the IKE SA.
    pub initiator: bool,
    /// R: set in responses.
    pub response: bool,
}

impl Flags {
    pub fn from_bits(bits: u8) -> Flags {
        Flags {
            initiator: bits & flag::INITIATOR != 0,
            response: bits & flag::RESPONSE != 0,
        }
    }

    pub fn bits(self) -> u8 {
        let mut bits = 0;
        if self.initiator {
            bits |= flag::INITIATOR;
        }
        if self.response {
            bits |= flag::RESPONSE;
        }
        bits
    }
}

/// A parsed IKE header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    pub spi_i: u64,
    pub spi_r: u64,
    pub next_payload: PayloadType,
    /// The whole version octet: major version in the high nibble, minor in the low one.
    pub version: u8,
    pub exchange: ExchangeType,
    pub flags: Flags,
    pub message_id: u32,
    /// Total message length in octets, header included.
    pub length: u32,
}

impl Header {
    pub const LEN: usize = 28;

    /// Parses the first 28 octets of `bytes`, refusing any major version but 2. The length
    /// field is not compared with `bytes.len()` here; `parse_message` does that.
    pub fn parse(bytes: &[u8]) -> Result<Header> {
        let header = Header::parse_any_version(bytes)?;
        let major = header.major_version();
        if major != MAJOR_VERSION {
            return Err(Error::UnsupportedVersion(major));
        }
        Ok(header)
    }

    /// Parses the header whatever its version, so that a reply to a message with a higher
    /// major version can echo its SPIs and Message ID (RFC 7296 2.5, INVALID_MAJOR_VERSION).
    pub fn parse_any_version(bytes: &[u8]) -> Result<Header> {
        const WHAT: &str = "IKE header";
        let mut r = Reader::new(bytes);
        Ok(Header {
            spi_i: r.u64(WHAT)?,
            spi_r: r.u64(WHAT)?,
            next_payload: PayloadType::from(r.u8(WHAT)?),
            version: r.u8(WHAT)?,
            exchange: ExchangeType::from(r.u8(WHAT)?),
            flags: Flags::from_bits(r.u8(WHAT)?),
            message_id: r.u32(WHAT)?,
            length: r.u32(WHAT)?,
        })
    }

    /// Appends the 28 header octets exactly as the fields say.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.reserve(Header::LEN);
        out.extend_from_slice(&self.spi_i.to_be_bytes());
        out.extend_from_slice(&self.spi_r.to_be_bytes());
        out.push(self.next_payload.value());
        out.push(self.version);
        out.push(self.exchange.value());
        out.push(self.flags.bits());
        out.extend_from_slice(&self.message_id.to_be_bytes());
        out.extend_from_slice(&self.length.to_be_bytes());
    }

    pub fn major_version(&self) -> u8 {
        self.version >> 4
    }

    pub fn minor_version(&self) -> u8 {
        self.version & 0x0f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> [u8; 28] {
        let mut b = [0u8; 28];
        b[..8].copy_from_slice(&0x0102_0304_0506_0708u64.to_be_bytes());
        b[8..16].copy_from_slice(&0x1112_1314_1516_1718u64.to_be_bytes());
        b[16] = 33;
        b[17] = 0x20;
        b[18] = 34;
        b[19] = 0x08;
        b[20..24].copy_from_slice(&7u32.to_be_bytes());
        b[24..28].copy_from_slice(&28u32.to_be_bytes());
        b
    }

    #[test]
    fn parses_every_field_and_round_trips() {
        let bytes = sample();
        let h = Header::parse(&bytes).expect("valid header");
        assert_eq!(h.spi_i, 0x0102_0304_0506_0708);
        assert_eq!(h.spi_r, 0x1112_1314_1516_1718);
        assert_eq!(h.next_payload, PayloadType::Sa);
        assert_eq!((h.major_version(), h.minor_version()), (2, 0));
        assert_eq!(h.exchange, ExchangeType::IkeSaInit);
        assert_eq!(
            h.flags,
            Flags {
                initiator: true,
                response: false
            }
        );
        assert_eq!(h.message_id, 7);
        assert_eq!(h.length, 28);
        let mut out = Vec::new();
        h.emit(&mut out);
        assert_eq!(out, bytes);
    }

    #[test]
    fn response_flag_and_ignored_bits() {
        let mut bytes = sample();
        bytes[19] = 0x20 | 0x10 | 0x01; // R, V and an X bit
        let h = Header::parse(&bytes).expect("valid header");
        assert_eq!(
            h.flags,
            Flags {
                initiator: false,
                response: true
            }
        );
        assert_eq!(h.flags.bits(), 0x20);
    }

    #[test]
    fn refuses_other_major_versions() {
        let mut bytes = sample();
        bytes[17] = 0x30;
        assert_eq!(Header::parse(&bytes), Err(Error::UnsupportedVersion(3)));
        assert_eq!(
            Header::parse_any_version(&bytes).map(|h| h.spi_i),
            Ok(0x0102_0304_0506_0708)
        );
        bytes[17] = 0x10;
        assert_eq!(Header::parse(&bytes), Err(Error::UnsupportedVersion(1)));
        // A different minor version is fine (RFC 7296 2.5).
        bytes[17] = 0x21;
        assert!(Header::parse(&bytes).is_ok());
    }

    #[test]
    fn short_input() {
        let bytes = sample();
        for len in 0..Header::LEN {
            assert_eq!(
                Header::parse(&bytes[..len]),
                Err(Error::Truncated { what: "IKE header" })
            );
        }
    }
}

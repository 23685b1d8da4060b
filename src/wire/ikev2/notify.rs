//! Notify payload (RFC 7296 3.10).
//!
//! ```text
//!  0      Protocol ID
//!  1      SPI Size
//!  2..4   Notify Message Type
//!  4..    SPI (SPI Size octets), then Notification Data
//! ```

use super::enums::{NotifyType, ProtocolId};
use crate::wire::codec::Reader;
use crate::wire::Result;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notify {
    /// `ProtocolId::None` when the notification is not about one SA: "If the SPI field is
    /// empty, this field MUST be sent as zero and MUST be ignored on receipt" (RFC 7296 3.10).
    pub protocol: ProtocolId,
    pub spi: Vec<u8>,
    pub notify_type: NotifyType,
    pub data: Vec<u8>,
}

impl Notify {
    /// A notification about no particular SA (protocol 0, no SPI).
    pub fn new(notify_type: NotifyType, data: Vec<u8>) -> Notify {
        Notify {
            protocol: ProtocolId::None,
            spi: Vec::new(),
            notify_type,
            data,
        }
    }

    pub(crate) fn parse_body(body: &[u8]) -> Result<Notify> {
        const WHAT: &str = "Notify payload";
        let mut r = Reader::new(body);
        let protocol = ProtocolId::from(r.u8(WHAT)?);
        let spi_size = usize::from(r.u8(WHAT)?);
        let notify_type = NotifyType::from(r.u16(WHAT)?);
        let spi = r.take(spi_size, "Notify SPI")?.to_vec();
        Ok(Notify {
            protocol,
            spi,
            notify_type,
            data: r.rest().to_vec(),
        })
    }

    pub(crate) fn emit_body(&self, out: &mut Vec<u8>) {
        debug_assert!(self.spi.len() <= usize::from(u8::MAX), "SPI too long");
        out.push(self.protocol.value());
        out.push(u8::try_from(self.spi.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(&self.notify_type.value().to_be_bytes());
        out.extend_from_slice(&self.spi);
        out.extend_from_slice(&self.data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Error;

    #[test]
    fn child_sa_notify_with_spi() {
        let body = [3, 4, 0x40, 0x09, 0xaa, 0xbb, 0xcc, 0xdd];
        let n = Notify::parse_body(&body).expect("valid");
        assert_eq!(n.protocol, ProtocolId::Esp);
        assert_eq!(n.notify_type, NotifyType::RekeySa);
        assert_eq!(n.spi, vec![0xaa, 0xbb, 0xcc, 0xdd]);
        assert!(n.data.is_empty());
        let mut out = Vec::new();
        n.emit_body(&mut out);
        assert_eq!(out, body);
    }

    #[test]
    fn spi_size_beyond_body() {
        assert_eq!(
            Notify::parse_body(&[3, 5, 0x40, 0x09, 1, 2, 3, 4]),
            Err(Error::Truncated { what: "Notify SPI" })
        );
    }
}

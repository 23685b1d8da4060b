//! Notification payload (RFC 2408 3.14).
//!
//! ```text
//!  0..4   Domain of Interpretation
//!  4      Protocol-Id
//!  5      SPI Size
//!  6..8   Notify Message Type
//!  8..    SPI (SPI Size octets), then Notification Data
//! ```

use super::enums::NotifyType;
use crate::wire::codec::Reader;
use crate::wire::Result;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Notification {
    pub doi: u32,
    /// [`super::PROTO_ISAKMP`] with the cookies as SPI (16 octets) for the ISAKMP SA, as
    /// R_U_THERE does (RFC 3706 5), or an IPsec protocol with its SPI.
    pub protocol: u8,
    pub notify: NotifyType,
    pub spi: Vec<u8>,
    pub data: Vec<u8>,
}

impl Notification {
    pub(crate) fn parse_body(body: &[u8]) -> Result<Notification> {
        const WHAT: &str = "Notification payload";
        let mut r = Reader::new(body);
        let doi = r.u32(WHAT)?;
        let protocol = r.u8(WHAT)?;
        let spi_size = usize::from(r.u8(WHAT)?);
        let notify = NotifyType::from(r.u16(WHAT)?);
        let spi = r.take(spi_size, "Notification SPI")?.to_vec();
        Ok(Notification {
            doi,
            protocol,
            notify,
            spi,
            data: r.rest().to_vec(),
        })
    }

    pub(crate) fn emit_body(&self, out: &mut Vec<u8>) {
        debug_assert!(self.spi.len() <= usize::from(u8::MAX), "SPI too long");
        out.extend_from_slice(&self.doi.to_be_bytes());
        out.push(self.protocol);
        out.push(u8::try_from(self.spi.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(&self.notify.value().to_be_bytes());
        out.extend_from_slice(&self.spi);
        out.extend_from_slice(&self.data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Error;

    #[test]
    fn r_u_there_with_cookies_and_sequence_number() {
        let mut body = vec![0, 0, 0, 1, 1, 16, 0x8d, 0x28];
        body.extend_from_slice(&[0xab; 16]);
        body.extend_from_slice(&7u32.to_be_bytes());
        let n = Notification::parse_body(&body).expect("valid");
        assert_eq!(n.notify, NotifyType::RUThere);
        assert_eq!((n.doi, n.protocol), (1, 1));
        assert_eq!(n.spi, vec![0xab; 16]);
        assert_eq!(n.data, 7u32.to_be_bytes());
        let mut out = Vec::new();
        n.emit_body(&mut out);
        assert_eq!(out, body);
    }

    #[test]
    fn spi_size_beyond_body() {
        assert_eq!(
            Notification::parse_body(&[0, 0, 0, 1, 3, 5, 0, 14, 1, 2, 3, 4]),
            Err(Error::Truncated {
                what: "Notification SPI"
            })
        );
        assert!(Notification::parse_body(&[0, 0, 0, 1, 3, 0, 0]).is_err());
    }
}

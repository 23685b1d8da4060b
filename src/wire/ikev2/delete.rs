//! Delete payload (RFC 7296 3.11).
//!
//! ```text
//!  0      Protocol ID
//!  1      SPI Size (0 for IKE, 4 for AH and ESP)
//!  2..4   Num of SPIs
//!  4..    SPIs, SPI Size octets each
//! ```

use super::enums::ProtocolId;
use crate::wire::codec::Reader;
use crate::wire::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delete {
    pub protocol: ProtocolId,
    /// Length of every SPI in `spis`.
    pub spi_size: u8,
    /// Empty when deleting the IKE SA, whose SPIs are in the header.
    pub spis: Vec<Vec<u8>>,
}

impl Delete {
    pub(crate) fn parse_body(body: &[u8]) -> Result<Delete> {
        const WHAT: &str = "Delete payload";
        let mut r = Reader::new(body);
        let protocol = ProtocolId::from(r.u8(WHAT)?);
        let spi_size = r.u8(WHAT)?;
        let count = usize::from(r.u16(WHAT)?);
        // Zero-length SPIs only exist for IKE, with no SPI listed (RFC 7296 3.11); refusing
        // other counts also keeps a tiny payload from asking for 65535 entries.
        if spi_size == 0 && count != 0 {
            return Err(Error::BadValue {
                what: "Delete SPI count",
            });
        }
        let expected = count
            .checked_mul(usize::from(spi_size))
            .ok_or(Error::BadLength { what: WHAT })?;
        if expected != r.remaining() {
            return Err(Error::BadLength { what: WHAT });
        }
        let mut spis = Vec::with_capacity(count);
        for _ in 0..count {
            spis.push(r.take(usize::from(spi_size), WHAT)?.to_vec());
        }
        Ok(Delete {
            protocol,
            spi_size,
            spis,
        })
    }

    pub(crate) fn emit_body(&self, out: &mut Vec<u8>) {
        debug_assert!(
            self.spis
                .iter()
                .all(|spi| spi.len() == usize::from(self.spi_size)),
            "every SPI must be spi_size octets long"
        );
        out.push(self.protocol.value());
        out.push(self.spi_size);
        out.extend_from_slice(
            &u16::try_from(self.spis.len())
                .unwrap_or(u16::MAX)
                .to_be_bytes(),
        );
        for spi in &self.spis {
            out.extend_from_slice(spi);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn esp_delete_with_two_spis() {
        let body = [3, 4, 0, 2, 1, 2, 3, 4, 5, 6, 7, 8];
        let d = Delete::parse_body(&body).expect("valid");
        assert_eq!(d.protocol, ProtocolId::Esp);
        assert_eq!(d.spis, vec![vec![1, 2, 3, 4], vec![5, 6, 7, 8]]);
        let mut out = Vec::new();
        d.emit_body(&mut out);
        assert_eq!(out, body);
    }

    #[test]
    fn ike_delete_and_inconsistent_counts() {
        let d = Delete::parse_body(&[1, 0, 0, 0]).expect("valid");
        assert!(d.spis.is_empty());
        assert!(Delete::parse_body(&[1, 0, 0, 3]).is_err());
        assert!(Delete::parse_body(&[3, 4, 0, 2, 1, 2, 3, 4]).is_err());
        assert!(Delete::parse_body(&[3, 4, 0, 1, 1, 2, 3, 4, 5]).is_err());
    }
}

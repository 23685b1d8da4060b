//! Delete payload (RFC 2408 3.15).
//!
//! ```text
//!  0..4   Domain of Interpretation
//!  4      Protocol-Id
//!  5      SPI Size (16 for ISAKMP: both cookies; 4 for AH and ESP)
//!  6..8   # of SPIs
//!  8..    SPIs, SPI Size octets each
//! ```

use crate::wire::codec::Reader;
use crate::wire::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Delete {
    pub doi: u32,
    pub protocol: u8,
    /// Length of every SPI in `spis`.
    pub spi_size: u8,
    pub spis: Vec<Vec<u8>>,
}

impl Delete {
    pub(crate) fn parse_body(body: &[u8]) -> Result<Delete> {
        const WHAT: &str = "Delete payload";
        let mut r = Reader::new(body);
        let doi = r.u32(WHAT)?;
        let protocol = r.u8(WHAT)?;
        let spi_size = r.u8(WHAT)?;
        let count = usize::from(r.u16(WHAT)?);
        // Empty SPIs identify nothing; refusing them also keeps a tiny payload from asking
        // for 65535 entries.
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
            doi,
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
        out.extend_from_slice(&self.doi.to_be_bytes());
        out.push(self.protocol);
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
        let body = [0, 0, 0, 1, 3, 4, 0, 2, 1, 2, 3, 4, 5, 6, 7, 8];
        let d = Delete::parse_body(&body).expect("valid");
        assert_eq!((d.doi, d.protocol, d.spi_size), (1, 3, 4));
        assert_eq!(d.spis, vec![vec![1, 2, 3, 4], vec![5, 6, 7, 8]]);
        let mut out = Vec::new();
        d.emit_body(&mut out);
        assert_eq!(out, body);
    }

    #[test]
    fn isakmp_delete_and_inconsistent_counts() {
        let mut body = vec![0, 0, 0, 1, 1, 16, 0, 1];
        body.extend_from_slice(&[9; 16]);
        assert_eq!(
            Delete::parse_body(&body).map(|d| d.spis),
            Ok(vec![vec![9; 16]])
        );
        assert!(Delete::parse_body(&[0, 0, 0, 1, 1, 0, 0, 3]).is_err());
        assert!(Delete::parse_body(&[0, 0, 0, 1, 3, 4, 0, 2, 1, 2, 3, 4]).is_err());
        assert!(Delete::parse_body(&[0, 0, 0, 1, 3, 4, 0, 1, 1, 2, 3, 4, 5]).is_err());
    }
}
